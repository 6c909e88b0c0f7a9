"""The chat page the bridge serves at GET / (issue 16), driven in a real
Chromium against the bridge, the gRPC server and the fake Ollama.

The tests find things the way a person (or a screen reader) does: by role and
accessible name ("Message", "Send", "Stop", "New chat", "Regenerate", "Edit",
"Approve", "Deny", "Delete") and by the text on screen. What the page did is
then checked again through the public HTTP API and what the fake Ollama saw.
Screenshots of the main states go to <basetemp>/screenshots (the test run's
artifacts), never into the repository.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Dialog, Locator, Page, Request, expect

from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.agents_fixture import VALID_AGENT, VALID_TOOL, write_agents
from tests.fakes import FakeModel, FakeOllama, Reply
from tests.tools_fixture import write_tools

MODEL: Final = "llama3.2:latest"
OTHER_MODEL: Final = FakeModel(name="qwen3:4b", family="qwen3", context_length=40960)
# Generous: a slow CI machine must not fail a test that is merely slow.
UI_MS: Final = 20_000
API_GUARD_S: Final = 20.0

Json = dict[str, Any]


# -- fixtures -----------------------------------------------------------------


@pytest.fixture
async def server(
    settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[RunningServer]:
    """The usual server, with the test tools (shout, multiply_numbers) in its
    tools dir and the test agents (wordsmith, ...) in its agents dir;
    parametrized indirectly with "required", it requires API keys."""
    write_tools(settings.resolved_tools_dir)
    write_agents(settings.resolved_agents_dir)
    auth = getattr(request, "param", None)
    running = await start(settings.model_copy(update={"auth": auth}))
    yield running
    await running.stop(0)


@pytest.fixture
async def api(bridge_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge_url + "/api/v1", timeout=10) as client:
        yield client


Snap = Callable[[str], Awaitable[None]]


@pytest.fixture
def snap(
    page: Page, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Snap:
    """Saves a screenshot of the page as <basetemp>/screenshots/<test>-<state>.png."""
    directory = tmp_path_factory.getbasetemp() / "screenshots"
    directory.mkdir(exist_ok=True)
    test = re.sub(r"[^\w.-]+", "_", request.node.name)

    async def take(state: str) -> None:
        await page.screenshot(path=directory / f"{test}-{state}.png", full_page=True)

    return take


class Watch:
    """Every dialog (alert, confirm, ...) the page opened, every console error
    and uncaught exception, and every request it made."""

    def __init__(self, page: Page, *, accept_dialogs: bool = False) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[Request] = []
        self._accept = accept_dialogs
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("request", self._on_request)

    def _on_request(self, request: Request) -> None:
        self.requests.append(request)

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if self._accept:
            await dialog.accept()
        else:
            await dialog.dismiss()

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def calls(self, method: str, path_suffix: str) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == method and r.url.split("?", 1)[0].endswith(path_suffix)
        ]


# -- helpers ------------------------------------------------------------------


def message_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def button(page: Page | Locator, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def transcript(page: Page) -> Locator:
    # The spec names no container for the transcript; the whole page's text
    # is what a person sees.
    return page.locator("body")


async def until(check: Callable[[], Awaitable[Any]], what: str | Callable[[], str]) -> Any:
    """The first truthy answer of `check`, asked until API_GUARD_S runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + API_GUARD_S
    while True:
        answer = await check()
        if answer:
            return answer
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out waiting for {what if isinstance(what, str) else what()}"
            )
        await asyncio.sleep(0.05)


async def sessions(api: httpx.AsyncClient) -> list[Json]:
    response = await api.get("/sessions")
    response.raise_for_status()
    listed: list[Json] = response.json()["sessions"]
    return listed


