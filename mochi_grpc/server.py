"""The server process: wiring, health, reflection, signals, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry.trace import TracerProvider

from mochi_grpc._gen.mochi.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    chat_service_pb2,
    chat_service_pb2_grpc,
    model_service_pb2,
    model_service_pb2_grpc,
    server_service_pb2,
    server_service_pb2_grpc,
    session_service_pb2,
    session_service_pb2_grpc,
    summary_service_pb2,
    summary_service_pb2_grpc,
    system_prompt_service_pb2,
    system_prompt_service_pb2_grpc,
    tool_service_pb2,
    tool_service_pb2_grpc,
)
from mochi_grpc.agents import AgentCatalog
from mochi_grpc.auth import KeyRing
from mochi_grpc.chat import ChatEngine, SessionManager, TurnWatcher
from mochi_grpc.chat.agent_calls import AgentCaller
from mochi_grpc.chat.agent_chats import AgentChats
from mochi_grpc.chat.observing import Observers, TurnObserver
from mochi_grpc.chat.prompts import PromptLibrary
from mochi_grpc.chat.summaries import Summarizer
from mochi_grpc.chat.tool_calls import ToolCaller
from mochi_grpc.config import VERSION, Settings, parse_settings
from mochi_grpc.llm import LLMBackend
from mochi_grpc.llm.selection import select_backend
from mochi_grpc.persistence import Store, persistence_for
from mochi_grpc.services.agents import AgentService
from mochi_grpc.services.auth import AuthInterceptor
from mochi_grpc.services.chat import ChatService
from mochi_grpc.services.models import ModelService
from mochi_grpc.services.request_decoding import RequestDecoding
from mochi_grpc.services.server_info import ServerService
from mochi_grpc.services.sessions import SessionService
from mochi_grpc.services.summaries import SummaryService
from mochi_grpc.services.system_prompts import SystemPromptService
from mochi_grpc.services.tools import ToolService
from mochi_grpc.telemetry.grpc_metrics import GrpcMetrics
from mochi_grpc.telemetry.grpc_spans import server_spans
from mochi_grpc.telemetry.log_context import LogContextObserver
from mochi_grpc.telemetry.logs import configure_logging
from mochi_grpc.telemetry.metrics import MetricsObserver
from mochi_grpc.telemetry.metrics_endpoint import MetricsEndpoint
from mochi_grpc.telemetry.request_ids import RequestIds
from mochi_grpc.telemetry.store_timing import timed
from mochi_grpc.telemetry.tracing import tracer_provider_from_env
from mochi_grpc.telemetry.turn_spans import TracingObserver
from mochi_grpc.tools import Confirmations, ToolCatalog, ToolRunner
from runtime.collector import tune_collector

log = logging.getLogger("mochi_grpc")

SERVICE_NAMES = [
    session_service_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
    chat_service_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name,
    model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
    server_service_pb2.DESCRIPTOR.services_by_name["ServerService"].full_name,
    system_prompt_service_pb2.DESCRIPTOR.services_by_name["SystemPromptService"].full_name,
    tool_service_pb2.DESCRIPTOR.services_by_name["ToolService"].full_name,
    summary_service_pb2.DESCRIPTOR.services_by_name["SummaryService"].full_name,
    agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
]

# Long prompt processing sends nothing for minutes: allow clients to ping
# every 10 s without being cut off (too_many_pings), and ping them ourselves.
SERVER_OPTIONS: Sequence[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]


def _port_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS for the gRPC port when a certificate is configured (None: plaintext).

    With a client CA the handshake itself refuses a client without a
    certificate that CA signed: none of its calls reaches the API-key check
    or a servicer.
    """
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    client_ca = settings.tls_client_ca_file
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca is not None else None,
        require_client_auth=client_ca is not None,
    )


def _transport_security(settings: Settings) -> str:
    """What the gRPC port speaks, for the start-up line."""
    if settings.tls_cert_file is None:
        return "plaintext"
    return "TLS" if settings.tls_client_ca_file is None else "mutual TLS"


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    engine: ChatEngine
    store: Store
    llm: LLMBackend
    health: HealthServicer
    tool_runner: ToolRunner
    metrics: MetricsEndpoint | None = None
    summarizer: Summarizer | None = None
    stopped: bool = False

    @property
    def metrics_port(self) -> int:
        """Where /metrics is served (0: metrics are off)."""
        return self.metrics.port if self.metrics is not None else 0

    async def stop(self, grace: float | None) -> None:
        """Refuses new calls, lets running turns finish for `grace` seconds,
        then cuts them off; their partial replies are stored before return."""
        if self.stopped:
            return
        self.stopped = True
        self.engine.shutting_down = True
        await self.health.enter_graceful_shutdown()
        await asyncio.gather(self.server.stop(grace), self.engine.shutdown(grace or 0.0))
        if self.summarizer is not None:
            await self.summarizer.close()  # after the turns: none schedules another
        await self.store.close()
        await self.llm.close()
        self.tool_runner.close()
        if self.metrics is not None:
            await self.metrics.stop()


