"""A tools directory for tests: a working module, a broken one, and helpers
a test can reach inside the running server (it runs in the test's process)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import ModuleType

MATH_TOOLS = '''
"""Tools for tests."""
import threading
from pathlib import Path

release = threading.Event()
calls = []


def multiply_numbers(a: int, b: int) -> int:
    """Multiply two numbers.

    Args:
        a: The first number
        b: The second number
    """
    calls.append(("multiply_numbers", a, b))
    return a * b


def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say
    """
    calls.append(("shout", text))
    return text.upper()


def explode(reason: str) -> str:
    """Always fails.

    Args:
        reason: Why
    """
    raise RuntimeError(f"boom: {reason}")


def wait_for_release() -> str:
    """Blocks until the test releases it."""
    release.wait(30)
    return "released"


def no_docstring(a: int) -> int:
    return a


def no_hints(a):
    """Has no type hints."""
    return a


helper_path = Path  # imported names are not tools
'''

BROKEN = "raise ImportError('this tool module is broken')\n"


def write_tools(directory: Path) -> None:
    (directory / "math_tools").mkdir(parents=True)
    (directory / "math_tools" / "__init__.py").write_text(MATH_TOOLS)
    (directory / "broken").mkdir()
    (directory / "broken" / "__init__.py").write_text(BROKEN)
    (directory / "_private").mkdir()
    (directory / "_private" / "__init__.py").write_text("def hidden(a: int) -> int:\n    'x'\n")


def math_tools() -> ModuleType:
    """The module as the running server imported it."""
    return sys.modules["mochi_tools.math_tools"]


def release_event() -> threading.Event:
    event: threading.Event = math_tools().release
    return event
