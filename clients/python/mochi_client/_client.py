"""MochiClient: the calls people use most, over one HTTP/2 connection (grpclib)."""

from __future__ import annotations

import os
import ssl as _ssl
from collections.abc import Awaitable
from types import TracebackType
from typing import Self, TypeVar

from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.metadata import Deadline

from ._credentials import (
    SERVER_NAME_ENV,
    Setting,
    resolve_api_key,
    send_api_key,
    tls_context,
)
from ._errors import MochiError, RichStatusCodec, mochi_errors
from ._gen.mochi.v1 import (
    CancelTurnRequest,
    ChatRequest,
    ChatResponse,
    ChatServiceStub,
    ChatStreamRequest,
    ConfirmToolCallRequest,
    ConfirmToolCallResponse,
    CreateSessionRequest,
    DeleteSessionRequest,
    EditMessageRequest,
    EditMessageResponse,
    GetSessionRequest,
    GetSessionResponse,
    ListMessagesRequest,
    ListModelsRequest,
    ListSessionsRequest,
    Message,
    Model,
    ModelServiceStub,
    Session,
    SessionServiceStub,
    ToolSettings,
    WatchTurnRequest,
)
from ._resume import TurnReader
from ._stream import ChatStream
from ._target import DEFAULT_TARGET, TARGET_ENV, parse_target

T = TypeVar("T")


