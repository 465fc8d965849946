from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from candlecast.exceptions import StrategyError
from candlecast.strategy import CategoricalParameter, DecimalParameter, IntParameter, IStrategy
from candlecast.strategy.loader import load_strategy, scan_strategy_dir
from candlecast.testing import make_ohlcv

GOOD = """
from candlecast.strategy import IStrategy, IntParameter

class Good(IStrategy):
    timeframe = "1m"
    stoploss = -0.1
    buy_rsi = IntParameter(10, 60, default=30)

    def populate_indicators(self, dataframe, metadata):
        dataframe["x"] = dataframe["close"] * 2
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["close"] > dataframe["open"], "enter_long"] = 1
        return dataframe
"""


def write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text)


def test_loads_class_by_name_and_runs_it(tmp_path: Path):
    write(tmp_path, "good.py", GOOD)
    strategy = load_strategy("Good", tmp_path)
    frame = strategy.analyze(make_ohlcv(50), "BTC/USDT")
    assert frame["x"].equals(frame["close"] * 2)
    # NaN signals become integer zeros; set signals stay 1
    assert frame["enter_long"].dtype == np.int64
    assert set(frame["enter_long"].unique()) <= {0, 1}
    assert (frame["enter_long"] == 1).sum() == (frame["close"] > frame["open"]).sum()
    assert frame["exit_long"].eq(0).all()


def test_the_seed_strategies_load_and_produce_the_documented_columns(strategy_dir: Path):
    producer = load_strategy("ProducerStrategy", strategy_dir)
    frame = producer.analyze(make_ohlcv(300, seed=3), "BTC/USDT")
    for column in ("rsi", "bb_lowerband", "bb_middleband", "bb_upperband", "tema", "enter_long"):
        assert column in frame.columns
    assert producer.buy_rsi.value == 45


def test_syntax_error_names_the_file_and_line(tmp_path: Path):
    write(tmp_path, "broken.py", "class Broken(IStrategy:\n    pass\n")
    with pytest.raises(StrategyError, match=r"broken\.py \(syntax error at line 1"):
        load_strategy("Broken", tmp_path)


def test_broken_unrelated_file_does_not_stop_loading(tmp_path: Path):
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "broken.py", "def (:\n")
    assert type(load_strategy("Good", tmp_path)).__name__ == "Good"
    files = {f.path.name: f for f in scan_strategy_dir(tmp_path)}
    assert files["broken.py"].error and files["good.py"].classes == ("Good",)


def test_missing_class_lists_what_was_found(tmp_path: Path):
    write(tmp_path, "good.py", GOOD)
    with pytest.raises(StrategyError, match=r"'Missing' not found .*\(classes found: Good\)"):
        load_strategy("Missing", tmp_path)


def test_missing_method_is_named(tmp_path: Path):
    write(
        tmp_path,
        "half.py",
        GOOD.replace("class Good", "class Half").replace("populate_entry_trend", "something_else"),
    )
    with pytest.raises(
        StrategyError, match=r"Half in .*half\.py' does not define populate_entry_trend"
    ):
        load_strategy("Half", tmp_path)


def test_missing_library_names_the_module_the_file_line_and_the_pip_install(tmp_path: Path):
    write(tmp_path, "imp.py", "import os\nimport pandas_ta as pta\nclass Imp: pass\n")
    with pytest.raises(StrategyError) as info:
        load_strategy("Imp", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{tmp_path / 'imp.py'}:2" in message
    assert "'pandas_ta'" in message and "pip install pandas-ta" in message


class Exploding(IStrategy):
    stoploss = -0.1

    def populate_indicators(self, dataframe, metadata):
        raise ZeroDivisionError("boom")

    def populate_entry_trend(self, dataframe, metadata):
        return dataframe


class Shrinking(IStrategy):
    stoploss = -0.1

    def populate_indicators(self, dataframe, metadata):
        return dataframe.iloc[1:]

    def populate_entry_trend(self, dataframe, metadata):
        return dataframe


def test_exception_in_populate_becomes_strategy_error_naming_pair_and_step():
    with pytest.raises(
        StrategyError,
        match=r"Exploding\.populate_indicators failed for ETH/USDT \(.*test_strategy\.py:\d+\): ZeroDivisionError: boom",
    ):
        Exploding().analyze(make_ohlcv(10), "ETH/USDT")


def test_changing_the_number_of_candles_is_refused():
    with pytest.raises(StrategyError, match="changed the number of candles"):
        Shrinking().analyze(make_ohlcv(10), "ETH/USDT")


class InPlace(IStrategy):
    """Writes into the frame it is given, as real strategies do."""

    stoploss = -0.1

    def populate_indicators(self, dataframe, metadata):
        dataframe["y"] = 1.0
        dataframe.loc[0, "close"] = -1.0
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        return dataframe


def test_analyze_does_not_modify_the_input_frame():
    frame = make_ohlcv(20)
    before = frame.copy()
    good = InPlace()
    good.analyze(frame, "X/Y")
    pd.testing.assert_frame_equal(frame, before)


def test_parameters_have_values_and_check_ranges():
    p = IntParameter(10, 60, default=30)
    assert p.value == 30
    p.set(45)
    assert p.value == 45
    with pytest.raises(ValueError, match=r"expected a value in \[10, 60\]"):
        p.set(61)
    assert DecimalParameter(0.1, 0.5, default=0.123456, decimals=2).value == 0.12
    # as freqtrade: a default outside the range is used as given
    assert IntParameter(10, 60, default=5).value == 5
    assert CategoricalParameter(["a", "b"], default="z").value == "z"
    c = CategoricalParameter(["a", "b"], default="b")
    with pytest.raises(ValueError, match="expected one of"):
        c.set("z")


def test_parameters_are_per_instance():
    class S(IStrategy):
        stoploss = -0.1
        buy = IntParameter(0, 10, default=5)

        def populate_indicators(self, dataframe, metadata):
            return dataframe

        def populate_entry_trend(self, dataframe, metadata):
            return dataframe

    a, b = S(), S()
    a.buy.set(9)
    assert b.buy.value == 5
    assert a.parameters["buy"] is a.buy