async def start(
    settings: Settings,
    llm: LLMBackend | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
) -> RunningServer:
    """Starts the gRPC server inside the running event loop; with a tracer
    provider, every call and turn is traced to it (without, nothing of tracing
    is installed)."""
    persistence = persistence_for(settings)
    store, coordination = persistence.store, persistence.coordination
    await store.open()
    # Port 0 turns metrics off: then nothing of them is installed at all.
    metrics_on = settings.metrics_port != 0
    # The domain's store, timed when metrics are on (the coordination and the
    # prompt shelf keep the real one).
    domain_store = timed(store) if metrics_on else store
    backend = llm or await select_backend(settings)
    catalog = ToolCatalog(settings.resolved_tools_dir)
    await catalog.reload()
    agents = AgentCatalog(settings.resolved_agents_dir)
    await agents.reload()
    runner = ToolRunner(settings.tool_timeout_seconds)
    # What watches each turn: its log lines' ids (metrics and traces add theirs).
    observers: list[TurnObserver] = [LogContextObserver()]
    if metrics_on:
        observers.append(MetricsObserver(lambda tool: catalog.find(tool) is not None))
    if tracer_provider is not None:
        observers.append(TracingObserver(tracer_provider, backend.name))
    summarizer = Summarizer(domain_store, backend)
    engine = ChatEngine(
        domain_store,
        backend,
        coordination,
        tools=ToolCaller(
            catalog,
            runner,
            Confirmations(),
            coordination,
            agents=AgentCaller(
                agents,
                domain_store,
                backend,
                runner,
                coordination,
                max_iterations=settings.max_agent_iterations,
            ),
        ),
        max_tool_rounds=settings.max_tool_rounds,
        max_concurrent_turns=settings.max_concurrent_turns,
        max_starting_turns=settings.max_starting_turns,
        checkpoint_interval_seconds=settings.checkpoint_interval_ms / 1000,
        max_turn_seconds=settings.max_turn_seconds,
        confirmation_timeout_seconds=settings.confirmation_timeout_seconds,
        turns_per_minute=settings.rate_limit_turns_per_minute,
        observer=Observers(*observers),
        on_reply_completed=summarizer.schedule if settings.summarize_automatically else None,
    )
    await engine.open()
    prompts = PromptLibrary(persistence.prompts)
    sessions = SessionManager(domain_store, backend, coordination, prompts)

    # Spans first: all else a call does happens inside its span. Then metrics,
    # to count every call with the code its caller gets; then keys: a caller
    # without a valid one is refused before its request is read.
    interceptors: list[grpc.aio.ServerInterceptor] = [
        *server_spans(tracer_provider),
        *([GrpcMetrics()] if metrics_on else []),
        *([AuthInterceptor(KeyRing(domain_store))] if settings.auth_required else []),
        RequestDecoding(),
        RequestIds(),  # after decoding: it reads the request's session id
    ]
    if not settings.auth_required and not settings.listens_on_loopback:
        log.warning(
            "API keys are off (MOCHI_AUTH=off) while listening on %s: anyone who reaches"
            " the port can read and change every session",
            settings.host,
        )
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors)
    chat_service = ChatService(
        engine,
        TurnWatcher(
            domain_store,
            engine.live,
            coordination,
            poll_seconds=settings.checkpoint_interval_ms / 1000,
        ),
        coalesce=settings.stream_coalesce,
    )
    tool_service_pb2_grpc.add_ToolServiceServicer_to_server(ToolService(catalog), server)
    agent_service_pb2_grpc.add_AgentServiceServicer_to_server(
        AgentService(agents, AgentChats(sessions)), server
    )
    session_service_pb2_grpc.add_SessionServiceServicer_to_server(SessionService(sessions), server)
    summary_service_pb2_grpc.add_SummaryServiceServicer_to_server(
        SummaryService(summarizer), server
    )
    system_prompt_service_pb2_grpc.add_SystemPromptServiceServicer_to_server(
        SystemPromptService(prompts), server
    )
    chat_service_pb2_grpc.add_ChatServiceServicer_to_server(chat_service, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(backend), server)
    server_service_pb2_grpc.add_ServerServiceServicer_to_server(
        ServerService(backend, settings.ollama_host), server
    )
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    credentials = _port_credentials(settings)
    port = (
        server.add_insecure_port(settings.grpc_address)
        if credentials is None
        else server.add_secure_port(settings.grpc_address, credentials)
    )
    metrics = MetricsEndpoint.start(settings.host, settings.metrics_port) if metrics_on else None
    await server.start()
    for name in ["", *SERVICE_NAMES]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(
        server, port, engine, store, backend, health, runner, metrics, summarizer=summarizer
    )


async def serve(settings: Settings) -> None:
    tracing = tracer_provider_from_env()
    running = await start(settings, tracer_provider=tracing)
    tune_collector()
    connected = await running.llm.is_connected()
    serving = (
        f"Ollama at {settings.ollama_host} {'answers' if connected else 'does not answer yet'}"
        if running.llm.name == "ollama"
        else f"the {running.llm.name} model backend"
    )
    log.info(
        "mochi-grpc %s listening on %s:%d (gRPC, %s, API keys %s); serving %s; data in %s; %s",
        VERSION,
        settings.host,
        running.port,
        _transport_security(settings),
        "required" if settings.auth_required else "off",
        serving,
        settings.database_description,
        f"metrics at http://{settings.host}:{running.metrics_port}/metrics"
        if running.metrics_port
        else "metrics off",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (running turns get %.1f s to finish)", settings.shutdown_grace_seconds)
    await running.stop(settings.shutdown_grace_seconds)
    if tracing is not None:
        tracing.shutdown()  # sends the spans still batched
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(argv)
    configure_logging(settings)
    # uvloop makes every await on the streaming path cheaper; grpc.aio runs on it.
    uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
