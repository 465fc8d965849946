"""The trading decisions of one cycle: exits first, then entries (spot, long only)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from candlecast.config.models import Config
from candlecast.domain.timeframes import timeframe_to_seconds
from candlecast.domain.trades import Trade

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExitDecision:
    reason: str
    rate: float


@dataclass(frozen=True)
class EntryPlan:
    """A pair whose last candle asks for a new trade."""

    pair: str
    enter_tag: str | None


def roi_threshold(minimal_roi: dict[str, float], minutes: float) -> float | None:
    """The ROI that applies after ``minutes`` in the trade (highest key not above it)."""
    best_key: float | None = None
    threshold: float | None = None
    for key, value in minimal_roi.items():
        k = float(key)
        if k <= minutes and (best_key is None or k > best_key):
            best_key, threshold = k, float(value)
    return threshold


def exit_decision(
    trade: Trade,
    rate: float,
    now: datetime,
    minimal_roi: dict[str, float],
    stoploss: float,
    exit_signal: bool,
) -> ExitDecision | None:
    """Decide whether ``trade`` closes at ``rate``: stoploss, then ROI, then exit signal."""
    profit = trade.profit_ratio(rate)
    if profit <= stoploss:
        return ExitDecision("stop_loss", rate)
    minutes = (now - trade.open_date).total_seconds() / 60
    threshold = roi_threshold(minimal_roi, minutes)
    if threshold is not None and profit >= threshold:
        return ExitDecision("roi", rate)
    if exit_signal:
        return ExitDecision("exit_signal", rate)
    return None


def last_signal(frame: pd.DataFrame, column: str, now: datetime, timeframe: str) -> bool:
    """True if the last candle of ``frame`` has ``column`` == 1 and is recent.

    "Recent" means the candle closed within the last two timeframes, so a stalled
    feed never triggers trades on old signals.
    """
    if frame.empty or column not in frame.columns:
        return False
    value = frame[column].iloc[-1]
    if pd.isna(value) or value != 1:
        return False
    last_date = frame["date"].iloc[-1]
    age = (pd.Timestamp(now) - last_date).total_seconds()
    return age <= 3 * timeframe_to_seconds(timeframe)


def plan_entries(
    pairs: list[str],
    open_pairs: set[str],
    frames: Mapping[str, pd.DataFrame],
    now: datetime,
    timeframe: str,
) -> list[EntryPlan]:
    """The pairs (in whitelist order) that may open a trade now: an entry signal and no
    exit signal on a recent last candle, and no open trade on the pair."""
    plans: list[EntryPlan] = []
    for pair in pairs:
        frame = frames.get(pair)
        if pair in open_pairs or frame is None:
            continue
        if not last_signal(frame, "enter_long", now, timeframe):
            continue
        if last_signal(frame, "exit_long", now, timeframe):
            continue
        tag = frame["enter_tag"].iloc[-1] if "enter_tag" in frame.columns else None
        plans.append(EntryPlan(pair, tag if isinstance(tag, str) else None))
    return plans


def stake_for_new_trade(config: Config, available: float, open_count: int) -> float | None:
    """The stake of the next trade, or None when no trade may open."""
    if config.max_open_trades != -1 and open_count >= config.max_open_trades:
        return None
    if config.stake_amount == "unlimited":
        slots = 1 if config.max_open_trades == -1 else config.max_open_trades - open_count
        stake = available / max(slots, 1)
    else:
        stake = float(config.stake_amount)
    if stake <= 0 or stake > available + 1e-9 or stake < 1e-8:
        return None
    return stake
