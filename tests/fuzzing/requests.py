"""Well-typed requests with hostile values, built field by field from the
request's descriptor: a drawn subset of its fields is set, message fields
recursively, maps and repeated fields with a few entries."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor as desc
from google.protobuf.message import Message
from hypothesis import strategies as st

from tests.fuzzing.rpcs import FieldDescriptor, Rpc
from tests.fuzzing.values import (
    INT64_MAX,
    INT64_MIN,
    MASK_PATHS,
    hostile_enum,
    hostile_int32,
    hostile_text,
    struct_values,
    text_for,
)
from tests.fuzzing.world import World


def _scalar(
    draw: st.DrawFn, f: FieldDescriptor, world: World
) -> Any:  # the value of one non-message field
    t = f.type
    if t == desc.FieldDescriptor.TYPE_STRING:
        return draw(text_for(f.name, world))
    if t == desc.FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    if t == desc.FieldDescriptor.TYPE_ENUM:
        return draw(hostile_enum(f))
    if t in (desc.FieldDescriptor.TYPE_INT32, desc.FieldDescriptor.TYPE_SINT32):
        return draw(hostile_int32())
    if t in (desc.FieldDescriptor.TYPE_INT64, desc.FieldDescriptor.TYPE_SINT64):
        return draw(st.integers(INT64_MIN, INT64_MAX))
    if t == desc.FieldDescriptor.TYPE_UINT32:
        return draw(st.integers(0, 2**32 - 1))
    if t == desc.FieldDescriptor.TYPE_UINT64:
        return draw(st.integers(0, 2**64 - 1))
    if t in (desc.FieldDescriptor.TYPE_DOUBLE, desc.FieldDescriptor.TYPE_FLOAT):
        return draw(st.floats(width=64 if t == desc.FieldDescriptor.TYPE_DOUBLE else 32))
    if t == desc.FieldDescriptor.TYPE_BYTES:
        return draw(st.binary(max_size=64))
    raise AssertionError(f"no strategy for {f.full_name}")  # pragma: no cover


def _fill(draw: st.DrawFn, message: Message, world: World, depth: int) -> None:
    """Sets a drawn subset of the message's fields to hostile values."""
    descriptor = message.DESCRIPTOR
    name = descriptor.full_name
    if name == "google.protobuf.FieldMask":
        paths = draw(st.lists(st.sampled_from(MASK_PATHS) | hostile_text(), max_size=5))
        message.paths.extend(paths)  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.Struct":
        message.update(draw(struct_values()))  # type: ignore[attr-defined]
        return
    for f in descriptor.fields:
        if not draw(st.booleans()):
            continue  # left unset (absent, for fields with presence)
        target = getattr(message, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_field = f.message_type.fields_by_name["key"]
            value_field = f.message_type.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 3))):
                key = _scalar(draw, key_field, world)
                if value_field.message_type is None:
                    target[key] = _scalar(draw, value_field, world)
                elif depth < 4:
                    _fill(draw, target[key], world, depth + 1)
        elif f.is_repeated:
            for _ in range(draw(st.integers(0, 3))):
                if f.message_type is None:
                    target.append(_scalar(draw, f, world))
                elif depth < 4:
                    _fill(draw, target.add(), world, depth + 1)
        elif f.message_type is not None:
            if depth < 4:
                target.SetInParent()
                _fill(draw, target, world, depth + 1)
        else:
            setattr(message, f.name, _scalar(draw, f, world))


def requests(rpc: Rpc, world: World) -> st.SearchStrategy[Message]:
    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = rpc.request()
        _fill(draw, message, world, 0)
        return message

    return build()
