"""How both stores read sessions: the same SQL on SQLite and PostgreSQL, but
for the driver's placeholder, so their lists and page tokens agree."""

from __future__ import annotations

from typing import Any

from mochi_grpc.errors import InvalidRequest
from mochi_grpc.store.paging import decode_token, encode_token

# A session with its preview: the start of its first user message.
SESSION_SELECT = """
    SELECT s.*, (SELECT substr(m.content, 1, 101) FROM messages m
                 WHERE m.session_id = s.session_id AND m.role = 'user'
                 ORDER BY m.position LIMIT 1) AS preview
    FROM sessions s
"""


def list_query(
    page_token: str, owner: str | None, agents: bool, size: int, mark: str
) -> tuple[str, tuple[Any, ...]]:
    """The query of one page of sessions, most recently updated first, and
    its parameters: the users' sessions or, with `agents`, the agents' own;
    only `owner`'s when given; those after the token's (updated_at,
    session_id). It reads size + 1 rows (see `page_of`); `mark` is the
    driver's placeholder. Raises InvalidRequest for a bad token."""
    after = decode_token(page_token) if page_token else None
    if after is not None and not (
        isinstance(after, list) and len(after) == 2 and all(isinstance(v, str) for v in after)
    ):
        raise InvalidRequest("page_token is not valid", field="page_token")
    # Each kind's condition as its partial indexes state it, so they serve the list.
    conditions = ["s.agent_name IS NOT NULL" if agents else "s.agent_name IS NULL"]
    params: tuple[Any, ...] = ()
    if after is not None:
        conditions.append(f"(s.updated_at, s.session_id) < ({mark}, {mark})")
        params = (after[0], after[1])
    if owner is not None:
        conditions.append(f"s.owner = {mark}")
        params = (*params, owner)
    query = (
        f"{SESSION_SELECT} WHERE {' AND '.join(conditions)}"
        f" ORDER BY s.updated_at DESC, s.session_id DESC LIMIT {mark}"
    )
    return query, (*params, size + 1)


def page_of(rows: list[dict[str, Any]], size: int) -> tuple[list[dict[str, Any]], str]:
    """The rows of a page read by `list_query`, and the token of the next page
    ("" when there is none)."""
    if len(rows) <= size:
        return rows, ""
    rows = rows[:size]
    return rows, encode_token([rows[-1]["updated_at"], rows[-1]["session_id"]])
