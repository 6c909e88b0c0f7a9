"""The HTTP bridge: the REST + Server-Sent-Events API over the mochi.v1 gRPC service."""

import os

# gRPC's C core writes its own notes to stderr (a GOAWAY received, ...), not
# as JSON; with JSON logs only its errors get through. It reads the variable
# when grpc is first imported, so this comes before any of the bridge's imports.
if os.environ.get("MOCHI_LOG_FORMAT") == "json":
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
