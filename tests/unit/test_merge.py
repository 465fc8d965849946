"""How a consumer folds incoming frames into its copy (PROTOCOL.md's rules plus our fixes)."""

from __future__ import annotations

import pandas as pd

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


def test_changed_columns_ask_for_the_full_frame():
    history = frames(60)
    extra = history.iloc[59:].assign(new_indicator=1.0)
    assert merge_update(history.iloc[:59], extra, "5m", requested=False).request_limit == 1500


def test_stored_frames_keep_at_most_1500_candles():
    history = frames(2000)
    result = merge_update(None, history, "5m", requested=True)
    assert len(result.frame) == MAX_STORED_CANDLES
    assert result.frame["date"].iloc[-1] == history["date"].iloc[-1]
    assert result.frame.index[0] == 0


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


def test_an_answer_with_new_columns_replaces_the_stored_frame():
    history = frames(60)
    answer = history.iloc[40:].assign(new_indicator=1.0)  # fewer than 100 rows, requested
    result = merge_update(history.iloc[:50], answer, "5m", requested=True)
    pd.testing.assert_frame_equal(result.frame, answer.reset_index(drop=True))
    assert result.request_limit is None


def test_exactly_100_candles_is_a_full_frame_and_99_is_not():
    history = frames(120)
    full = merge_update(history.iloc[:10], history.iloc[20:120], "5m", requested=False)
    pd.testing.assert_frame_equal(full.frame, history.iloc[20:120].reset_index(drop=True))
    short = merge_update(None, history.iloc[21:120], "5m", requested=False)
    assert short.frame is None and short.request_limit == 1500


def test_a_gap_under_100_intervals_asks_for_those_candles_and_100_for_the_full_frame():
    history = frames(400)
    stored = history.iloc[:100]  # last stored candle 99
    near = merge_update(stored, history.iloc[198:199], "5m", requested=False)
    assert near.request_limit == 100  # 99 intervals: 98 missing, the new one, the overlap
    assert isinstance(near.request_limit, int)
    far = merge_update(stored, history.iloc[199:200], "5m", requested=False)
    assert far.request_limit == 1500


def test_a_full_store_drops_its_oldest_rows_to_take_new_ones():
    history = frames(1503)
    stored = history.iloc[:1500]
    result = merge_update(stored, history.iloc[1499:1503], "5m", requested=False)
    pd.testing.assert_frame_equal(result.frame, history.iloc[3:1503].reset_index(drop=True))


def test_an_update_overlapping_every_stored_row_replaces_them_all():
    history = frames(10)
    changed = history.iloc[2:8].assign(close=1.0)
    result = merge_update(history.iloc[4:7], changed, "5m", requested=False)
    pd.testing.assert_frame_equal(result.frame, changed.reset_index(drop=True))


def test_a_trimmed_frame_keeps_its_columns_and_a_fresh_index():
    history = frames(1600).set_index(pd.RangeIndex(5, 1605))
    result = merge_update(None, history, "5m", requested=True)
    assert list(result.frame.columns) == list(history.columns)
    assert isinstance(result.frame.index, pd.RangeIndex) and result.frame.index[0] == 0
