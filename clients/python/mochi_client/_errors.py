"""One exception for every failed call, carrying the server's rich status details.

The server puts a ``google.rpc.Status`` in the ``grpc-status-details-bin``
trailer; its details are ``Any``-packed ``google.rpc.ErrorInfo`` (the
machine-readable ``reason``, e.g. ``SESSION_NOT_FOUND``) and, when one field
is at fault, ``google.rpc.BadRequest``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import betterproto2
from grpclib.const import Status
from grpclib.encoding.base import StatusDetailsCodecBase
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from ._gen.google import protobuf, rpc


class MochiError(Exception):
    """A call that failed: its gRPC status code, message and status details."""

    def __init__(
        self, code: Status, message: str, details: Sequence[betterproto2.Message] = ()
    ) -> None:
        self.code = code
        self.message = message
        self.details = tuple(details)
        super().__init__(str(self))

    def __str__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"

    @property
    def error_info(self) -> rpc.ErrorInfo | None:
        """The ``google.rpc.ErrorInfo`` of the status, if the server sent one."""
        return next((d for d in self.details if isinstance(d, rpc.ErrorInfo)), None)

    @property
    def reason(self) -> str | None:
        """The machine-readable cause, e.g. ``SESSION_NOT_FOUND``; None without ErrorInfo."""
        info = self.error_info
        return info.reason if info else None

    @property
    def metadata(self) -> dict[str, str]:
        """The ErrorInfo's metadata, e.g. ``{"session_id": "..."}``."""
        info = self.error_info
        return dict(info.metadata) if info else {}

    @property
    def field_violations(self) -> dict[str, str]:
        """Field name to description, from a ``google.rpc.BadRequest`` detail."""
        return {
            v.field: v.description
            for d in self.details
            if isinstance(d, rpc.BadRequest)
            for v in d.field_violations
        }


class RichStatusCodec(StatusDetailsCodecBase):
    """Turns ``grpc-status-details-bin`` into the list of its unpacked details."""

    def encode(self, status: Status, message: str | None, details: Any) -> bytes:
        packed = [protobuf.Any.pack(detail) for detail in details or ()]
        return bytes(rpc.Status(code=status.value, message=message or "", details=packed))

    def decode(self, status: Status, message: str | None, data: bytes) -> Any:
        details: list[betterproto2.Message] = []
        for packed in rpc.Status.parse(data).details:
            try:
                detail = packed.unpack()
            except TypeError:  # a detail type this client does not know
                continue
            if detail is not None:
                details.append(detail)
        return details


@contextmanager
def mochi_errors() -> Iterator[None]:
    """Raise every transport failure inside the block as a MochiError."""
    try:
        yield
    except GRPCError as error:
        raise MochiError(error.status, error.message or "", error.details or ()) from error
    except TimeoutError as error:  # the call's own deadline, enforced by the client
        raise MochiError(Status.DEADLINE_EXCEEDED, "deadline exceeded") from error
    except (StreamTerminatedError, ProtocolError, OSError) as error:
        raise MochiError(Status.UNAVAILABLE, str(error) or type(error).__name__) from error
