"""Building the stored reply from chunks, and the history sent to the model."""

from __future__ import annotations

from mochi_grpc.chat.history import to_model_messages
from mochi_grpc.chat.reply import ReplyBuilder
from mochi_grpc.entities import Message, Role, ToolCall, preview_of
from mochi_grpc.llm import ChatChunk


def test_reply_joins_chunks_and_takes_counts_from_the_done_chunk() -> None:
    reply = ReplyBuilder(model="m")
    reply.add(ChatChunk(thinking="a"))
    reply.add(ChatChunk(content="Hel"))
    reply.add(ChatChunk(content="lo", done=True, eval_count=2, prompt_eval_count=5))

    message = reply.message()

    assert (message.content, message.thinking, message.model) == ("Hello", "a", "m")
    assert (message.eval_count, message.prompt_eval_count) == (2, 5)
    assert message.partial_reason is None
    assert reply.usage_tokens == 7


def test_reply_keeps_tool_calls_from_every_chunk() -> None:
    reply = ReplyBuilder(model="m")
    reply.add(ChatChunk(tool_calls=(ToolCall("a", {"x": 1}),)))
    reply.add(ChatChunk(tool_calls=(ToolCall("b", {}),), done=True))

    assert [c.name for c in reply.message().tool_calls] == ["a", "b"]


def test_reply_without_done_chunk_is_marked_incomplete() -> None:
    reply = ReplyBuilder(model="m")
    reply.add(ChatChunk(content="cut"))

    assert reply.message().partial_reason == "incomplete"
    assert reply.message("cancelled").partial_reason == "cancelled"
    assert reply.message().thinking is None


def test_empty_reply_has_no_output() -> None:
    assert not ReplyBuilder(model="m").has_output


def test_history_carries_tool_calls_thinking_and_tool_names() -> None:
    messages = [
        Message(Role.SYSTEM, "sys"),
        Message(Role.USER, "q"),
        Message(Role.ASSISTANT, "", thinking="t", tool_calls=[ToolCall("add", {"a": 1})]),
        Message(Role.TOOL, "2", tool_name="add"),
    ]

    assert to_model_messages(messages) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "",
            "thinking": "t",
            "tool_calls": [{"function": {"name": "add", "arguments": {"a": 1}}}],
        },
        {"role": "tool", "content": "2", "tool_name": "add"},
    ]


def test_preview_is_cut_to_100_characters() -> None:
    assert preview_of("short") == "short"
    assert preview_of("y" * 100) == "y" * 100
    cut = preview_of("z" * 101)
    assert cut == "z" * 97 + "..."
    assert len(cut) == 100
