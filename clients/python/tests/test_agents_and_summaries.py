"""AgentService and SummaryService through the generated sync stubs: the
generated code has every service of proto/, no client code of their own."""

from __future__ import annotations

import grpc
import pytest
from conftest import MODEL

from mochi_client import MochiError, Status, sync_channel
from mochi_client._errors import RichStatusCodec
from mochi_client.v1 import (
    AgentServiceSyncStub,
    CreateSessionRequest,
    DeleteSessionRequest,
    GetSessionSummaryRequest,
    SessionServiceSyncStub,
    SummaryServiceSyncStub,
)


def mochi_error(error: grpc.RpcError) -> MochiError:
    """The grpcio failure with its status details read, as MochiClient reads them."""
    assert isinstance(error, grpc.Call)
    code = Status[error.code().name]
    trailers = dict(error.trailing_metadata() or ())
    status_details = trailers.get("grpc-status-details-bin", b"")
    assert isinstance(status_details, bytes)
    details = RichStatusCodec().decode(code, error.details(), status_details)
    return MochiError(code, error.details() or "", details)


@pytest.mark.usefixtures("target")
def test_list_agents_shows_the_valid_agent_and_the_invalid_one() -> None:
    # live_server.py points the server at tests/fixtures/agents: a valid
    # agent, wordsmith (tool count_words), and broken, which cannot run.
    with sync_channel() as channel:
        listed = AgentServiceSyncStub(channel).list_agents()

    agents = {agent.name: agent for agent in listed.agents}
    assert {"wordsmith", "broken"} <= agents.keys(), list(agents)
    wordsmith, broken = agents["wordsmith"], agents["broken"]
    assert wordsmith.valid and wordsmith.description and wordsmith.error_message is None
    assert "count_words" in wordsmith.tools
    assert wordsmith.tool_count == len(wordsmith.tools)
    assert not broken.valid and broken.error_message


@pytest.mark.usefixtures("target")
def test_a_fresh_session_has_no_summary() -> None:
    with sync_channel() as channel:
        sessions = SessionServiceSyncStub(channel)
        session = sessions.create_session(CreateSessionRequest(model=MODEL)).session
        assert session is not None
        try:
            with pytest.raises(grpc.RpcError) as raised:
                SummaryServiceSyncStub(channel).get_session_summary(
                    GetSessionSummaryRequest(session_id=session.session_id)
                )
        finally:
            sessions.delete_session(DeleteSessionRequest(session_id=session.session_id))

    error = mochi_error(raised.value)
    assert error.code is Status.NOT_FOUND
    assert error.reason == "SUMMARY_NOT_FOUND"
