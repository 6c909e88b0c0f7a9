"""Ctrl-C and SIGTERM: stop at once, whatever the scenario is doing.

A client library may turn the cancellation of a call into an ordinary error,
so the signal also sets a flag that every loop of the run checks.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from bench.processes import stop_all

_requested = False


def requested() -> bool:
    return _requested


def check() -> None:
    """Raises KeyboardInterrupt once a stop was asked for."""
    if _requested:
        raise KeyboardInterrupt


def _handler(signum: int, frame: FrameType | None) -> None:
    global _requested
    if _requested:
        # A second signal: no more waiting for anything.
        stop_all()
        os._exit(128 + signum)
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Installed before asyncio.run, which then leaves SIGINT to us."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
