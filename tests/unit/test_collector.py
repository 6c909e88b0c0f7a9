"""The collector settings the server and the bridge apply at start-up, in a
process of their own (they change the interpreter's global state)."""

from __future__ import annotations

import json
import subprocess
import sys

from runtime.collector import THRESHOLDS

_PROBE = """
import gc, json
from runtime.collector import tune_collector
before = gc.get_freeze_count()
garbage = []
garbage.append(garbage)  # a cycle only the collector frees
del garbage
tune_collector()
print(json.dumps({"thresholds": gc.get_threshold(), "frozen_before": before,
                  "frozen": gc.get_freeze_count(), "young": gc.get_count()[0]}))
"""


def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], check=True, capture_output=True, text=True
    ).stdout
    seen = json.loads(out)
    assert tuple(seen["thresholds"]) == THRESHOLDS
    assert THRESHOLDS[0] > 700  # CPython's default for the youngest generation
    assert seen["frozen_before"] == 0
    # What start-up made (modules, functions) is out of every later collection.
    assert seen["frozen"] > 1_000
    # Collected first, so nothing was left in the youngest generation.
    assert seen["young"] < 100
