"""Fuzzing the gRPC front door: every mochi.v1 RPC, hostile requests, clean answers.

The RPCs are read from the generated descriptors (`rpcs`), so a new method or
field is fuzzed without anything written for it here. Well-typed requests
(`requests`) are built field by field from the descriptor: strings come from
a pool chosen by the field's name (`values`: real session ids, prompt files,
turn and event ids, model names and page tokens from the server, near misses
of them, ids of the wrong shape, huge and unicode-odd text), numbers from a
pool of edges, enums take unknown values, field masks name random paths.
Malformed requests (`wire`) are bytes: random, truncated, wrong wire types,
invalid UTF-8 in a string field, runaway nesting.

What every call must end with is `outcomes.check_outcome`; whether a refused
call changed anything is `store_view.differences` between two snapshots.
"""

from tests.fuzzing.outcomes import (
    Outcome,
    check_outcome,
    check_serving,
    invoke,
    is_grpc_decode_refusal,
    is_too_large,
)
from tests.fuzzing.requests import requests
from tests.fuzzing.rpcs import Rpc, all_rpcs
from tests.fuzzing.shown import Shown
from tests.fuzzing.store_view import Snapshot, differences, snapshot
from tests.fuzzing.wire import length_delimited, malformed
from tests.fuzzing.world import MODEL, World

__all__ = [
    "MODEL",
    "Outcome",
    "Rpc",
    "Shown",
    "Snapshot",
    "World",
    "all_rpcs",
    "check_outcome",
    "check_serving",
    "differences",
    "invoke",
    "is_grpc_decode_refusal",
    "is_too_large",
    "length_delimited",
    "malformed",
    "requests",
    "snapshot",
]
