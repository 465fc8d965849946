"""freqtrade strategy files, written as freqtrade users write them, loaded by the real loader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from candlecast.exceptions import StrategyError
from candlecast.persistence import Trade as CallbackTrade
from candlecast.strategy import IStrategy, informative, merge_informative_pair
from candlecast.strategy.loader import load_strategy
from candlecast.strategy.parameters import IntParameter
from candlecast.testing import make_ohlcv

HEADER = """
import talib.abstract as ta
from pandas import DataFrame
"""

BODY = """
    timeframe = "5m"
    stoploss = -0.1
    minimal_roi = {"0": 0.1}

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["rsi"] < self.buy_rsi.value, "enter_long"] = 1
        return dataframe
"""


def strategy_file(directory: Path, name: str, imports: str, attributes: str = "") -> Path:
    path = directory / f"{name}.py"
    path.write_text(
        HEADER + imports + f"\n\nclass {name}(IStrategy):\n" + (attributes or "    pass\n") + BODY
    )
    return path


FREQTRADE_IMPORTS = """
import freqtrade.vendor.qtpylib.indicators as qtpylib
from freqtrade.vendor.qtpylib import indicators
from freqtrade.strategy import (
    BooleanParameter, CategoricalParameter, DecimalParameter, IntParameter, IStrategy,
    RealParameter, informative, merge_informative_pair, timeframe_to_minutes,
    timeframe_to_next_date, timeframe_to_prev_date, stoploss_from_open, stoploss_from_absolute,
)
from freqtrade.strategy.interface import IStrategy as IStrategy2
from freqtrade.strategy.hyper import IntParameter as IntParameter2
from freqtrade.persistence import Trade
from freqtrade.exchange import timeframe_to_seconds, timeframe_to_msecs, timeframe_to_minutes
from freqtrade.enums import CandleType, RunMode, ExitType, SignalDirection, TradingMode
from freqtrade.exceptions import OperationalException
import freqtrade.strategy
"""


def test_a_freqtrade_strategy_file_loads_unchanged_and_gets_candlecasts_objects(tmp_path: Path):
    strategy_file(
        tmp_path, "FtImports", FREQTRADE_IMPORTS, "    buy_rsi = IntParameter(10, 40, default=30)\n"
    )
    strategy = load_strategy("FtImports", tmp_path)
    module = sys.modules[type(strategy).__module__]
    assert isinstance(strategy, IStrategy)
    assert module.IStrategy is IStrategy and module.IStrategy2 is IStrategy
    assert module.IntParameter2 is IntParameter
    assert module.informative is informative
    assert module.merge_informative_pair is merge_informative_pair
    assert module.qtpylib.crossed_above is module.indicators.crossed_above
    assert module.freqtrade.strategy.IStrategy is IStrategy
    assert module.Trade is CallbackTrade  # freqtrade.persistence.Trade
    assert module.timeframe_to_minutes("1h") == 60
    assert module.CandleType.SPOT == "spot" and module.ExitType.ROI.value == "roi"
    assert issubclass(module.OperationalException, StrategyError)
    frame = strategy.analyze(make_ohlcv(100), "BTC/USDT")
    assert frame["enter_long"].sum() == (frame["rsi"] < 30).sum()


def test_star_import_and_imports_inside_methods_are_mapped_too(tmp_path: Path):
    (tmp_path / "Star.py").write_text(
        "from freqtrade.strategy import *\n"
        "class Star(IStrategy):\n"
        "    stoploss = -0.1\n"
        "    def populate_indicators(self, dataframe, metadata):\n"
        "        from freqtrade.exchange import timeframe_to_seconds\n"
        "        dataframe['tf'] = timeframe_to_seconds(self.timeframe)\n"
        "        return dataframe\n"
        "    def populate_entry_trend(self, dataframe, metadata):\n"
        "        return dataframe\n"
    )
    frame = load_strategy("Star", tmp_path).analyze(make_ohlcv(10), "BTC/USDT")
    assert (frame["tf"] == 300).all()


def test_a_real_freqtrade_beside_candlecast_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    site = tmp_path / "site"
    (site / "freqtrade" / "strategy").mkdir(parents=True)
    (site / "freqtrade" / "__init__.py").write_text("REAL = True\n")
    (site / "freqtrade" / "strategy" / "__init__.py").write_text(
        "class IStrategy:\n    REAL = True\n"
    )
    monkeypatch.syspath_prepend(str(site))
    assert not [n for n in sys.modules if n.split(".")[0] == "freqtrade"]
    try:
        import freqtrade.strategy as before  # the "installed" freqtrade, imported first

        strategies = tmp_path / "strategies"
        strategies.mkdir()
        strategy_file(
            strategies,
            "Shadowed",
            FREQTRADE_IMPORTS,
            "    buy_rsi = IntParameter(10, 40, default=30)\n",
        )
        strategy = load_strategy("Shadowed", strategies)

        assert isinstance(strategy, IStrategy)  # the strategy got candlecast's IStrategy
        assert sys.modules["freqtrade.strategy"] is before
        import freqtrade.strategy as after

        assert after is before and after.IStrategy.REAL is True
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "freqtrade"]:
            del sys.modules[name]


def test_a_library_the_strategy_imports_may_import_freqtrade_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # as technical.pivots_points does: "import freqtrade.vendor.qtpylib.indicators as qtpylib"
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "ftlib_pivots.py").write_text(
        "import freqtrade.vendor.qtpylib.indicators as qtpylib\n"
        "def mid(frame):\n"
        "    return qtpylib.typical_price(frame)\n"
    )
    monkeypatch.syspath_prepend(str(lib))
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "UsesLib.py").write_text(
        "from freqtrade.strategy import IStrategy\n"
        "from ftlib_pivots import mid\n"
        "class UsesLib(IStrategy):\n"
        "    stoploss = -0.1\n"
        "    def populate_indicators(self, dataframe, metadata):\n"
        "        dataframe['mid'] = mid(dataframe)\n"
        "        return dataframe\n"
        "    def populate_entry_trend(self, dataframe, metadata):\n"
        "        return dataframe\n"
    )
    try:
        frame = load_strategy("UsesLib", strategies).analyze(make_ohlcv(20), "BTC/USDT")
    finally:
        sys.modules.pop("ftlib_pivots", None)
    expected = (frame["high"] + frame["low"] + frame["close"]) / 3
    pd.testing.assert_series_equal(frame["mid"], expected, check_names=False)
    assert not [n for n in sys.modules if n.split(".")[0] == "freqtrade"]


def test_a_strategy_load_adds_no_freqtrade_module(tmp_path: Path):
    strategy_file(
        tmp_path, "Clean", FREQTRADE_IMPORTS, "    buy_rsi = IntParameter(10, 40, default=30)\n"
    )
    load_strategy("Clean", tmp_path)
    assert not [n for n in sys.modules if n == "freqtrade" or n.startswith("freqtrade.")]


def test_an_unmapped_freqtrade_module_is_one_line_naming_it_and_the_file(tmp_path: Path):
    strategy_file(
        tmp_path,
        "Odd",
        "from freqtrade.strategy import IStrategy\nfrom freqtrade.optimize.space import SKDecimal\n",
    )
    with pytest.raises(StrategyError) as info:
        load_strategy("Odd", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "freqtrade.optimize.space" in message and f"{tmp_path / 'Odd.py'}:5" in message


# --- parameters ------------------------------------------------------------------------

PARAMS = """
    buy_rsi = IntParameter(10, 60, default=30)
    buy_fast = IntParameter(5, 20, default=5, load=False)
    sell_level = DecimalParameter(0.1, 0.9, default=0.5, decimals=1)
    exit_mode = CategoricalParameter(["a", "b"], default="a", space="sell")
    use_volume = BooleanParameter(default=True, space="buy")
    loose = IntParameter(1, 5, default=2)
    buy_params = {"buy_rsi": 45, "buy_fast": 9, "use_volume": False}
    sell_params = {"sell_level": 0.3, "exit_mode": "b", "loose": 4}
