"""``python -m mochi_client.example`` streams a reply to stdout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import secure_only


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
    done = run_example("Hello", MOCHI_MODEL="llama3.2:latest")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: Hello\n"
    assert done.stderr.startswith("session ")


@pytest.mark.usefixtures("target")
def test_without_mochi_model_the_example_uses_a_model_the_server_lists() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MOCHI_MODEL"}
    done = subprocess.run(
        [sys.executable, "-m", "mochi_client.example", "Hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: Hi\n"
    assert done.stderr.splitlines()[0] == (
        "model llama3.2:latest (set MOCHI_MODEL to choose another)"
    )


@pytest.mark.usefixtures("target")
def test_example_reports_an_unknown_model() -> None:
    done = run_example("Hello", MOCHI_MODEL="no-such-model:latest")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: NOT_FOUND (MODEL_NOT_FOUND)")


@secure_only
@pytest.mark.usefixtures("target")
def test_example_takes_the_key_from_the_environment() -> None:
    done = run_example("Hello", MOCHI_MODEL="llama3.2:latest", MOCHI_API_KEY="")
    assert done.returncode == 1
    assert done.stderr.startswith("error: UNAUTHENTICATED (UNAUTHENTICATED)")
