"""The OpenAPI 3.1 document of the bridge.

Request schemas are generated from the pydantic bodies the routes validate
with, and the HTTP status of every error code comes from bridge.errors, so
neither can drift from what the bridge does. Response and event schemas
mirror bridge.payloads and bridge.sse; the end-to-end tests check them
against live responses.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bridge import bodies
from bridge.config import VERSION
from bridge.errors import HTTP_STATUS
from bridge.routes.sessions import MAX_PAGE_SIZE

Json = dict[str, Any]

# bridge.app mounts the routes here; it cannot be imported from this module,
# which its routes import. The end-to-end tests compare the two.
PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"

# -- schema helpers -----------------------------------------------------------


def _ref(name: str) -> Json:
    return {"$ref": REF.format(model=name)}


def _obj(description: str, /, **properties: Json) -> Json:
    """An object whose keys are all present: the bridge writes every key, null or not."""
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "properties": properties,
    }


def _str(description: str, **extra: Any) -> Json:
    return {"type": "string", "description": description, **extra}


def _int(description: str, **extra: Any) -> Json:
    return {"type": "integer", "format": "int32", "description": description, **extra}


def _bool(description: str) -> Json:
    return {"type": "boolean", "description": description}


def _count(description: str) -> Json:
    return _int(description, minimum=0)


def _nullable(schema: Json) -> Json:
    """The JSON Schema 2020-12 spelling: null joins the type list."""
    return {**schema, "type": [schema["type"], "null"]}


def _nullable_ref(name: str, description: str) -> Json:
    return {"description": description, "oneOf": [_ref(name), {"type": "null"}]}


def _list(items: Json, description: str) -> Json:
    return {"type": "array", "description": description, "items": items}


def _strings(description: str) -> Json:
    return _list({"type": "string"}, description)


def _json_object(description: str) -> Json:
    return {"type": "object", "description": description}


def _timestamp(description: str) -> Json:
    return _str(description + " (UTC, RFC 3339 with microseconds).", format="date-time")


# -- response bodies ----------------------------------------------------------


def _health_schemas() -> Json:
    return {
        "Health": _obj(
            "The bridge and the gRPC server answer; says whether Ollama does.",
            status=_str("Always ok.", const="ok"),
            version=_str("Version of the gRPC server (of the bridge, without a key)."),
            # What is behind the server is told to key holders only when keys are required.
            ollama_connected=_nullable(
                _bool("Whether the gRPC server reaches Ollama right now; null without a key.")
            ),
            ollama_host=_nullable(
                _str("The Ollama base URL the gRPC server uses; null without a key.")
            ),
            backend=_nullable(
                _str(
                    "The model backend serving: ollama, or embedded (a model run in-process);"
                    " null without a key.",
                    enum=["ollama", "embedded"],
                )
            ),
        ),
    }


def _model_schemas() -> Json:
    return {
        "Model": _obj(
            "A chat-capable model Ollama serves.",
            name=_str("The name as listed, e.g. llama3.2:latest."),
            size_mb={
                "type": "number",
                "minimum": 0,
                "description": "Size on disk in MiB; 0 when unknown.",
            },
            format=_str("File format, e.g. gguf; unknown when not reported."),
            family=_str("Model family, e.g. llama; unknown when not reported."),
            parameter_size=_str("Parameter count, e.g. 3.2B; unknown when not reported."),
            quantization_level=_str("Quantization, e.g. Q4_K_M; unknown when not reported."),
            capabilities=_strings("What it can do, e.g. completion, tools, thinking."),
            context_length=_int("Context length in tokens (2048 when not reported)."),
        ),
        "ModelList": _obj(
            "The chat-capable models.",
            models=_list(_ref("Model"), "The models."),
        ),
    }


def _settings_schemas() -> Json:
    return {
        "ExecutionPolicy": {
            "type": "string",
            "enum": ["always_confirm", "never_confirm"],
            "description": "Whether a tool call waits for a person's confirmation.",
        },
        "ToolSettings": _obj(
            "The tools of a session.",
            tools=_strings("Names of the tools offered to the model."),
            execution_policy=_ref("ExecutionPolicy"),
            tool_policies={
                "type": "object",
                "description": "Per-tool policies overriding execution_policy, by tool name.",
                "additionalProperties": _ref("ExecutionPolicy"),
            },
        ),
        "AgentSettings": _obj(
            "The agents of a session.",
            enabled_agents=_strings("Names of the agents the model may delegate to."),
        ),
        "Summary": _obj(
            "A short summary of a conversation.",
            summary=_str("Two to five sentences."),
            topics=_strings("The topics talked about."),
        ),
    }


def _session_fields() -> Json:
    return {
        "session_id": _str("10 lower-case hex characters."),
        "model": _str("The model that answers in this session."),
        "created_at": _timestamp("When the session was created"),
        "updated_at": _timestamp("Refreshed on every change to the session or its messages"),
        "message_count": _count("Number of messages, the system prompt included."),
        "active_turn_id": _nullable(
            _str("The turn running on the session (follow it with GET /chat/{id}/stream).")
        ),
    }


def _session_schemas() -> Json:
    return {
        "Session": _obj(
            "A persistent conversation with one model.",
            **_session_fields(),
            tool_settings=_ref("ToolSettings"),
            agent_settings=_ref("AgentSettings"),
            context_window=_ref("ContextWindowConfig"),
        ),
        "SessionWithMessages": {
            "description": "A session with its whole history.",
            "allOf": [
                _ref("Session"),
                _obj("The history.", messages=_list(_ref("Message"), "Every message, in order.")),
            ],
        },
        "SessionListItem": _obj(
            "A session as listed.",
            **_session_fields(),
            summary=_nullable_ref("Summary", "The summary, when one was made."),
            preview=_str("The first user message, cut to 100 characters; empty if none."),
        ),
        "SessionList": _obj(
            "A page of sessions, most recently updated first.",
            sessions=_list(_ref("SessionListItem"), "The sessions of this page."),
            next_page_token=_nullable(_str("page_token of the next page; null on the last.")),
        ),
    }


def _summary_schemas() -> Json:
    return {
        "SessionSummary": _obj(
            "A session's summary and the model that wrote it.",
            summary=_str("Two to five sentences."),
            topics=_strings("The topics talked about."),
            model_used=_str("The model that wrote it."),
        ),
    }


def _message_schemas() -> Json:
    return {
        "Role": {
            "type": "string",
            "enum": ["system", "user", "assistant", "tool"],
            "description": "Who wrote a message; the system prompt is only ever message 0.",
        },
        "ToolCall": _obj(
            "A tool call the model asked for, in Ollama's shape.",
            function=_obj(
                "The called function.",
                name=_str("The tool's function name."),
                arguments=_json_object("The arguments."),
            ),
        ),
        "Message": _obj(
            "One message of a session's history.",
            role=_ref("Role"),
            content=_str("The text (may be empty for a reply that only calls tools)."),
            thinking=_nullable(_str("Assistant: the model's reasoning, when it thought.")),
            message_id=_str("10 lower-case hex characters."),
            timestamp=_timestamp("When the message was stored or last edited"),
            model=_nullable(_str("Assistant: the model that wrote the reply.")),
            eval_count=_nullable(_int("Assistant: tokens generated, as Ollama reported.")),
            prompt_eval_count=_nullable(_int("Assistant: prompt tokens read.")),
            tool_calls={
                "type": ["array", "null"],
                "description": "Assistant: the tools the model called; null when none.",
                "items": _ref("ToolCall"),
            },
            source_file=_nullable(_str("System: the prompt file the text came from.")),
            tool_name=_nullable(_str("Tool: the tool whose result this is.")),
            partial_reason=_nullable(
                _str(
                    "Assistant replies cut short: cancelled, deadline_exceeded,"
                    " ollama_error or shutdown; null for a whole reply."
                )
            ),
        ),
        "MessageList": _obj(
            "A page of a session's messages, in order.",
            messages=_list(_ref("Message"), "The messages of this page."),
            next_page_token=_nullable(_str("page_token of the next page; null on the last.")),
        ),
        "EditedMessage": _obj(
            "The edited message; every later message is gone.",
            message=_ref("Message"),
            message_count=_count("Messages left in the session."),
        ),
    }


def _window_schemas() -> Json:
    return {
        "ContextWindowReason": {
            "type": "string",
            "enum": [
                "unspecified",
                "initial_setup",
                "usage_threshold",
                "model_change",
                "no_adjustment",
                "manual_override",
            ],
            "description": "Why the context window has its current size.",
        },
        "ContextWindowUsage": _obj(
            "The context window after a turn.",
            current_window=_int("The window in tokens."),
            usage_tokens=_int("Tokens the last model round used."),
            reason=_ref("ContextWindowReason"),
        ),
        "ContextWindowConfig": _obj(
            "How a session sizes the context window (num_ctx) it asks the model for.",
            dynamic_enabled=_bool("Whether the window follows usage."),
            current_window=_int("The window in tokens, sent as num_ctx."),
            last_adjustment=_ref("ContextWindowReason"),
            manual_override=_bool("True while the window is fixed by hand."),
            model_max_context=_nullable(
                _int("The model's context length as last looked up; null when unknown.")
            ),
        ),
        "ContextWindowStatus": _obj(
            "The context window of a session.",
            dynamic_enabled=_bool("Whether the window follows usage."),
            current_window=_int("The window in tokens."),
            model_max_context=_nullable(
                _int("The model's own context length; null when Ollama cannot tell.")
            ),
            last_adjustment_reason=_ref("ContextWindowReason"),
            manual_override=_bool("True while the window is fixed by hand."),
        ),
        "SessionStatus": _obj(
            "A session's context window, tools, agents and system prompt.",
            session_id=_str("The session's id."),
            model=_str("The session's model."),
            message_count=_count("Number of messages."),
            context_window=_ref("ContextWindowStatus"),
            tools_enabled=_bool("Whether any tool is enabled."),
            active_tools=_strings("The enabled tools."),
            execution_policy=_ref("ExecutionPolicy"),
            agents_enabled=_bool("Whether any agent is enabled."),
            enabled_agents=_strings("The enabled agents."),
            system_prompt_file=_nullable(_str("The prompt file of the system prompt, if any.")),
            summary=_nullable_ref("Summary", "The summary, when one was made."),
            summary_model=_nullable(_str("The model that wrote the summary.")),
        ),
    }


def _prompt_schemas() -> Json:
    return {
        "SystemPrompt": _obj(
            "A prompt file of the system prompts directory.",
            filename=_str("The file name, e.g. coder.md."),
            content=_str("The whole text."),
        ),
        "SystemPromptListItem": _obj(
            "A prompt file as listed.",
            filename=_str("The file name."),
            preview=_str(
                "The whole text when it has at most 250 characters, else its first 247"
                " (trailing whitespace removed) and ..."
            ),
            word_count=_count("Whitespace-separated words of the text."),
        ),
        "SystemPromptList": _obj(
            "Every prompt file, sorted by file name.",
            prompts=_list(_ref("SystemPromptListItem"), "The prompt files."),
        ),
        "SessionSystemPrompt": _obj(
            "The system prompt a session now has.",
            content=_str("The prompt's text."),
            source_file=_nullable(_str("The prompt file the text came from, if any.")),
            message_index=_int("Where the prompt is in the history: always 0.", const=0),
        ),
    }


def _tool_schemas() -> Json:
    return {
        "Tool": _obj(
            "A Python function the model may call.",
            name=_str("The function's name."),
            description=_str("Its whole docstring, as written."),
            parameters=_json_object(
                "The JSON Schema of its arguments: an object with properties and required."
            ),
        ),
        "ToolLoadError": _obj(
            "A tool module that could not be loaded; it contributes no tools.",
            module=_str("The module's directory name."),
            error=_str("What went wrong."),
        ),
        "ToolList": _obj(
            "The discovered tools.",
            tools={
                "type": "object",
                "description": "Every tool, by name; {} when there is none.",
                "additionalProperties": _ref("Tool"),
            },
            load_errors=_list(_ref("ToolLoadError"), "The modules that failed to load."),
        ),
        "ToolsReloaded": _obj(
            "The tools directory was scanned again.",
            success=_bool("Always true.") | {"const": True},
            tools_count=_count("Number of tools found."),
            message=_str("Successfully reloaded <tools_count> tools."),
            load_errors=_list(_ref("ToolLoadError"), "The modules that failed to load."),
        ),
    }


def _agent_fields() -> Json:
    return {
        "name": _str("The agent's folder name; the model passes it as the agent tool's `agent`."),
        "description": _str("What the agent does (SKILL.md front matter)."),
        "model": _nullable(
            _str("The model it asks for (SKILL.md front matter); null: the session's.")
        ),
        "valid": _bool("Whether it can run: SKILL.md with a description and at least one tool."),
        "tool_count": _count("Number of its tools."),
        "tools": _strings("Its tools' names, sorted."),
        "error_message": _nullable(_str("Why it cannot run; null for a valid agent.")),
    }


def _agent_schemas() -> Json:
    return {
        "AgentListItem": _obj("An agent folder as listed, valid or not.", **_agent_fields()),
        "Agent": _obj(
            "An agent that can run.",
            **_agent_fields(),
            system_prompt=_str("Its system prompt (SKILL.md after the front matter)."),
        ),
        "AgentList": _obj(
            "The discovered agents.",
            agents={
                "type": "object",
                "description": "Every agent folder, by name; {} when there is none.",
                "additionalProperties": _ref("AgentListItem"),
            },
        ),
        "AgentsReloaded": _obj(
            "The agents directory was scanned again.",
            success=_bool("Always true.") | {"const": True},
            agents_count=_count("Number of agent folders found, valid or not."),
            valid_count=_count("Number of those that can run."),
            message=_str("Successfully reloaded <agents_count> agents."),
        ),
        "AgentChatListItem": {
            "description": "An agent's conversation as listed.",
            "allOf": [_ref("SessionListItem"), _obj("Its agent.", agent_name=_AGENT_NAME)],
        },
        "AgentChatList": _obj(
            "A page of agent conversations, most recently updated first.",
            sessions=_list(_ref("AgentChatListItem"), "The conversations of this page."),
            next_page_token=_nullable(_str("page_token of the next page; null on the last.")),
        ),
        "AgentChat": {
            "description": "An agent's conversation with its whole history: its system"
            " prompt, each instruction, each plan, the work and its tool calls.",
            "allOf": [_ref("SessionWithMessages"), _obj("Its agent.", agent_name=_AGENT_NAME)],
        },
    }


def _chat_schemas() -> Json:
    return {
        "ToolConfirmation": _obj(
            "The pending tool call was answered; the waiting stream goes on.",
            success=_bool("Always true.") | {"const": True},
            tool_name=_str("The tool that was approved or denied."),
            message=_str("Tool '<name>' execution approved, or ... execution denied."),
        ),
        "ExecutedToolCall": _obj(
            "A tool call that ran during the turn.",
            name=_str("The tool's name."),
            arguments=_json_object("The arguments it was called with."),
            success=_bool("Whether it returned without error."),
        ),
        "ChatResponse": _obj(
            "The outcome of a whole turn.",
            session_id=_str("The session's id."),
            message=_ref("Message"),
            tool_calls_executed=_list(_ref("ExecutedToolCall"), "Every tool call the turn ran."),
            context_window=_ref("ContextWindowUsage"),
        ),
        "CancelledTurn": _obj(
            "The turn was stopped; its partial reply is stored, marked cancelled.",
            turn_id=_str("The turn that was stopped."),
        ),
    }


def _error_schemas() -> Json:
    return {
        "ErrorBody": _obj(
            "Every error the bridge answers.",
            error=_obj(
                "What went wrong.",
                code=_str(
                    "Machine-readable code, e.g. SESSION_NOT_FOUND.", examples=["EMPTY_HISTORY"]
                ),
                message=_str("What went wrong, for people."),
                details=_json_object(
                    "More about it, e.g. {session_id}, {field}, {limit} or {errors: [...]}."
                ),
            ),
        ),
    }


# -- server-sent events -------------------------------------------------------

_CALL_INDEX = _int("0-based position of the call within the turn.")
_ARGUMENTS = _json_object("The arguments.")
_TOOL_NAME = _str("The tool's name.")
_CALL_ID = _str("Id of the call.")
_AGENT_NAME = _str("The agent's name.")


def _event_payloads() -> dict[str, tuple[str, Json]]:
    """SSE event name -> (payload schema name, payload schema), in bridge.sse's order."""
    return {
        "content_delta": (
            "ContentDeltaEvent",
            _obj(
                "A piece of the reply's text; concatenated they make the reply.",
                content=_str("The text."),
                role=_str("The author, assistant."),
            ),
        ),
        "thinking_delta": (
            "ThinkingDeltaEvent",
            _obj("A piece of the model's reasoning (think: true).", content=_str("The text.")),
        ),
        "tool_call": (
            "ToolCallEvent",
            _obj(
                "A tool call that runs without confirmation.",
                tool_name=_TOOL_NAME,
                arguments=_ARGUMENTS,
                call_index=_CALL_INDEX,
                tool_call_id=_CALL_ID,
            ),
        ),
        "tool_call_confirmation_required": (
            "ToolCallConfirmationRequiredEvent",
            _obj(
                "A tool call that waits for a person's confirmation.",
                confirmation_id=_str("Id to confirm or deny the call with."),
                tool_name=_TOOL_NAME,
                arguments=_ARGUMENTS,
                call_index=_CALL_INDEX,
                tool_call_id=_CALL_ID,
            ),
        ),
        "tool_result": (
            "ToolResultEvent",
            _obj(
                "The outcome of a tool call that ran.",
                tool_name=_TOOL_NAME,
                success=_bool("Whether the tool returned without error."),
                result=_str("The result as text (empty on failure)."),
                error_message=_nullable(_str("What went wrong, on failure.")),
                error=_nullable(_str("The same as error_message.")),
                call_index=_CALL_INDEX,
                tool_call_id=_CALL_ID,
            ),
        ),
        "tool_continuation_start": (
            "ToolContinuationStartEvent",
            _obj(
                "The tool results go back to the model for another round.",
                message=_str("A short note for people."),
                tool_count=_count("Tool calls run so far in this turn."),
            ),
        ),
        "message_complete": (
            "MessageCompleteEvent",
            _obj(
                "The reply is stored.",
                message_id=_str("Id of the stored assistant message."),
                model=_str("The model that answered."),
                eval_count=_nullable(_int("Tokens generated; null when Ollama did not say.")),
                prompt_eval_count=_nullable(_int("Prompt tokens; null when Ollama did not say.")),
                context_window=_ref("ContextWindowUsage"),
            ),
        ),
        "error": (
            "ErrorEvent",
            _obj(
                "The turn failed; the stream ends after this event.",
                code=_str("Machine-readable code, e.g. OLLAMA_ERROR."),
                message=_str("What went wrong, for people."),
                details=_json_object("More about it."),
            ),
        ),
        "done": (
            "DoneEvent",
            _obj(
                "The turn is over; the last event of a successful stream.",
                session_id=_str("The session's id."),
            ),
        ),
        "agent_start": (
            "AgentStartEvent",
            _obj(
                "An agent starts working on a delegated task.",
                agent_name=_AGENT_NAME,
                instruction=_str("The task it was given."),
            ),
        ),
        "agent_planning": (
            "AgentPlanningEvent",
            _obj("A piece of an agent's plan.", content=_str("The text.")),
        ),
        "agent_execution": (
            "AgentExecutionEvent",
            _obj("A piece of an agent's work.", content=_str("The text.")),
        ),
        "agent_tool_call": (
            "AgentToolCallEvent",
            _obj(
                "An agent calls one of its tools.",
                agent_name=_AGENT_NAME,
                tool_name=_TOOL_NAME,
                arguments=_ARGUMENTS,
            ),
        ),
        "agent_tool_result": (
            "AgentToolResultEvent",
            _obj(
                "The outcome of an agent's tool call.",
                agent_name=_AGENT_NAME,
                tool_name=_TOOL_NAME,
                success=_bool("Whether the tool returned without error."),
                result=_str("The result as text."),
            ),
        ),
        "agent_complete": (
            "AgentCompleteEvent",
            _obj(
                "An agent finished; its output goes back to the model.",
                agent_name=_AGENT_NAME,
                session_id=_str("The agent's own session."),
                output=_str("What the agent produced."),
            ),
        ),
    }


