"""Enumerations whose values travel on the wire or in configs."""

from __future__ import annotations

from enum import StrEnum


class CandleType(StrEnum):
    """The market a candle comes from; the third element of an ``analyzed_df`` key."""

    SPOT = "spot"
    FUTURES = "futures"
    MARK = "mark"
    INDEX = "index"
    PREMIUMINDEX = "premiumIndex"
    FUNDING_RATE = "funding_rate"

    @classmethod
    def from_string(cls, value: str | CandleType | None) -> CandleType:
        if value is None or value == "":
            return cls.SPOT
        if isinstance(value, CandleType):
            return value
        return cls(value)


class RunMode(StrEnum):
    DRY_RUN = "dry_run"
    LIVE = "live"
    OTHER = "other"
