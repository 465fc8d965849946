"""The staleness guard's arithmetic and its once-per-change reporting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from candlecast.data.dataprovider import DataProvider
from candlecast.data.producer_store import ProducerStore
from candlecast.data.staleness import Staleness, StalenessTracker, age_in_candles
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.testing import make_ohlcv

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)  # inside the 12:00 candle


def frame_ending(last_open: datetime, n: int = 5):
    return make_ohlcv(n, "1m", start=last_open - timedelta(minutes=n - 1))


@pytest.mark.parametrize(
    ("last_open", "age"),
    [
        (datetime(2026, 6, 1, 11, 59, tzinfo=UTC), 0),  # the latest closed candle
        (datetime(2026, 6, 1, 11, 58, tzinfo=UTC), 1),
        (datetime(2026, 6, 1, 11, 50, tzinfo=UTC), 9),
    ],
)
def test_age_counts_the_closed_candles_the_data_misses(last_open: datetime, age: int):
    assert age_in_candles(frame_ending(last_open), "1m", NOW) == age


def test_an_empty_frame_has_no_age():
    assert age_in_candles(frame_ending(NOW).iloc[0:0], "1m", NOW) is None


def test_each_start_and_end_of_staleness_is_reported_once():
    tracker = StalenessTracker()
    old = Staleness("p", "BTC/USDT", age_candles=5, max_age_candles=2)
    fresh = Staleness("p", "BTC/USDT", age_candles=0, max_age_candles=2)
    assert tracker.transitions([old]) == ([old], [])
    assert tracker.transitions([old]) == ([], [])
    assert tracker.transitions([fresh]) == ([], [("p", "BTC/USDT")])
    assert tracker.transitions([fresh]) == ([], [])


def provider(max_age: int, last_open: datetime) -> DataProvider:
    store = ProducerStore()
    store.set_pairs("default", ("BTC/USDT", "ETH/USDT"))
    key = PairKey("BTC/USDT", "1m", CandleType.SPOT)
    store.put("default", key, frame_ending(last_open), NOW, 0.0)
    dp = DataProvider("1m", producer_store=store)
    dp.configure_guards({"default": max_age}, {}, lambda: NOW)
    return dp


def test_get_producer_df_flags_data_older_than_max_age_candles():
    dp = provider(2, datetime(2026, 6, 1, 11, 55, tzinfo=UTC))
    frame, _ = dp.get_producer_df("BTC/USDT")
    assert frame.attrs == {"producer_stale": True, "producer_age_candles": 4}
    assert dp.producer_data_stale("BTC/USDT")
    # announced but never sent: stale too; a pair the producer does not cover: not checked
    assert dp.stale_pairs(["BTC/USDT", "ETH/USDT", "SOL/USDT"]) == {"BTC/USDT", "ETH/USDT"}


def test_data_within_max_age_candles_is_not_stale():
    dp = provider(2, datetime(2026, 6, 1, 11, 57, tzinfo=UTC))
    assert dp.get_producer_df("BTC/USDT")[0].attrs["producer_stale"] is False
    assert dp.stale_pairs(["BTC/USDT"]) == set()


def test_the_guard_is_off_by_default():
    dp = provider(0, datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    assert not dp.producer_data_stale("BTC/USDT")
    assert dp.stale_pairs(["BTC/USDT", "ETH/USDT"]) == set()