def _sse_envelope(name: str, payload: str) -> Json:
    """One event as an SSE parser reads it: its name and its JSON data line."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "id": _str("The event's id: resume after it with GET /chat/{id}/stream."),
            "retry": _int("How long a browser waits before it reconnects, in ms (first event)."),
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": _ref(payload),
            },
        },
    }


def _event_schemas() -> Json:
    payloads = _event_payloads()
    schemas = {schema_name: schema for schema_name, schema in payloads.values()}
    schemas["ChatStreamEvent"] = {
        "description": "One server-sent event of a streamed turn; data is JSON.",
        "oneOf": [
            _sse_envelope(event, schema_name) for event, (schema_name, _) in payloads.items()
        ],
    }
    return schemas


STREAM_DESCRIPTION = """\
The turn's events as Server-Sent Events, sent as they happen. Each event has
a name (`event:`) and one line of JSON (`data:`) described by the schema
named in `x-sse-events`.

A successful turn sends `thinking_delta` events (only with `think: true`),
then `content_delta` events, then `message_complete` and `done`. Tool and
agent events (`tool_call`, `tool_call_confirmation_required`, `tool_result`,
`tool_continuation_start`, `agent_*`) come between the deltas when the
session uses tools or agents: each model round that calls tools is followed
by one `tool_call` + `tool_result` per call that runs without confirmation,
or one `tool_call_confirmation_required` per call that needs it, and then
`tool_continuation_start` before the next round. After
`tool_call_confirmation_required` the stream waits until
`POST /chat/{session_id}/confirm-tool` answers it: approved, the tool runs and
its `tool_result` follows; denied, no `tool_result` comes and the model is
told the call was denied. Closing the connection while a call waits counts
as a denial. A turn that fails once started (e.g.
OLLAMA_UNREACHABLE, OLLAMA_ERROR, MODEL_NOT_FOUND) ends with an `error`
event instead of `done`; whatever the model produced is stored. Comment lines
(`: ping`) keep idle connections open.

