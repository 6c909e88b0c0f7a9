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
