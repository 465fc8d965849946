"""The market guard: does the consumer trade the market its producer analyzed?

A consumer merges a producer's indicators into its own candles by date. When the two
bots watch different markets (another exchange, or on the simulated exchange another
``sim_seed`` or ``sim_volatility``) the merge succeeds silently and the strategy trades
on indicators that describe someone else's prices. The guard compares the OHLC of the
two frames on their common dates (the last ``CHECKED_CANDLES``) and reports the worst
relative difference beyond the producer entry's ``market_tolerance``. Pure code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from candlecast.domain.candles import dates_to_ms

PRICE_COLUMNS = ("open", "high", "low", "close")
CHECKED_CANDLES = 50
LIKELY_CAUSE = (
    "the two bots likely watch different markets (another exchange, or on the simulated "
    "exchange another sim_seed or sim_volatility); the producer's indicators do not "
    "describe this bot's candles"
)


@dataclass(frozen=True)
class MarketMismatch:
    producer: str
    pair: str
    date: pd.Timestamp
    column: str
    own_price: float
    producer_price: float
    difference: float  # |own - producer| / producer
    tolerance: float

    def describe(self) -> str:
        return (
            f"Market mismatch on {self.pair}: own {self.column} {self.own_price:.8g} vs "
            f"producer {self.producer}'s {self.producer_price:.8g} at {self.date.isoformat()} "
            f"({self.difference:.2%} apart, market_tolerance {self.tolerance:.2%}): " + LIKELY_CAUSE
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "column": self.column,
            "own_price": self.own_price,
            "producer_price": self.producer_price,
            "difference": self.difference,
            "tolerance": self.tolerance,
        }


def worst_difference(
    own: pd.DataFrame, theirs: pd.DataFrame
) -> tuple[pd.Timestamp, str, float, float, float] | None:
    """(date, column, own price, producer price, relative difference) of the worst
    common candle among the last ``CHECKED_CANDLES``; None without common dates."""
    columns = ["date", *PRICE_COLUMNS]
    if any(c not in own.columns or c not in theirs.columns for c in columns):
        return None
    a, b = own.iloc[-CHECKED_CANDLES:], theirs.iloc[-CHECKED_CANDLES:]
    a_dates, b_dates = dates_to_ms(a["date"]), dates_to_ms(b["date"])
    _, ia, ib = np.intersect1d(a_dates, b_dates, assume_unique=True, return_indices=True)
    if not len(ia):
        return None
    ours = a[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)[ia]
    prod = b[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)[ib]
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(ours - prod) / np.abs(prod)
    diff = np.where(np.isfinite(diff), diff, 0.0)
    row, col = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return (
        pd.Timestamp(a["date"].iloc[int(ia[row])]),
        PRICE_COLUMNS[col],
        float(ours[row, col]),
        float(prod[row, col]),
        float(diff[row, col]),
    )


def check_market(
    producer: str, pair: str, own: pd.DataFrame, theirs: pd.DataFrame, tolerance: float
) -> MarketMismatch | None:
    """The mismatch beyond ``tolerance`` between the two frames, if any."""
    worst = worst_difference(own, theirs)
    if worst is None or worst[4] <= tolerance:
        return None
    return MarketMismatch(producer, pair, *worst, tolerance)
