"""One request to the model: streamed into a reply, observed once it ends."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from mochi_grpc.chat.observing import ModelCall, TurnObservation
from mochi_grpc.chat.reply import ReplyBuilder
from mochi_grpc.llm import ChatChunk, ChatRequest, LLMBackend


async def stream_reply(
    llm: LLMBackend, request: ChatRequest, reply: ReplyBuilder, observation: TurnObservation
) -> AsyncGenerator[ChatChunk, None]:
    """Each chunk of the reply, added to `reply` before it is yielded.
    Closing this generator closes the model request at once."""
    call = ModelCall(request.model)
    try:
        with observation.model_call(call):
            async with aclosing(llm.chat_stream(request)) as chunks:
                async for chunk in chunks:
                    reply.add(chunk)
                    yield chunk
            call.prompt_tokens = reply.prompt_eval_count or 0
            call.reply_tokens = reply.eval_count or 0
    finally:
        observation.tokens(reply.content_chunks, reply.thinking_chunks)
