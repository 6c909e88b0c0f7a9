"""Domain objects to and from their mochi.v1 messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from mochi_grpc._gen.mochi.v1 import model_service_pb2 as model_pb
from mochi_grpc._gen.mochi.v1 import session_pb2 as pb
from mochi_grpc.chat import WindowUsage
from mochi_grpc.entities import (
    AgentSettings,
    ContextWindowConfig,
    ExecutionPolicy,
    Message,
    Role,
    Session,
    Summary,
    ToolCall,
    ToolSettings,
    WindowReason,
)
from mochi_grpc.llm import ModelInfo

_ROLES = {
    Role.SYSTEM: pb.ROLE_SYSTEM,
    Role.USER: pb.ROLE_USER,
    Role.ASSISTANT: pb.ROLE_ASSISTANT,
    Role.TOOL: pb.ROLE_TOOL,
}
_POLICIES = {
    ExecutionPolicy.ALWAYS_CONFIRM: pb.EXECUTION_POLICY_ALWAYS_CONFIRM,
    ExecutionPolicy.NEVER_CONFIRM: pb.EXECUTION_POLICY_NEVER_CONFIRM,
}
_POLICIES_BACK: dict[int, ExecutionPolicy] = {v: k for k, v in _POLICIES.items()}
_REASONS = {
    WindowReason.INITIAL_SETUP: pb.CONTEXT_WINDOW_REASON_INITIAL_SETUP,
    WindowReason.USAGE_THRESHOLD: pb.CONTEXT_WINDOW_REASON_USAGE_THRESHOLD,
    WindowReason.MODEL_CHANGE: pb.CONTEXT_WINDOW_REASON_MODEL_CHANGE,
    WindowReason.NO_ADJUSTMENT: pb.CONTEXT_WINDOW_REASON_NO_ADJUSTMENT,
    WindowReason.MANUAL_OVERRIDE: pb.CONTEXT_WINDOW_REASON_MANUAL_OVERRIDE,
}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def tool_call(call: ToolCall) -> pb.ToolCall:
    return pb.ToolCall(name=call.name, arguments=struct(call.arguments))


def message(m: Message) -> pb.Message:
    return pb.Message(
        message_id=m.message_id,
        role=_ROLES[m.role],
        content=m.content,
        timestamp=timestamp(m.timestamp),
        thinking=m.thinking,
        model=m.model,
        eval_count=m.eval_count,
        prompt_eval_count=m.prompt_eval_count,
        tool_calls=[tool_call(c) for c in m.tool_calls],
        source_file=m.source_file,
        tool_name=m.tool_name,
        partial_reason=m.partial_reason,
    )


def tool_settings(s: ToolSettings) -> pb.ToolSettings:
    return pb.ToolSettings(
        tools=s.tools,
        execution_policy=_POLICIES[s.execution_policy],
        tool_policies={k: _POLICIES[v] for k, v in s.tool_policies.items()},
    )


def tool_settings_from(s: pb.ToolSettings) -> ToolSettings:
    def policy(value: int) -> ExecutionPolicy:
        return _POLICIES_BACK.get(value, ExecutionPolicy.ALWAYS_CONFIRM)

    return ToolSettings(
        tools=list(s.tools),
        execution_policy=policy(s.execution_policy),
        tool_policies={k: policy(v) for k, v in s.tool_policies.items()},
    )


def agent_settings(s: AgentSettings) -> pb.AgentSettings:
    return pb.AgentSettings(enabled_agents=s.enabled_agents)


def agent_settings_from(s: pb.AgentSettings) -> AgentSettings:
    return AgentSettings(enabled_agents=list(s.enabled_agents))


def reason(value: WindowReason) -> pb.ContextWindowReason.ValueType:
    return _REASONS[value]


def context_window(c: ContextWindowConfig) -> pb.ContextWindowConfig:
    return pb.ContextWindowConfig(
        dynamic_enabled=c.dynamic_enabled,
        current_window=c.current_window,
        last_adjustment=reason(c.last_adjustment),
        adjustment_history=[
            pb.ContextWindowAdjustment(
                reason=reason(a.reason), window=a.window, usage_tokens=a.usage_tokens
            )
            for a in c.adjustment_history
        ],
        manual_override=c.manual_override,
        model_max_context=c.model_max_context,
    )


def window_usage(u: WindowUsage) -> pb.ContextWindowUsage:
    return pb.ContextWindowUsage(
        current_window=u.current_window, usage_tokens=u.usage_tokens, reason=reason(u.reason)
    )


def session(s: Session) -> pb.Session:
    result = pb.Session(
        session_id=s.session_id,
        model=s.model,
        created_at=timestamp(s.created_at),
        updated_at=timestamp(s.updated_at),
        message_count=s.message_count,
        tool_settings=tool_settings(s.tool_settings),
        agent_settings=agent_settings(s.agent_settings),
        context_window=context_window(s.context_window),
        summary_model=s.summary_model,
        preview=s.preview,
        active_turn_id=s.active_turn_id,
        agent_name=s.agent_name,
    )
    if s.summary is not None:
        result.summary.CopyFrom(summary(s.summary))
    return result


def summary(s: Summary) -> pb.Summary:
    return pb.Summary(summary=s.summary, topics=s.topics)


def model(m: ModelInfo) -> model_pb.Model:
    return model_pb.Model(
        name=m.name,
        size_mb=round(m.size_bytes / 1024 / 1024, 1),
        format=m.format,
        family=m.family,
        parameter_size=m.parameter_size,
        quantization_level=m.quantization_level,
        capabilities=m.capabilities,
        context_length=m.context_length,
    )