Every event has an `id:`; `GET /chat/{session_id}/stream` with the last one
seen (the `Last-Event-ID` header, as a browser's EventSource sends it when it
reconnects, or `last_event_id`) sends exactly the rest. Closing the connection
cancels the turn (the partial reply is stored), unless it was started with
`continue_on_disconnect`: then it runs to its end, and those still watching a
turn stopped early (cancelled, a deadline, a shutdown, a server that died) get
an `error` event with code TURN_STOPPED, `details.partial_reason` saying why."""


# -- errors -------------------------------------------------------------------

_ERROR_MEANINGS = {
    "SESSION_NOT_FOUND": "no session has this id",
    "MODEL_NOT_FOUND": "Ollama does not have this model",
    "PROMPT_NOT_FOUND": "no prompt file has this name",
    "PROMPT_EXISTS": "a prompt file with this name exists already",
    "NO_SYSTEM_PROMPT": "the session has no system prompt",
    "NOT_FOUND": "a file name with / in it matches no route",
    "INVALID_MESSAGE_INDEX": "the index is out of range or does not name a user message",
    "EMPTY_HISTORY": (
        "no message was sent and the history has nothing to answer, or (summarize) the"
        " session has no user or assistant message to summarize"
    ),
    "SUMMARY_NOT_FOUND": "no summary of this session was made yet",
    "SUMMARY_INVALID": (
        "the model's answer did not fit the summary's schema, twice; details.answer"
        " shows the start of the last one"
    ),
    "SESSION_BUSY": "a turn is running on this session",
    "UNAUTHENTICATED": (
        "API keys are required (MOCHI_AUTH) and the request has no valid"
        " `Authorization: Bearer <token>`; the response says `WWW-Authenticate: Bearer`"
    ),
    "PERMISSION_DENIED": "only an admin key may do this",
    "RATE_LIMITED": (
        "this key started as many turns as MOCHI_RATE_LIMIT_TURNS_PER_MINUTE allows;"
        " Retry-After says when the next may start"
    ),
    "TURN_NOT_FOUND": "no such turn in this session, or (cancel) no turn is running",
    "PAYLOAD_TOO_LARGE": "the body is larger than details.limit bytes",
    "VALIDATION_ERROR": (
        "the body is not JSON or does not match its schema (details.errors lists the"
        " fields), or a parameter or value is malformed or refused, e.g. a prompt file"
        " name or text (details.field names it)"
    ),
    "OLLAMA_UNREACHABLE": "Ollama does not answer",
    "OLLAMA_ERROR": "Ollama answered with an error",
    "SERVICE_UNAVAILABLE": "the gRPC server cannot be reached or is overloaded",
    "GATEWAY_TIMEOUT": "the gRPC server did not answer in time",
    "INTERNAL_ERROR": "an unexpected failure",
    "TOOL_NOT_FOUND": "no tool has this name",
    "AGENT_NOT_FOUND": "no agent folder has this name",
    "AGENT_INVALID": "the agent exists but cannot run; the message says why",
    "CONFIRMATION_NOT_FOUND": (
        "no call of this session waits for this confirmation: unknown, answered"
        " already, or its turn has ended"
    ),
    "CONFIRMATION_REQUIRES_STREAMING": (
        "the model called a tool that needs a person's confirmation, which only a"
        " streamed turn can ask for"
    ),
}

# What every route backed by the gRPC server can answer.
_ALWAYS = ("UNAUTHENTICATED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR")
# What only an admin key may do when API keys are required.
_ADMIN = ("PERMISSION_DENIED",)
_OLLAMA = ("OLLAMA_UNREACHABLE", "OLLAMA_ERROR")
_BODY = ("PAYLOAD_TOO_LARGE", "VALIDATION_ERROR")


# What bridge.errors sends with a 503.
_RETRY_AFTER = {
    "description": (
        "Seconds to wait before sending the request again (whole seconds, at least 1):"
        " sent when the server refused for load or cannot be reached."
    ),
    "required": False,
    "schema": {"type": "integer", "minimum": 1},
}


def _error_response(status: int, listed: list[str]) -> Json:
    response: Json = {
        "description": "; ".join(f"{c}: {_ERROR_MEANINGS[c]}" for c in listed) + ".",
        "x-error-codes": listed,
        "content": {"application/json": {"schema": _ref("ErrorBody")}},
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def _error_responses(codes: Iterable[str]) -> Json:
    """One response per HTTP status, its codes listed in x-error-codes."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(HTTP_STATUS[code], []).append(code)
    return {
        str(status): _error_response(status, listed) for status, listed in sorted(by_status.items())
    }


