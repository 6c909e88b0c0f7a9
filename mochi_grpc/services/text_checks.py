"""Text a request carries may not contain the NUL character (U+0000).

PostgreSQL's `text` cannot hold NUL and SQLite can; refusing it at the edge,
before any servicer runs, keeps the two stores alike and a refused request
changes nothing. The check is generic: it walks the fields a request has set
(nested messages, repeated fields, map keys and values, the strings inside a
google.protobuf.Struct) and names the first string that holds a NUL, as a
google.rpc.BadRequest field path: `message`, `tool_settings.tools[1]`,
`tool_settings.tool_policies["shell"]`.

Requests are small except for long message texts, and `"\\0" in text` is one
fast scan of each string, so the walk costs next to nothing.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

NUL = "\x00"

# A map key goes into the field path, which travels in the status's trailing
# metadata: a huge key must not make that too large to send.
_MAX_KEY_CHARS = 40


def nul_field(message: Message) -> str | None:
    """The path of the first string in `message` (at any depth) holding NUL,
    or None when there is none."""
    for field, value in message.ListFields():
        where = _in_field(field, value)
        if where is not None:
            return field.name + where
    return None


def _in_field(field: FieldDescriptor, value: Any) -> str | None:
    """Where below `field` (set to `value`) a NUL is: "" for the field itself,
    "[2]", "[\"key\"].name", ...; None when nowhere."""
    entry = _map_entry(field)
    if entry is not None:
        value_field = entry.fields_by_name["value"]
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                return f"[{_quoted(key)}]"
            inner = _in_value(value_field, item)
            if inner is not None:
                return f"[{_quoted(key)}]{inner}"
        return None
    if field.is_repeated:
        for index, item in enumerate(value):
            inner = _in_value(field, item)
            if inner is not None:
                return f"[{index}]{inner}"
        return None
    return _in_value(field, value)


def _in_value(field: FieldDescriptor, value: Any) -> str | None:
    """Where inside one value of `field` a NUL is, as `_in_field` says it."""
    if field.type == FieldDescriptor.TYPE_STRING:
        return "" if NUL in value else None
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        inner = nul_field(value)
        return None if inner is None else f".{inner}"
    return None  # numbers, enums and bytes hold no text


def _map_entry(field: FieldDescriptor) -> Descriptor | None:
    """The key-value entry type of a map field; None for other fields."""
    entry = field.message_type
    return entry if entry is not None and entry.GetOptions().map_entry else None


def _quoted(key: str) -> str:
    """A map key as it appears in a field path: in JSON quotes (so NUL and
    other control characters show escaped), cut short when long."""
    if len(key) > _MAX_KEY_CHARS:
        key = key[: _MAX_KEY_CHARS - 3] + "..."
    return json.dumps(key)
