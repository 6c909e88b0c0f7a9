"""Model backends behind one small interface."""

from mochi_grpc.llm.base import ChatChunk, ChatRequest, LLMBackend, ModelInfo
from mochi_grpc.llm.ollama import OllamaBackend

__all__ = ["ChatChunk", "ChatRequest", "LLMBackend", "ModelInfo", "OllamaBackend"]
