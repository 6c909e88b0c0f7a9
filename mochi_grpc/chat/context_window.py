"""How large a context window (Ollama's num_ctx) a session asks for.

A new session starts at min(safe, 8192), where safe is 90 % of the model's
context length (8192 when unknown), so a small model is never asked for more
than it holds. After each turn the window grows to keep a 50 % buffer over
the tokens the turn used, up to safe; it never shrinks because a turn reported
few tokens. A window set by hand stays until it is cleared; a new model
recomputes it for that model.
"""

from __future__ import annotations

from dataclasses import replace

from mochi_grpc.entities import (
    DEFAULT_CONTEXT_WINDOW,
    ContextWindowConfig,
    WindowAdjustment,
    WindowReason,
)

SAFE_FRACTION = 0.9
HISTORY_KEPT = 10


def safe_limit(model_max_context: int | None) -> int:
    if not model_max_context:
        return DEFAULT_CONTEXT_WINDOW
    return int(model_max_context * SAFE_FRACTION)


def initial_window(model_max_context: int | None) -> int:
    return min(safe_limit(model_max_context), DEFAULT_CONTEXT_WINDOW)


def _record(
    config: ContextWindowConfig, reason: WindowReason, window: int, usage: int
) -> ContextWindowConfig:
    history = [*config.adjustment_history, WindowAdjustment(reason, window, usage)]
    return replace(
        config,
        current_window=window,
        last_adjustment=reason,
        adjustment_history=history[-HISTORY_KEPT:],
    )


def new_config(model_max_context: int | None) -> ContextWindowConfig:
    """The window of a new session for a model."""
    window = initial_window(model_max_context)
    return ContextWindowConfig(
        current_window=window,
        last_adjustment=WindowReason.INITIAL_SETUP,
        model_max_context=model_max_context,
    )


def after_turn(config: ContextWindowConfig, usage_tokens: int) -> ContextWindowConfig:
    """The window after a turn that used `usage_tokens` (prompt + generated)."""
    if config.manual_override:
        return _record(config, WindowReason.MANUAL_OVERRIDE, config.current_window, usage_tokens)
    required = 2 * usage_tokens
    if config.dynamic_enabled and required > config.current_window:
        grown = min(required, safe_limit(config.model_max_context))
        if grown > config.current_window:
            return _record(config, WindowReason.USAGE_THRESHOLD, grown, usage_tokens)
    return _record(config, WindowReason.NO_ADJUSTMENT, config.current_window, usage_tokens)


def for_new_model(
    config: ContextWindowConfig, model_max_context: int | None
) -> ContextWindowConfig:
    """The window after the session switched to another model: kept where it
    fits the new model, raised to its initial size or cut to its safe limit."""
    safe = safe_limit(model_max_context)
    config = replace(config, model_max_context=model_max_context)
    if config.manual_override:
        window = min(config.current_window, safe)
        return _record(config, WindowReason.MANUAL_OVERRIDE, window, 0)
    window = max(min(config.current_window, safe), initial_window(model_max_context))
    return _record(config, WindowReason.MODEL_CHANGE, window, 0)


def set_by_hand(config: ContextWindowConfig, window: int) -> ContextWindowConfig:
    """Fixes the window until cleared."""
    config = replace(config, manual_override=True)
    return _record(config, WindowReason.MANUAL_OVERRIDE, window, 0)


def clear_manual(config: ContextWindowConfig) -> ContextWindowConfig:
    """Lets the window follow usage again, from where it stands."""
    config = replace(config, manual_override=False)
    safe = safe_limit(config.model_max_context)
    return _record(config, WindowReason.NO_ADJUSTMENT, min(config.current_window, safe), 0)
