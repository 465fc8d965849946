"""The staleness guard: no new trades on a pair whose producer data is too old.

A producer entry's ``max_age_candles`` (0 = off, the default) bounds the age of that
producer's data for a pair, counted in closed candles of the consumer's timeframe:
0 when its last candle is the latest closed candle, 1 when it misses that one, and so on.
Pure code: the caller passes "now"; ``transitions`` remembers which pairs are stale so
each change is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from candlecast.domain.timeframes import timeframe_to_msecs


def age_in_candles(frame: pd.DataFrame, timeframe: str, now: datetime) -> int | None:
    """Closed candles between ``frame``'s last candle and ``now`` (None: no candle)."""
    if frame.empty or "date" not in frame.columns:
        return None
    tf_ms = timeframe_to_msecs(timeframe)
    last_ms = pd.Timestamp(frame["date"].iloc[-1]).value // 1_000_000
    current_open = int(now.timestamp() * 1000) // tf_ms * tf_ms
    return max(0, (current_open - last_ms) // tf_ms - 1)


@dataclass(frozen=True)
class Staleness:
    producer: str
    pair: str
    age_candles: int | None  # None: the producer announced the pair but sent no data
    max_age_candles: int

    @property
    def stale(self) -> bool:
        return self.age_candles is None or self.age_candles > self.max_age_candles

    def describe(self) -> str:
        if self.age_candles is None:
            return f"producer {self.producer} sent no data for {self.pair}"
        return (
            f"producer {self.producer}'s data for {self.pair} is {self.age_candles} candles "
            f"old (max_age_candles {self.max_age_candles})"
        )


@dataclass
class StalenessTracker:
    """Which (producer, pair) are stale now; reports starts and ends once each."""

    stale: dict[tuple[str, str], Staleness] = field(default_factory=dict)

    def transitions(
        self, current: list[Staleness]
    ) -> tuple[list[Staleness], list[tuple[str, str]]]:
        """Record ``current`` (every checked (producer, pair)); return (started, ended)."""
        started: list[Staleness] = []
        ended: list[tuple[str, str]] = []
        for item in current:
            key = (item.producer, item.pair)
            if item.stale and key not in self.stale:
                started.append(item)
                self.stale[key] = item
            elif not item.stale and key in self.stale:
                ended.append(key)
                del self.stale[key]
        return started, ended
