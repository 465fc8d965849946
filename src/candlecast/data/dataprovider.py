"""``self.dp``: the data a strategy may read, always handed out as copies."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import EPOCH, PairKey
from candlecast.domain.candles import empty_ohlcv
from candlecast.domain.enums import CandleType, RunMode

logger = logging.getLogger(__name__)


class DataProvider:
    """Market data (own candles and analyzed frames) and producer data for strategies."""

    def __init__(
        self,
        timeframe: str,
        candle_type: CandleType = CandleType.SPOT,
        producer_store: ProducerStore | None = None,
        runmode: RunMode = RunMode.DRY_RUN,
    ) -> None:
        self.timeframe = timeframe
        self.candle_type = candle_type
        self.runmode = runmode
        self.producer_store = producer_store or ProducerStore()
        self._lock = threading.Lock()
        self._ohlcv: dict[tuple[str, str], pd.DataFrame] = {}
        self._analyzed: dict[PairKey, tuple[pd.DataFrame, datetime]] = {}
        self._whitelist: list[str] = []
        self._timeframe_hint_logged: set[tuple[str, str, str]] = set()
        #: where ``send_msg`` goes (the bot's ``strategy_msg`` event); None: nowhere
        self.message_sink: Callable[[str], None] | None = None
        self._sent: set[str] = set()

    def send_msg(self, message: str, *, always_send: bool = False) -> None:
        """freqtrade's ``dp.send_msg``: a ``strategy_msg`` to websocket subscribers. The
        same text is sent once unless ``always_send`` (freqtrade: once per candle)."""
        if self.message_sink is None or (not always_send and message in self._sent):
            return
        if not always_send:
            if len(self._sent) > 1000:
                self._sent.clear()
            self._sent.add(message)
        self.message_sink(message)

    # --- written by the bot ----------------------------------------------------------
    def set_ohlcv(self, pair: str, timeframe: str, frame: pd.DataFrame) -> None:
        with self._lock:
            self._ohlcv[(pair, timeframe)] = frame

    def set_analyzed(self, pair: str, frame: pd.DataFrame, analyzed_at: datetime) -> None:
        with self._lock:
            self._analyzed[PairKey(pair, self.timeframe, self.candle_type)] = (frame, analyzed_at)

    def set_whitelist(self, pairs: list[str]) -> None:
        with self._lock:
            self._whitelist = list(pairs)

    # --- read by strategies ----------------------------------------------------------
    def current_whitelist(self) -> list[str]:
        with self._lock:
            return list(self._whitelist)

    def ohlcv(self, pair: str, timeframe: str | None = None, copy: bool = True) -> pd.DataFrame:
        """Return the candles downloaded for ``pair`` (empty if none)."""
        with self._lock:
            frame = self._ohlcv.get((pair, timeframe or self.timeframe))
        if frame is None:
            return empty_ohlcv()
        return frame.copy() if copy else frame

    def get_pair_dataframe(
        self, pair: str, timeframe: str | None = None, candle_type: CandleType | str = ""
    ) -> pd.DataFrame:
        """A copy of the candles of ``pair`` (freqtrade's signature; spot candles only).

        Raises:
            ValueError: ``candle_type`` is not spot.
        """
        if CandleType.from_string(candle_type or None) != self.candle_type:
            raise ValueError(
                f"candle_type {candle_type!r}: candlecast has {self.candle_type} candles only"
            )
        return self.ohlcv(pair, timeframe)

    def get_analyzed_dataframe(
        self, pair: str, timeframe: str | None = None
    ) -> tuple[pd.DataFrame, datetime]:
        """Return (copy of the last analyzed frame of ``pair``, when it was analyzed)."""
        key = PairKey(pair, timeframe or self.timeframe, self.candle_type)
        with self._lock:
            entry = self._analyzed.get(key)
        if entry is None:
            return pd.DataFrame(), EPOCH
        return entry[0].copy(), entry[1]

    def analyzed_entry(self, key: PairKey) -> tuple[pd.DataFrame, datetime] | None:
        """The stored (frame, analyzed_at) for ``key`` without copying (for the producer's replies)."""
        with self._lock:
            return self._analyzed.get(key)

    def analyzed_keys(self) -> list[PairKey]:
        with self._lock:
            return list(self._analyzed)

    def get_producer_pairs(self, producer_name: str = "default") -> list[str]:
        """Return a copy of the whitelist producer ``producer_name`` sent (empty if none)."""
        return self.producer_store.pairs(producer_name)

    def get_producer_df(
        self,
        pair: str,
        timeframe: str | None = None,
        candle_type: CandleType | str | None = None,
        producer_name: str = "default",
    ) -> tuple[pd.DataFrame, datetime]:
        """Return (copy of the producer's analyzed frame, when the producer analyzed it).

        Defaults are this bot's timeframe and candle type. When nothing is stored the
        result is an empty DataFrame and 1970-01-01 UTC.
        """
        tf = timeframe or self.timeframe
        ct = CandleType.from_string(candle_type) if candle_type else self.candle_type
        entry = self.producer_store.get(producer_name, PairKey(pair, tf, ct))
        if entry is None:
            self._hint_other_timeframes(producer_name, pair, tf)
            return pd.DataFrame(), EPOCH
        return entry.frame.copy(), entry.analyzed_at

    def _hint_other_timeframes(self, producer: str, pair: str, timeframe: str) -> None:
        others = sorted(
            {
                key.timeframe
                for key in self.producer_store.keys(producer)
                if key.pair == pair and key.timeframe != timeframe
            }
        )
        marker = (producer, pair, timeframe)
        if others and marker not in self._timeframe_hint_logged:
            self._timeframe_hint_logged.add(marker)
            logger.warning(
                "Producer %s has no %s data for %s, only %s: pass timeframe= to get_producer_df()",
                producer,
                timeframe,
                pair,
                ", ".join(others),
            )
