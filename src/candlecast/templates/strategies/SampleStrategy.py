# A standalone strategy: it computes its own indicators and trades on them.
# Edit it, or copy it under another class name; `candlecast list-strategies` lists them.
import talib.abstract as ta
from pandas import DataFrame

from candlecast.strategy import IntParameter, IStrategy, qtpylib


class SampleStrategy(IStrategy):
    timeframe = "5m"
    minimal_roi = {"0": 0.02, "30": 0.01}
    stoploss = -0.05
    startup_candle_count = 30
    buy_rsi = IntParameter(10, 60, default=35, space="buy")
    sell_rsi = IntParameter(50, 95, default=70, space="sell")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        dataframe["ema_fast"] = ta.EMA(dataframe, timeperiod=9)
        dataframe["ema_slow"] = ta.EMA(dataframe, timeperiod=21)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            (qtpylib.crossed_above(dataframe["rsi"], self.buy_rsi.value))
            & (dataframe["ema_fast"] > dataframe["ema_slow"])
            & (dataframe["volume"] > 0),
            "enter_long",
        ] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[qtpylib.crossed_above(dataframe["rsi"], self.sell_rsi.value), "exit_long"] = 1
        return dataframe
