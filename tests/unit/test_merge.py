"""How a consumer folds incoming frames into its copy (freqtrade's rules plus our fix).

The same rules are checked on freqtrade's own recordings in test_consumer_vectors.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.data.merge import MAX_STORED_CANDLES, merge_update, strip_signals
from candlecast.testing import make_ohlcv


def frames(n: int) -> pd.DataFrame:
    frame = make_ohlcv(n, "5m")
    frame["enter_long"] = 0
    return frame


def test_full_frame_of_100_or_more_replaces():
    result = merge_update(frames(10), frames(150), "5m", requested=False)
    assert result.frame is not None and len(result.frame) == 150
    assert result.request_limit is None


def test_short_frame_with_nothing_stored_asks_for_the_full_frame():
    result = merge_update(None, frames(1), "5m", requested=False)
    assert result.frame is None
    assert result.request_limit == 1500


def test_answer_to_our_request_seeds_the_store_whatever_its_length():
    young = frames(50)
    result = merge_update(None, young, "5m", requested=True)
    assert result.frame is not None and len(result.frame) == 50
    assert result.request_limit is None


def test_next_candle_is_appended():
    history = frames(60)
    result = merge_update(history.iloc[:59], history.iloc[59:], "5m", requested=False)
    pd.testing.assert_frame_equal(result.frame, history)


def test_overlapping_candles_replace_the_stored_ones():
    history = frames(60)
    changed = history.iloc[57:].copy()
    changed["close"] = 1.0
    result = merge_update(history, changed, "5m", requested=False)
    assert len(result.frame) == 60
    assert (result.frame["close"].iloc[57:] == 1.0).all()
    assert (result.frame["close"].iloc[:57] == history["close"].iloc[:57]).all()


def test_gap_in_updates_requests_missing_plus_overlap():
    history = frames(60)
    stored = history.iloc[:50]
    result = merge_update(
        stored, history.iloc[55:56], "5m", requested=False
    )  # candles 50..54 missing
    assert result.frame is None
    # last stored is candle 49, first incoming 55: a gap of 6 intervals (5 missing);
    # ask for 6 + 1 so the answer overlaps the last stored candle
    assert result.request_limit == 7


def test_huge_gap_requests_the_full_frame():
    history = frames(260)
    result = merge_update(history.iloc[:50], history.iloc[250:251], "5m", requested=False)
    assert result.request_limit == 1500


def test_a_new_column_is_appended_with_nan_for_older_rows():
    history = frames(60)
    extra = history.iloc[59:].assign(new_indicator=1.0)
    result = merge_update(history.iloc[:59], extra, "5m", requested=False)
    assert result.request_limit is None and result.frame is not None
    assert list(result.frame.columns) == [*history.columns, "new_indicator"]
    assert result.frame["new_indicator"].isna().sum() == 59
    assert result.frame["new_indicator"].iloc[-1] == 1.0


def test_a_full_frame_is_stored_as_sent_and_appends_keep_1500_candles():
    history = frames(2000)
    full = merge_update(None, history.iloc[:1600], "5m", requested=False)
    pd.testing.assert_frame_equal(full.frame, history.iloc[:1600])  # 1600 rows, as freqtrade
    appended = merge_update(full.frame, history.iloc[1600:1601], "5m", requested=False)
    assert len(appended.frame) == MAX_STORED_CANDLES
    assert appended.frame["date"].iloc[-1] == history["date"].iloc[1600]
    assert isinstance(appended.frame.index, pd.RangeIndex) and appended.frame.index[0] == 0


def test_a_gap_of_a_fraction_of_a_candle_counts():
    history = frames(60)
    late = history.iloc[59:].copy()
    late["date"] = late["date"] + pd.Timedelta(minutes=2, seconds=30)
    assert merge_update(history.iloc[:59], late, "5m", requested=False).request_limit == 2


def test_a_multi_candle_update_after_a_gap_asks_up_to_its_last_candle():
    history = frames(60)
    result = merge_update(history.iloc[:50], history.iloc[52:55], "5m", requested=False)
    assert result.request_limit == 6  # candles 49..54: one of overlap plus all received


def test_unsorted_duplicate_or_empty_frames_are_ignored():
    history = frames(10)
    assert merge_update(history, history.iloc[::-1], "5m", requested=True).frame is None
    assert merge_update(history, history.iloc[:0], "5m", requested=True).frame is None
    duplicated = pd.concat([history.iloc[:3], history.iloc[2:3]], ignore_index=True)
    assert merge_update(None, duplicated, "5m", requested=True).frame is None


def test_strip_signals_zeroes_signals_and_clears_tags():
    frame = frames(3)
    frame["enter_long"] = 1
    frame["exit_long"] = 1
    frame["enter_tag"] = "x"
    stripped = strip_signals(frame)
    assert stripped["enter_long"].eq(0).all() and stripped["exit_long"].eq(0).all()
    assert stripped["enter_tag"].isna().all()
    assert frame["enter_long"].eq(1).all()  # the received frame is never mutated


def test_strip_signals_adds_the_signal_columns_a_frame_lacks():
    stripped = strip_signals(make_ohlcv(3, "5m"))
    added = ["enter_long", "exit_long", "enter_short", "exit_short", "enter_tag", "exit_tag"]
    assert list(stripped.columns[-6:]) == added
    assert stripped[added[:4]].eq(0).all().all() and stripped[added[4:]].isna().all().all()


def test_a_gap_of_exactly_one_missing_candle_is_not_merged_as_contiguous():
    history = frames(60)
    # last stored candle 49, incoming 51: candle 50 is missing
    result = merge_update(history.iloc[:50], history.iloc[51:52], "5m", requested=False)
    assert result.frame is None
    assert result.request_limit == 3  # the two intervals since candle 49, plus the overlap


def test_the_answer_to_a_one_candle_gap_closes_it():
    history = frames(60)
    stored = history.iloc[:50]
    answer = history.iloc[49:52]  # what "ask for 3" returns: candles 49, 50, 51
    result = merge_update(stored, answer, "5m", requested=True)
    pd.testing.assert_frame_equal(result.frame, history.iloc[:52])


def test_exactly_100_candles_is_a_full_frame_and_99_is_not():
    history = frames(120)
    full = merge_update(history.iloc[:10], history.iloc[20:120], "5m", requested=False)
    pd.testing.assert_frame_equal(full.frame, history.iloc[20:120])  # as sent, index too
    short = merge_update(None, history.iloc[21:120], "5m", requested=False)
    assert short.frame is None and short.request_limit == 1500


def test_a_gap_under_99_intervals_asks_for_those_candles_and_1500_beyond():
    history = frames(400)
    stored = history.iloc[:100]  # last stored candle 99
    near = merge_update(stored, history.iloc[197:198], "5m", requested=False)
    assert near.request_limit == 99  # 98 intervals: 97 missing, the new one, the overlap
    assert isinstance(near.request_limit, int)
    far = merge_update(stored, history.iloc[198:199], "5m", requested=False)
    assert far.request_limit == 1500  # 100 candles or more: the full frame


def test_a_full_store_drops_its_oldest_rows_to_take_new_ones():
    history = frames(1503)
    stored = history.iloc[:1500]
    result = merge_update(stored, history.iloc[1499:1503], "5m", requested=False)
    pd.testing.assert_frame_equal(result.frame, history.iloc[3:1503].reset_index(drop=True))


def test_an_update_overlapping_every_stored_row_replaces_them_all():
    history = frames(10)
    changed = history.iloc[2:8].assign(close=1.0)
    result = merge_update(history.iloc[4:7], changed, "5m", requested=False)
    pd.testing.assert_frame_equal(result.frame, changed)  # nothing kept: the update as sent


def test_a_one_candle_frame_without_a_date_is_ignored():
    history = frames(10)
    dateless = history.iloc[9:].copy()
    dateless["date"] = pd.NaT
    result = merge_update(history.iloc[:9], dateless, "5m", requested=True)
    assert result.frame is None and result.request_limit is None


def test_two_candles_out_of_order_or_repeated_are_ignored():
    history = frames(10)
    swapped = history.iloc[[8, 7]]
    repeated = history.iloc[[8, 8]]
    for bad in (swapped, repeated):
        result = merge_update(history.iloc[:7], bad, "5m", requested=True)
        assert result.frame is None and result.request_limit is None


@pytest.mark.parametrize(("stored_unit", "incoming_unit"), [("ns", "ms"), ("ms", "ns"), ("s", "s")])
def test_gaps_are_measured_whatever_the_resolution_of_the_dates(stored_unit, incoming_unit):
    history = frames(60)

    def as_unit(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
        return frame.assign(date=frame["date"].dt.as_unit(unit))

    stored = as_unit(history.iloc[:50], stored_unit)
    following = merge_update(stored, as_unit(history.iloc[50:51], incoming_unit), "5m", False)
    assert following.request_limit is None and len(following.frame) == 51
    after_gap = merge_update(stored, as_unit(history.iloc[55:56], incoming_unit), "5m", False)
    assert after_gap.frame is None and after_gap.request_limit == 7


def test_merging_leaves_the_frames_it_is_given_unchanged():
    # the update's float column fits the stored int64 one; the stored bool column takes
    # the update's float64 (a null arrived): both casts are made on copies
    history = frames(10).assign(count=np.arange(10, dtype=np.int64), flag=True)
    stored = history.iloc[:9]
    update = history.iloc[9:].assign(count=9.0, flag=np.nan)
    stored_dtypes, update_dtypes = stored.dtypes.copy(), update.dtypes.copy()
    result = merge_update(stored, update, "5m", requested=False)
    assert result.frame["count"].dtype == np.int64 and result.frame["flag"].dtype == np.float64
    pd.testing.assert_series_equal(stored.dtypes, stored_dtypes)
    pd.testing.assert_series_equal(update.dtypes, update_dtypes)


def test_every_column_of_an_update_takes_the_stored_dtype_its_values_fit():
    history = frames(10).assign(
        first=np.arange(10, dtype=np.int64), second=np.arange(10, dtype=np.int32)
    )
    update = history.iloc[9:].astype({"first": np.float64, "second": np.float64})
    result = merge_update(history.iloc[:9], update, "5m", requested=False)
    pd.testing.assert_frame_equal(result.frame, history)