# -- operations ---------------------------------------------------------------


def _path_param(name: str, schema: Json, description: str) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


SESSION_ID = _path_param("session_id", {"type": "string"}, "The session's id.")
MODEL_NAME = _path_param(
    "model_name",
    {"type": "string"},
    "A model name as Ollama takes it (llama3.2, library/llama3.2 and llama3.2:latest are the"
    " same model); the rest of the path, so it may contain /.",
)
MESSAGE_INDEX = _path_param(
    "message_index",
    {"type": "integer"},
    "0-based index over all messages, the system prompt included; must name a user message.",
)
# What the server accepts; it checks, the bridge passes names and texts on.
_FILENAME_RULE = "ends in .md and has no path separators and no leading dot"
FILENAME = _path_param(
    "filename",
    {"type": "string"},
    f"A prompt file's name: it {_FILENAME_RULE}; one with / in it matches no route.",
)
WATCH_PARAMETERS = [
    {
        "name": "turn_id",
        "in": "query",
        "required": False,
        "description": "The turn to follow; absent: see above.",
        "schema": {"type": "string"},
    },
    {
        "name": "last_event_id",
        "in": "query",
        "required": False,
        "description": "Send only the events after this id (the Last-Event-ID header wins).",
        "schema": {"type": "string"},
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "Send only the events after this id; EventSource sets it on reconnect.",
        "schema": {"type": "string"},
    },
]
TOOL_NAME = _path_param("tool_name", {"type": "string"}, "The tool's function name.")
AGENT_NAME = _path_param("agent_name", {"type": "string"}, "The agent's folder name.")
PAGE = [
    {
        "name": "page_size",
        "in": "query",
        "required": False,
        "description": f"Most items to return, 1 to {MAX_PAGE_SIZE}.",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE_SIZE,
            "default": MAX_PAGE_SIZE,
        },
    },
    {
        "name": "page_token",
        "in": "query",
        "required": False,
        "description": "next_page_token of the previous page; absent for the first page.",
        "schema": {"type": "string"},
    },
]


