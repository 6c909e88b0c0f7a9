"""What the server processes sharing a store agree on: which sessions are
being changed, and the requests that must reach the process running a turn
(stop it, answer its tool confirmation).

One server on SQLite coordinates in its own memory (`local`); replicas on one
PostgreSQL database coordinate through it (`postgres`: claim rows, leases,
LISTEN/NOTIFY), with no broker of their own.
"""

from mochi_grpc.coordination.base import Coordination, Receivers, claimed
from mochi_grpc.coordination.local import LocalCoordination
from mochi_grpc.coordination.postgres import PostgresCoordination

__all__ = ["Coordination", "LocalCoordination", "PostgresCoordination", "Receivers", "claimed"]
