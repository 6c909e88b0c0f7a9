"""``python -m mochi_client.example`` streams a reply to stdout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_example(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mochi_client.example", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.usefixtures("target")
def test_example_prints_the_streamed_reply() -> None:
    done = run_example("Hello")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: Hello\n"
    assert done.stderr.startswith("session ")


@pytest.mark.usefixtures("target")
def test_example_reports_an_unknown_model() -> None:
    done = run_example("Hello", MOCHI_MODEL="no-such-model:latest")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: NOT_FOUND (MODEL_NOT_FOUND)")
