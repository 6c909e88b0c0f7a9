"""Whether the server traces, and where its spans go: the standard variables,
read by the rules both processes share (observability.tracing), for the
service `mochi-grpc` unless the variables name it otherwise.

Off, the server installs no span interceptor and no span observer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.trace import TracerProvider

from mochi_grpc.config import VERSION
from observability import tracing

SERVICE = "mochi-grpc"


def tracer_provider_from_env(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """The server's provider when the variables turn tracing on, else None.
    Shut it down on the way out to send the spans still batched."""
    return tracing.tracer_provider_from_env(SERVICE, VERSION, environ)
