"""The command-line fake Ollama's replies for trying tools by hand."""

from __future__ import annotations

from mochi_grpc.chat.summaries import ConversationSummary
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


def _summary_request(*said: str) -> dict[str, object]:
    """A request for structured output quoting a conversation, as summaries send it."""
    quoted = "\n\n".join(said)
    return {
        "format": ConversationSummary.model_json_schema(),
        "messages": [
            {"role": "system", "content": "Summarize."},
            {"role": "user", "content": f"Summarize this conversation:\n\n{quoted}"},
        ],
    }


def test_structured_output_gets_a_summary_of_the_quoted_conversation() -> None:
    reply = tool_or_echo(
        _summary_request("User: Tell me about volcanoes", "Assistant: They erupt.")
    )

    summary = ConversationSummary.model_validate_json("".join(reply.content))
    assert summary.summary == (
        'A conversation of 2 messages. The user began with "Tell me about volcanoes".'
    )
    assert summary.topics == ["about", "volcanoes"]


def test_a_malformed_summary_asked_for_is_not_json() -> None:
    request = _summary_request("User: Hi", "Assistant: Hello", "User: malformed summary")

    reply = tool_or_echo(request)

    assert "".join(reply.content) == "This is not JSON."


def test_an_agent_s_work_after_its_plan_calls_the_tool_its_instruction_names() -> None:
    reply = tool_or_echo(
        {
            "messages": [
                {"role": "system", "content": "You count words."},
                {"role": "user", "content": 'call shout {"text": "hi"}'},
                {"role": "assistant", "content": "Plan: shout."},
                {"role": "system", "content": "Now carry out your plan."},
            ],
            "tools": [SHOUT],
        }
    )

    assert reply.tool_calls == [{"name": "shout", "arguments": {"text": "hi"}}]


def test_a_plan_without_tools_offered_is_the_echo() -> None:
    reply = tool_or_echo(
        {
            "messages": [
                {"role": "user", "content": "call shout"},
                {"role": "system", "content": "Plan first."},
            ]
        }
    )

    assert reply.tool_calls == []
    assert "".join(reply.content) == "You said: call shout"