"""
PARAM_IMPORTS = (
    "from freqtrade.strategy import IStrategy, IntParameter, DecimalParameter,"
    " CategoricalParameter, BooleanParameter\n"
)


def test_buy_and_sell_params_dicts_set_the_values_of_their_space(tmp_path: Path):
    strategy_file(tmp_path, "Params", PARAM_IMPORTS, PARAMS)
    s = load_strategy("Params", tmp_path)
    assert s.buy_rsi.value == 45
    assert s.buy_fast.value == 5  # load=False keeps the default
    assert s.use_volume.value is False
    assert s.sell_level.value == 0.3 and s.exit_mode.value == "b"
    assert s.loose.value == 2  # no space and no buy_/sell_ prefix: never loaded
    assert s.buy_rsi.category == "buy" and s.exit_mode.category == "sell"
    frame = s.analyze(make_ohlcv(200, seed=4), "BTC/USDT")
    assert frame["enter_long"].sum() == (frame["rsi"] < 45).sum() > (frame["rsi"] < 30).sum()


def test_the_parameter_file_beside_the_strategy_wins_and_sets_roi_stoploss_and_trailing(
    tmp_path: Path,
):
    strategy_file(tmp_path, "Params", PARAM_IMPORTS, PARAMS)
    (tmp_path / "Params.json").write_text(
        json.dumps(
            {
                "strategy_name": "Params",
                "params": {
                    "buy": {"buy_rsi": 35},
                    "sell": {"exit_mode": "a"},
                    "roi": {"0": 0.2, "30": 0.05},
                    "stoploss": {"stoploss": -0.05},
                    "trailing": {"trailing_stop": False, "trailing_stop_positive": None},
                },
            }
        )
    )
    s = load_strategy("Params", tmp_path)
    assert s.buy_rsi.value == 35  # the file beats buy_params
    assert s.use_volume.value is False  # buy_params still fill what the file leaves out
    assert s.exit_mode.value == "a" and s.sell_level.value == 0.3
    assert s.minimal_roi == {"0": 0.2, "30": 0.05}
    assert s.stoploss == -0.05
    assert s.trailing_stop is False


def test_a_parameter_file_for_another_strategy_is_refused(tmp_path: Path):
    strategy_file(tmp_path, "Params", PARAM_IMPORTS, PARAMS)
    (tmp_path / "Params.json").write_text(json.dumps({"strategy_name": "Other", "params": {}}))
    with pytest.raises(StrategyError, match=r"Params\.json.*is for strategy 'Other', not Params"):
        load_strategy("Params", tmp_path)


def test_parameter_values_outside_the_range_are_used_as_freqtrade_does(tmp_path: Path):
    strategy_file(
        tmp_path,
        "Outside",
        PARAM_IMPORTS,
        "    buy_rsi = IntParameter(10, 40, default=55)\n"
        "    buy_mode = CategoricalParameter(['x', 'y'], default='z')\n"
        "    buy_params = {'buy_rsi': 70}\n",
    )
    s = load_strategy("Outside", tmp_path)
    assert s.buy_rsi.value == 70 and s.buy_mode.value == "z"


def test_range_outside_hyperopt_holds_only_the_current_value(tmp_path: Path):
    strategy_file(tmp_path, "Params", PARAM_IMPORTS, PARAMS)
    s = load_strategy("Params", tmp_path)
    assert list(s.buy_rsi.range) == [45]
    assert s.sell_level.range == [0.3]
    assert list(s.exit_mode.range) == ["b"]
    assert s.buy_rsi.optimize is True and s.buy_fast.load is False


def test_a_parameter_named_for_one_space_but_declared_in_another_is_refused(tmp_path: Path):
    strategy_file(
        tmp_path,
        "Confused",
        PARAM_IMPORTS,
        "    buy_rsi = IntParameter(10, 40, default=30, space='sell')\n",
    )
    with pytest.raises(StrategyError, match=r"buy_rsi is named for the buy space"):
        load_strategy("Confused", tmp_path)


# --- interface version 2 -----------------------------------------------------------------


def test_interface_version_2_buy_and_sell_columns_become_entry_and_exit_signals(tmp_path: Path):
    (tmp_path / "Old.py").write_text(
        "from freqtrade.strategy import IStrategy\n"
        "class Old(IStrategy):\n"
        "    INTERFACE_VERSION = 2\n"
        "    stoploss = -0.1\n"
        "    def populate_indicators(self, dataframe, metadata):\n"
        "        return dataframe\n"
        "    def populate_buy_trend(self, dataframe, metadata):\n"
        "        dataframe.loc[dataframe['close'] > dataframe['open'], 'buy'] = 1\n"
        "        return dataframe\n"
        "    def populate_sell_trend(self, dataframe, metadata):\n"
        "        dataframe.loc[dataframe['close'] < dataframe['open'], 'sell'] = 1\n"
        "        return dataframe\n"
    )
    frame = load_strategy("Old", tmp_path).analyze(make_ohlcv(60), "BTC/USDT")
    assert frame["enter_long"].sum() == (frame["close"] > frame["open"]).sum() > 0
    assert frame["exit_long"].sum() == (frame["close"] < frame["open"]).sum() > 0


# --- @informative --------------------------------------------------------------------------

INFORMATIVE = """
import talib.abstract as ta
from pandas import DataFrame
from freqtrade.strategy import IStrategy, informative


