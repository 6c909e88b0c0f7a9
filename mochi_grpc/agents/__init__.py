"""Agents the model may delegate to: discovery of their folders."""

from mochi_grpc.agents.catalog import Agent, AgentCatalog

__all__ = ["Agent", "AgentCatalog"]
