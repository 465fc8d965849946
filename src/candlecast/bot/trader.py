"""Entry decisions of one cycle (spot, long only): which pairs, with which stake.

Exit decisions are in ``exits``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from candlecast.config.models import Config
from candlecast.domain.timeframes import timeframe_to_seconds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntryPlan:
    """A pair whose last candle asks for a new trade."""

    pair: str
    enter_tag: str | None


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
    ignore_expired_after: int = 0,
) -> list[EntryPlan]:
    """The pairs (in whitelist order) that may open a trade now: an entry signal and no
    exit signal on a recent last candle, and no open trade on the pair.

    ``ignore_expired_after`` (seconds, 0: off): skip a signal whose candle closed longer
    ago than that (freqtrade's ``ignore_buying_expired_candle_after``).
    """
    plans: list[EntryPlan] = []
    for pair in pairs:
        frame = frames.get(pair)
        if pair in open_pairs or frame is None:
            continue
        if not last_signal(frame, "enter_long", now, timeframe):
            continue
        if last_signal(frame, "exit_long", now, timeframe):
            continue
        if ignore_expired_after:
            closed_at = frame["date"].iloc[-1] + pd.Timedelta(
                seconds=timeframe_to_seconds(timeframe)
            )
            if (pd.Timestamp(now) - closed_at).total_seconds() > ignore_expired_after:
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