class Inf(IStrategy):
    timeframe = "5m"
    stoploss = -0.1

    @informative("1h")
    def populate_indicators_1h(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    @informative("1h", "BTC/{stake}")
    def populate_indicators_btc_1h(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    @informative("4h", "ETH/BTC", "{column}_{BASE}_{quote}_{timeframe}", ffill=False)
    def populate_indicators_eth_btc(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["mid"] = (dataframe["high"] + dataframe["low"]) / 2
        return dataframe

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["above"] = dataframe["close"] > dataframe["btc_usdt_close_1h"]
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["rsi_1h"] < 50, "enter_long"] = 1
        return dataframe
"""


class _Candles:
    """A stand-in for ``self.dp``: candles by (pair, timeframe), all from make_ohlcv."""

    def __init__(self) -> None:
        base = make_ohlcv(24 * 12 * 3, seed=1, timeframe="5m")
        start = base["date"].iloc[0]
        self.frames = {
            ("ETH/USDT", "5m"): base,
            ("ETH/USDT", "1h"): make_ohlcv(72, seed=2, timeframe="1h", start=start),
            ("BTC/USDT", "1h"): make_ohlcv(72, seed=3, timeframe="1h", start=start),
            ("ETH/BTC", "4h"): make_ohlcv(18, seed=4, timeframe="4h", start=start),
        }

    def get_pair_dataframe(self, pair: str, timeframe: str) -> pd.DataFrame:
        return self.frames[(pair, timeframe)].copy()


def test_informative_columns_are_named_as_freqtrade_names_them(tmp_path: Path):
    (tmp_path / "Inf.py").write_text(INFORMATIVE)
    s = load_strategy("Inf", tmp_path, {"stake_currency": "USDT"})
    s.dp = _Candles()  # type: ignore[assignment]
    frame = s.analyze(s.dp.frames[("ETH/USDT", "5m")], "ETH/USDT")
    for column in ("rsi_1h", "date_1h", "close_1h", "btc_usdt_rsi_1h", "btc_usdt_date_1h"):
        assert column in frame.columns
    assert "mid_ETH_btc_4h" in frame.columns and "date_ETH_btc_4h" in frame.columns
    assert "above" in frame.columns  # populate_indicators sees the informative columns


def test_informative_values_are_merged_without_look_ahead(tmp_path: Path):
    (tmp_path / "Inf.py").write_text(INFORMATIVE)
    s = load_strategy("Inf", tmp_path, {"stake_currency": "USDT"})
    candles = _Candles()
    s.dp = candles  # type: ignore[assignment]
    frame = s.analyze(candles.frames[("ETH/USDT", "5m")], "ETH/USDT")
    hourly = candles.frames[("BTC/USDT", "1h")].copy()
    import talib.abstract as ta

    hourly["rsi"] = ta.RSI(hourly, timeperiod=14)
    expected = merge_informative_pair(candles.frames[("ETH/USDT", "5m")], hourly, "5m", "1h")
    pd.testing.assert_series_equal(frame["btc_usdt_rsi_1h"], expected["rsi_1h"], check_names=False)
    # the 1h candle opening at 00:00 first shows on the 5m candle opening at 00:55
    first = frame.loc[frame["btc_usdt_date_1h"].notna(), "date"].iloc[0]
    assert first == frame["date"].iloc[0] + pd.Timedelta(minutes=55)
    # ffill=False: only the rows where a 4h candle lands carry its values
    assert frame["mid_ETH_btc_4h"].notna().sum() == frame["date_ETH_btc_4h"].notna().sum() < 30


def test_the_strategy_asks_for_every_informative_pair_and_timeframe(tmp_path: Path):
    (tmp_path / "Inf.py").write_text(INFORMATIVE)
    s = load_strategy("Inf", tmp_path, {"stake_currency": "USDT"})
    wanted = s.gather_informative_pairs(["ETH/USDT", "SOL/USDT"])
    assert set(wanted) == {
        ("ETH/USDT", "1h"),
        ("SOL/USDT", "1h"),
        ("BTC/USDT", "1h"),
        ("ETH/BTC", "4h"),
    }


def test_an_informative_timeframe_faster_than_the_strategys_is_refused(tmp_path: Path):
    (tmp_path / "Inf.py").write_text(
        INFORMATIVE.replace('@informative("1h")', '@informative("1m")')
    )
    with pytest.raises(StrategyError, match=r"@informative\('1m'\) is faster than .* 5m"):
        load_strategy("Inf", tmp_path, {"stake_currency": "USDT"})


def test_a_config_timeframe_slower_than_an_informative_one_is_refused_at_start(tmp_path: Path):
    from candlecast.bot.runtime import apply_strategy_overrides
    from candlecast.config import validate_config
    from candlecast.strategy.support import check_supported

    (tmp_path / "Inf.py").write_text(INFORMATIVE)
    strategy = load_strategy("Inf", tmp_path, {"stake_currency": "USDT"})
    check_supported(strategy)
    apply_strategy_overrides(validate_config({"timeframe": "2h"}), strategy)
    with pytest.raises(StrategyError, match=r"@informative\('1h'\) is faster than .* 2h"):
        check_supported(strategy)


def test_informative_pairs_accepts_freqtrades_three_tuples_but_only_spot(tmp_path: Path):
    class Extra(IStrategy):
        stoploss = -0.1

        def informative_pairs(self):
            return [("BTC/USDT", "1h"), ("ETH/USDT", "15m", "")]

        def populate_indicators(self, dataframe, metadata):
            return dataframe

    assert Extra().gather_informative_pairs([]) == [("BTC/USDT", "1h"), ("ETH/USDT", "15m")]

    class Futures(Extra):
        def informative_pairs(self):
            return [("BTC/USDT:USDT", "1h", "futures")]

    with pytest.raises(StrategyError, match="spot only"):
        Futures().gather_informative_pairs([])


def test_get_pair_dataframe_takes_freqtrades_candle_type_argument():
    from candlecast.data.dataprovider import DataProvider

    dp = DataProvider("5m")
    dp.set_ohlcv("BTC/USDT", "1h", make_ohlcv(5, timeframe="1h"))
    frame = dp.get_pair_dataframe(pair="BTC/USDT", timeframe="1h", candle_type="spot")
    assert len(frame) == 5
    with pytest.raises(ValueError, match="spot"):
        dp.get_pair_dataframe("BTC/USDT", "1h", candle_type="futures")
