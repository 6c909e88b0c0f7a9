"""The bridge's Prometheus metrics, exposed at GET /metrics.

Label values come from small fixed sets only: the HTTP method (one of the
usual ones, else "other"), the route's template (`/api/v1/sessions/{session_id}`,
"unmatched" for a path no route takes) and the status sent, never a raw path
or an id. A request counts once, when its response has ended: an event stream
when it closes, with the status its head carried. Event streams are counted
apart: how many are open, the events sent, and the streams the client left
before their end.

Each app has its own registry, so two bridges in one process (the tests) do
not add up; the process's own collectors (CPU, memory, open files, garbage
collection) are in it too.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from starlette.types import Message

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD: Final = "other"
UNMATCHED: Final = "unmatched"

# From a quick answer (5 ms) to an event stream kept open for many minutes.
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
)


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, counted when the response has ended.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "http_request_duration_seconds",
            "From a request's arrival to the end of its response (of its event stream).",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.streams_active = Gauge(
            "mochi_sse_streams_active",
            "Event streams open now.",
            registry=self.registry,
        )
        self.events_sent = Counter(
            "mochi_sse_events_sent_total",
            "Events written to event streams (keep-alive pings not included); a stream's"
            " are added when it closes.",
            registry=self.registry,
        )
        self.disconnects = Counter(
            "mochi_sse_disconnects_total",
            "Event streams the client left before the stream's end.",
            registry=self.registry,
        )

    def request_answered(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else OTHER_METHOD
        self.requests.labels(method, route, str(status)).inc()
        self.durations.labels(method, route).observe(seconds)

    def stream(self) -> EventStream:
        return EventStream(self)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format the scraper asked for (Prometheus text
        unless it accepts OpenMetrics), and that format's content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


class EventStream:
    """One event stream, from its first event to its close.

    The stream counts its own events and adds them to the shared counter once,
    at its close, so that nothing per event touches a metric (and its lock).
    """

    def __init__(self, metrics: BridgeMetrics) -> None:
        self._metrics = metrics
        self._client_left = False
        self._ended = False

    def opened(self) -> None:
        self._metrics.streams_active.inc()

    def ended(self) -> None:
        """The stream's last event was sent: a hang-up after it is no disconnect."""
        self._ended = True

    async def client_left(self, message: Message) -> None:
        """sse-starlette's hook, called when the client hangs up."""
        self._client_left = True

    def closed(self, events_sent: int) -> None:
        self._metrics.streams_active.dec()
        self._metrics.events_sent.inc(events_sent)
        if self._client_left and not self._ended:
            self._metrics.disconnects.inc()
