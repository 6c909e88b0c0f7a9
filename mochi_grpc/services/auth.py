"""API keys at the gRPC door: every method but grpc.health.v1 needs
`authorization: Bearer <token>` when keys are required.

The interceptor resolves the token to a principal and runs the method as it;
servicers read it with `caller()` and hand it to the domain, which decides
what that principal may see. Writing prompt files and reloading tools or
agents need an admin key. Tokens never reach a log or an error.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Final

import grpc

from mochi_grpc.auth import NOBODY_IN_PARTICULAR, KeyRing, Principal
from mochi_grpc.errors import MochiError, PermissionDenied, Unauthenticated
from mochi_grpc.grpc_handlers import Behavior, Handler, rewrapped
from mochi_grpc.services.errors import to_status

OPEN_PREFIX: Final = "/grpc.health.v1."
ADMIN_ONLY: Final = frozenset(
    {
        "/mochi.v1.SystemPromptService/CreateSystemPrompt",
        "/mochi.v1.SystemPromptService/UpdateSystemPrompt",
        "/mochi.v1.SystemPromptService/DeleteSystemPrompt",
        "/mochi.v1.ToolService/ReloadTools",
        "/mochi.v1.AgentService/ReloadAgents",
    }
)

_caller: ContextVar[Principal] = ContextVar("mochi_caller", default=NOBODY_IN_PARTICULAR)


def caller() -> Principal:
    """Who the running call acts for (everyone is an admin when keys are off)."""
    return _caller.get()


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _acting_as(principal: Principal) -> Callable[[Behavior], Behavior]:
    def wrap(behavior: Behavior) -> Behavior:
        if inspect.isasyncgenfunction(behavior):

            async def streaming(request: Any, context: Any) -> Any:
                token = _caller.set(principal)
                try:
                    async for response in behavior(request, context):
                        yield response
                finally:
                    _caller.reset(token)

            return streaming

        async def unary(request: Any, context: Any) -> Any:
            token = _caller.set(principal)
            try:
                return await behavior(request, context)
            finally:
                _caller.reset(token)

        return unary

    return wrap


def _refusing(error: MochiError) -> Callable[[Behavior], Behavior]:
    def wrap(behavior: Behavior) -> Behavior:
        async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            status = to_status(error)
            await context.abort(status.code, status.details, status.trailing_metadata)

        return refuse

    return wrap


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_PREFIX):
            return handler
        token = _bearer(details.invocation_metadata)
        principal = None if token is None else await self._keys.authenticate(token)
        if principal is None:
            refusal = Unauthenticated(
                "A valid API key is required: send `authorization: Bearer <token>`"
            )
            return rewrapped(handler, _refusing(refusal))
        if method in ADMIN_ONLY and not principal.admin:
            denial = PermissionDenied(f"Only an admin key may call {method.rsplit('/', 1)[-1]}")
            return rewrapped(handler, _refusing(denial))
        return rewrapped(handler, _acting_as(principal))
