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
from bench.scenarios.concurrency import ConcurrencyResult, LevelResult
from bench.scenarios.store import StoreResult
from bench.scenarios.throughput import ThroughputResult
from bench.scenarios.ttft import TtftResult
from bench.stack import Runtime
from bench.stats import ladder, percentile

# Above this share of one core the driver itself may be what limits a figure.
DRIVER_BOUND_PERCENT = 90.0


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
    for key in ("direct", "grpc", "bridge"):
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
    ratio = s.ratio("append_median_us")
    first, last = s.sizes[0].messages, s.sizes[-1].messages
    return [
        Target(
            "5",
            f"store one message: at {last:,} ÷ at {first:,} messages",
            "≤ 2",
            num(ratio, 2),
            _at_most(ratio, 2.0),
        )
    ]


def _store_md(s: StoreResult) -> list[str]:
    lines = [
        "## 5. Store (SQLite, in-process, temp file)",
        "",
        "Store one message = `replace_tail(session, keep=n, [message])`; load ="
        " `list_messages(session_id)`; medians.",
        "",
    ]
    rows = [
        [
            f"{x.messages:,}",
            num(x.append_median_us),
            num(x.append_p99_us),
            num(x.load_median_ms, 2),
            str(len(x.append_us)),
            str(len(x.load_ms)),
        ]
        for x in s.sizes
    ]
    lines += _table(
        [
            "messages in session",
            "store one µs (median)",
            "store one µs (p99)",
            "load history ms (median)",
            "stores",
            "loads",
        ],
        rows,
    )
    first, last = s.sizes[0].messages, s.sizes[-1].messages
    lines += [
        "",
        f"Store one message at {last:,} ÷ at {first:,}: **{num(s.ratio('append_median_us'), 2)}**"
        f" (target ≤ 2 {mark(_at_most(s.ratio('append_median_us'), 2.0))});"
        f" load history at {last:,} ÷ at {first:,}: {num(s.ratio('load_median_ms'), 1)}.",
    ]
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
                    None if math.isnan(value) else True,
                )
            )
    if r.ttft:
        out += _ttft_targets(r.ttft)
    if r.concurrency:
        out += _concurrency_targets(r.concurrency)
    if r.store:
        out += _store_targets(r.store)
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
        f" concurrency {levels} (streams x tokens @ tok/s); store {list(c.store_sizes)}",
        "- Every process (fake Ollama, server, bridge, bare servers) is a child of the driver,"
        " which runs all clients; all share the same cores. Server: MOCHI_MAX_CONCURRENT_TURNS"
        "=2000, MOCHI_LOG_LEVEL=WARNING; streams coalesce by default (all but (b'), (c')).",
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
                "grpc_nc/bare_grpc": t.ratio("grpc_nc", "bare_grpc"),
                "bridge_nc/bare_pass": t.ratio("bridge_nc", "bare_pass"),
            },
            "coalescing_off_confirmed": {k: t.no_coalescing(k) for k in ("grpc_nc", "bridge_nc")},
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
        out["store"] = [
            {
                "messages": x.messages,
                "append_median_us": x.append_median_us,
                "append_p99_us": x.append_p99_us,
                "load_median_ms": x.load_median_ms,
            }
            for x in r.store.sizes
        ]
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