def _json_content(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    *,
    ok: tuple[int, str, Json | None],
    errors: Iterable[str] = (),
    parameters: Iterable[Json] = (),
    body: str | None = None,
    body_required: bool = True,
    description: str | None = None,
) -> Json:
    """An operation; `ok` is (status, description, its content or None)."""
    status, ok_description, content = ok
    success: Json = {"description": ok_description}
    if content is not None:
        success["content"] = content
    operation: Json = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": {str(status): success, **_error_responses(errors)},
    }
    if description is not None:
        operation["description"] = description
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "description": "A JSON object; unknown keys are ignored."
            + ("" if body_required else " It may be left out."),
            "content": _json_content(_ref(body)),
        }
    return operation


def _with_response(operation: Json, status: int, description: str) -> Json:
    operation["responses"][str(status)] = {"description": description}
    return operation


def _json_ok(status: int, description: str, schema: str) -> tuple[int, str, Json]:
    return status, description, _json_content(_ref(schema))


def _meta_paths() -> Json:
    return {
        f"{PREFIX}/health": {
            "get": _operation(
                "getHealth",
                "Whether the bridge, the gRPC server and Ollama answer",
                "health",
                ok=_json_ok(200, "The gRPC server answers.", "Health"),
                # Open to all, also when API keys are required.
                errors=("SERVICE_UNAVAILABLE", "INTERNAL_ERROR", "GATEWAY_TIMEOUT"),
            )
        },
        f"{PREFIX}/openapi.json": {
            "get": _operation(
                "getOpenApi",
                "This document",
                "meta",
                ok=(200, "The OpenAPI document.", _json_content({"type": "object"})),
                errors=("INTERNAL_ERROR",),
            )
        },
        # Where Prometheus looks by default: at the root, not under the prefix.
        "/metrics": {
            "get": _operation(
                "getMetrics",
                "The bridge's Prometheus metrics",
                "meta",
                description=_METRICS,
                ok=(200, "The metrics.", _METRICS_CONTENT),
                errors=(*_ADMIN, "GATEWAY_TIMEOUT", *_ALWAYS),
            )
        },
    }


