"""GET /metrics: the bridge's Prometheus metrics.

When the server requires API keys, only an admin key may read them. The
bridge holds no keys and cannot check one, so it asks the server who the
request's Authorization names (GetCaller), on every scrape: 401 without a
valid key, 403 with a key that is not an admin's, the server's answer
(503 when it cannot be reached) otherwise. Without keys everyone may read.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.errors import ApiError
from bridge.routes.context import clients, metrics
from mochi_grpc._gen.mochi.v1 import server_service_pb2 as pb

# As long as a scrape would wait; Prometheus's default scrape timeout is 10 s.
CALLER_TIMEOUT_SECONDS = 10


async def exposition(request: Request) -> Response:
    caller = await clients(request).server.GetCaller(
        pb.GetCallerRequest(), timeout=CALLER_TIMEOUT_SECONDS
    )
    if not caller.admin:
        raise ApiError("PERMISSION_DENIED", "Only an admin key may read the metrics")
    body, content_type = metrics(request).exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)


routes = [Route("/metrics", exposition, methods=["GET"])]
