"""Finding agents: one folder per agent inside the agents directory.

`<agents_dir>/<name>/SKILL.md` holds front matter (`description`, required;
`model`, optional) and, after it, the agent's system prompt;
`<agents_dir>/<name>/__init__.py` exports the agent's tools through `__all__`
(found by the same code as the main tools, imported under their own package
name so an agent's tool never shadows a main one). An agent needs both and at
least one tool; any other folder is listed as invalid with the reason.
Folders starting with `_` or `.`, and `agent_chats`, are not agents.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from mochi_grpc.errors import AgentInvalid, AgentNotFound
from mochi_grpc.tools import Tool, package_tools

log = logging.getLogger(__name__)

_MODULE_PREFIX = "mochi_agents"
SKILL_FILE = "SKILL.md"
# Where the upstream layout kept agent conversations as files; never an agent.
_NOT_AGENTS = {"agent_chats"}


@dataclass(frozen=True)
class Agent:
    name: str
    description: str = ""
    system_prompt: str = ""
    model: str | None = None
    tools: dict[str, Tool] = field(default_factory=dict)
    # Why it cannot run; None for a valid agent.
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None


def _skill(text: str) -> tuple[dict[str, Any], str]:
    post = frontmatter.loads(text)
    return dict(post.metadata), post.content.strip()


def load_agent(directory: Path) -> Agent:
    """One agent folder; what is wrong with it is kept as its error."""
    name = directory.name
    skill_file = directory / SKILL_FILE
    if not skill_file.is_file():
        return Agent(name, error=f"{SKILL_FILE} is missing")
    try:
        meta, prompt = _skill(skill_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        return Agent(name, error=f"{SKILL_FILE} cannot be read: {exc}")
    description = meta.get("description")
    model = meta.get("model")
    agent = Agent(
        name,
        description=description.strip() if isinstance(description, str) else "",
        system_prompt=prompt,
        model=model.strip() if isinstance(model, str) and model.strip() else None,
    )
    if not agent.description:
        return _invalid(agent, f"{SKILL_FILE} has no description in its front matter")
    if not (directory / "__init__.py").is_file():
        return _invalid(agent, "__init__.py (exporting the agent's tools) is missing")
    try:
        tools = package_tools(directory, _MODULE_PREFIX)
    except Exception as exc:  # a broken agent must not stop the others
        return _invalid(agent, f"its tools failed to load: {type(exc).__name__}: {exc}")
    if not tools:
        return _invalid(agent, "it exports no tools (functions with type hints and a docstring)")
    return Agent(agent.name, agent.description, agent.system_prompt, agent.model, tools)


def _invalid(agent: Agent, error: str) -> Agent:
    return Agent(agent.name, agent.description, agent.system_prompt, agent.model, error=error)


def discover(directory: Path) -> dict[str, Agent]:
    """Every agent folder; runs their module code, so not on the loop."""
    if not directory.is_dir():
        log.info("agents directory %s does not exist: no agents", directory)
        return {}
    agents: dict[str, Agent] = {}
    for child in sorted(directory.iterdir()):
        if not child.is_dir() or child.name.startswith(("_", ".")) or child.name in _NOT_AGENTS:
            continue
        agent = agents[child.name] = load_agent(child)
        if not agent.valid:
            log.warning("agent %s cannot run: %s", agent.name, agent.error)
    return agents


class AgentCatalog:
    """The discovered agents; loaded once, again on reload()."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._agents: dict[str, Agent] = {}

    async def reload(self) -> None:
        self._agents = await asyncio.to_thread(discover, self._directory)
        log.info("%d agents found in %s", len(self._agents), self._directory)

    def list(self) -> list[Agent]:
        return [self._agents[name] for name in sorted(self._agents)]

    def find(self, name: str) -> Agent | None:
        return self._agents.get(name)

    def get(self, name: str) -> Agent:
        """The agent (AgentNotFound), even when it cannot run."""
        agent = self._agents.get(name)
        if agent is None:
            raise AgentNotFound(name)
        return agent

    def runnable(self, name: str) -> Agent:
        """The agent if it can run (AgentNotFound, AgentInvalid)."""
        agent = self.get(name)
        if agent.error is not None:
            raise AgentInvalid(
                f"Agent '{name}' cannot run: {agent.error}", details={"agent_name": name}
            )
        return agent
