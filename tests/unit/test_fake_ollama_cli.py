"""The command-line fake Ollama's replies for trying tools by hand."""

from __future__ import annotations

from tests.fakes.__main__ import tool_or_echo

SHOUT = {"type": "function", "function": {"name": "shout", "parameters": {}}}


def test_a_tool_offered_and_asked_for_is_called_with_its_arguments() -> None:
    reply = tool_or_echo(
        {"messages": [{"role": "user", "content": 'call shout {"text": "hi"}'}], "tools": [SHOUT]}
    )

    assert reply.tool_calls == [{"name": "shout", "arguments": {"text": "hi"}}]
    assert reply.content == []


def test_a_tool_not_offered_is_not_called() -> None:
    reply = tool_or_echo({"messages": [{"role": "user", "content": "call shout"}]})

    assert reply.tool_calls == []
    assert "".join(reply.content) == "You said: call shout"


def test_the_answer_after_a_tool_tells_its_result() -> None:
    reply = tool_or_echo(
        {
            "messages": [
                {"role": "user", "content": "call shout"},
                {"role": "assistant", "content": ""},
                {"role": "tool", "content": "HI THERE"},
            ],
            "tools": [SHOUT],
        }
    )

    assert "".join(reply.content) == "The tool said: HI THERE"


def test_a_message_asking_to_fail_gets_an_error_after_the_first_words() -> None:
    reply = tool_or_echo({"messages": [{"role": "user", "content": "fail"}]})

    assert reply.error_after == 1 and reply.content[0] == "Starting"
