"""What a run measures and how much of it: the full run and the quick one."""

from __future__ import annotations

from dataclasses import dataclass, field


def model_name(tokens: int, rate: float, first_ms: float = 0) -> str:
    """The fake Ollama's model for a reply of `tokens` at `rate` tokens/s (0:
    flat out), its first token `first_ms` after the request."""
    name = f"fast:{tokens}:{rate:g}"
    return f"{name}:{first_ms:g}" if first_ms else name


@dataclass(frozen=True)
class Level:
    """Concurrent streams through the bridge, each `tokens` long at `rate` tokens/s."""

    streams: int
    tokens: int
    rate: float

    @property
    def model(self) -> str:
        return model_name(self.tokens, self.rate)

    @property
    def label(self) -> str:
        return f"{self.streams} x {self.rate:g} tok/s"

    @property
    def seconds(self) -> float:
        return self.tokens / self.rate

    @classmethod
    def parse(cls, text: str) -> Level:
        """``<streams>x<tokens>@<rate>``, e.g. ``1000x20@5``."""
        streams, _, rest = text.partition("x")
        tokens, _, rate = rest.partition("@")
        level = cls(int(streams), int(tokens), float(rate))
        if level.streams < 1 or level.tokens < 1 or level.rate <= 0:
            raise ValueError(f"bad level {text!r}")
        return level


@dataclass(frozen=True)
class BenchConfig:
    name: str = "latest"
    tokens: int = 20_000
    repeats: int = 5
    ttft_turns: int = 200
    ttft_tokens: int = 5
    levels: tuple[Level, ...] = (
        Level(100, 20, 5),
        Level(500, 20, 5),
        Level(1000, 20, 5),
        Level(100, 80, 20),
    )
    store_sizes: tuple[int, ...] = (10, 1_000, 10_000)
    store_appends: int = 200
    store_loads: int = 20
    # The same streams through 1, then 2 server replicas sharing PostgreSQL.
    replica_level: Level = Level(200, 20, 5)
    replica_counts: tuple[int, ...] = (1, 2)
    # Turns started in the same instant, each `burst_tokens` at `burst_rate`
    # tokens/s, the first `burst_first_ms` after the request.
    burst_sizes: tuple[int, ...] = (200, 1000)
    burst_tokens: int = 40
    burst_rate: float = 20
    burst_first_ms: float = 50
    plots: bool = True
    scenarios: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"throughput", "ttft", "concurrency", "store", "replicas", "burst"}
        )
    )

    @property
    def throughput_model(self) -> str:
        return model_name(self.tokens, 0)

    @property
    def ttft_model(self) -> str:
        return model_name(self.ttft_tokens, 0)

    @property
    def burst_model(self) -> str:
        return model_name(self.burst_tokens, self.burst_rate, self.burst_first_ms)

    @property
    def models(self) -> list[str]:
        """Every model the fake Ollama must list."""
        names = [
            self.throughput_model,
            self.ttft_model,
            *(lv.model for lv in self.levels),
            self.replica_level.model,
            self.burst_model,
        ]
        return list(dict.fromkeys(names))


QUICK = BenchConfig(
    name="quick",
    tokens=5_000,
    repeats=1,
    ttft_turns=30,
    levels=(Level(100, 10, 5), Level(50, 40, 20)),
    store_sizes=(10, 1_000, 10_000),
    store_appends=30,
    store_loads=3,
    replica_level=Level(100, 10, 5),
    burst_sizes=(50,),
)
