"""Hostile values: odd and huge text, ids of the wrong shape, forged page
tokens, edge numbers, unknown enum values, random JSON for Structs; and
real values from the server with near misses, chosen by a field's name."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from tests.fuzzing.rpcs import FieldDescriptor
from tests.fuzzing.world import World

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_ODD_TEXT = [
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\u200b",  # zero-width space
    "\u202e",  # right-to-left override
    "\ufeff",  # byte order mark
    "\u2028",  # line separator
    "e\u0301" * 3,  # combining accents
    "\U0001f600\u200d\U0001f4bb",  # emoji with a joiner
    "\uffff",
    "\U0010ffff",
    "Ǆǅǆ",
    "ﬀ",  # changes length when upper-cased
    "İ",
    "%s%n%x",
    "{}",
    "' OR 1=1 --",
    '"; DROP TABLE sessions; --',
    "%",
    "_",
    "*",
    "../../etc/passwd",
    "..",
    ".",
    "/",
    "\\",
    "con.md",
    "a" * 255 + ".md",
    "a" * 300,
]

# Shaped like the ids of this service but naming nothing, or almost real.
_WRONG_IDS = [
    "0123456789",
    "ffffffffff",
    "ZZZZZZZZZZ",
    "0123456789a",
    "012345678",
    "-1",
    "null",
    "undefined",
    "None",
    "0x10",
    ":",
    "::",
    ":0",
    "x:",
    "x:-1",
    "x:1e3",
    "x:٣",  # a digit that is not ASCII
    "x:99999999999999999999999",
    "conf_000000000000",
    "call_00000000",
]


def _huge_text() -> st.SearchStrategy[str]:
    """A few hundred KB, made of a small drawn piece repeated (drawing that
    much text character by character would be slow)."""
    pieces = st.sampled_from(["a", "é", "\U0001f600", "word ", "\x00", "ab\u200b"]) | st.text(
        st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8
    )
    return st.builds(
        lambda piece, size: (piece * (size // len(piece.encode()) + 1))[:size],
        pieces,
        st.integers(100_000, 400_000),
    )


def small_hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_ODD_TEXT),
        st.sampled_from(_WRONG_IDS),
        # Any unicode but lone surrogates, which no UTF-8 string can hold
        # (invalid UTF-8 is sent as bytes, below).
        st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    )


def hostile_text() -> st.SearchStrategy[str]:
    return small_hostile_text() | _huge_text()


def pick(values: Iterable[str]) -> st.SearchStrategy[str]:
    """One of the values. The draw does not depend on how many there are:
    the store changes between examples, and Hypothesis replays an example
    by its draws."""
    pool = sorted(set(values)) or [""]
    return st.integers(0, 63).map(lambda i: pool[i % len(pool)])


def _near(values: Iterable[str]) -> st.SearchStrategy[str]:
    """Real values and small mutations of them."""
    real = pick(values)
    return st.one_of(
        real,
        real.map(str.upper),
        real.map(lambda v: f" {v}"),
        real.map(lambda v: v + "\x00"),
        real.map(lambda v: v[:-1]),
        st.tuples(real, st.sampled_from(_ODD_TEXT)).map("".join),
    )


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _raw_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


_FORGED_TOKENS = [
    _token(-1),
    _token(2**31),
    _token(1.5),
    _token("x"),
    _token(None),
    _token(True),
    _token([]),
    _token(["a"]),
    _token(["a", "b", "c"]),
    _token([1, 2]),
    _token({"a": 1}),
    _raw_token("[" * 100_000),  # nesting deeper than any parser's stack
    _raw_token("{" * 100_000),
    _raw_token("9" * 5_000),  # more digits than int() takes
    _raw_token("1e999"),
    _raw_token("NaN"),
    _raw_token("\xff"),
    "=",
    "====",
    "a",
    "!!!!",
    "ñ",
]


def page_tokens(world: World) -> st.SearchStrategy[str]:
    return st.one_of(
        pick(world.page_tokens),
        st.sampled_from(_FORGED_TOKENS),
        _near(world.page_tokens),
        hostile_text(),
    )


MASK_PATHS = [
    "model",
    "tool_settings",
    "agent_settings",
    "context_window",
    "context_window.current_window",
    "session_id",
    "created_at",
    "summary",
    "",
    "*",
    "model.name",
]


def markdown_names() -> st.SearchStrategy[str]:
    """Names that pass the first rules of a prompt file's name (".md" at the
    end), some longer in bytes than in characters."""
    return st.one_of(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60),
        st.builds(
            lambda c, n: c * n,
            st.sampled_from(["a", "é", "\U0001f600", "\u200b"]),
            st.integers(60, 260),
        ),
    ).map(lambda name: f"{name}.md")


_FILE_FIELDS = {"filename", "source_file", "system_prompt_source_file"}


def text_for(name: str, world: World) -> st.SearchStrategy[str]:
    """Strings for a field, by its name: real values, near misses, hostile ones."""
    real: list[str] | None = {
        "session_id": world.session_ids,
        "turn_id": world.turn_ids,
        "after_event_id": world.event_ids,
        "filename": world.prompt_files,
        "source_file": world.prompt_files,
        "system_prompt_source_file": world.prompt_files,
        "model": world.model_names,
        "tools": world.tool_names,
    }.get(name)
    if name == "page_token":
        return page_tokens(world)
    if name == "name":  # GetModel and GetTool
        real = world.model_names + world.tool_names
    if real is None:
        return hostile_text()
    if name in _FILE_FIELDS:
        return st.one_of(pick(real), _near(real), markdown_names(), hostile_text())
    return st.one_of(pick(real), _near(real), hostile_text())


def hostile_int32() -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from([0, 1, 2, 3, -1, 1000, 1001, 4096, 131_072, 131_073, INT32_MIN, INT32_MAX]),
        st.integers(INT32_MIN, INT32_MAX),
    )


def hostile_enum(field_descriptor: FieldDescriptor) -> st.SearchStrategy[int]:
    known = [v.number for v in field_descriptor.enum_type.values]
    return st.one_of(st.sampled_from(known), st.sampled_from([-1, 99, INT32_MAX, INT32_MIN]))


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        small_hostile_text(),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(small_hostile_text(), inner, max_size=4)
        ),
        max_leaves=12,
    )


def struct_values() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(small_hostile_text(), json_values(), max_size=5)
