"""Request bodies: read with a size limit, parsed as JSON, validated.

Unknown fields are ignored, as clients of the SPEC expect; wrong types and
missing fields are a 422 VALIDATION_ERROR that names them.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from starlette.requests import Request

from bridge.errors import ApiError

Policy = Literal["always_confirm", "never_confirm"]
INT32_MAX = 2**31 - 1


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ToolSettingsBody(Body):
    tools: list[StrictStr] = Field(default_factory=list)
    execution_policy: Policy = "always_confirm"
    tool_policies: dict[str, Policy] = Field(default_factory=dict)


class AgentSettingsBody(Body):
    enabled_agents: list[StrictStr] = Field(default_factory=list)


class CreateSessionBody(Body):
    model: StrictStr = Field(min_length=1)
    system_prompt: StrictStr | None = None
    system_prompt_source_file: StrictStr | None = None
    tool_settings: ToolSettingsBody | None = None
    agent_settings: AgentSettingsBody | None = None


class ContextWindowBody(Body):
    """A window fixed by hand (manual_override true), or back to following usage."""

    current_window: StrictInt | None = Field(default=None, gt=0, le=INT32_MAX)
    manual_override: StrictBool


class UpdateSessionBody(Body):
    model: StrictStr | None = Field(default=None, min_length=1)
    tool_settings: ToolSettingsBody | None = None
    agent_settings: AgentSettingsBody | None = None
    context_window: ContextWindowBody | None = None


class SetSessionSystemPromptBody(Body):
    """The text, or a prompt file whose text then wins; at least one of them."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["content"]}, {"required": ["source_file"]}]}
    )

    content: StrictStr | None = None
    source_file: StrictStr | None = None


class SummarizeBody(Body):
    """The model that writes the summary; none named: the session's."""

    model: StrictStr | None = Field(default=None, min_length=1)


class CreateSystemPromptBody(Body):
    filename: StrictStr
    content: StrictStr


class UpdateSystemPromptBody(Body):
    content: StrictStr


class EditMessageBody(Body):
    content: StrictStr


class ChatBody(Body):
    message: StrictStr | None = None
    think: StrictBool = False


class ChatStreamBody(ChatBody):
    # The turn runs on when the HTTP client goes away; GET .../stream resumes it.
    continue_on_disconnect: StrictBool = False


class CancelTurnBody(Body):
    """Which turn to stop; none named: whichever runs."""

    turn_id: StrictStr = ""


class ConfirmToolBody(Body):
    """The answer to a tool_call_confirmation_required event."""

    confirmation_id: StrictStr
    approved: StrictBool


B = TypeVar("B", bound=Body)


async def read_body(request: Request, model: type[B], limit: int, *, optional: bool = False) -> B:
    """The validated body; 413 when it is larger than `limit` bytes. An
    optional body may be left out (an empty body is `{}`)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    if optional and not raw.strip():
        raw = bytearray(b"{}")
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError("VALIDATION_ERROR", f"The body is not valid JSON: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        listed = "; ".join(f"{field}: {message}" for field, message in problems)
        raise ApiError(
            "VALIDATION_ERROR",
            f"Invalid request body: {listed}",
            {"field": problems[0][0]},
        ) from exc


def _too_large(limit: int) -> ApiError:
    return ApiError("PAYLOAD_TOO_LARGE", f"The body is larger than {limit} bytes", {"limit": limit})
