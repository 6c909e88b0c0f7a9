"""Test doubles that stand in for external services over real sockets."""

from tests.fakes.fake_ollama import (
    DEFAULT_MODEL,
    OLLAMA_VERSION,
    FakeModel,
    FakeOllama,
    RecordedChat,
    Reply,
    echo_reply,
)

__all__ = [
    "DEFAULT_MODEL",
    "OLLAMA_VERSION",
    "FakeModel",
    "FakeOllama",
    "RecordedChat",
    "Reply",
    "echo_reply",
]