_METRICS = (
    "The bridge's metrics (HTTP requests by method, route template and status, their"
    " durations, event streams) in Prometheus's text format, or in OpenMetrics when the"
    " Accept header asks for it. When the server requires API keys, only an admin key"
    " may read them; the server is asked whose key it is on every request."
)
_METRICS_CONTENT = {
    "text/plain": {"schema": {"type": "string"}},
    "application/openmetrics-text": {"schema": {"type": "string"}},
}


def _model_paths() -> Json:
    return {
        f"{PREFIX}/models": {
            "get": _operation(
                "listModels",
                "The chat-capable models Ollama serves",
                "models",
                ok=_json_ok(200, "The models.", "ModelList"),
                errors=(*_OLLAMA, *_ALWAYS),
            )
        },
        f"{PREFIX}/models/{{model_name}}": {
            "get": _operation(
                "getModel",
                "One model by name",
                "models",
                parameters=[MODEL_NAME],
                ok=_json_ok(200, "The model.", "Model"),
                errors=("MODEL_NOT_FOUND", *_OLLAMA, *_ALWAYS),
            )
        },
    }


_UPDATE = (
    "Only the keys given (and not null) change. `context_window` with"
    " `manual_override: true` fixes the window at `current_window` tokens (1 to the"
    " model's context length) for every later turn; with `manual_override: false`"
    " the window follows usage again (`current_window` may then be left out)."
)


def _session_paths() -> Json:
    sessions = f"{PREFIX}/sessions"
    one = f"{sessions}/{{session_id}}"
    return {
        sessions: {
            "post": _operation(
                "createSession",
                "Create a session for a model Ollama has",
                "sessions",
                body="CreateSessionBody",
                ok=_json_ok(201, "The new session.", "Session"),
                errors=("MODEL_NOT_FOUND", *_BODY, *_OLLAMA, *_ALWAYS),
            ),
            "get": _operation(
                "listSessions",
                "Sessions, most recently updated first",
                "sessions",
                parameters=PAGE,
                ok=_json_ok(200, "A page of sessions.", "SessionList"),
                errors=("VALIDATION_ERROR", *_ALWAYS),
            ),
        },
        one: {
            "parameters": [SESSION_ID],
            "get": _operation(
                "getSession",
                "A session with its whole history",
                "sessions",
                ok=_json_ok(200, "The session and its messages.", "SessionWithMessages"),
                errors=("SESSION_NOT_FOUND", *_ALWAYS),
            ),
            "patch": _operation(
                "updateSession",
                "Change the model, tool settings, agent settings or context window",
                "sessions",
                description=_UPDATE,
                body="UpdateSessionBody",
                ok=_json_ok(200, "The session after the change.", "Session"),
                errors=(
                    "SESSION_NOT_FOUND",
                    "MODEL_NOT_FOUND",
                    "SESSION_BUSY",
                    *_BODY,
                    *_OLLAMA,
                    *_ALWAYS,
                ),
            ),
            "delete": _operation(
                "deleteSession",
                "Delete a session and its messages",
                "sessions",
                ok=(204, "Deleted.", None),
                errors=("SESSION_NOT_FOUND", "SESSION_BUSY", *_ALWAYS),
            ),
        },
        f"{one}/messages": {
            "parameters": [SESSION_ID],
            "get": _operation(
                "listMessages",
                "A session's messages in order, a page at a time",
                "sessions",
                parameters=PAGE,
                ok=_json_ok(200, "A page of messages.", "MessageList"),
                errors=("SESSION_NOT_FOUND", "VALIDATION_ERROR", *_ALWAYS),
            ),
        },
        f"{one}/messages/{{message_index}}": {
            "parameters": [SESSION_ID, MESSAGE_INDEX],
            "put": _operation(
                "editMessage",
                "Replace a user message's text and remove every later message",
                "sessions",
                body="EditMessageBody",
                ok=_json_ok(200, "The edited message.", "EditedMessage"),
                errors=(
                    "SESSION_NOT_FOUND",
                    "INVALID_MESSAGE_INDEX",
                    "SESSION_BUSY",
                    *_BODY,
                    *_ALWAYS,
                ),
            ),
        },
        f"{one}/status": {
            "parameters": [SESSION_ID],
            "get": _operation(
                "getSessionStatus",
                "A session's context window, tools, agents and system prompt",
                "sessions",
                ok=_json_ok(200, "The status.", "SessionStatus"),
                errors=("SESSION_NOT_FOUND", *_ALWAYS),
            ),
        },
        f"{one}/system-prompt": _session_prompt_path(),
    }


def _session_prompt_path() -> Json:
    return {
        "parameters": [SESSION_ID],
        "put": _operation(
            "setSessionSystemPrompt",
            "Set or replace a session's system prompt",
            "sessions",
            description=(
                "Give `content`, or `source_file` to use a prompt file's text (it wins over"
                " `content`). The prompt is message 0: it replaces the one there, or is"
                " inserted before the history, whose indexes then grow by one."
            ),
            body="SetSessionSystemPromptBody",
            ok=_json_ok(200, "The system prompt now in use.", "SessionSystemPrompt"),
            errors=("SESSION_NOT_FOUND", "PROMPT_NOT_FOUND", "SESSION_BUSY", *_BODY, *_ALWAYS),
        ),
        "delete": _operation(
            "removeSessionSystemPrompt",
            "Remove a session's system prompt",
            "sessions",
            description="Message 0 is removed; the indexes of later messages shrink by one.",
            ok=(204, "Removed.", None),
            errors=("SESSION_NOT_FOUND", "NO_SYSTEM_PROMPT", "SESSION_BUSY", *_ALWAYS),
        ),
    }


_PROMPT_RULES = (
    f"A file name {_FILENAME_RULE}; a text is not blank and has at most 20,000"
    " characters. Anything else is VALIDATION_ERROR."
)


_SUMMARIZE = (
    "A model reads the session's user and assistant messages and answers in"
    " structured output (JSON that must fit the summary's schema): two to five"
    " sentences and a few topics. The summary is stored with the session (the"
    " session list and the status show it). The model is `model` when given, else"
    " the session's, else (the session's model is gone) the one that wrote its last"
    " summary. An answer that does not fit is sent back to the model once; a second"
    " one that does not fit is SUMMARY_INVALID and nothing is stored."
)


