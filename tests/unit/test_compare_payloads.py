"""The frame comparison used by the demo, the restart test and the soak run."""

from __future__ import annotations

import math
from typing import Any

from candlecast.demo import compare_payloads

COLUMNS = ["date", "close", "rsi"]


def payload(dates: list[int], rsi: dict[int, float] | None = None) -> dict[str, Any]:
    rsi = rsi or {}
    return {
        "columns": COLUMNS,
        "data": [[d, 100.0 + d, rsi.get(d, float(d) / 10)] for d in dates],
    }


def test_identical_frames_are_equal():
    assert compare_payloads(payload([1, 2, 3]), payload([1, 2, 3])) == "equal"


def test_nan_equals_nan():
    both = payload([1, 2], {2: math.nan})
    assert compare_payloads(both, payload([1, 2], {2: math.nan})) == "equal"


def test_a_hole_in_the_copy_is_found():
    assert compare_payloads(payload([1, 2, 3, 4]), payload([1, 2, 4])) != "equal"


def test_a_row_the_producer_does_not_have_is_found():
    assert compare_payloads(payload([1, 2, 4]), payload([1, 2, 3, 4])) != "equal"


def test_a_copy_missing_the_first_rows_is_found():
    assert compare_payloads(payload([1, 2, 3, 4]), payload([3, 4])) != "equal"


def test_one_different_value_is_found():
    assert compare_payloads(payload([1, 2, 3]), payload([1, 2, 3], {2: 0.2000001})) == (
        "candle 2 differs"
    )


def test_lag_is_refused_unless_allowed():
    producer, copy = payload([1, 2, 3, 4]), payload([1, 2, 3])
    assert compare_payloads(producer, copy) == "copy is 1 candles behind"
    assert compare_payloads(producer, copy, allow_lag=1) == "equal"
    assert compare_payloads(payload([1, 2, 3, 4, 5]), copy, allow_lag=1) != "equal"


def test_rows_older_than_the_producers_window_are_not_compared():
    assert compare_payloads(payload([3, 4, 5]), payload([1, 2, 3, 4, 5])) == "equal"


def test_different_columns_are_found():
    other = payload([1, 2])
    other["columns"] = ["date", "close", "rsi_x"]
    assert compare_payloads(payload([1, 2]), other) == "different columns"


def test_the_copy_keeps_only_the_newest_max_rows():
    producer = payload([1, 2, 3, 4, 5])
    assert compare_payloads(producer, payload([3, 4, 5]), max_rows=3) == "equal"
    assert compare_payloads(producer, payload([4, 5]), max_rows=3) != "equal"
    assert compare_payloads(producer, payload([2, 3, 4, 5]), max_rows=3) == "equal"


def test_a_copy_keeps_only_the_newest_rows_when_the_producer_holds_more():
    # a consumer keeps at most 1500 candles; a producer's history grows past that
    producer = payload(list(range(1, 11)))
    assert compare_payloads(producer, payload(list(range(5, 11))), max_rows=6) == "equal"
    assert compare_payloads(producer, payload(list(range(6, 11))), max_rows=6) != "equal"
    holed = payload([4, 5, 6, 7, 9, 10])
    assert compare_payloads(producer, holed, max_rows=6) != "equal"
