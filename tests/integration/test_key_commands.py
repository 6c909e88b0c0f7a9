"""`mochi-grpc keys ...` as a person runs it: tokens shown once, never listed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _keys(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mochi_grpc", "keys", *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_list_revoke(tmp_path: Path) -> None:
    made = _keys(tmp_path, "create", "alice")
    admin = _keys(tmp_path, "create", "root", "--admin")
    again = _keys(tmp_path, "create", "alice")
    listed = _keys(tmp_path, "list")
    revoked = _keys(tmp_path, "revoke", "alice")
    twice = _keys(tmp_path, "revoke", "alice")
    after = _keys(tmp_path, "list")

    token = made.stdout.strip().splitlines()[-1]
    assert made.returncode == 0 and token.startswith("mochi_") and len(token) >= 40
    assert admin.stdout.startswith("created admin key 'root'")
    assert again.returncode == 1 and "exists already" in again.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("alice", "no"), ("root", "yes")]
    assert token not in listed.stdout
    assert revoked.returncode == 0 and twice.returncode == 1
    assert [line.split()[0] for line in after.stdout.splitlines()[1:]] == ["root"]
