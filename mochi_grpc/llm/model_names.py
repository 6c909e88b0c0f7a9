"""Model names as Ollama reads them.

`ollama pull llama3.2` stores the model registry.ollama.ai/library/llama3.2:latest
and lists it as `llama3.2:latest`; Ollama answers to every spelling that fills
in to that full name: `llama3.2`, `library/llama3.2`,
`registry.ollama.ai/library/llama3.2:latest`, in any letter case. The rules are
Ollama's own (types/model/name.go):

- a name is `[host/][namespace/]model[:tag]`; a missing host, namespace or tag
  is registry.ollama.ai, library and latest (ParseName);
- a name is shown without the default host and namespace, but always with its
  tag (DisplayShortest): `llama3.2:latest`, `myname/model:latest`,
  `hf.co/user/repo:Q4_K_M`, so another host or namespace keeps its prefix;
- two names are the same model when their parts are equal ignoring case
  (EqualFold);
- a part that is empty after its separator (`llama3.2:`) or holds a character
  its kind does not allow makes the whole name invalid: it names no model.

A backend matches a requested name against the names it lists, and the listed
name is the canonical one: what a session stores and what Ollama is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

DEFAULT_HOST: Final = "registry.ollama.ai"
DEFAULT_NAMESPACE: Final = "library"
DEFAULT_TAG: Final = "latest"

# What Ollama allows in each part: a letter, digit or _ first, then also - and,
# except in a namespace, dots; a host may carry a port.
_HOST: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}")
_NAMESPACE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_MODEL_OR_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")


@dataclass(frozen=True)
class ModelName:
    """A model's full name; its parts keep the case they were written in."""

    host: str
    namespace: str
    model: str
    tag: str

    @classmethod
    def parse(cls, text: str) -> ModelName | None:
        """The full name `text` stands for, or None when it is not a valid name."""
        rest, tag = text, DEFAULT_TAG
        # A tag follows the last colon, unless a slash comes after it (a host's port).
        if rest.rfind(":") > rest.rfind("/"):
            rest, _, tag = rest.rpartition(":")
        host, namespace = DEFAULT_HOST, DEFAULT_NAMESPACE
        prefix, slash, model = rest.rpartition("/")
        if slash:
            host_part, slash, namespace = prefix.rpartition("/")
            if slash:
                # A scheme before the host is dropped, as Ollama does.
                host = host_part.partition("://")[2] or host_part
        name = cls(host, namespace, model, tag)
        return name if name._valid() else None

    def _valid(self) -> bool:
        return bool(
            _HOST.fullmatch(self.host)
            and _NAMESPACE.fullmatch(self.namespace)
            and _MODEL_OR_TAG.fullmatch(self.model)
            and _MODEL_OR_TAG.fullmatch(self.tag)
        )

    def shortest(self) -> str:
        """The name as Ollama lists it: the default host and namespace left
        out, the tag always kept."""
        if self.host.lower() != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        else:
            prefix = ""
        return f"{prefix}{self.model}:{self.tag}"

    def same_model(self, other: ModelName) -> bool:
        """Equal but for letter case (valid names are ASCII only)."""
        return self._folded() == other._folded()

    def _folded(self) -> tuple[str, str, str, str]:
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())


def shortest_name(text: str) -> str | None:
    """`text` as Ollama lists a model of that name (`llama3.2` ->
    `llama3.2:latest`), or None when it is not a valid name."""
    name = ModelName.parse(text)
    return None if name is None else name.shortest()


def find_listed(requested: str, listed: Iterable[str]) -> str | None:
    """The listed name that `requested` names under Ollama's rules, or None.

    An exact match wins; otherwise the first listed name of the same model.
    """
    candidates = list(listed)
    if requested in candidates:
        return requested
    wanted = ModelName.parse(requested)
    if wanted is None:
        return None
    for candidate in candidates:
        name = ModelName.parse(candidate)
        if name is not None and name.same_model(wanted):
            return candidate
    return None
