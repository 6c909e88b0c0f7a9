"""Every domain error has one gRPC status code and carries its reason."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from mochi_grpc import errors
from mochi_grpc.services.errors import status_code_of, to_status


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.SessionNotFound("s"), grpc.StatusCode.NOT_FOUND),
        (errors.ModelNotFound("m"), grpc.StatusCode.NOT_FOUND),
        (errors.InvalidMessageIndex("i"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.EmptyHistory("e"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.InvalidRequest("v"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.SessionBusy("s"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.PromptExists("p"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.OllamaUnreachable("o"), grpc.StatusCode.UNAVAILABLE),
        (errors.OllamaError("o"), grpc.StatusCode.UNAVAILABLE),
        (errors.Overloaded("o"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.MochiError("x"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_code_of(error: errors.MochiError, code: grpc.StatusCode) -> None:
    assert status_code_of(error) == code


def test_status_details_carry_reason_domain_and_field() -> None:
    status = to_status(errors.ModelNotFound("ghost"))

    raw = dict(status.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    parsed = status_pb2.Status.FromString(raw)
    info = error_details_pb2.ErrorInfo()
    parsed.details[0].Unpack(info)
    bad = error_details_pb2.BadRequest()
    parsed.details[1].Unpack(bad)
    assert (info.reason, info.domain, info.metadata["model"]) == (
        "MODEL_NOT_FOUND",
        "mochi.v1",
        "ghost",
    )
    assert bad.field_violations[0].field == "model"
    assert parsed.message == "Model 'ghost' not found"


def test_a_huge_value_echoed_by_an_error_is_cut_so_the_status_fits_in_metadata() -> None:
    # Found by the gRPC fuzzing: GetSession with a 100 KB session_id echoed it
    # in the message and the ErrorInfo; the client refused the trailers
    # (over its 16 KiB limit) and saw RESOURCE_EXHAUSTED with no details.
    huge = "é" * 100_000

    status = to_status(errors.SessionNotFound(huge))

    metadata = dict(status.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(metadata, bytes)
    # grpc-message is percent-encoded (3 bytes a UTF-8 byte); binary trailers
    # are base64 (4 bytes per 3): together far below a client's 8 KiB.
    assert len(status.details.encode()) * 3 + len(metadata) * 4 / 3 < 4096
    parsed = status_pb2.Status.FromString(metadata)
    info = error_details_pb2.ErrorInfo()
    parsed.details[0].Unpack(info)
    assert info.reason == "SESSION_NOT_FOUND"
    assert info.metadata["session_id"].startswith("éé")
    assert info.metadata["session_id"].endswith("...")
    assert status.details.startswith("Session éé") and status.details.endswith("...")


def test_an_error_of_ordinary_size_is_sent_whole() -> None:
    status = to_status(errors.SessionNotFound("0123456789"))

    assert status.details == "Session 0123456789 not found"
