"""The generated mochi.v1 client stubs, typed for grpc.aio channels.

The async stub classes exist only in the generated type stubs; at run time
the ordinary stub classes serve grpc.aio channels too.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mochi_grpc._gen.mochi.v1.agent_service_pb2_grpc import (
        AgentServiceAsyncStub as AgentStub,
    )
    from mochi_grpc._gen.mochi.v1.chat_service_pb2_grpc import ChatServiceAsyncStub as ChatStub
    from mochi_grpc._gen.mochi.v1.model_service_pb2_grpc import (
        ModelServiceAsyncStub as ModelStub,
    )
    from mochi_grpc._gen.mochi.v1.server_service_pb2_grpc import (
        ServerServiceAsyncStub as ServerStub,
    )
    from mochi_grpc._gen.mochi.v1.session_service_pb2_grpc import (
        SessionServiceAsyncStub as SessionStub,
    )
    from mochi_grpc._gen.mochi.v1.summary_service_pb2_grpc import (
        SummaryServiceAsyncStub as SummaryStub,
    )
    from mochi_grpc._gen.mochi.v1.system_prompt_service_pb2_grpc import (
        SystemPromptServiceAsyncStub as SystemPromptStub,
    )
    from mochi_grpc._gen.mochi.v1.tool_service_pb2_grpc import ToolServiceAsyncStub as ToolStub
else:
    from mochi_grpc._gen.mochi.v1.agent_service_pb2_grpc import AgentServiceStub as AgentStub
    from mochi_grpc._gen.mochi.v1.chat_service_pb2_grpc import ChatServiceStub as ChatStub
    from mochi_grpc._gen.mochi.v1.model_service_pb2_grpc import ModelServiceStub as ModelStub
    from mochi_grpc._gen.mochi.v1.server_service_pb2_grpc import ServerServiceStub as ServerStub
    from mochi_grpc._gen.mochi.v1.session_service_pb2_grpc import (
        SessionServiceStub as SessionStub,
    )
    from mochi_grpc._gen.mochi.v1.summary_service_pb2_grpc import (
        SummaryServiceStub as SummaryStub,
    )
    from mochi_grpc._gen.mochi.v1.system_prompt_service_pb2_grpc import (
        SystemPromptServiceStub as SystemPromptStub,
    )
    from mochi_grpc._gen.mochi.v1.tool_service_pb2_grpc import ToolServiceStub as ToolStub

__all__ = [
    "AgentStub",
    "ChatStub",
    "ModelStub",
    "ServerStub",
    "SessionStub",
    "SummaryStub",
    "SystemPromptStub",
    "ToolStub",
]
