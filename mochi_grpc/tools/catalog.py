"""Finding tools: the Python packages directly inside the tools directory.

Each `<tools_dir>/<module>/__init__.py` is imported (not from sys.path, so
tool modules cannot shadow anything). Its tools are the names in `__all__`,
or else the public functions defined in the module itself. A function is a
tool when every parameter has a type hint and it has a docstring. A module
that fails to import is reported, not fatal.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeGuard

from ollama._utils import convert_function_to_tool

from mochi_grpc.errors import ToolNotFound

log = logging.getLogger(__name__)

_MODULE_PREFIX = "mochi_tools"


@dataclass(frozen=True)
class Tool:
    name: str
    module: str
    function: Callable[..., Any]
    description: str
    # The schema in the form Ollama's `tools` parameter takes.
    schema: dict[str, Any]

    @property
    def parameters(self) -> dict[str, Any]:
        parameters: dict[str, Any] = self.schema["function"]["parameters"]
        return parameters


@dataclass(frozen=True)
class LoadError:
    module: str
    error: str


def ollama_schema(function: Callable[..., Any]) -> dict[str, Any]:
    """The function's schema, made by the converter the ollama client itself
    applies to Python functions, with postponed annotations resolved first."""
    resolved = inspect.signature(function, eval_str=True)

    @functools.wraps(function)
    def shim(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
        return function(*args, **kwargs)

    shim.__signature__ = resolved  # type: ignore[attr-defined]
    schema: dict[str, Any] = convert_function_to_tool(shim).model_dump(exclude_none=True)
    return schema


def _is_tool(value: Any) -> TypeGuard[Callable[..., Any]]:
    if not inspect.isfunction(value) or not inspect.getdoc(value):
        return False
    parameters = inspect.signature(value).parameters.values()
    return all(p.annotation is not inspect.Parameter.empty for p in parameters)


def _names(module: ModuleType) -> list[str]:
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return [str(n) for n in exported]
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    ]


def _import(directory: Path, prefix: str) -> ModuleType:
    name = f"{prefix}.{directory.name}"
    spec = importlib.util.spec_from_file_location(
        name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # lets the package import its own submodules
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def package_tools(directory: Path, prefix: str = _MODULE_PREFIX) -> dict[str, Tool]:
    """The tools of one package (`directory`/__init__.py), imported as
    `prefix`.<directory name>; raises whatever importing it raises."""
    module = _import(directory, prefix)
    found = {n: getattr(module, n, None) for n in _names(module)}
    return {
        name: Tool(name, directory.name, value, inspect.getdoc(value) or "", ollama_schema(value))
        for name, value in found.items()
        if _is_tool(value)
    }


def discover(directory: Path) -> tuple[dict[str, Tool], list[LoadError]]:
    """Imports every tool package; runs their module code, so not on the loop."""
    tools: dict[str, Tool] = {}
    errors: list[LoadError] = []
    if not directory.is_dir():
        log.info("tools directory %s does not exist: no tools", directory)
        return tools, errors
    for child in sorted(directory.iterdir()):
        if not child.is_dir() or child.name.startswith(("_", ".")):
            continue
        if not (child / "__init__.py").is_file():
            continue
        try:
            found = package_tools(child)
        except Exception as exc:  # a broken tool module must not stop the others
            log.warning("tool module %s failed to load: %s", child.name, exc)
            errors.append(LoadError(child.name, f"{type(exc).__name__}: {exc}"))
            continue
        for name, tool in found.items():
            if name in tools:
                errors.append(LoadError(child.name, f"tool {name!r} is defined twice"))
                continue
            tools[name] = tool
    return tools, errors


class ToolCatalog:
    """The discovered tools; loaded once, again on reload()."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._tools: dict[str, Tool] = {}
        self.load_errors: list[LoadError] = []

    async def reload(self) -> None:
        self._tools, self.load_errors = await asyncio.to_thread(discover, self._directory)
        log.info("%d tools loaded from %s", len(self._tools), self._directory)

    def list(self) -> list[Tool]:
        return [self._tools[name] for name in sorted(self._tools)]

    def get(self, name: str) -> Tool:
        tool = self._tools.get(name)
        if tool is None:
            raise ToolNotFound(f"Tool '{name}' not found", details={"tool_name": name})
        return tool

    def find(self, name: str) -> Tool | None:
        return self._tools.get(name)