async def settled(api: httpx.AsyncClient, session_id: str, count: int) -> list[Json]:
    """The session's messages once no turn runs on it and it holds `count` of them."""
    last: list[Json] = []

    async def check() -> list[Json] | None:
        got = (await api.get(f"/sessions/{session_id}")).json()
        last[:] = [got]
        messages: list[Json] = got["messages"]
        if got["active_turn_id"] is None and len(messages) == count:
            return messages
        return None

    def what() -> str:
        got = last[0] if last else {}
        seen = conversation(got.get("messages", []))
        return f"{count} messages and no turn; last seen {got.get('active_turn_id')}, {seen}"

    result: list[Json] = await until(check, what)
    return result


def conversation(messages: list[Json]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]


async def open_page(page: Page, bridge_url: str) -> None:
    await page.goto(bridge_url + "/")
    await expect(message_box(page)).to_be_visible(timeout=UI_MS)


async def new_chat(page: Page, api: httpx.AsyncClient, model: str = MODEL) -> str:
    """Starts a chat with `model` from the page; returns the new session's id."""
    before = {s["session_id"] for s in await sessions(api)}
    # The model picker: the combobox that offers the models of /models.
    picker = page.get_by_role("combobox").filter(has=page.get_by_role("option", name=model))
    await picker.select_option(model, timeout=UI_MS)
    await button(page, "New chat").click()

    async def created() -> str | None:
        new = [s for s in await sessions(api) if s["session_id"] not in before]
        return str(new[0]["session_id"]) if new else None

    # A message typed before the page has opened it must still go to it.
    session_id: str = await until(created, "the page to create a session")
    return session_id


async def idle(api: httpx.AsyncClient, session_id: str) -> list[Json]:
    """The session's messages once no turn runs on it."""

    async def check() -> list[Json] | None:
        got = (await api.get(f"/sessions/{session_id}")).json()
        messages: list[Json] = got["messages"]
        return messages if got["active_turn_id"] is None else None

    result: list[Json] = await until(check, f"session {session_id} to be idle")
    return result


def last_reply(page: Page) -> Locator:
    # Not fixed by the spec: the page marks each reply as an article named "Reply".
    return page.get_by_role("article", name="Reply").last


async def send(page: Page, text: str) -> None:
    box = message_box(page)
    await box.fill(text)
    await box.press("Enter")


def words(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:02d} " for i in range(n)]


# -- the page and its headers -------------------------------------------------


async def test_the_page_loads_with_a_strict_csp_and_nosniff(
    page: Page, bridge_url: str, snap: Snap
) -> None:
    watch = Watch(page)

    response = await page.goto(bridge_url + "/")

    assert response is not None and response.ok
    headers = await response.all_headers()
    assert headers["x-content-type-options"] == "nosniff"
    directives: dict[str, list[str]] = {}
    for part in headers["content-security-policy"].split(";"):
        if part.strip():
            name, *values = part.split()
            directives[name.lower()] = [v.lower() for v in values]
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, directives  # scripts are restricted at all
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in [v for values in directives.values() for v in values]
    assert "*" not in scripts
    await expect(message_box(page)).to_be_visible(timeout=UI_MS)
    await expect(button(page, "New chat")).to_be_visible()
    await expect(button(page, "Send")).to_be_visible()
    await snap("empty")
    assert watch.errors == []  # a CSP violation would be one
    assert watch.dialogs == []


# -- sessions -----------------------------------------------------------------


