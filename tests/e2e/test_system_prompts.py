"""System prompt files and a session's system prompt, over real HTTP.

The prompt files live in <data dir>/system_prompts; the data dir of these
tests is tmp_path, so what the server writes and reads can be checked on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.fakes import FakeOllama

MODEL: Final = "llama3.2:latest"
SECRET: Final = "TOP SECRET"
# A text whose first 247 characters end in a space: 19 words of 12 letters.
LONG_TEXT: Final = "abcdefghijkl " * 20


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    return tmp_path / "system_prompts"


@pytest.fixture
def planted(tmp_path: Path, prompts_dir: Path) -> list[Path]:
    """Files a refused name must neither read nor change: one outside the
    directory, and two inside it with names the server does not serve."""
    prompts_dir.mkdir()
    paths = [tmp_path / "secret.md", prompts_dir / ".secret.md", prompts_dir / "secret.txt"]
    for path in paths:
        path.write_text(SECRET, encoding="utf-8")
    return paths


def _file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _code(response: httpx.Response, status: int) -> str:
    """The error code of a refusal with `status`."""
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


def _field(response: httpx.Response) -> str | None:
    """The field a refusal names."""
    field: str | None = response.json()["error"]["details"].get("field")
    return field


async def _create_prompt(http: httpx.AsyncClient, filename: str, content: str) -> None:
    response = await http.post("/system-prompts", json={"filename": filename, "content": content})
    assert response.status_code == 201, response.text


async def _session(http: httpx.AsyncClient, **body: Any) -> str:
    response = await http.post("/sessions", json={"model": MODEL, **body})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def _turn(http: httpx.AsyncClient, session_id: str, message: str | None = None) -> None:
    response = await http.post(f"/chat/{session_id}", json={"message": message})
    assert response.status_code == 200, response.text


async def _history(http: httpx.AsyncClient, session_id: str) -> list[tuple[str, str]]:
    response = await http.get(f"/sessions/{session_id}/messages")
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


# -- prompt files -------------------------------------------------------------


async def test_a_prompt_file_is_created_read_changed_and_deleted(
    http: httpx.AsyncClient, prompts_dir: Path
) -> None:
    coder = {"filename": "coder.md", "content": "You write code."}
    created = await http.post("/system-prompts", json=coder)
    assert (created.status_code, created.json()) == (201, coder)
    assert (prompts_dir / "coder.md").read_text(encoding="utf-8") == "You write code."
    assert (await http.get("/system-prompts/coder.md")).json() == coder

    again = await http.post("/system-prompts", json={**coder, "content": "Other."})
    assert _code(again, 409) == "PROMPT_EXISTS"
    assert (prompts_dir / "coder.md").read_text(encoding="utf-8") == "You write code."

    updated = await http.put("/system-prompts/coder.md", json={"content": "You review code."})
    assert (updated.status_code, updated.json()) == (
        200,
        {"filename": "coder.md", "content": "You review code."},
    )
    assert (prompts_dir / "coder.md").read_text(encoding="utf-8") == "You review code."

    deleted = await http.delete("/system-prompts/coder.md")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert not (prompts_dir / "coder.md").exists()
    for method in ("GET", "PUT", "DELETE"):
        gone = await http.request(method, "/system-prompts/coder.md", json={"content": "x"})
        assert _code(gone, 404) == "PROMPT_NOT_FOUND", method


async def test_the_list_is_sorted_with_previews_and_word_counts(
    http: httpx.AsyncClient, prompts_dir: Path
) -> None:
    assert (await http.get("/system-prompts")).json() == {"prompts": []}
    await _create_prompt(http, "long.md", LONG_TEXT)
    await _create_prompt(http, "brief.md", "Be brief.\n\tAlways.")
    (prompts_dir / "notes.txt").write_text("not a prompt", encoding="utf-8")

    listed = await http.get("/system-prompts")

    assert listed.json() == {
        "prompts": [
            {"filename": "brief.md", "preview": "Be brief.\n\tAlways.", "word_count": 3},
            {"filename": "long.md", "preview": LONG_TEXT[:246] + "...", "word_count": 20},
        ]
    }


async def test_blank_or_too_long_texts_are_refused(
    http: httpx.AsyncClient, prompts_dir: Path
) -> None:
    refused = ["", " \n\t", "x" * 20_001]
    for content in refused:
        response = await http.post("/system-prompts", json={"filename": "p.md", "content": content})
        assert _code(response, 422) == "VALIDATION_ERROR"
        assert _field(response) == "content"
    assert not (prompts_dir / "p.md").exists()

    await _create_prompt(http, "p.md", "x" * 20_000)
    for content in refused:
        response = await http.put("/system-prompts/p.md", json={"content": content})
        assert _code(response, 422) == "VALIDATION_ERROR"
    assert (prompts_dir / "p.md").read_text(encoding="utf-8") == "x" * 20_000


@pytest.mark.parametrize(
    "body",
    [
        {"filename": "p.md"},
        {"content": "x"},
        {"filename": 1, "content": "x"},
        {"filename": "p.md", "content": ["x"]},
    ],
)
async def test_create_bodies_of_the_wrong_shape_are_refused(
    http: httpx.AsyncClient, prompts_dir: Path, body: dict[str, Any]
) -> None:
    response = await http.post("/system-prompts", json=body)

    assert _code(response, 422) == "VALIDATION_ERROR"
    assert _file_names(prompts_dir) == []


# -- names that point outside the directory -----------------------------------


def _escaped(tmp_path: Path) -> list[Path]:
    """Files named escaped* anywhere a refused name could have put one."""
    return [*tmp_path.rglob("escaped*"), *tmp_path.parent.glob("escaped*")]


async def test_names_outside_the_directory_are_refused_and_nothing_is_written(
    http: httpx.AsyncClient, tmp_path: Path, prompts_dir: Path
) -> None:
    await _create_prompt(http, "ok.md", "The directory exists.")
    names = [
        "../escaped.md",
        "../../escaped.md",
        f"{tmp_path}/escaped.md",
        "a/escaped.md",
        "..\\escaped.md",
        "escaped.txt",
        ".escaped.md",
        "",
    ]
    for name in names:
        response = await http.post("/system-prompts", json={"filename": name, "content": "x"})
        assert _code(response, 422) == "VALIDATION_ERROR", name
        assert _field(response) == "filename", name

    assert _escaped(tmp_path) == []
    assert _file_names(prompts_dir) == ["ok.md"]


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("..%5Csecret.md", 422, "VALIDATION_ERROR"),
        ("%2E%2E", 422, "VALIDATION_ERROR"),
        (".secret.md", 422, "VALIDATION_ERROR"),
        ("secret.txt", 422, "VALIDATION_ERROR"),
        # A "/" in the name, encoded or not, matches no route.
        ("..%2Fsecret.md", 404, "NOT_FOUND"),
        ("%2E%2E%2Fsecret.md", 404, "NOT_FOUND"),
        ("%2Fetc%2Fpasswd", 404, "NOT_FOUND"),
    ],
)
async def test_names_outside_the_directory_are_refused_in_paths(
    http: httpx.AsyncClient, planted: list[Path], name: str, status: int, code: str
) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await http.request(
            method, f"/system-prompts/{name}", json={"content": "overwritten"}
        )
        assert _code(response, status) == code, method
        assert SECRET not in response.text

    assert all(path.read_text(encoding="utf-8") == SECRET for path in planted)


async def test_a_session_cannot_take_its_prompt_from_outside_the_directory(
    http: httpx.AsyncClient, tmp_path: Path, planted: list[Path]
) -> None:
    session_id = await _session(http)

    for name in ("../secret.md", f"{tmp_path}/secret.md", "..\\secret.md"):
        created = await http.post(
            "/sessions", json={"model": MODEL, "system_prompt_source_file": name}
        )
        assert _code(created, 422) == "VALIDATION_ERROR", name
        put = await http.put(f"/sessions/{session_id}/system-prompt", json={"source_file": name})
        assert _code(put, 422) == "VALIDATION_ERROR", name
        assert SECRET not in created.text + put.text

    sessions = (await http.get("/sessions")).json()["sessions"]
    assert [(s["session_id"], s["message_count"]) for s in sessions] == [(session_id, 0)]


# -- a session's system prompt ------------------------------------------------


async def test_a_session_starts_with_the_text_of_a_prompt_file(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    await _create_prompt(http, "pirate.md", "Talk like a pirate.")
    created = await http.post(
        "/sessions", json={"model": MODEL, "system_prompt_source_file": "pirate.md"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["message_count"] == 1
    session_id = created.json()["session_id"]
    # The session keeps the text it started with.
    await http.put("/system-prompts/pirate.md", json={"content": "Talk like a robot."})

    await _turn(http, session_id, "Hi")

    assert fake_ollama.requests[0].messages == [
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "Hi"},
    ]
    first = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"][0]
    assert (first["role"], first["content"], first["source_file"]) == (
        "system",
        "Talk like a pirate.",
        "pirate.md",
    )
    status = (await http.get(f"/sessions/{session_id}/status")).json()
    assert status["system_prompt_file"] == "pirate.md"


async def test_a_missing_prompt_file_creates_no_session(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/sessions", json={"model": MODEL, "system_prompt_source_file": "missing.md"}
    )

    assert _code(response, 404) == "PROMPT_NOT_FOUND"
    assert (await http.get("/sessions")).json()["sessions"] == []


async def test_a_system_prompt_set_mid_session_goes_before_the_history(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    await _turn(http, session_id, "Hi")

    response = await http.put(
        f"/sessions/{session_id}/system-prompt", json={"content": "Be terse."}
    )

    assert (response.status_code, response.json()) == (
        200,
        {"content": "Be terse.", "source_file": None, "message_index": 0},
    )
    assert await _history(http, session_id) == [
        ("system", "Be terse."),
        ("user", "Hi"),
        ("assistant", "You said: Hi"),
    ]
    await _turn(http, session_id, "Again")
    assert fake_ollama.requests[-1].messages == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "You said: Hi"},
        {"role": "user", "content": "Again"},
    ]
    # Editing counts the system prompt: the first user message is now 1.
    refused = await http.put(f"/sessions/{session_id}/messages/0", json={"content": "x"})
    assert _code(refused, 400) == "INVALID_MESSAGE_INDEX"
    edited = await http.put(f"/sessions/{session_id}/messages/1", json={"content": "Hello"})
    assert edited.json()["message_count"] == 2
    assert await _history(http, session_id) == [("system", "Be terse."), ("user", "Hello")]


async def test_a_prompt_file_wins_over_a_text_and_replaces_the_system_prompt(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, system_prompt="Be terse.")
    await _turn(http, session_id, "Hi")
    await _create_prompt(http, "pirate.md", "Talk like a pirate.")

    response = await http.put(
        f"/sessions/{session_id}/system-prompt",
        json={"content": "Ignored.", "source_file": "pirate.md"},
    )

    assert response.json() == {
        "content": "Talk like a pirate.",
        "source_file": "pirate.md",
        "message_index": 0,
    }
    assert await _history(http, session_id) == [
        ("system", "Talk like a pirate."),
        ("user", "Hi"),
        ("assistant", "You said: Hi"),
    ]
    status = (await http.get(f"/sessions/{session_id}/status")).json()
    assert status["system_prompt_file"] == "pirate.md"
    await _turn(http, session_id, "Again")
    assert fake_ollama.requests[-1].messages[0] == {
        "role": "system",
        "content": "Talk like a pirate.",
    }


async def test_removing_the_system_prompt_moves_the_history_up(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, system_prompt="Be terse.")
    await _turn(http, session_id, "Hi")

    removed = await http.delete(f"/sessions/{session_id}/system-prompt")

    assert (removed.status_code, removed.content) == (204, b"")
    assert await _history(http, session_id) == [("user", "Hi"), ("assistant", "You said: Hi")]
    edited = await http.put(f"/sessions/{session_id}/messages/0", json={"content": "Hello"})
    assert edited.json()["message_count"] == 1
    await _turn(http, session_id)
    assert fake_ollama.requests[-1].messages == [{"role": "user", "content": "Hello"}]
    again = await http.delete(f"/sessions/{session_id}/system-prompt")
    assert _code(again, 404) == "NO_SYSTEM_PROMPT"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "VALIDATION_ERROR"),
        ({"content": " "}, 422, "VALIDATION_ERROR"),
        ({"content": 3}, 422, "VALIDATION_ERROR"),
        ({"source_file": "missing.md"}, 404, "PROMPT_NOT_FOUND"),
        ({"source_file": "x.txt"}, 422, "VALIDATION_ERROR"),
    ],
)
async def test_a_refused_system_prompt_changes_nothing(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    session_id = await _session(http, system_prompt="Be terse.")

    response = await http.put(f"/sessions/{session_id}/system-prompt", json=body)

    assert _code(response, status) == code
    assert await _history(http, session_id) == [("system", "Be terse.")]
