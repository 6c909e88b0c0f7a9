"""The context window rules, with the worked values of the SPEC."""

from __future__ import annotations

import pytest

from mochi_grpc.chat import context_window as cw
from mochi_grpc.entities import ContextWindowConfig, WindowReason


@pytest.mark.parametrize(
    ("model_max", "initial"),
    [(40960, 8192), (4096, 3686), (8192, 7372), (None, 8192), (0, 8192), (131072, 8192)],
)
def test_a_new_session_never_asks_for_more_than_the_model_holds(
    model_max: int | None, initial: int
) -> None:
    config = cw.new_config(model_max)

    assert config.current_window == initial
    assert config.last_adjustment is WindowReason.INITIAL_SETUP
    assert config.model_max_context == model_max


@pytest.mark.parametrize(
    ("usage", "window", "reason"),
    [
        (0, 8192, WindowReason.NO_ADJUSTMENT),
        (2000, 8192, WindowReason.NO_ADJUSTMENT),
        (4096, 8192, WindowReason.NO_ADJUSTMENT),
        (4097, 8194, WindowReason.USAGE_THRESHOLD),
        (10000, 20000, WindowReason.USAGE_THRESHOLD),
        (50000, 36864, WindowReason.USAGE_THRESHOLD),
    ],
)
def test_the_window_grows_to_keep_half_of_it_free(
    usage: int, window: int, reason: WindowReason
) -> None:
    after = cw.after_turn(cw.new_config(40960), usage)

    assert (after.current_window, after.last_adjustment) == (window, reason)
    assert after.adjustment_history[-1].usage_tokens == usage


def test_the_window_never_shrinks() -> None:
    grown = cw.after_turn(cw.new_config(40960), 10000)

    quiet = cw.after_turn(grown, 0)
    small = cw.after_turn(quiet, 100)

    assert [c.current_window for c in (grown, quiet, small)] == [20000, 20000, 20000]
    assert small.last_adjustment is WindowReason.NO_ADJUSTMENT


def test_a_window_at_the_safe_limit_stays_there() -> None:
    config = cw.new_config(8192)  # safe 7372

    after = cw.after_turn(config, 5000)

    assert (after.current_window, after.last_adjustment) == (7372, WindowReason.NO_ADJUSTMENT)


def test_a_manual_window_is_kept_until_cleared() -> None:
    manual = cw.set_by_hand(cw.new_config(40960), 16000)

    after = cw.after_turn(manual, 30000)
    cleared = cw.clear_manual(after)
    grown = cw.after_turn(cleared, 10000)

    assert (after.current_window, after.last_adjustment) == (16000, WindowReason.MANUAL_OVERRIDE)
    assert not cleared.manual_override
    assert (grown.current_window, grown.last_adjustment) == (20000, WindowReason.USAGE_THRESHOLD)


@pytest.mark.parametrize(
    ("current", "new_max", "window"),
    [(20000, 4096, 3686), (3686, 131072, 8192), (20000, 131072, 20000), (8192, None, 8192)],
)
def test_a_new_model_recomputes_the_window(current: int, new_max: int | None, window: int) -> None:
    config = ContextWindowConfig(current_window=current, model_max_context=40960)

    after = cw.for_new_model(config, new_max)

    assert (after.current_window, after.last_adjustment) == (window, WindowReason.MODEL_CHANGE)
    assert after.model_max_context == new_max


def test_only_the_last_ten_adjustments_are_kept() -> None:
    config = cw.new_config(40960)
    for usage in range(1, 13):
        config = cw.after_turn(config, usage)

    assert [a.usage_tokens for a in config.adjustment_history] == list(range(3, 13))
