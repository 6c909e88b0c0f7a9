"""Malformed requests: bytes that are not the method's message, or nearly.

Random bytes, valid requests cut short or with junk after them, a field with
a wire type not its own, invalid UTF-8 in a string field (proto3 requires
valid UTF-8), a Struct where another message belongs, runaway nesting."""

from __future__ import annotations

from google.protobuf import descriptor as desc
from google.protobuf import struct_pb2
from hypothesis import strategies as st

from tests.fuzzing.requests import requests
from tests.fuzzing.rpcs import Descriptor, Rpc
from tests.fuzzing.values import struct_values
from tests.fuzzing.world import World


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


_WIRE_TYPE = {
    desc.FieldDescriptor.TYPE_DOUBLE: 1,
    desc.FieldDescriptor.TYPE_FLOAT: 5,
    desc.FieldDescriptor.TYPE_FIXED64: 1,
    desc.FieldDescriptor.TYPE_SFIXED64: 1,
    desc.FieldDescriptor.TYPE_FIXED32: 5,
    desc.FieldDescriptor.TYPE_SFIXED32: 5,
    desc.FieldDescriptor.TYPE_STRING: 2,
    desc.FieldDescriptor.TYPE_BYTES: 2,
    desc.FieldDescriptor.TYPE_MESSAGE: 2,
}

_INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc0\x80",  # an overlong NUL
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"\xe2\x82",  # cut short
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"ok\x80ok",
]


def _payload(wire_type: int) -> st.SearchStrategy[bytes]:
    if wire_type == 0:
        return st.sampled_from([varint(1), varint(2**64 - 1), b"\xff" * 11, b"\x80"])
    if wire_type == 1:
        return st.binary(min_size=0, max_size=8)
    if wire_type == 5:
        return st.binary(min_size=0, max_size=4)
    if wire_type == 2:
        return st.one_of(
            st.binary(max_size=16).map(lambda b: varint(len(b)) + b),
            st.just(varint(2**32)),  # a length far past the end
            st.just(b"\xff" * 10 + b"\x01"),  # a length that overflows
        )
    return st.binary(max_size=8)  # 3, 4 (groups), 6, 7 (no such wire type)


def _string_fields(descriptor: Descriptor, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Paths of field numbers to every string field, through message fields."""
    paths: list[tuple[int, ...]] = []
    for f in descriptor.fields:
        if f.type == desc.FieldDescriptor.TYPE_STRING:
            paths.append((*prefix, f.number))
        elif f.message_type is not None and len(prefix) < 3:
            paths.extend(_string_fields(f.message_type, (*prefix, f.number)))
    return paths


def _nest(path: tuple[int, ...], payload: bytes) -> bytes:
    for number in reversed(path):
        payload = length_delimited(number, payload)
    return payload


def malformed(rpc: Rpc, world: World) -> st.SearchStrategy[bytes]:
    descriptor: Descriptor = rpc.request.DESCRIPTOR
    valid = requests(rpc, world).map(lambda m: m.SerializeToString())
    numbers = [f.number for f in descriptor.fields] or [1]
    string_paths = _string_fields(descriptor) or [(1,)]

    @st.composite
    def wrong_wire_type(draw: st.DrawFn) -> bytes:
        f = draw(st.sampled_from(list(descriptor.fields))) if descriptor.fields else None
        number = f.number if f is not None else draw(st.integers(1, 20))
        declared = _WIRE_TYPE.get(f.type, 0) if f is not None else -1
        wire_type = draw(st.sampled_from([w for w in range(8) if w != declared]))
        return tag(number, wire_type) + draw(_payload(wire_type))

    @st.composite
    def bad_utf8(draw: st.DrawFn) -> bytes:
        path = draw(st.sampled_from(string_paths))
        text = draw(st.sampled_from(_INVALID_UTF8))
        return draw(valid) + _nest(path, text)

    @st.composite
    def truncated(draw: st.DrawFn) -> bytes:
        data, cut = draw(valid), draw(st.integers(0, 2**16))
        if len(data) < 2:
            return data + length_delimited(1, b"cut")[:-1]
        return data[: 1 + cut % (len(data) - 1)]

    @st.composite
    def with_struct(draw: st.DrawFn) -> bytes:
        # A Struct where a field of another type is: the bytes parse or not.
        value = struct_pb2.Struct()
        value.update(draw(struct_values()))
        return length_delimited(draw(st.sampled_from(numbers)), value.SerializeToString())

    nesting = st.integers(50, 5_000).flatmap(
        lambda depth: st.sampled_from(
            [
                tag(1, 3) * depth,  # groups opened, never closed
                (tag(15, 3) * depth) + (tag(15, 4) * depth),
                _nest((numbers[0],) * depth, b""),
            ]
        )
    )
    return st.one_of(
        st.binary(max_size=64),
        truncated(),
        wrong_wire_type(),
        bad_utf8(),
        with_struct(),
        nesting,
        st.tuples(valid, st.binary(min_size=1, max_size=16)).map(lambda v: v[0] + v[1]),
    )
