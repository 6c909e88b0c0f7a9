"""PNG plots where a curve says more than a table (small files, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.scenarios.concurrency import ConcurrencyResult
from bench.scenarios.ttft import TtftResult

DPI = 80
MAX_POINTS = 2000


def _cdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Sorted values against their cumulative share, thinned to MAX_POINTS."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return [], []
    step = max(1, n // MAX_POINTS)
    xs = [*ordered[::step], ordered[-1]]
    ys = [min(1.0, (i * step + 1) / n) for i in range(len(xs) - 1)] + [1.0]
    return xs, ys


def concurrency(result: ConcurrencyResult, path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for lr in result.levels:
        xs, ys = _cdf([max(d, 0.01) for d in lr.delays_ms])
        left.plot(xs, ys, label=lr.level.label)
        xs, ys = _cdf([max(g, 0.01) for g in lr.gaps_ms])
        right.plot(xs, ys, label=lr.level.label)
    left.set_xscale("log")
    left.set_xlabel("added delay per token (ms, log)")
    left.set_ylabel("share of tokens")
    left.set_title("Delay added per token (emission → client)")
    right.set_xscale("log")
    right.set_xlabel("gap between arrivals in a stream (ms, log)")
    right.set_title("Inter-token delay at the client")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.axhline(0.99, color="grey", linewidth=0.6, linestyle=":")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def ttft(result: TtftResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in result.first_token_ms.items():
        xs, ys = _cdf(values)
        ax.plot(xs, ys, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("time to first token (ms, log)")
    ax.set_ylabel("share of turns")
    ax.set_title(f"Time to first token ({result.turns} turns per path)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
