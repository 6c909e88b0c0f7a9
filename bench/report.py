"""The results: a Markdown report, a small JSON file and a few plots."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.machine import Machine
from bench.processes import Usage
from bench.scenarios.burst import PATHS, BurstResult
from bench.scenarios.burst import SizeResult as BurstSize
from bench.scenarios.concurrency import ConcurrencyResult, LevelResult
from bench.scenarios.replicas import ReplicasResult
from bench.scenarios.store import STORES, SizeResult, StoreResult
from bench.scenarios.throughput import ThroughputResult
from bench.scenarios.ttft import TtftResult
from bench.stack import Runtime
from bench.stats import ladder, percentile

# Above this share of one core the driver itself may be what limits a figure.
DRIVER_BOUND_PERCENT = 90.0
# What the server's metrics may cost a stream: its rate with them on may be at
# most this share below the rate with them off.
METRICS_COST = 0.05


@dataclass
class Target:
    scenario: str
    what: str
    target: str
    figure: str
    ok: bool | None


@dataclass
class Results:
    config: BenchConfig
    machine: Machine
    seconds: float = 0.0
    throughput: ThroughputResult | None = None
    ttft: TtftResult | None = None
    concurrency: ConcurrencyResult | None = None
    store: StoreResult | None = None
    replicas: ReplicasResult | None = None
    burst: BurstResult | None = None
    log_problems: dict[str, list[str]] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    open_file_limit: int = 0
    driver_loop: str = "asyncio"
    runtime: Runtime | None = None


def num(value: float, digits: int = 0, *, thousands: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"


def us(value: float) -> str:
    """A CPU cost in µs: two decimals below 10, one above."""
    return num(value, 2 if value < 10 else 1)


def mark(ok: bool | None) -> str:
    return "?" if ok is None else ("✓" if ok else "✗")


def _at_least(value: float, floor: float) -> bool | None:
    return None if math.isnan(value) else value >= floor


def _at_most(value: float, ceiling: float) -> bool | None:
    return None if math.isnan(value) else value <= ceiling


def _reported(value: float) -> bool | None:
    """A figure shown for comparison: no target, measured or not."""
    return None if math.isnan(value) else True


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# --- scenario 1 and 2 ---------------------------------------------------------------


def _throughput_targets(t: ThroughputResult) -> list[Target]:
    b_a, c_a = t.ratio("grpc", "direct"), t.ratio("bridge", "direct")
    targets = [
        Target("1", "gRPC ÷ direct, tokens/s (b/a)", "≥ 0.50", num(b_a, 2), _at_least(b_a, 0.5)),
        Target("1", "bridge ÷ direct, tokens/s (c/a)", "≥ 0.40", num(c_a, 2), _at_least(c_a, 0.4)),
    ]
    for key, what in (("grpc", "b/a"), ("bridge", "c/a")):
        cost = t.metrics_on_off(key)
        targets.append(
            Target(
                "1",
                f"{what} with the server's metrics on ÷ off",
                f"within {METRICS_COST:.0%} (≥ {1 - METRICS_COST:.2f})",
                num(cost, 3) + ("" if t.turns_counted else " (metrics not seen on)"),
                _at_least(cost, 1 - METRICS_COST) if t.turns_counted else None,
            )
        )
    for ours, bare, what in (
        ("grpc_nc", "bare_grpc", "gRPC ÷ bare grpc.aio, one message per token (b'/i)"),
        ("bridge_nc", "bare_pass", "bridge ÷ bare gRPC→SSE, one event per token (c'/iii)"),
    ):
        ratio = t.ratio(ours, bare)
        confirmed = t.no_coalescing(ours)
        figure = num(ratio, 2) + ("" if confirmed else " (coalescing was not off)")
        targets.append(
            Target("2", what, "≥ 0.80", figure, _at_least(ratio, 0.8) if confirmed else None)
        )
    return targets


def _throughput_md(t: ThroughputResult) -> list[str]:
    lines = [
        f"## 1. Throughput of one stream ({t.tokens:,} tokens, flat out; median of {t.repeats})",
        "",
    ]
    rows = []
    direct = t.paths["direct"].tokens_per_second
    goals = {"grpc": 0.5, "bridge": 0.4}
    for key in ("direct", "grpc", "bridge", "grpc_off", "bridge_off"):
        p = t.paths[key]
        ratio = p.tokens_per_second / direct if direct > 0 else math.nan
        goal = goals.get(key)
        rows.append(
            [
                p.label,
                num(p.tokens_per_second),
                "1" if key == "direct" else num(ratio, 2),
                f"≥ {goal:.2f}" if goal else "",
                mark(_at_least(ratio, goal)) if goal else "",
                num(p.events),
                us(p.cpu_us_per_token("server")),
                us(p.cpu_us_per_token("bridge")),
                us(p.cpu_us_per_token("fake")),
                us(p.cpu_us_per_token("driver")),
                num(p.busy_percent("driver")),
            ]
        )
    lines += _table(
        [
            "path",
            "tokens/s",
            "÷ (a)",
            "target",
            "",
            "content events",
            "server CPU µs/token",
            "bridge CPU µs/token",
            "fake CPU µs/token",
            "driver CPU µs/token",
            "driver busy %",
        ],
        rows,
    )
    lines += [
        "",
        "Content events: how many `content_delta` messages carried the tokens"
        " (fewer than tokens = merged while the reader lagged). Busy % = CPU time ÷ wall"
        " time of the stream, in % of one core; a driver near 100 % means the client,"
        " not the path, set the pace.",
        "",
        "Server metrics: (b), (c) run against a server with its metrics on (the default:"
        " the gRPC interceptor, the turn observer, the timed store, /metrics on a port of its"
        " own); (b₀), (c₀) against one started with `MOCHI_METRICS_PORT=0`, which installs"
        " none of it (the bridge keeps its own metrics in both). Each repeat runs both, back"
        " to back, each first in every other repeat; the figure is the median over the repeats"
        " of that repeat's (on ÷ a) ÷ (off ÷ a)."
        f" (b/a) on ÷ off: **{num(t.metrics_on_off('grpc'), 3)}**, (c/a) on ÷ off:"
        f" **{num(t.metrics_on_off('bridge'), 3)}** (target: within {METRICS_COST:.0%});"
        + (
            f" the metrics-on server counted {num(t.turns_counted)} turns in"
            " `mochi_turns_started_total`."
            if t.turns_counted
            else " its `mochi_turns_started_total` could not be read: were metrics on?"
        ),
        "",
        "## 2. Per-message cost against bare building blocks (one message per token)",
        "",
        "(b'), (c'): the server and the bridge started with `MOCHI_STREAM_COALESCE=false`.",
        "The bare servers run the same event loops, gRPC server options and uvicorn settings.",
        "",
    ]
    rows = []
    for key in ("bare_grpc", "grpc_nc", "bare_sse", "bare_pass", "bridge_nc"):
        p = t.paths[key]
        rows.append(
            [
                p.label,
                num(p.tokens_per_second),
                num(p.events),
                us(p.cpu_us_per_token("server")),
                us(p.cpu_us_per_token("bridge")),
                us(p.cpu_us_per_token("driver")),
                num(p.busy_percent("server")),
                num(p.busy_percent("bridge")),
                num(p.busy_percent("driver")),
            ]
        )
    lines += _table(
        [
            "path",
            "messages/s",
            "content events",
            "gRPC server CPU µs/msg",
            "HTTP server CPU µs/msg",
            "driver CPU µs/msg",
            "gRPC server busy %",
            "HTTP server busy %",
            "driver busy %",
        ],
        rows,
    )
    lines += ["", *_targets_table([x for x in _throughput_targets(t) if x.scenario == "2"])]
    for key in ("grpc_nc", "bridge_nc"):
        if not t.no_coalescing(key):
            lines += [
                "",
                f"Note: {t.paths[key].label} sent fewer events than tokens: coalescing was not"
                " off, so its ratio is not a per-message comparison.",
            ]
    bound = [p.label for p in t.paths.values() if p.busy_percent("driver") >= DRIVER_BOUND_PERCENT]
    if bound:
        lines += [
            "",
            f"Driver-bound (the client used ≥ {DRIVER_BOUND_PERCENT:.0f} % of a core):"
            f" {'; '.join(bound)}. Their rates are the client's limit as much as the path's.",
        ]
    errors = {k: p.errors for k, p in t.paths.items() if p.errors}
    if errors:
        lines += ["", "Errors:", *(f"- {k}: {'; '.join(v[:3])}" for k, v in errors.items())]
    return lines


# --- scenario 3 -----------------------------------------------------------------------


def _ttft_targets(t: TtftResult) -> list[Target]:
    added = t.added("bridge", 50)
    return [
        Target(
            "3",
            "added time to first token through the bridge, p50",
            "≤ 5 ms",
            f"{num(added, 2)} ms",
            _at_most(added, 5.0),
        )
    ]


def _ttft_md(t: TtftResult) -> list[str]:
    lines = [
        f"## 3. Time to first token ({t.turns} short turns per path, `{t.model}`)",
        "",
    ]
    rows = []
    labels = {"direct": "direct (ollama client)", "grpc": "gRPC ChatStream", "bridge": "bridge SSE"}
    for key, label in labels.items():
        is_direct = key == "direct"
        rows.append(
            [
                label,
                num(t.p(key, 50), 2),
                num(t.p(key, 90), 2),
                num(t.p(key, 99), 2),
                "" if is_direct else num(t.added(key, 50), 2),
                "" if is_direct else num(t.added(key, 99), 2),
                "≤ 5 ms at p50" if key == "bridge" else "",
                mark(_at_most(t.added(key, 50), 5.0)) if key == "bridge" else "",
                str(len(t.errors.get(key, []))),
            ]
        )
    lines += _table(
        [
            "path",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "added p50 ms",
            "added p99 ms",
            "target",
            "",
            "errors",
        ],
        rows,
    )
    return lines


# --- scenario 4 -----------------------------------------------------------------------


def _target_level(c: ConcurrencyResult) -> LevelResult | None:
    """The level the targets speak of: 1,000 streams at 5 tok/s, else the
    one with the most streams."""
    for lr in c.levels:
        if lr.level.streams == 1000 and lr.level.rate == 5:
            return lr
    return max(c.levels, key=lambda lr: lr.level.streams, default=None)


def _concurrency_targets(c: ConcurrencyResult) -> list[Target]:
    lr = _target_level(c)
    if lr is None:
        return []
    label = lr.level.label
    p99 = lr.delay(99)
    server_kb, bridge_kb = lr.rss_per_stream_kb("server"), lr.rss_per_stream_kb("bridge")
    bound = lr.store_write_bound()
    most_writes = max(lr.store_writes, default=0)
    mean_writes = statistics.fmean(lr.store_writes) if lr.store_writes else math.nan
    return [
        Target(
            "4",
            f"{label}: streams completed",
            f"all {lr.level.streams}",
            f"{lr.completed} ({lr.errors} errors)",
            lr.completed == lr.level.streams,
        ),
        Target(
            "4",
            f"{label}: added delay per token, p99",
            "≤ 100 ms",
            f"{num(p99, 1)} ms",
            _at_most(p99, 100.0),
        ),
        Target(
            "4",
            f"{label}: server memory per open stream",
            "< 100 KB",
            f"{num(server_kb, 1)} KB",
            None if math.isnan(server_kb) else server_kb < 100,
        ),
        Target(
            "4",
            f"{label}: bridge memory per open stream",
            "< 50 KB",
            f"{num(bridge_kb, 1)} KB",
            None if math.isnan(bridge_kb) else bridge_kb < 50,
        ),
        Target(
            "4",
            f"{label}: store writes per turn, most",
            f"≤ 2 + turn s ÷ 0.5 = {num(bound, 1)}",
            f"{most_writes} (mean {num(mean_writes, 1)})",
            None if not lr.store_writes else most_writes <= bound,
        ),
    ]


def _concurrency_md(c: ConcurrencyResult) -> list[str]:
    lines = [
        "## 4. Concurrent streams through the bridge",
        "",
        "Added delay = arrival at the client - emission time stamped by the fake Ollama, per"
        " token; 'once all run' counts only the tokens emitted after every stream had its"
        " first token out (the steady state, without the burst of all streams starting at"
        " once). First token: from the request to the first token (includes the wait for"
        " every stream to be accepted). Memory per stream = (peak RSS during - RSS before) ÷"
        " streams; each level runs on a fresh server and bridge.",
        "",
    ]
    rows = []
    for lr in c.levels:
        rows.append(
            [
                f"{lr.level.label} ({lr.level.tokens} tokens)",
                f"{lr.completed}/{lr.level.streams}",
                str(lr.errors),
                num(lr.delay(50), 1),
                num(lr.delay(99), 1),
                num(max(lr.delays_ms) if lr.delays_ms else math.nan, 1),
                num(lr.steady_delay(99), 1),
                num(percentile(lr.first_token_s, 50), 2),
                num(percentile(lr.first_token_s, 99), 2),
                num(percentile(lr.durations_s, 50), 1),
                num(percentile(lr.durations_s, 99), 1),
                num(lr.wall_seconds, 1),
                str(lr.peak_ollama_requests),
            ]
        )
    lines += _table(
        [
            "streams x rate",
            "completed",
            "errors",
            "added p50 ms",
            "added p99 ms",
            "added max ms",
            "added p99 ms once all run",
            "first token p50 s",
            "first token p99 s",
            "stream p50 s",
            "stream p99 s",
            "all done s",
            "Ollama requests at once (peak)",
        ],
        rows,
    )
    lines += [""]
    rows = []
    for lr in c.levels:
        u = lr.usage

        def mb(process: str, attribute: str, usage: dict[str, Usage] = u) -> str:
            return num(getattr(usage[process], attribute) / 2**20, 1) if process in usage else "-"

        rows.append(
            [
                lr.level.label,
                mb("server", "rss_before"),
                mb("server", "rss_peak"),
                num(lr.rss_per_stream_kb("server"), 1),
                mb("bridge", "rss_before"),
                mb("bridge", "rss_peak"),
                num(lr.rss_per_stream_kb("bridge"), 1),
                num(lr.cpu_share("server")),
                num(lr.cpu_share("bridge")),
                num(lr.cpu_share("fake")),
                num(lr.cpu_share("driver")),
                num(lr.cpu_us_per_token("server")),
                num(lr.cpu_us_per_token("bridge")),
            ]
        )
    lines += _table(
        [
            "streams x rate",
            "server RSS before MB",
            "server peak MB",
            "server KB/stream",
            "bridge RSS before MB",
            "bridge peak MB",
            "bridge KB/stream",
            "server CPU %",
            "bridge CPU %",
            "fake CPU %",
            "driver CPU %",
            "server CPU µs/token",
            "bridge CPU µs/token",
        ],
        rows,
    )
    lines += ["", "CPU % = CPU time ÷ wall time of the level, in % of one core."]
    lines += [f"- failed: {failure}" for failure in c.failures]
    for lr in c.levels:
        if lr.error_kinds:
            kinds = ", ".join(f"{k} x {v}" for k, v in lr.error_kinds.items())
            lines.append(f"- {lr.level.label}: errors: {kinds}")
        if lr.cpu_share("driver") > DRIVER_BOUND_PERCENT:
            lines.append(
                f"- {lr.level.label}: the driver (the clients) used"
                f" {num(lr.cpu_share('driver'))} % of a core: it may be the bottleneck, and part"
                " of the added delay may be its own."
            )
        limits = lr.open_file_limits
        if limits and min(limits.values()) < 2 * lr.level.streams + 64:
            lines.append(f"- {lr.level.label}: children's open-file limits are low: {limits}")
    return lines


# --- scenario 5 -----------------------------------------------------------------------


def _store_targets(s: StoreResult) -> list[Target]:
    out: list[Target] = []
    for key, sizes in s.backends.items():
        ratio = s.ratio("append_median_us", key)
        first, last = sizes[0].messages, sizes[-1].messages
        out.append(
            Target(
                "5",
                f"{STORES[key]}: store one message at {last:,} ÷ at {first:,} messages"
                " (append cost flat)",
                "≤ 2",
                num(ratio, 2),
                _at_most(ratio, 2.0),
            )
        )
    return out


def _pair(a: float, b: float, digits: int = 0) -> str:
    return f"{num(a, digits)} / {num(b, digits)}"


def _store_md(s: StoreResult) -> list[str]:
    stores = list(s.backends)
    lines = [
        "## 5. Store: " + " and ".join(STORES[k] for k in stores) + ", in-process",
        "",
        "Store one message = `replace_tail(session, keep=n, [message])`; load ="
        " `list_messages(session_id)`; medians. SQLite on a temp file; PostgreSQL on a"
        " private server (pgserver, Unix socket, same machine), a fresh database, reached"
        " through the store's connection pool: its figures include a round trip per"
        " statement.",
        "",
    ]
    by_size: dict[int, dict[str, SizeResult]] = {}
    for key, sizes in s.backends.items():
        for x in sizes:
            by_size.setdefault(x.messages, {})[key] = x
    header = ["messages in session"]
    header += [f"{STORES[k]}: store one µs (median / p99)" for k in stores]
    header += [f"{STORES[k]}: load history ms (median)" for k in stores]
    header += ["stores / loads"]
    rows = []
    for n, per_store in by_size.items():
        row = [f"{n:,}"]
        for k in stores:
            a = per_store.get(k)
            row.append(_pair(a.append_median_us, a.append_p99_us) if a else "-")
        for k in stores:
            b = per_store.get(k)
            row.append(num(b.load_median_ms, 2) if b else "-")
        any_x = next(iter(per_store.values()))
        row.append(f"{len(any_x.append_us)} / {len(any_x.load_ms)}")
        rows.append(row)
    lines += _table(header, rows)
    lines.append("")
    for key, sizes in s.backends.items():
        first, last = sizes[0].messages, sizes[-1].messages
        ratio = s.ratio("append_median_us", key)
        lines.append(
            f"- {STORES[key]}: store one message at {last:,} ÷ at {first:,}:"
            f" **{num(ratio, 2)}** (target ≤ 2 {mark(_at_most(ratio, 2.0))});"
            f" load history at {last:,} ÷ at {first:,}: {num(s.ratio('load_median_ms', key), 1)}."
        )
    lines += [f"- {STORES[k]} not measured: {why}" for k, why in s.failures.items()]
    return lines


# --- scenario 6 -----------------------------------------------------------------------

# "Per-stream cost stays flat": the most replicas' server CPU per stream ÷ one replica's.
FLAT_RATIO = 1.5


def _replicas_targets(rp: ReplicasResult) -> list[Target]:
    out: list[Target] = []
    for run in rp.runs:
        s = run.streams
        out.append(
            Target(
                "6",
                f"{_replicas_label(run.replicas)}, {rp.level.label}: streams completed",
                f"all {rp.level.streams}",
                f"{s.completed} ({s.errors} errors)",
                s.completed == rp.level.streams,
            )
        )
    one = rp.run_with(1)
    most = max(rp.runs, key=lambda r: r.replicas, default=None)
    if one is not None and most is not None and most.replicas > 1:
        ratio = most.server_cpu_ms_per_stream / one.server_cpu_ms_per_stream
        out.append(
            Target(
                "6",
                f"server CPU per stream: {_replicas_label(most.replicas)} ÷ 1 replica"
                " (per-stream cost flat)",
                f"≤ {FLAT_RATIO:g}",
                num(ratio, 2),
                _at_most(ratio, FLAT_RATIO),
            )
        )
    return out


def _replicas_label(replicas: int) -> str:
    return f"{replicas} replica{'' if replicas == 1 else 's'}"


def _replicas_md(rp: ReplicasResult) -> list[str]:
    lv = rp.level
    lines = [
        f"## 6. Server replicas on PostgreSQL ({lv.streams} streams x {lv.tokens} tokens at"
        f" {lv.rate:g} tok/s, over gRPC)",
        "",
        "The same streams through 1 and through 2 server replicas (`python -m mochi_grpc`"
        " with MOCHI_DATABASE_URL) sharing one PostgreSQL database (pgserver; a fresh"
        " database per configuration). One client channel over all replicas with gRPC's"
        " round_robin load balancing: sessions are created, then streamed, through"
        " whichever replica is next. On 2 cores no speed-up is expected — the offered load"
        " is fixed and every process (replicas, PostgreSQL, fake Ollama, clients) shares"
        " the same cores; the figures show that nothing breaks and that the cost per"
        " stream stays flat. Added delay and first token as in section 4; CPU per stream ="
        " all replicas' CPU time while the streams ran ÷ streams.",
        "",
    ]
    rows = []
    for run in rp.runs:
        s = run.streams
        rows.append(
            [
                str(run.replicas),
                f"{s.completed}/{lv.streams}",
                str(s.errors),
                num(run.tokens_per_second),
                num(s.delay(50), 1),
                num(s.delay(99), 1),
                num(percentile(s.first_token_s, 50), 2),
                num(percentile(s.first_token_s, 99), 2),
                num(s.wall_seconds, 1),
                num(run.server_cpu_ms_per_stream, 2),
                num(run.server_cpu_us_per_token),
                num(run.database_cpu_ms_per_stream, 2),
                " / ".join(str(n) for n in run.turns_per_replica) or "-",
            ]
        )
    lines += _table(
        [
            "replicas",
            "completed",
            "errors",
            "tokens/s (all streams)",
            "added p50 ms",
            "added p99 ms",
            "first token p50 s",
            "first token p99 s",
            "all done s",
            "server CPU ms/stream",
            "server CPU µs/token",
            "PostgreSQL CPU ms/stream",
            "turns per replica",
        ],
        rows,
    )
    one = rp.run_with(1)
    for run in rp.runs:
        if run.replicas > 1 and one is not None:
            lines += [
                "",
                f"{_replicas_label(run.replicas)} ÷ 1: tokens/s"
                f" {num(run.tokens_per_second / one.tokens_per_second, 2)}, server CPU per"
                f" stream {num(run.server_cpu_ms_per_stream / one.server_cpu_ms_per_stream, 2)}"
                f" (target ≤ {FLAT_RATIO:g}), added delay p99"
                f" {num(run.streams.delay(99), 1)} vs {num(one.streams.delay(99), 1)} ms.",
            ]
    lines.append("")
    lines += [f"- failed: {failure}" for failure in rp.failures]
    for run in rp.runs:
        if run.streams.error_kinds:
            kinds = ", ".join(f"{k} x {v}" for k, v in run.streams.error_kinds.items())
            lines.append(f"- {_replicas_label(run.replicas)}: errors: {kinds}")
        if run.stored_in_postgres is False:
            lines.append(
                f"- {_replicas_label(run.replicas)}: the database holds"
                f" {run.sessions_in_database} of the {lv.streams} sessions: the server did not"
                " store in PostgreSQL (MOCHI_DATABASE_URL not honoured?), so each replica kept"
                " its own SQLite and a session created through one is unknown to another."
            )
    return lines


# --- scenario 7 -----------------------------------------------------------------------

# Through the bridge, a burst of turns may take this much longer to its first
# tokens than the direct client does (p99, p50).
BURST_P99_RATIO = 1.5
BURST_P50_RATIO = 1.3


def _burst_target_size(b: BurstResult) -> BurstSize | None:
    """The burst the targets speak of: 200 turns, else the smallest."""
    sizes = sorted(b.sizes, key=lambda s: (s.turns != 200, s.turns))
    return sizes[0] if sizes else None


def _burst_targets(b: BurstResult) -> list[Target]:
    size = _burst_target_size(b)
    if size is None:
        return []
    out = []
    direct = size.paths.get("direct")
    for q, ceiling in ((99, BURST_P99_RATIO), (50, BURST_P50_RATIO)):
        for path, what in (("bridge", "the bridge"), ("floor-bridge", "the floor's bridge")):
            ratio = size.ratio(path, q)
            through = size.paths.get(path)
            out.append(
                Target(
                    "7",
                    f"{size.turns} turns at once: first token through {what} ÷ direct, p{q}",
                    f"≤ {ceiling}" if path == "bridge" else "reported",
                    f"{num(ratio, 2)} ({num(through.p(q) if through else math.nan)} ms ÷"
                    f" {num(direct.p(q) if direct else math.nan)} ms)",
                    _at_most(ratio, ceiling) if path == "bridge" else _reported(ratio),
                )
            )
    return out


def _burst_md(b: BurstResult) -> list[str]:
    lines = [
        f"## 7. A burst of turns started at once (`{b.model}`: tokens, tok/s, first token ms)",
        "",
        "Every turn of a burst starts in the same instant; the time to first token is counted"
        " from each request's start. Spread = p99 - p1; order = rank correlation of request"
        " order and first-token order (1: first come, first served); through the bridge the"
        " client (httpx) writes a request's body after its head, and in a burst every body"
        " leaves within a few ms once all connections are up, so the order the requests are"
        " complete in (the one the bridge and the server keep) is not the order they were"
        " started in. The floor: a bare relay (grpc.aio and the server's own Ollama"
        " client, no session, store, checks or metrics) and the bare Starlette app"
        " (sse-starlette on uvicorn) in front of it, the least the libraries cost on this"
        " machine; its CPU is in the server and bridge columns. CPU is per turn, over"
        " the whole burst (the turns' 40 tokens included). Server TTFT: the server's own"
        " time from accepting a turn to its first token (its histogram's mean).",
        "",
    ]
    rows = []
    for size in b.sizes:
        for path in PATHS:
            r = size.paths.get(path)
            if r is None:
                continue
            n = size.turns
            rows.append(
                [
                    str(n),
                    path,
                    num(r.p(50)),
                    num(r.p(99)),
                    "" if path == "direct" else num(size.ratio(path, 50), 2),
                    "" if path == "direct" else num(size.ratio(path, 99), 2),
                    num(r.spread_ms),
                    num(r.order, 2),
                    str(r.errors),
                    num(r.cpu_ms_per_turn("driver", n), 2),
                    num(r.cpu_ms_per_turn("server", n), 2),
                    num(r.cpu_ms_per_turn("bridge", n), 2),
                    num(r.cpu_ms_per_turn("fake", n), 2),
                    num(r.server_ttft_ms),
                ]
            )
    lines += _table(
        [
            "turns",
            "path",
            "first token p50 ms",
            "p99 ms",
            "÷ direct p50",
            "÷ direct p99",
            "spread ms",
            "order",
            "errors",
            "driver CPU ms",
            "server CPU ms",
            "bridge CPU ms",
            "fake CPU ms",
            "server TTFT ms",
        ],
        rows,
    )
    store_rows = []
    for size in b.sizes:
        for path in ("grpc", "bridge"):
            r = size.paths.get(path)
            if r is None:
                continue
            for operation, (calls, mean) in sorted(r.store_ops.items()):
                store_rows.append([str(size.turns), path, operation, str(calls), num(mean, 2)])
    if store_rows:
        lines += ["", "Store operations during each burst (the server's metrics):", ""]
        lines += _table(["turns", "path", "operation", "calls", "mean ms"], store_rows)
    for failure in b.failures:
        lines.append(f"- failed: {failure}")
    return lines


# --- the whole report -----------------------------------------------------------------


def targets(r: Results) -> list[Target]:
    out: list[Target] = []
    if r.throughput:
        out += _throughput_targets(r.throughput)
        for key, process in (("grpc", "server"), ("bridge", "server"), ("bridge", "bridge")):
            value = r.throughput.paths[key].cpu_us_per_token(process)
            out.append(
                Target(
                    "1",
                    f"{process} CPU per token on the {key} path",
                    "reported",
                    f"{num(value, 1)} µs",
                    _reported(value),
                )
            )
    if r.ttft:
        out += _ttft_targets(r.ttft)
    if r.concurrency:
        out += _concurrency_targets(r.concurrency)
    if r.store:
        out += _store_targets(r.store)
    if r.replicas:
        out += _replicas_targets(r.replicas)
    if r.burst:
        out += _burst_targets(r.burst)
    return out


def _targets_table(items: list[Target]) -> list[str]:
    return _table(
        ["#", "figure", "target", "measured", ""],
        [[t.scenario, t.what, t.target, t.figure, mark(t.ok)] for t in items],
    )


def _header(r: Results) -> list[str]:
    m, c = r.machine, r.config
    versions = ", ".join(f"{k} {v}" for k, v in m.versions.items())
    commit = f"{m.commit}{' + uncommitted changes' if m.dirty else ''}" if m.commit else "?"
    levels = ", ".join(f"{lv.streams}x{lv.tokens}@{lv.rate:g}" for lv in c.levels)
    rl = c.replica_level
    return [
        f"# mochi-grpc benchmark ({c.name})",
        "",
        f"- Date: {m.date}; run took {r.seconds:.0f} s",
        f"- Machine: {m.logical_cores} logical cores ({m.physical_cores} physical), {m.cpu_model},"
        f" {m.memory_gb:.1f} GB RAM, {m.system}",
        f"- Python {m.python}; uvloop installed: {'yes' if m.uvloop else 'no'}; httptools"
        f" installed: {'yes' if m.httptools else 'no'}",
        f"- Event loops: {_runtime(r)}",
        f"- {versions}",
        f"- Code: {commit}",
        f"- Sizes: {c.tokens:,} tokens x {c.repeats} repeats; {c.ttft_turns} TTFT turns;"
        f" concurrency {levels} (streams x tokens @ tok/s); store {list(c.store_sizes)};"
        f" replicas {rl.streams}x{rl.tokens}@{rl.rate:g} through"
        f" {' and '.join(map(str, c.replica_counts))}",
        "- Every process (fake Ollama, server, bridge, bare servers) is a child of the driver,"
        " which runs all clients; all share the same cores. Server: MOCHI_MAX_CONCURRENT_TURNS"
        "=2000, MOCHI_LOG_LEVEL=WARNING, metrics on (a free MOCHI_METRICS_PORT) but for"
        " (b₀), (c₀); streams coalesce by default (all but (b'), (c'))."
        " PostgreSQL (scenarios 5, 6) is a private pgserver on the same cores.",
        f"- Open-file limit (soft) of the driver, inherited by the children: {r.open_file_limit}"
        + _child_limits(r),
    ]


def _runtime(r: Results) -> str:
    runtime = r.runtime
    if runtime is None and r.concurrency and r.concurrency.levels:
        runtime = r.concurrency.levels[0].runtime
    text = f"driver (all clients) and fake Ollama on {r.driver_loop}"
    if runtime is not None:
        text += (
            f"; server on {runtime.server_loop}, bridge on {runtime.bridge_loop} +"
            f" {runtime.bridge_http} (seen in their loaded libraries); the bare servers"
            " run the same"
        )
    return text


def _child_limits(r: Results) -> str:
    if not r.concurrency:
        return ""
    seen = {f"{k} {v}" for lr in r.concurrency.levels for k, v in lr.open_file_limits.items()}
    return f" (checked in the children: {', '.join(sorted(seen))})" if seen else ""


def markdown(r: Results) -> str:
    lines = _header(r)
    lines += ["", "## Targets", "", *_targets_table(targets(r))]
    if r.throughput:
        lines += ["", *_throughput_md(r.throughput)]
    if r.ttft:
        lines += ["", *_ttft_md(r.ttft)]
    if r.concurrency:
        lines += ["", *_concurrency_md(r.concurrency)]
    if r.store:
        lines += ["", *_store_md(r.store)]
    if r.replicas:
        lines += ["", *_replicas_md(r.replicas)]
    if r.burst:
        lines += ["", *_burst_md(r.burst)]
    if r.plots:
        lines += ["", "## Plots", "", *(f"![{p}]({p})" for p in r.plots)]
    lines += ["", "## Warnings and errors logged by the processes", ""]
    if any(r.log_problems.values()):
        for name, problems in r.log_problems.items():
            if problems:
                unique = list(dict.fromkeys(p[:300] for p in problems))
                lines.append(f"- {name}: {len(problems)} lines, e.g.:")
                lines += [f"    - `{p}`" for p in unique[:5]]
    else:
        lines.append("None.")
    if r.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in r.notes)]
    return "\n".join(lines) + "\n"


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def as_json(r: Results) -> dict[str, Any]:
    m = r.machine
    out: dict[str, Any] = {
        "name": r.config.name,
        "seconds": r.seconds,
        "open_file_limit": r.open_file_limit,
        "driver_loop": r.driver_loop,
        "runtime": r.runtime.__dict__ if r.runtime else None,
        "machine": m.__dict__,
        "targets": [t.__dict__ for t in targets(r)],
    }
    if r.throughput:
        t = r.throughput
        out["throughput"] = {
            "tokens": t.tokens,
            "repeats": t.repeats,
            "paths": {
                k: {
                    "label": p.label,
                    "tokens_per_second": p.tokens_per_second,
                    "content_events": p.events,
                    "cpu_us_per_token": {
                        name: p.cpu_us_per_token(name)
                        for name in ("server", "bridge", "fake", "driver")
                    },
                    "runs_tokens_per_second": [run.tokens_per_second for run in p.runs],
                    "errors": p.errors,
                }
                for k, p in t.paths.items()
            },
            "ratios": {
                "grpc/direct": t.ratio("grpc", "direct"),
                "bridge/direct": t.ratio("bridge", "direct"),
                "grpc_off/direct": t.ratio("grpc_off", "direct"),
                "bridge_off/direct": t.ratio("bridge_off", "direct"),
                "grpc/direct metrics on/off": t.metrics_on_off("grpc"),
                "bridge/direct metrics on/off": t.metrics_on_off("bridge"),
                "grpc_nc/bare_grpc": t.ratio("grpc_nc", "bare_grpc"),
                "bridge_nc/bare_pass": t.ratio("bridge_nc", "bare_pass"),
            },
            "coalescing_off_confirmed": {k: t.no_coalescing(k) for k in ("grpc_nc", "bridge_nc")},
            "metrics_on_turns_counted": t.turns_counted,
        }
    if r.ttft:
        out["ttft"] = {
            "turns": r.ttft.turns,
            "first_token_ms": {k: ladder(v) for k, v in r.ttft.first_token_ms.items()},
            "added_ms": {
                k: {"p50": r.ttft.added(k, 50), "p99": r.ttft.added(k, 99)}
                for k in ("grpc", "bridge")
            },
            "errors": {k: len(v) for k, v in r.ttft.errors.items()},
        }
    if r.concurrency:
        out["concurrency"] = [
            {
                "streams": lr.level.streams,
                "tokens": lr.level.tokens,
                "rate": lr.level.rate,
                "completed": lr.completed,
                "errors": lr.errors,
                "error_kinds": lr.error_kinds,
                "added_delay_ms": ladder(lr.delays_ms),
                "added_delay_once_all_started_ms": ladder(lr.steady_delays_ms),
                "inter_token_gap_ms": ladder(lr.gaps_ms),
                "first_token_s": ladder(lr.first_token_s),
                "stream_seconds": ladder(lr.durations_s),
                "wall_seconds": lr.wall_seconds,
                "rss_per_stream_kb": {k: lr.rss_per_stream_kb(k) for k in ("server", "bridge")},
                "usage": {k: u.__dict__ for k, u in lr.usage.items()},
                "cpu_percent_of_core": {k: lr.cpu_share(k) for k in lr.usage},
                "cpu_us_per_token": {k: lr.cpu_us_per_token(k) for k in lr.usage},
                "open_file_limits": lr.open_file_limits,
                "peak_ollama_requests": lr.peak_ollama_requests,
                "store_writes_per_turn": ladder([float(w) for w in lr.store_writes]),
                "store_write_bound": lr.store_write_bound(),
            }
            for lr in r.concurrency.levels
        ]
    if r.store:
        # "store" keeps its earlier shape (SQLite); each further store is
        # "store_<key>" in the same shape.
        for key, sizes in r.store.backends.items():
            out["store" if key == "sqlite" else f"store_{key}"] = [
                {
                    "messages": x.messages,
                    "append_median_us": x.append_median_us,
                    "append_p99_us": x.append_p99_us,
                    "load_median_ms": x.load_median_ms,
                }
                for x in sizes
            ]
        out["store_append_ratio"] = {
            key: r.store.ratio("append_median_us", key) for key in r.store.backends
        }
        if r.store.failures:
            out["store_failures"] = r.store.failures
    if r.replicas:
        rp = r.replicas
        out["replicas"] = {
            "streams": rp.level.streams,
            "tokens": rp.level.tokens,
            "rate": rp.level.rate,
            "runs": [
                {
                    "replicas": run.replicas,
                    "completed": run.streams.completed,
                    "errors": run.streams.errors,
                    "error_kinds": run.streams.error_kinds,
                    "tokens_per_second": run.tokens_per_second,
                    "added_delay_ms": ladder(run.streams.delays_ms),
                    "first_token_s": ladder(run.streams.first_token_s),
                    "wall_seconds": run.streams.wall_seconds,
                    "server_cpu_ms_per_stream": run.server_cpu_ms_per_stream,
                    "server_cpu_us_per_token": run.server_cpu_us_per_token,
                    "database_cpu_ms_per_stream": run.database_cpu_ms_per_stream,
                    "usage": {k: u.__dict__ for k, u in run.streams.usage.items()},
                    "turns_per_replica": run.turns_per_replica,
                    "sessions_in_database": run.sessions_in_database,
                    "peak_ollama_requests": run.streams.peak_ollama_requests,
                }
                for run in rp.runs
            ],
            "failures": rp.failures,
        }
    if r.burst:
        out["burst"] = {
            "model": r.burst.model,
            "sizes": [
                {
                    "turns": size.turns,
                    "paths": {
                        path: {
                            "first_token_ms": ladder(p.first_token_ms),
                            "spread_ms": p.spread_ms,
                            "order": p.order,
                            "errors": p.errors,
                            "error_kinds": p.error_kinds,
                            "cpu_ms_per_turn": {
                                k: p.cpu_ms_per_turn(k, size.turns) for k in p.usage
                            },
                            "server_ttft_ms": p.server_ttft_ms,
                            "store_ops": {k: list(v) for k, v in p.store_ops.items()},
                        }
                        for path, p in size.paths.items()
                    },
                }
                for size in r.burst.sizes
            ],
            "failures": r.burst.failures,
        }
    out["log_problem_lines"] = {k: len(v) for k, v in r.log_problems.items()}
    out["notes"] = r.notes
    cleaned: dict[str, Any] = _clean(out)
    return cleaned


def write(r: Results, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md_path = directory / f"{r.config.name}.md"
    json_path = directory / f"{r.config.name}.json"
    for path, text in (
        (md_path, markdown(r)),
        (json_path, json.dumps(as_json(r), indent=1, ensure_ascii=False) + "\n"),
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return md_path, json_path
