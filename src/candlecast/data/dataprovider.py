"""``self.dp``: the data a strategy may read, always handed out as copies."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pandas as pd

from candlecast.data.market_guard import MarketMismatch, check_market
from candlecast.data.producer_store import ProducerStore
from candlecast.data.staleness import Staleness, StalenessTracker, age_in_candles
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
        self._max_age: dict[str, int] = {}
        self._now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._stale = StalenessTracker()
        self._tolerance: dict[str, float] = {}
        self._mismatches: dict[tuple[str, str], MarketMismatch] = {}
        self._market_checked: dict[tuple[str, str], tuple[object, ...]] = {}
        #: where ``send_msg`` goes (the bot's ``strategy_msg`` event); None: nowhere
        self.message_sink: Callable[[str], None] | None = None
        self._sent: set[str] = set()

    def configure_guards(
        self,
        max_age_candles: Mapping[str, int],
        market_tolerance: Mapping[str, float],
        now: Callable[[], datetime],
    ) -> None:
        """Per producer: how many candles old its data may be and how far its prices may
        be from ours (0 = unchecked); and the clock."""
        self._max_age = {name: n for name, n in max_age_candles.items() if n > 0}
        self._tolerance = {name: t for name, t in market_tolerance.items() if t > 0}
        self._now = now

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

    def ohlcv_frames(self) -> dict[tuple[str, str], pd.DataFrame]:
        """Every candle frame held, by (pair, timeframe), not copied (the bot replaces
        frames, never changes them: analysis workers are sent the ones they lack)."""
        with self._lock:
            return dict(self._ohlcv)

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
            frame, analyzed_at = pd.DataFrame(), EPOCH
        else:
            frame, analyzed_at = entry.frame.copy(), entry.analyzed_at
        state = self._staleness(producer_name, pair, tf, frame)
        # documented in docs/strategy-api.md: the staleness guard's verdict travels with the frame
        frame.attrs["producer_stale"] = state is not None and state.stale
        frame.attrs["producer_age_candles"] = age_in_candles(frame, tf, self._now())
        return frame, analyzed_at

    def producer_data_stale(
        self, pair: str, timeframe: str | None = None, producer_name: str = "default"
    ) -> bool:
        """True when ``producer_name`` has ``max_age_candles`` set and its data for ``pair``
        is older than that (or missing although the producer announced the pair)."""
        frame, _ = self.get_producer_df(pair, timeframe, producer_name=producer_name)
        return bool(frame.attrs["producer_stale"])

    def _staleness(
        self, producer: str, pair: str, timeframe: str, frame: pd.DataFrame
    ) -> Staleness | None:
        limit = self._max_age.get(producer)
        if not limit:
            return None
        if frame.empty and pair not in self.producer_store.pairs(producer):
            return None  # this producer does not cover the pair
        return Staleness(producer, pair, age_in_candles(frame, timeframe, self._now()), limit)

    def stale_pairs(self, pairs: list[str]) -> set[str]:
        """The pairs of ``pairs`` with stale producer data; logs each start and end once."""
        checked: list[Staleness] = []
        for producer in self._max_age:
            for pair in pairs:
                entry = self.producer_store.get(
                    producer, PairKey(pair, self.timeframe, self.candle_type)
                )
                frame = entry.frame if entry is not None else pd.DataFrame()
                state = self._staleness(producer, pair, self.timeframe, frame)
                if state is not None:
                    checked.append(state)
        started, ended = self._stale.transitions(checked)
        for item in started:
            logger.warning("No new trades on %s: %s", item.pair, item.describe())
        for producer, pair in ended:
            logger.info(
                "Producer %s's data for %s is current again: new trades allowed", producer, pair
            )
        return {item.pair for item in checked if item.stale}

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

    def check_markets(self, pairs: list[str]) -> None:
        """The market guard: compare our candles of ``pairs`` with each producer's; warn
        once per producer and pair when they differ beyond its ``market_tolerance``."""
        for producer, tolerance in self._tolerance.items():
            for pair in pairs:
                entry = self.producer_store.get(
                    producer, PairKey(pair, self.timeframe, self.candle_type)
                )
                with self._lock:
                    own = self._ohlcv.get((pair, self.timeframe))
                if entry is None or own is None or own.empty or entry.frame.empty:
                    continue
                key = (producer, pair)
                # once per new candle on either side, not on every cycle
                marker = (own["date"].iloc[-1], entry.frame["date"].iloc[-1], len(entry.frame))
                if self._market_checked.get(key) == marker:
                    continue
                self._market_checked[key] = marker
                found = check_market(producer, pair, own, entry.frame, tolerance)
                if found is not None and key not in self._mismatches:
                    logger.warning("%s", found.describe())
                elif found is None and key in self._mismatches:
                    logger.info("Market of %s agrees with producer %s again", pair, producer)
                if found is None:
                    self._mismatches.pop(key, None)
                else:
                    self._mismatches[key] = found

    def market_mismatches(self, producer: str) -> dict[str, dict[str, object]]:
        """The market guard's current findings for ``producer``, by pair."""
        return {
            pair: m.as_dict() for (name, pair), m in self._mismatches.items() if name == producer
        }