class MochiClient:
    """An async client of a mochi-grpc server.

    ``target`` is ``host:port`` (default: ``$MOCHI_GRPC_TARGET``, else
    ``localhost:50051``). Create it inside a running event loop; use it as
    ``async with MochiClient() as client:`` or call ``close()``. Every call
    takes ``timeout`` (seconds, the call's deadline) and raises MochiError.

    ``api_key`` goes as ``authorization: Bearer <api_key>`` with every call
    (default: ``$MOCHI_API_KEY``). ``ca_file`` (PEM) makes the connection TLS,
    trusting the server's certificate when that CA signed it; ``cert_file``
    and ``key_file`` (PEM, both or neither) are the client's certificate
    chain and key, for a server that asks for one (mutual TLS);
    ``server_name`` is the name to expect in the server's certificate when
    the target's host is not it. They default to ``$MOCHI_GRPC_TLS_CA_FILE``,
    ``$MOCHI_GRPC_TLS_CERT_FILE``, ``$MOCHI_GRPC_TLS_KEY_FILE`` and
    ``$MOCHI_GRPC_TLS_SERVER_NAME``; "" means none, whatever the environment
    says. ``ssl=True`` makes the connection TLS without a CA file, trusting
    the system's CAs; ``ssl=False`` keeps it plaintext; an SSLContext of your
    own is used as it is (with either, the environment's TLS settings are
    unused). Half a setting (a certificate without its key, a certificate
    without a CA) or a file that cannot be read raises ValueError.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        api_key: str | None = None,
        ca_file: Setting = None,
        cert_file: Setting = None,
        key_file: Setting = None,
        server_name: str | None = None,
        ssl: _ssl.SSLContext | bool | None = None,
    ) -> None:
        self.target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
        address = parse_target(self.target)
        context, name = tls_context(ssl, ca_file, cert_file, key_file, server_name)
        if context is not None and address.path is not None and name is None:
            raise ValueError(
                f"TLS over the Unix socket {address.path!r} needs server_name "
                f"({SERVER_NAME_ENV}), the name in the server's certificate"
            )
        token = resolve_api_key(api_key)
        self.secure = context is not None  # whether the connection is TLS
        self._channel = Channel(
            address.host,
            address.port,
            path=address.path,
            ssl=context,
            config=Configuration(ssl_target_name_override=name),
            status_details_codec=RichStatusCodec(),
        )
        if token is not None:
            send_api_key(self._channel, token)
        self._sessions = SessionServiceStub(self._channel)
        self._chat = ChatServiceStub(self._channel)
        self._models = ModelServiceStub(self._channel)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; calls still running fail."""
        self._channel.close()

    # Sessions

    async def create_session(
        self,
        model: str,
        *,
        system_prompt: str | None = None,
        system_prompt_file: str | None = None,
        tool_settings: ToolSettings | None = None,
        timeout: float | None = None,
    ) -> Session:
        """Create a session for ``model`` (e.g. ``llama3.2``; the session keeps the
        name as the server lists it, ``llama3.2:latest``)."""
        request = CreateSessionRequest(
            model=model,
            system_prompt=system_prompt,
            system_prompt_source_file=system_prompt_file,
            tool_settings=tool_settings,
        )
        response = await _checked(self._sessions.create_session(request, timeout=timeout))
        return _required(response.session)

    async def get_session(
        self, session_id: str, *, timeout: float | None = None
    ) -> GetSessionResponse:
        """The session (``.session``) with its whole history (``.messages``)."""
        request = GetSessionRequest(session_id=session_id)
        return await _checked(self._sessions.get_session(request, timeout=timeout))

    async def list_sessions(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> list[Session]:
        """Every session, most recently updated first, fetched ``page_size`` at a time."""
        deadline = _deadline(timeout)
        sessions: list[Session] = []
        token = ""
        while True:
            request = ListSessionsRequest(page_size=page_size, page_token=token)
            page = await _checked(self._sessions.list_sessions(request, deadline=deadline))
            sessions.extend(page.sessions)
            token = page.next_page_token
            if not token:
                return sessions

    async def delete_session(self, session_id: str, *, timeout: float | None = None) -> None:
        """Delete a session and its messages."""
        request = DeleteSessionRequest(session_id=session_id)
        await _checked(self._sessions.delete_session(request, timeout=timeout))

    async def list_messages(
        self, session_id: str, *, page_size: int = 0, timeout: float | None = None
    ) -> list[Message]:
        """Every message of a session in order (the system prompt, if any, first)."""
        deadline = _deadline(timeout)
        messages: list[Message] = []
        token = ""
        while True:
            request = ListMessagesRequest(
                session_id=session_id, page_size=page_size, page_token=token
            )
            page = await _checked(self._sessions.list_messages(request, deadline=deadline))
            messages.extend(page.messages)
            token = page.next_page_token
            if not token:
                return messages

    async def edit_message(
        self, session_id: str, message_index: int, content: str, *, timeout: float | None = None
    ) -> EditMessageResponse:
        """Replace the text of a user message and remove every later message.

        ``message_index`` counts all messages, the system prompt included.
        Answer the edited message with ``chat(session_id)`` (no message).
        """
        request = EditMessageRequest(
            session_id=session_id, message_index=message_index, content=content
        )
        return await _checked(self._sessions.edit_message(request, timeout=timeout))

    # Turns

    async def chat(
        self,
        session_id: str,
        message: str | None = None,
        *,
        think: bool = False,
        timeout: float | None = None,
    ) -> ChatResponse:
        """Run a whole turn; ``message=None`` answers the existing history again."""
        request = ChatRequest(session_id=session_id, message=message, think=think)
        return await _checked(self._chat.chat(request, timeout=timeout))

    def chat_stream(
        self,
        session_id: str,
        message: str | None = None,
        *,
        think: bool = False,
        continue_on_disconnect: bool = False,
        timeout: float | None = None,
    ) -> ChatStream:
        """Run a turn and iterate its events as they happen (see ChatStream).

        The call starts with the first ``async for`` step; errors before the
        first event (e.g. SESSION_NOT_FOUND) raise there. With
        ``continue_on_disconnect`` the turn runs on when the caller goes away
        (stop it with ``cancel_turn``) and the stream resumes by itself after
        a dropped connection; ``timeout`` covers the resumed calls too.
        """
        request = ChatStreamRequest(
            session_id=session_id,
            message=message,
            think=think,
            continue_on_disconnect=continue_on_disconnect,
        )
        reader = TurnReader(self._channel, request, resume=continue_on_disconnect, timeout=timeout)
        return ChatStream(reader)

    def watch_turn(
        self,
        session_id: str,
        turn_id: str = "",
        after_event_id: str = "",
        *,
        timeout: float | None = None,
    ) -> ChatStream:
        """Follow a turn from any connection: its events after ``after_event_id``
        (from its first when empty), then the live ones until it ends.

        An empty ``turn_id`` means the turn of ``after_event_id``, else the
        running turn, else the latest. Watching never stops the turn, and the
        stream resumes by itself after a dropped connection. An unknown turn
        is NOT_FOUND (TURN_NOT_FOUND), an event id of another turn
        INVALID_ARGUMENT; both raise at the first ``async for`` step.
        """
        request = WatchTurnRequest(
            session_id=session_id, turn_id=turn_id, after_event_id=after_event_id
        )
        return ChatStream(TurnReader(self._channel, request, resume=True, timeout=timeout))

    async def cancel_turn(
        self, session_id: str, turn_id: str = "", *, timeout: float | None = None
    ) -> str:
        """Stop the running turn (the one named, if named); returns its id once
        its partial reply is stored with ``partial_reason`` "cancelled".

        NOT_FOUND (TURN_NOT_FOUND) when no such turn runs.
        """
        request = CancelTurnRequest(session_id=session_id, turn_id=turn_id)
        response = await _checked(self._chat.cancel_turn(request, timeout=timeout))
        return response.turn_id

    async def confirm_tool_call(
        self,
        session_id: str,
        confirmation_id: str,
        *,
        approved: bool,
        timeout: float | None = None,
    ) -> ConfirmToolCallResponse:
        """Answer a ``ToolCallConfirmationRequired`` event of a running stream."""
        request = ConfirmToolCallRequest(
            session_id=session_id, confirmation_id=confirmation_id, approved=approved
        )
        return await _checked(self._chat.confirm_tool_call(request, timeout=timeout))

    # Models

    async def list_models(self, *, timeout: float | None = None) -> list[Model]:
        """The chat models the server's Ollama has."""
        response = await _checked(self._models.list_models(ListModelsRequest(), timeout=timeout))
        return list(response.models)


async def _checked(call: Awaitable[T]) -> T:
    with mochi_errors():
        return await call


def _deadline(timeout: float | None) -> Deadline | None:
    return None if timeout is None else Deadline.from_timeout(timeout)


def _required(session: Session | None) -> Session:
    if session is None:
        raise MochiError(Status.UNKNOWN, "the server answered without a session")
    return session