def _summary_paths() -> Json:
    one = f"{PREFIX}/sessions/{{session_id}}"
    return {
        f"{one}/summarize": {
            "parameters": [SESSION_ID],
            "post": _operation(
                "summarizeSession",
                "Have a model summarize a session now",
                "sessions",
                description=_SUMMARIZE,
                body="SummarizeBody",
                body_required=False,
                ok=_json_ok(200, "The summary, now stored.", "SessionSummary"),
                errors=(
                    "SESSION_NOT_FOUND",
                    "MODEL_NOT_FOUND",
                    "EMPTY_HISTORY",
                    "SUMMARY_INVALID",
                    *_BODY,
                    *_OLLAMA,
                    *_ALWAYS,
                ),
            ),
        },
        f"{one}/summary": {
            "parameters": [SESSION_ID],
            "get": _operation(
                "getSessionSummary",
                "A session's stored summary",
                "sessions",
                ok=_json_ok(200, "The summary.", "SessionSummary"),
                errors=("SESSION_NOT_FOUND", "SUMMARY_NOT_FOUND", *_ALWAYS),
            ),
        },
    }


def _prompt_paths() -> Json:
    prompts = f"{PREFIX}/system-prompts"
    by_name = ("PROMPT_NOT_FOUND", "NOT_FOUND", "VALIDATION_ERROR")
    return {
        prompts: {
            "get": _operation(
                "listSystemPrompts",
                "The prompt files, sorted by file name",
                "system-prompts",
                ok=_json_ok(200, "The prompt files.", "SystemPromptList"),
                errors=_ALWAYS,
            ),
            "post": _operation(
                "createSystemPrompt",
                "Create a prompt file",
                "system-prompts",
                description=_PROMPT_RULES,
                body="CreateSystemPromptBody",
                ok=_json_ok(201, "The new prompt file.", "SystemPrompt"),
                errors=("PROMPT_EXISTS", *_BODY, *_ADMIN, *_ALWAYS),
            ),
        },
        f"{prompts}/{{filename}}": {
            "parameters": [FILENAME],
            "get": _operation(
                "getSystemPrompt",
                "One prompt file",
                "system-prompts",
                ok=_json_ok(200, "The prompt file.", "SystemPrompt"),
                errors=(*by_name, *_ALWAYS),
            ),
            "put": _operation(
                "updateSystemPrompt",
                "Replace a prompt file's text",
                "system-prompts",
                description=_PROMPT_RULES,
                body="UpdateSystemPromptBody",
                ok=_json_ok(200, "The prompt file after the change.", "SystemPrompt"),
                errors=(*by_name, "PAYLOAD_TOO_LARGE", *_ADMIN, *_ALWAYS),
            ),
            "delete": _operation(
                "deleteSystemPrompt",
                "Delete a prompt file",
                "system-prompts",
                ok=(204, "Deleted.", None),
                errors=(*by_name, *_ADMIN, *_ALWAYS),
            ),
        },
    }


_TURN = (
    "Appends `message` as the user's message and answers it; without `message`,"
    " answers the existing history again, replacing a trailing assistant reply."
)
_TURN_REFUSED = ("SESSION_NOT_FOUND", "EMPTY_HISTORY", "SESSION_BUSY", "RATE_LIMITED", *_BODY)
_UNARY_TOOLS = (
    " Tool calls that need no confirmation run within the turn and are listed in"
    " `tool_calls_executed`; a call that needs one ends the turn with"
    " CONFIRMATION_REQUIRES_STREAMING (use the stream)."
)
_WATCH = (
    "Follows a turn from any connection, and resumes a stream that was cut: sends"
    " the events after the one named by the `Last-Event-ID` header (what a browser's"
    " EventSource sends when it reconnects) or `last_event_id`, with their ids, then"
    " the live ones until the turn ends; from its first event when neither is given."
    " The turn is `turn_id`, else the one the event id names, else the running turn,"
    " else the latest. Watching never stops a turn; any number may watch one. 204"
    " when the turn has ended and nothing is left after the event named."
)
_CANCEL = (
    "Stops the running turn (`turn_id`, when named) the way a hang-up stops one"
    " that was not started with `continue_on_disconnect`: the model request is closed"
    " at once and the partial reply is stored, marked cancelled."
)
_CONFIRM = (
    "Approves or denies the call a `tool_call_confirmation_required` event of this"
    " session's running stream waits for. Each confirmation is answered once."
)


def _chat_paths() -> Json:
    chat = f"{PREFIX}/chat/{{session_id}}"
    events = {event: REF.format(model=name) for event, (name, _) in _event_payloads().items()}
    stream_content = {
        "text/event-stream": {"schema": _ref("ChatStreamEvent"), "x-sse-events": events}
    }
    return {
        chat: {
            "parameters": [SESSION_ID],
            "post": _operation(
                "chat",
                "Run a whole turn and return the reply",
                "chat",
                description=_TURN + _UNARY_TOOLS,
                body="ChatBody",
                ok=_json_ok(200, "The stored reply.", "ChatResponse"),
                errors=(
                    *_TURN_REFUSED,
                    "CONFIRMATION_REQUIRES_STREAMING",
                    "MODEL_NOT_FOUND",
                    *_OLLAMA,
                    *_ALWAYS,
                ),
            ),
        },
        f"{chat}/stream": {
            "parameters": [SESSION_ID],
            "post": _operation(
                "chatStream",
                "Run a turn and stream its events",
                "chat",
                description=_TURN
                + " A refused turn is a plain HTTP error; once the stream has started,"
                " failures arrive as an `error` event. With `continue_on_disconnect` the"
                " turn runs on when the connection closes.",
                body="ChatStreamBody",
                ok=(200, STREAM_DESCRIPTION, stream_content),
                errors=(*_TURN_REFUSED, *_ALWAYS),
            ),
            "get": _with_response(
                _operation(
                    "watchTurn",
                    "Follow a turn, or resume its stream after the last event seen",
                    "chat",
                    description=_WATCH,
                    parameters=WATCH_PARAMETERS,
                    ok=(200, STREAM_DESCRIPTION, stream_content),
                    errors=("SESSION_NOT_FOUND", "TURN_NOT_FOUND", "VALIDATION_ERROR", *_ALWAYS),
                ),
                204,
                "The turn has ended and nothing is left to send.",
            ),
        },
        f"{chat}/cancel": {
            "parameters": [SESSION_ID],
            "post": _operation(
                "cancelTurn",
                "Stop the running turn",
                "chat",
                description=_CANCEL,
                body="CancelTurnBody",
                body_required=False,
                ok=_json_ok(200, "The turn that was stopped.", "CancelledTurn"),
                errors=("SESSION_NOT_FOUND", "TURN_NOT_FOUND", *_BODY, *_ALWAYS),
            ),
        },
        f"{chat}/confirm-tool": {
            "parameters": [SESSION_ID],
            "post": _operation(
                "confirmToolCall",
                "Answer a tool call waiting for confirmation",
                "chat",
                description=_CONFIRM,
                body="ConfirmToolBody",
                ok=_json_ok(200, "The answer was passed to the stream.", "ToolConfirmation"),
                errors=("CONFIRMATION_NOT_FOUND", *_BODY, *_ALWAYS),
            ),
        },
    }


