"""Calling strategy callbacks: a failing callback is logged and its default used."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from candlecast.strategy.interface import IStrategy

logger = logging.getLogger(__name__)


def call(strategy: IStrategy, name: str, default: Any, **kwargs: Any) -> Any:
    """Return ``strategy.<name>(**kwargs)``, or ``default`` when it raises (as freqtrade,
    a broken callback must not stop the bot or leave a trade unmanaged)."""
    try:
        return getattr(strategy, name)(**kwargs)
    except Exception as exc:
        logger.error(
            "Strategy %s.%s failed: %s: %s; using %r",
            type(strategy).__name__,
            name,
            type(exc).__name__,
            exc,
            default,
        )
        return default


def overrides(strategy: IStrategy, name: str) -> bool:
    """Whether the strategy implements ``name`` itself."""
    return getattr(type(strategy), name) is not getattr(IStrategy, name)


def stop_uses_after_fill(strategy: IStrategy) -> bool:
    """custom_stoploss is also called right after an entry fills when the strategy's
    own custom_stoploss declares an ``after_fill`` parameter (as freqtrade decides)."""
    if not overrides(strategy, "custom_stoploss"):
        return False
    return "after_fill" in inspect.signature(strategy.custom_stoploss).parameters


def valid_price(custom: Any, proposed: float, max_distance_ratio: float) -> float:
    """A custom entry/exit price, within ``max_distance_ratio`` of ``proposed``
    (anything that is not a number means ``proposed``)."""
    try:
        price = float(custom) if custom else proposed
    except (TypeError, ValueError):
        price = proposed
    if price != price:  # NaN
        price = proposed
    low = proposed - proposed * max_distance_ratio
    high = proposed + proposed * max_distance_ratio
    return max(min(price, high), low)
