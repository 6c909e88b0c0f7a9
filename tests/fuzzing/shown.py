"""Drawn requests as Hypothesis prints them: short enough to read."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor as desc
from google.protobuf import text_format
from google.protobuf.message import Message


def _shortened(message: Message) -> None:
    """Cuts every long string field of the message, in place."""
    for f, value in message.ListFields():
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            entries = dict(value)
            value.clear()
            for k, v in entries.items():
                key = _cut(k) if isinstance(k, str) else k
                if isinstance(v, Message):
                    _shortened(v)
                    value[key].CopyFrom(v)
                else:
                    value[key] = _cut(v) if isinstance(v, str) else v
        elif f.is_repeated:
            if f.message_type is not None:
                for item in value:
                    _shortened(item)
            elif f.type == desc.FieldDescriptor.TYPE_STRING:
                value[:] = [_cut(v) for v in value]
        elif f.message_type is not None:
            _shortened(value)
        elif f.type == desc.FieldDescriptor.TYPE_STRING:
            setattr(message, f.name, _cut(value))


def _cut(text: str) -> str:
    if len(text) <= 100:
        return text
    return f"{text[:40]}<...{len(text)} characters...>{text[-20:]}"


class Shown:
    """A drawn request; its repr (what Hypothesis prints of a failing
    example) stays readable when it holds a few hundred KB."""

    def __init__(self, value: Message | bytes) -> None:
        self.value = value

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        if isinstance(self.value, bytes):
            head = self.value[:200]
            return f"{head!r}{'...' if len(self.value) > 200 else ''} ({len(self.value)} bytes)"
        copy = type(self.value)()
        copy.CopyFrom(self.value)
        _shortened(copy)
        return f"{type(copy).__name__}({text_format.MessageToString(copy, as_one_line=True)})"
