"""``python -m bench``: runs every scenario in one go and writes the results.

Prints the Markdown report and writes ``bench/results/<name>.md``,
``<name>.json`` and the plots. ``--quick`` is a small smoke run (~1 minute).
Nothing here asserts on timing: a missed target is a ✗ in the report.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench import plots, report, stopping
from bench.config import QUICK, BenchConfig, Level
from bench.machine import Machine
from bench.processes import ROOT, children, log_problems, raise_open_file_limit
from bench.scenarios import burst, concurrency, replicas, store, throughput, ttft
from bench.stack import start_bare, start_fake, start_mochi

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("throughput", "ttft", "concurrency", "store", "replicas", "burst")
# The clients and the fake Ollama should be as fast as the machine allows.
DEFAULT_LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
# Each scenario is cut off after this long, so a broken run stops by itself.
SCENARIO_TIMEOUT = {
    "throughput": 600.0,
    "ttft": 300.0,
    "concurrency": 1200.0,
    "store": 600.0,
    "replicas": 600.0,
    "burst": 900.0,
}


def _run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def parse_args(argv: Sequence[str] | None) -> tuple[BenchConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--name", help="results file name (default: latest, or quick)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--tokens", type=int, help="tokens of the throughput stream")
    parser.add_argument("--repeats", type=int, help="throughput repeats (median reported)")
    parser.add_argument("--ttft-turns", type=int, help="short turns per path")
    parser.add_argument(
        "--levels", help="concurrency levels, streams x tokens @ rate, e.g. 100x20@5,1000x20@5"
    )
    parser.add_argument("--store-sizes", help="session sizes, e.g. 10,1000,10000")
    parser.add_argument("--store-appends", type=int, help="timed stores per size")
    parser.add_argument("--replica-level", help="streams through 1 and 2 replicas, e.g. 200x20@5")
    parser.add_argument(
        "--replica-counts", help="server replicas, one configuration each, e.g. 1,2"
    )
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default=DEFAULT_LOOP,
        help=f"event loop of the driver and the fake Ollama (default: {DEFAULT_LOOP})",
    )
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--keep-temp", action="store_true", help="keep the logs and databases")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else BenchConfig()
    changes: dict[str, object] = {}
    for field, value in (
        ("name", args.name),
        ("tokens", args.tokens),
        ("repeats", args.repeats),
        ("ttft_turns", args.ttft_turns),
        ("store_appends", args.store_appends),
    ):
        if value is not None:
            changes[field] = value
    if args.levels:
        changes["levels"] = tuple(Level.parse(x) for x in args.levels.split(",") if x)
    if args.replica_level:
        changes["replica_level"] = Level.parse(args.replica_level)
    if args.replica_counts:
        changes["replica_counts"] = _ints(args.replica_counts)
    if args.store_sizes:
        changes["store_sizes"] = _ints(args.store_sizes)
    if args.only:
        chosen = frozenset(x.strip() for x in args.only.split(",") if x.strip())
        unknown = chosen - set(SCENARIOS)
        if unknown:
            parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
        changes["scenarios"] = chosen
    if args.no_plots:
        changes["plots"] = False
    return dataclasses.replace(config, **changes), args  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {message}", file=sys.stderr, flush=True)


async def _guarded(
    name: str, work: Callable[[], Awaitable[T]], results: report.Results, progress: Clock
) -> T | None:
    """Runs one scenario under its time limit; a failure becomes a note."""
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT[name]):
            return await work()
    except TimeoutError:
        results.notes.append(f"{name}: cut off after {SCENARIO_TIMEOUT[name]:.0f} s")
    except Exception as exc:
        progress(f"{name} failed:\n{traceback.format_exc()}")
        results.notes.append(f"{name} failed: {type(exc).__name__}: {exc}")
    return None


async def run(config: BenchConfig, temp: Path, driver_loop: str, progress: Clock) -> report.Results:
    results = report.Results(config, Machine.describe(ROOT), driver_loop=driver_loop)
    chosen = config.scenarios
    needs_stack = bool(chosen & {"throughput", "ttft", "concurrency", "replicas", "burst"})
    fake = await start_fake(temp, config.models, results.driver_loop) if needs_stack else None

    if fake is not None and chosen & {"throughput", "ttft"}:
        progress("starting the server and bridge (three times), then the bare servers")
        mochi, mochi_nc, mochi_off = await asyncio.gather(
            start_mochi("main", fake.url, temp),
            start_mochi("nocoalesce", fake.url, temp, coalesce=False),
            start_mochi("nometrics", fake.url, temp, server_metrics=False),
        )
        results.runtime = mochi.runtime()
        bare = await start_bare(temp, results.runtime)
        try:
            if "throughput" in chosen:
                results.throughput = await _guarded(
                    "throughput",
                    lambda: throughput.run(
                        config, fake, mochi, mochi_nc, mochi_off, bare, progress=progress
                    ),
                    results,
                    progress,
                )
            if "ttft" in chosen:
                results.ttft = await _guarded(
                    "ttft",
                    lambda: ttft.run(config, fake, mochi, progress=progress),
                    results,
                    progress,
                )
        finally:
            for stack in (bare, mochi_off, mochi_nc, mochi):
                stack.stop()

    if fake is not None and "concurrency" in chosen:
        results.concurrency = await _guarded(
            "concurrency",
            lambda: concurrency.run(config, fake, temp, progress=progress),
            results,
            progress,
        )
    if fake is not None and "burst" in chosen:
        results.burst = await _guarded(
            "burst",
            lambda: burst.run(config, fake, temp, progress=progress),
            results,
            progress,
        )
    if fake is not None and "replicas" in chosen:
        results.replicas = await _guarded(
            "replicas",
            lambda: replicas.run(config, fake, temp, progress=progress),
            results,
            progress,
        )
    if fake is not None:
        fake.child.stop()

    if "store" in chosen:
        results.store = await _guarded(
            "store", lambda: store.run(config, temp, progress=progress), results, progress
        )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    config, args = parse_args(argv)
    stopping.install()
    limit = raise_open_file_limit()
    progress = Clock()
    progress(f"open-file limit {limit}; results go to {args.out}")
    temp = Path(tempfile.mkdtemp(prefix="mochi-bench-"))
    try:
        with children():
            try:
                results = _run_on(args.loop, run(config, temp, args.loop, progress))
            except KeyboardInterrupt:
                progress("stopped: no results written")
                raise SystemExit(130) from None
        results.seconds = time.monotonic() - progress.started
        results.open_file_limit = limit
        results.log_problems = log_problems(temp)
        if config.plots:
            args.out.mkdir(parents=True, exist_ok=True)
            if results.concurrency and results.concurrency.levels:
                name = f"{config.name}-concurrency.png"
                plots.concurrency(results.concurrency, args.out / name)
                results.plots.append(name)
            if results.ttft:
                name = f"{config.name}-ttft.png"
                plots.ttft(results.ttft, args.out / name)
                results.plots.append(name)
        md_path, json_path = report.write(results, args.out)
        print(report.markdown(results))
        progress(f"wrote {md_path} and {json_path}")
    finally:
        if args.keep_temp:
            progress(f"logs and databases kept in {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
