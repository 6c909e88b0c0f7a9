"""Running a tool: arguments checked and converted, in a worker thread, with
a time limit, so a slow or broken tool never blocks other streams."""

from __future__ import annotations

import asyncio
import functools
import inspect
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pydantic

from mochi_grpc.tools.catalog import Tool


@dataclass(frozen=True)
class ToolOutcome:
    success: bool
    result: str
    error: str | None = None

    @property
    def text(self) -> str:
        """What the model is told: the result, or what went wrong."""
        return self.result if self.success else f"Error: {self.error}"


def as_text(value: Any) -> str:
    if value is None:
        return "Tool executed successfully (no return value)"
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


class ToolRunner:
    def __init__(self, timeout_seconds: float, workers: int = 8) -> None:
        self._timeout = timeout_seconds
        # A tool that hangs keeps its thread; the pool bounds how many can.
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mochi-tool")

    async def run(self, tool: Tool, arguments: dict[str, Any]) -> ToolOutcome:
        known = inspect.signature(tool.function).parameters
        # Models sometimes invent arguments; those are left out, not fatal.
        kwargs = {k: v for k, v in arguments.items() if k in known}
        checked = pydantic.validate_call(tool.function)  # converts "12" to 12 and the like
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, functools.partial(checked, **kwargs))
        try:
            value = await asyncio.wait_for(call, self._timeout)
        except TimeoutError:
            return ToolOutcome(
                False, "", f"Tool '{tool.name}' did not finish within {self._timeout:g} s"
            )
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            return ToolOutcome(False, "", f"Invalid arguments for tool '{tool.name}': {problems}")
        except Exception as exc:
            return ToolOutcome(False, "", f"Tool '{tool.name}' raised exception: {exc}")
        return ToolOutcome(True, as_text(value))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
