"""Collecting a streamed reply into the message that is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

from mochi_grpc.entities import Message, Role, ToolCall, new_id
from mochi_grpc.llm import ChatChunk


@dataclass
class ReplyBuilder:
    model: str
    _content: list[str] = field(default_factory=list)
    _thinking: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    done: bool = False
    eval_count: int | None = None
    prompt_eval_count: int | None = None
    # The same id in every checkpoint of the reply and in the stored reply.
    message_id: str = field(default_factory=new_id)

    def add(self, chunk: ChatChunk) -> None:
        if chunk.content:
            self._content.append(chunk.content)
        if chunk.thinking:
            self._thinking.append(chunk.thinking)
        # Calls may arrive over several chunks; every one of them counts.
        self.tool_calls.extend(chunk.tool_calls)
        if chunk.done:
            self.done = True
            self.eval_count = chunk.eval_count
            self.prompt_eval_count = chunk.prompt_eval_count

    @property
    def content_chunks(self) -> int:
        return len(self._content)

    @property
    def thinking_chunks(self) -> int:
        return len(self._thinking)

    @property
    def has_output(self) -> bool:
        return bool(self._content or self._thinking or self.tool_calls)

    @property
    def usage_tokens(self) -> int:
        return (self.eval_count or 0) + (self.prompt_eval_count or 0)

    def message(self, partial_reason: str | None = None) -> Message:
        if partial_reason is None and not self.done:
            partial_reason = "incomplete"
        return Message(
            Role.ASSISTANT,
            "".join(self._content),
            message_id=self.message_id,
            thinking="".join(self._thinking) or None,
            model=self.model,
            eval_count=self.eval_count,
            prompt_eval_count=self.prompt_eval_count,
            tool_calls=list(self.tool_calls),
            partial_reason=partial_reason,
        )