async def test_new_chat_uses_the_picked_model_and_the_reply_streams_in(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    fake_ollama.add_model(OTHER_MODEL)
    watch = Watch(page)
    await open_page(page, bridge_url)

    session_id = await new_chat(page, api, OTHER_MODEL.name)

    got = (await api.get(f"/sessions/{session_id}")).json()
    assert got["model"] == OTHER_MODEL.name
    reply = words("tok", 20)
    fake_ollama.script(Reply(content=reply, chunk_delay=0.15))
    await send(page, "Tell me a story")
    # The reply grows on screen: several partial states, then all of it.
    seen: list[int] = await (
        await page.wait_for_function(
            """() => {
              window.__seen = window.__seen || [];
              const n = (document.body.innerText.match(/tok\\d\\d/g) || []).length;
              if (!window.__seen.includes(n)) window.__seen.push(n);
              return n >= 20 && window.__seen;
            }""",
            polling=30,
            timeout=UI_MS,
        )
    ).json_value()
    partial = [n for n in seen if 0 < n < 20]
    assert len(partial) >= 2, seen  # more than one visible update before the end
    await expect(transcript(page)).to_contain_text("".join(reply).strip(), timeout=UI_MS)
    await snap("reply")
    messages = await settled(api, session_id, 2)
    assert conversation(messages) == [("user", "Tell me a story"), ("assistant", "".join(reply))]
    assert fake_ollama.requests[-1].model == OTHER_MODEL.name
    # The context-window usage of the session status is on screen.
    status = (await api.get(f"/sessions/{session_id}/status")).json()
    window = str(status["context_window"]["current_window"])
    grouped = r"[,.\s\u00a0\u202f']?".join(window)  # 4096, 4,096, 4 096, ...
    await expect(transcript(page)).to_contain_text(re.compile(rf"\b{grouped}\b"))
    assert watch.errors == []


async def test_enter_sends_and_shift_enter_makes_a_newline(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    fake_ollama.script(Reply(content=["Two ", "lines ", "received"]))

    box = message_box(page)
    await box.fill("line one")
    await box.press("Shift+Enter")
    await box.press_sequentially("line two")
    await expect(box).to_have_value("line one\nline two")
    await box.press("Enter")

    await expect(transcript(page)).to_contain_text("Two lines received", timeout=UI_MS)
    messages = await settled(api, session_id, 2)
    assert messages[0] == {**messages[0], "role": "user", "content": "line one\nline two"}
    await expect(box).to_have_value("")


async def test_the_list_shows_sessions_newest_first_and_delete_removes_one(
    page: Page, bridge_url: str, api: httpx.AsyncClient
) -> None:
    ids = []
    for text in ["First topic alpha", "Second topic beta"]:
        created = await api.post("/sessions", json={"model": MODEL})
        ids.append(created.json()["session_id"])
        answered = await api.post(f"/chat/{ids[-1]}", json={"message": text})
        assert answered.status_code == 200
    watch = Watch(page, accept_dialogs=True)  # a "really delete?" confirm is fine
    await open_page(page, bridge_url)

    first = page.get_by_text("First topic alpha").first
    second = page.get_by_text("Second topic beta").first
    await expect(first).to_be_visible(timeout=UI_MS)
    await expect(second).to_be_visible(timeout=UI_MS)
    text = await transcript(page).inner_text()
    assert text.index("Second topic beta") < text.index("First topic alpha")  # newest first

    await first.click()  # opens it
    await expect(transcript(page)).to_contain_text("You said: First topic alpha", timeout=UI_MS)
    entry = page.get_by_role("listitem").filter(has_text="First topic alpha")
    await button(entry, "Delete").click()

    async def gone() -> bool:
        return [s["session_id"] for s in await sessions(api)] == [ids[1]]

    await until(gone, "the session to be deleted")
    await expect(page.get_by_text("First topic alpha")).to_have_count(0, timeout=UI_MS)
    await expect(page.get_by_text("Second topic beta").first).to_be_visible()
    assert watch.errors == []


async def test_thinking_shows_collapsed_above_the_reply(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    # The spec calls it the `think` toggle; its exact name is the page's.
    await page.get_by_role("checkbox", name=re.compile(r"\bthink", re.I)).check()
    fake_ollama.script(
        Reply(thinking=["Let me ", "ponder deeply."], content=["The ", "answer ", "is 42."])
    )

    await send(page, "Think hard")

    await expect(transcript(page)).to_contain_text("The answer is 42.", timeout=UI_MS)
    messages = await settled(api, session_id, 2)
    assert messages[1]["thinking"] == "Let me ponder deeply."
    assert fake_ollama.requests[-1].think is True
    thinking = page.get_by_text("Let me ponder deeply.")
    await expect(thinking).to_have_count(1)
    await expect(thinking).to_be_hidden()  # collapsed
    above: bool = await page.evaluate(
        """([first, second]) => {
          const find = (text) => {
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              if (node.data.includes(text)) return node;
            }
            return null;
          };
          const a = find(first), b = find(second);
          const after = Node.DOCUMENT_POSITION_FOLLOWING;
          return Boolean(a && b && (a.compareDocumentPosition(b) & after));
        }""",
        ["ponder deeply", "answer is 42"],
    )
    assert above
    await snap("thinking")


async def test_the_system_prompt_editor_sets_the_sessions_prompt(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)

    # The spec asks for an editor, not its names: "system prompt" is in them.
    await page.get_by_role("button", name=re.compile("system prompt", re.I)).click()
    editor = page.get_by_role("dialog")
    await expect(editor).to_be_visible(timeout=UI_MS)
    await editor.get_by_role("textbox", name=re.compile("system prompt", re.I)).fill(
        "You are a pirate."
    )
    await editor.get_by_role("button", name=re.compile("save", re.I)).click()
    await expect(editor).to_be_hidden(timeout=UI_MS)

    messages = await settled(api, session_id, 1)
    assert conversation(messages) == [("system", "You are a pirate.")]
    await send(page, "Ahoy")
    await expect(transcript(page)).to_contain_text("You said: Ahoy", timeout=UI_MS)
    await settled(api, session_id, 3)
    assert fake_ollama.requests[-1].messages[0] == {
        "role": "system",
        "content": "You are a pirate.",
    }


# -- stop, regenerate, edit ---------------------------------------------------


async def test_stop_keeps_the_partial_reply_and_hangs_up_on_ollama(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    fake_ollama.script(Reply(content=["Partial ", "answer ", "so ", "far"], hang_after=4))
    await send(page, "Say a lot")
    await expect(transcript(page)).to_contain_text("Partial answer so far", timeout=UI_MS)
    rec = await fake_ollama.wait_for_request()

    await button(page, "Stop").click()

    messages = await settled(api, session_id, 2)
    assert messages[1]["content"] == "Partial answer so far"
    assert messages[1]["partial_reason"] == "cancelled"
    await asyncio.wait_for(fake_ollama.wait_for_end(rec), API_GUARD_S)
    assert rec.disconnected.is_set() and not rec.completed
    reply = last_reply(page)
    await expect(reply).to_contain_text("Partial answer so far")
    await expect(reply).to_contain_text(re.compile("stop|cancel", re.I))  # marked
    await snap("stopped")
    # And the chat goes on.
    fake_ollama.script(Reply(content=["Back ", "again"]))
    await send(page, "Continue")
    await expect(transcript(page)).to_contain_text("Back again", timeout=UI_MS)
    await settled(api, session_id, 4)


async def test_regenerate_replaces_the_last_reply_and_edit_drops_what_followed(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    fake_ollama.script(Reply(content=["First ", "answer"]), Reply(content=["Second ", "answer"]))
    await send(page, "Question one")
    await expect(transcript(page)).to_contain_text("First answer", timeout=UI_MS)
    await settled(api, session_id, 2)
    await send(page, "Question two")
    await expect(transcript(page)).to_contain_text("Second answer", timeout=UI_MS)
    await settled(api, session_id, 4)

    fake_ollama.script(Reply(content=["Another ", "take"], chunk_delay=0.05))
    await button(page, "Regenerate").last.click()

    await expect(transcript(page)).to_contain_text("Another take", timeout=UI_MS)
    await expect(transcript(page)).not_to_contain_text("Second answer", timeout=UI_MS)
    messages = await settled(api, session_id, 4)
    assert conversation(messages) == [
        ("user", "Question one"),
        ("assistant", "First answer"),
        ("user", "Question two"),
        ("assistant", "Another take"),
    ]
    await snap("regenerated")

    fake_ollama.script(Reply(content=["Edited ", "answer"], chunk_delay=0.05))
    await button(page, "Edit").first.click()  # on "Question one"
    await edit_to(page, "Question one, edited")

    await expect(transcript(page)).to_contain_text("Edited answer", timeout=UI_MS)
    for gone in ["Question two", "Another take", "First answer"]:
        await expect(transcript(page)).not_to_contain_text(gone, timeout=UI_MS)
    messages = await settled(api, session_id, 2)
    assert conversation(messages) == [
        ("user", "Question one, edited"),
        ("assistant", "Edited answer"),
    ]
    assert fake_ollama.requests[-1].messages == [
        {"role": "user", "content": "Question one, edited"}
    ]
    await snap("edited")


async def edit_to(page: Page, text: str) -> None:
    """Replaces the text of the message being edited and submits it.

    The spec fixes the "Edit" button, not the editor it opens: the focused
    textbox after clicking it, submitted with Enter as the message box is."""
    editor = page.locator("textarea:focus, input:focus, [contenteditable]:focus")
    await expect(editor).to_have_count(1, timeout=UI_MS)
    await editor.fill(text)
    await editor.press("Enter")


# -- tools --------------------------------------------------------------------


async def test_a_tool_call_is_approved_then_another_is_denied(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    patched = await api.patch(
        f"/sessions/{session_id}",
        json={"tool_settings": {"tools": ["shout"], "execution_policy": "always_confirm"}},
    )
    assert patched.status_code == 200, patched.text
    fake_ollama.script(
        Reply(tool_calls=[{"name": "shout", "arguments": {"text": "hello there"}}]),
        Reply(content=["Done ", "shouting."]),
    )

    await send(page, "Shout hello there")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible(timeout=UI_MS)
    await expect(dialog).to_contain_text("shout")
    await expect(dialog).to_contain_text("hello there")
    await snap("confirm-tool")
    await button(dialog, "Approve").click()

    await expect(dialog).to_be_hidden(timeout=UI_MS)
    await expect(transcript(page)).to_contain_text("HELLO THERE", timeout=UI_MS)  # the result
    await expect(transcript(page)).to_contain_text("Done shouting.", timeout=UI_MS)
    messages = await settled(api, session_id, 4)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"] == [
        {"function": {"name": "shout", "arguments": {"text": "hello there"}}}
    ]
    assert (messages[2]["tool_name"], messages[2]["content"]) == ("shout", "HELLO THERE")
    assert messages[3]["content"] == "Done shouting."
    await snap("tool-approved")

    fake_ollama.script(
        Reply(tool_calls=[{"name": "shout", "arguments": {"text": "quiet please"}}]),
        Reply(content=["Fine, ", "no ", "shouting."]),
    )
    await send(page, "Shout quiet please")
    await expect(dialog).to_be_visible(timeout=UI_MS)
    await expect(dialog).to_contain_text("quiet please")
    await button(dialog, "Deny").click()

    await expect(dialog).to_be_hidden(timeout=UI_MS)
    await expect(transcript(page)).to_contain_text("Fine, no shouting.", timeout=UI_MS)
    messages = await settled(api, session_id, 8)
    assert [m["role"] for m in messages[4:]] == ["user", "assistant", "tool", "assistant"]
    assert messages[6]["content"] == "Tool 'shout' was denied by user"
    await expect(transcript(page)).to_contain_text("Tool 'shout' was denied by user")
    assert "QUIET PLEASE" not in await transcript(page).inner_text()
    await snap("tool-denied")


# -- agents -------------------------------------------------------------------

AGENT_INSTRUCTION: Final = "count the words in 'one two three'"
# Markup in an agent's text is text to show.
AGENT_PLAN: Final = "Plan: count them <b>now</b>."
# The session's model hands the counting to the agent.
DELEGATION: Final = Reply(
    tool_calls=[
        {"name": "agent", "arguments": {"agent": VALID_AGENT, "instruction": AGENT_INSTRUCTION}}
    ]
)


async def agent_chat(page: Page, bridge_url: str, api: httpx.AsyncClient) -> str:
    """A chat started from the page whose model may call the agent wordsmith,
    without asking; returns its session id."""
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    patched = await api.patch(
        f"/sessions/{session_id}",
        json={
            "agent_settings": {"enabled_agents": [VALID_AGENT]},
            "tool_settings": {"tools": [], "execution_policy": "never_confirm"},
        },
    )
    assert patched.status_code == 200, patched.text
    return session_id


async def test_an_agents_work_shows_in_the_reply_as_text(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    watch = Watch(page)
    session_id = await agent_chat(page, bridge_url, api)
    fake_ollama.script(
        # The session's model delegates; the agent plans, calls its tool,
        # reports; the session's model answers.
        DELEGATION,
        Reply(content=chunks(AGENT_PLAN, 6)),
        Reply(tool_calls=[{"name": VALID_TOOL, "arguments": {"text": "one two three"}}]),
        Reply(content=["There ", "are ", "3 ", "words."]),
        Reply(content=["The ", "agent ", "says ", "3."]),
    )

    await send(page, "How many words are in 'one two three'?")

    await expect(transcript(page)).to_contain_text("The agent says 3.", timeout=UI_MS)
    messages = await settled(api, session_id, 4)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    chats = (await api.get("/agents/chats")).json()["sessions"]
    assert len(chats) == 1
    agent_session = chats[0]["session_id"]
    reply = last_reply(page)
    block = reply.get_by_role("group").filter(has_text=VALID_AGENT)
    await expect(block).to_have_count(1)
    # Done, and folded away to its name and "done".
    await expect(block.get_by_text("done", exact=True)).to_be_visible()
    await expect(block.get_by_text(AGENT_PLAN)).to_be_hidden()

    await block.get_by_text(VALID_AGENT, exact=True).click()

    await expect(block.get_by_text(AGENT_INSTRUCTION, exact=True)).to_be_visible()
    await expect(block.get_by_text(AGENT_PLAN, exact=True)).to_be_visible()
    await expect(block.get_by_text("There are 3 words.", exact=True)).to_be_visible()
    tool_call = block.locator("div").filter(has_text=re.compile(r"^Tool call\b"))
    await expect(tool_call).to_contain_text(VALID_TOOL)
    await expect(tool_call).to_contain_text("one two three")
    tool_result = block.locator("div").filter(has_text=re.compile(r"^Tool result\b"))
    await expect(tool_result).to_contain_text(f"{VALID_TOOL} 3")
    await expect(block.get_by_text(agent_session)).to_be_visible()
    await expect(block.locator("b")).to_have_count(0)  # the plan's markup is text
    # The block stands for the agent tool's result (the same text, stored).
    assert messages[2]["tool_name"] == "agent"
    assert messages[2]["content"].startswith(f"Session ID: {agent_session}")
    await expect(reply).not_to_contain_text("Session ID:")
    await snap("agent")
    assert watch.errors == []

    # A page that did not see the agent work shows the stored result.
    await page.reload()
    reply = last_reply(page)
    await expect(reply).to_contain_text(f"Session ID: {agent_session}", timeout=UI_MS)
    await expect(reply).to_contain_text("The agent says 3.")
    await expect(reply.get_by_role("group").filter(has_text=VALID_AGENT)).to_have_count(0)


async def test_an_agent_at_work_shows_open_until_the_turn_is_stopped(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    watch = Watch(page)
    session_id = await agent_chat(page, bridge_url, api)
    fake_ollama.script(
        DELEGATION,
        Reply(content=["Plan: ", "count."]),
        # The agent's work stops half-way and waits.
        Reply(content=["Counting ", "now"], hang_after=2),
    )

    await send(page, "How many words are in 'one two three'?")

    block = last_reply(page).get_by_role("group").filter(has_text=VALID_AGENT)
    await expect(block.get_by_text("Counting now", exact=True)).to_be_visible(timeout=UI_MS)
    await expect(block.get_by_text("Plan: count.", exact=True)).to_be_visible()
    await expect(block.get_by_text(AGENT_INSTRUCTION, exact=True)).to_be_visible()
    await expect(block.get_by_text("working", exact=True)).to_be_visible()
    await snap("agent-working")

    await button(page, "Stop").click()

    await expect(button(page, "Send")).to_be_enabled(timeout=UI_MS)
    await idle(api, session_id)
    await snap("agent-stopped")
    assert watch.errors == []


# -- reload in the middle of a reply --------------------------------------------


async def test_a_reload_mid_reply_reattaches_and_the_reply_completes(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    watch = Watch(page)
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    reply = words("word", 30)
    fake_ollama.script(Reply(content=reply, chunk_delay=0.15))
    await send(page, "Write a long reply")
    await expect(transcript(page)).to_contain_text("word03", timeout=UI_MS)
    started = watch.calls("POST", f"/chat/{session_id}/stream")
    assert len(started) == 1
    assert json.loads(started[0].post_data or "{}")["continue_on_disconnect"] is True
    got = (await api.get(f"/sessions/{session_id}")).json()
    assert got["active_turn_id"] is not None  # still running

    await page.reload()
    await snap("reloaded")

    await expect(transcript(page)).to_contain_text("".join(reply).strip(), timeout=UI_MS)
    assert watch.calls("GET", f"/chat/{session_id}/stream")  # re-attached
    messages = await settled(api, session_id, 2)
    assert messages[1]["content"] == "".join(reply)
    assert messages[1]["partial_reason"] is None
    assert fake_ollama.requests[0].completed  # the reload did not stop the turn
    await snap("completed")


async def test_stop_after_a_reload_cancels_the_turn_on_the_server(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    watch = Watch(page)
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    fake_ollama.script(Reply(content=["Half ", "a ", "reply"], hang_after=3))
    await send(page, "Take your time")
    await expect(transcript(page)).to_contain_text("Half a reply", timeout=UI_MS)

    await page.reload()
    await expect(transcript(page)).to_contain_text("Half a reply", timeout=UI_MS)
    await button(page, "Stop").click()

    messages = await settled(api, session_id, 2)
    assert (messages[1]["content"], messages[1]["partial_reason"]) == ("Half a reply", "cancelled")
    assert watch.calls("POST", f"/chat/{session_id}/cancel")
    rec = fake_ollama.requests[0]
    await asyncio.wait_for(fake_ollama.wait_for_end(rec), API_GUARD_S)
    assert rec.disconnected.is_set()


# -- Markdown, rendered inertly -------------------------------------------------

CODE: Final = '<b>bold?</b> & "quoted" <script>alert(4)</script>\n  indented   spaces\t tab'
HOSTILE: Final = (
    'Look: <img src=x onerror="alert(1)"> and <script>alert(2)</script> **strong**\n\n'
    "[clickme](javascript:alert(3))\n\n"
    f"```html\n{CODE}\n```\n\n"
    "end-of-reply\n"
)


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_a_hostile_markdown_reply_renders_inertly(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    watch = Watch(page)
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    fake_ollama.script(Reply(content=chunks(HOSTILE, 7), chunk_delay=0.01))

    await send(page, "Be naughty")

    await expect(transcript(page)).to_contain_text("end-of-reply", timeout=UI_MS)
    messages = await settled(api, session_id, 2)
    assert messages[1]["content"] == HOSTILE
    await expect(page.locator("strong", has_text="strong")).to_have_count(1)  # it is Markdown
    dom: Json = await page.evaluate(
        """() => {
          const all = [...document.querySelectorAll("*")];
          const pre = [...document.querySelectorAll("pre")]
            .find(p => p.textContent.includes("bold?"));
          const code = pre && (pre.querySelector("code") || pre);
          return {
            handlers: all.flatMap(e => [...e.attributes].filter(a => /^on/i.test(a.name))
                                          .map(a => `${e.tagName} ${a.name}`)),
            scripts: [...document.scripts].filter(s => !s.src || /alert/.test(s.textContent))
                                          .map(s => s.outerHTML),
            javascriptUrls: all.flatMap(e => [...e.attributes]
                .filter(a => /^\\s*javascript:/i.test(a.value)).map(a => `${e.tagName} ${a.name}`)),
            links: [...document.querySelectorAll("a")]
                .filter(a => a.textContent.includes("clickme")).map(a => a.getAttribute("href")),
            code: code ? code.textContent : null,
            boldInCode: code ? code.querySelectorAll("b, script").length : null,
          };
        }"""
    )
    assert dom["handlers"] == []
    assert dom["scripts"] == []
    assert dom["javascriptUrls"] == []
    assert all(h is None or not h.strip().lower().startswith("javascript:") for h in dom["links"])
    assert dom["code"] in (CODE, CODE + "\n")  # kept exactly
    assert dom["boldInCode"] == 0
    await snap("hostile")

    url = page.url
    await page.get_by_text("clickme", exact=True).click()
    # Anything the click could start (a navigation, a queued script) has run
    # once the page has been through a task and two frames.
    await page.evaluate(
        "() => new Promise(r => setTimeout(() => requestAnimationFrame(() =>"
        " requestAnimationFrame(r)), 100))"
    )
    assert page.url == url
    assert watch.dialogs == []
    # An <img src=x> the sanitiser keeps (without its handler) asks for /x: a
    # 404, not an error of the page.
    errors = [e for e in watch.errors if not re.search(r"\(\S*/x\)$", e)]
    assert errors == []


# -- errors and API keys ----------------------------------------------------------


async def test_an_error_shows_the_apis_message(
    page: Page, bridge_url: str, api: httpx.AsyncClient, fake_ollama: FakeOllama, snap: Snap
) -> None:
    await open_page(page, bridge_url)
    session_id = await new_chat(page, api)
    fake_ollama.script(Reply(http_status=500, error_message="the GPU is on fire"))

    await send(page, "Hello?")

    await expect(transcript(page)).to_contain_text(
        "Ollama error: the GPU is on fire", timeout=UI_MS
    )
    await snap("error")
    messages = await idle(api, session_id)
    assert [m["role"] for m in messages] == ["user"]  # the question stays; no reply


@pytest.mark.parametrize("server", ["required"], indirect=True)
async def test_a_401_asks_for_an_api_key_and_then_sends_it(
    page: Page, bridge_url: str, server: RunningServer, snap: Snap
) -> None:
    _, token = await KeyRing(server.store).create("page", admin=False)
    watch = Watch(page)

    await page.goto(bridge_url + "/")
    await give_api_key(page, token)

    async with httpx.AsyncClient(
        base_url=bridge_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as api:
        session_id = await new_chat(page, api)
        await send(page, "Who am I?")
        await expect(transcript(page)).to_contain_text("You said: Who am I?", timeout=UI_MS)
        await settled(api, session_id, 2)
    assert await page.evaluate("() => Object.values(sessionStorage)") == [token]
    sent = {r.headers.get("authorization") for r in watch.requests if "/api/v1/" in r.url}
    assert f"Bearer {token}" in sent
    # After a reload the key is still there: no second question.
    await page.reload()
    await expect(page.get_by_text("Who am I?").first).to_be_visible(timeout=UI_MS)


async def give_api_key(page: Page, token: str) -> None:
    """Answers the page's question for an API key.

    The spec fixes that a 401 asks for a key, not how: here, the one
    password field (or textbox) of the dialog that asks, submitted with Enter."""
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible(timeout=UI_MS)
    field = dialog.locator("input")
    await field.fill(token)
    await field.press("Enter")
    await expect(dialog).to_be_hidden(timeout=UI_MS)
