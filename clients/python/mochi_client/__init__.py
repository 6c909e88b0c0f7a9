"""Async Python client of mochi-grpc (package ``mochi.v1``).

    async with MochiClient("localhost:50051") as client:
        session = await client.create_session("llama3.2:latest")
        async with client.chat_stream(session.session_id, "Hello") as events:
            async for event in events:
                if isinstance(event, ContentDelta):
                    print(event.content, end="", flush=True)

Every message type is in ``mochi_client.v1``; its grpcio sync stubs take
``sync_channel()``. Both take an API key and TLS settings, by default from the
environment (MOCHI_API_KEY, MOCHI_GRPC_TLS_CA_FILE, MOCHI_GRPC_TLS_CERT_FILE,
MOCHI_GRPC_TLS_KEY_FILE).
"""

from grpclib.const import Status

from ._client import MochiClient
from ._errors import MochiError
from ._events import ChatStreamEvent
from ._gen.mochi.v1 import (
    AgentComplete,
    AgentExecution,
    AgentPlanning,
    AgentStart,
    AgentToolCall,
    AgentToolResult,
    ChatResponse,
    ContentDelta,
    Done,
    EditMessageResponse,
    ExecutionPolicy,
    GetSessionResponse,
    Message,
    MessageComplete,
    Model,
    Role,
    Session,
    StreamError,
    ThinkingDelta,
    ToolCallConfirmationRequired,
    ToolCallEvent,
    ToolContinuationStart,
    ToolResult,
    ToolSettings,
)
from ._stream import ChatStream
from ._sync import sync_channel

__all__ = [
    "AgentComplete",
    "AgentExecution",
    "AgentPlanning",
    "AgentStart",
    "AgentToolCall",
    "AgentToolResult",
    "ChatResponse",
    "ChatStream",
    "ChatStreamEvent",
    "ContentDelta",
    "Done",
    "EditMessageResponse",
    "ExecutionPolicy",
    "GetSessionResponse",
    "Message",
    "MessageComplete",
    "MochiClient",
    "MochiError",
    "Model",
    "Role",
    "Session",
    "Status",
    "StreamError",
    "ThinkingDelta",
    "ToolCallConfirmationRequired",
    "ToolCallEvent",
    "ToolContinuationStart",
    "ToolResult",
    "ToolSettings",
    "sync_channel",
]