def _tool_paths() -> Json:
    tools = f"{PREFIX}/tools"
    return {
        tools: {
            "get": _operation(
                "listTools",
                "The tools found in the tools directory",
                "tools",
                ok=_json_ok(200, "The tools and the modules that failed to load.", "ToolList"),
                errors=_ALWAYS,
            ),
        },
        f"{tools}/reload": {
            "post": _operation(
                "reloadTools",
                "Scan the tools directory again",
                "tools",
                ok=_json_ok(200, "What the scan found.", "ToolsReloaded"),
                errors=(*_ADMIN, *_ALWAYS),
            ),
        },
        f"{tools}/{{tool_name}}": {
            "parameters": [TOOL_NAME],
            "get": _operation(
                "getTool",
                "One tool by name",
                "tools",
                description="`GET /tools/reload` looks up a tool named reload.",
                ok=_json_ok(200, "The tool.", "Tool"),
                errors=("TOOL_NOT_FOUND", *_ALWAYS),
            ),
        },
    }


def _agent_paths() -> Json:
    agents = f"{PREFIX}/agents"
    return {
        agents: {
            "get": _operation(
                "listAgents",
                "The agents found in the agents directory, valid or not",
                "agents",
                ok=_json_ok(200, "The agents, the invalid ones with their reason.", "AgentList"),
                errors=_ALWAYS,
            ),
        },
        f"{agents}/agent/{{agent_name}}": {
            "parameters": [AGENT_NAME],
            "get": _operation(
                "getAgent",
                "One agent by name",
                "agents",
                ok=_json_ok(200, "The agent.", "Agent"),
                errors=("AGENT_NOT_FOUND", "AGENT_INVALID", *_ALWAYS),
            ),
        },
        f"{agents}/reload": {
            "post": _operation(
                "reloadAgents",
                "Scan the agents directory again",
                "agents",
                ok=_json_ok(200, "What the scan found.", "AgentsReloaded"),
                errors=(*_ADMIN, *_ALWAYS),
            ),
        },
        f"{agents}/chats": {
            "get": _operation(
                "listAgentChats",
                "The agents' conversations, a page at a time",
                "agents",
                description="Only agent sessions; GET /sessions lists the others.",
                parameters=PAGE,
                ok=_json_ok(200, "A page of agent conversations.", "AgentChatList"),
                errors=("VALIDATION_ERROR", *_ALWAYS),
            ),
        },
        f"{agents}/chats/{{session_id}}": {
            "parameters": [SESSION_ID],
            "get": _operation(
                "getAgentChat",
                "An agent's conversation with its whole history",
                "agents",
                description="An id that names no agent session is SESSION_NOT_FOUND.",
                ok=_json_ok(200, "The agent session and its messages.", "AgentChat"),
                errors=("SESSION_NOT_FOUND", *_ALWAYS),
            ),
        },
    }


# -- the document -------------------------------------------------------------


def _request_schemas() -> Json:
    models: list[type[BaseModel]] = [
        bodies.CreateSessionBody,
        bodies.UpdateSessionBody,
        bodies.EditMessageBody,
        bodies.SetSessionSystemPromptBody,
        bodies.SummarizeBody,
        bodies.CreateSystemPromptBody,
        bodies.UpdateSystemPromptBody,
        bodies.ChatBody,
        bodies.ChatStreamBody,
        bodies.CancelTurnBody,
        bodies.ConfirmToolBody,
    ]
    _, schema = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    definitions: Json = schema["$defs"]
    return definitions


def _schemas() -> Json:
    return {
        **_health_schemas(),
        **_model_schemas(),
        **_settings_schemas(),
        **_session_schemas(),
        **_summary_schemas(),
        **_message_schemas(),
        **_window_schemas(),
        **_prompt_schemas(),
        **_tool_schemas(),
        **_agent_schemas(),
        **_chat_schemas(),
        **_error_schemas(),
        **_event_schemas(),
        **_request_schemas(),
    }


@cache
def document() -> dict[str, Any]:
    """The document; cached, so callers must not change it."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mochi-grpc HTTP API",
            "version": VERSION,
            "description": (
                "REST + Server-Sent Events over the mochi-grpc gRPC service: persistent chat"
                " sessions with local LLMs served by Ollama. Every error body is"
                " {error: {code, message, details}}. Every response carries an"
                " X-Request-Id header: the request's own X-Request-Id when it is 1 to 128"
                " of A-Z a-z 0-9 . _ : -, else a new id; the server's logs name it too."
            ),
        },
        "tags": [
            {"name": "health", "description": "Liveness of the bridge and what is behind it."},
            {"name": "models", "description": "The models Ollama serves."},
            {"name": "sessions", "description": "Sessions and their histories."},
            {"name": "system-prompts", "description": "Reusable system prompt files."},
            {"name": "tools", "description": "The Python tools the model may call."},
            {"name": "agents", "description": "The agents the model may delegate to."},
            {"name": "chat", "description": "Conversation turns, whole or streamed."},
            {"name": "meta", "description": "This document, and the bridge's metrics."},
        ],
        "paths": {
            **_meta_paths(),
            **_model_paths(),
            **_session_paths(),
            **_summary_paths(),
            **_prompt_paths(),
            **_tool_paths(),
            **_agent_paths(),
            **_chat_paths(),
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `mochi-grpc keys create`; needed when the"
                    " server requires API keys (MOCHI_AUTH), passed on to it as it is.",
                }
            },
        },
        # A key when the server requires one; none when keys are off.
        "security": [{"apiKey": []}, {}],
    }
