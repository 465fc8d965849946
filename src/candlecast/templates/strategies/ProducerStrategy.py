# A producer strategy (from freqtrade's producer/consumer document, imports changed):
# it computes the indicators once and the producer broadcasts them to its consumers.
import talib.abstract as ta
from pandas import DataFrame

from candlecast.strategy import IntParameter, IStrategy, qtpylib


class ProducerStrategy(IStrategy):
    timeframe = "5m"
    minimal_roi = {"0": 0.01, "10": 0.005}
    stoploss = -0.02
    startup_candle_count = 30
    buy_rsi = IntParameter(10, 60, default=45, space="buy")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """
        Calculate indicators in the standard freqtrade way which can then be broadcast to other instances
        """
        dataframe["rsi"] = ta.RSI(dataframe)
        bollinger = qtpylib.bollinger_bands(qtpylib.typical_price(dataframe), window=20, stds=2)
        dataframe["bb_lowerband"] = bollinger["lower"]
        dataframe["bb_middleband"] = bollinger["mid"]
        dataframe["bb_upperband"] = bollinger["upper"]
        dataframe["tema"] = ta.TEMA(dataframe, timeperiod=9)

        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """
        Populates the entry signal for the given dataframe
        """
        dataframe.loc[
            (
                (qtpylib.crossed_above(dataframe["rsi"], self.buy_rsi.value))
                & (dataframe["tema"] <= dataframe["bb_middleband"])
                & (dataframe["tema"] > dataframe["tema"].shift(1))
                & (dataframe["volume"] > 0)
            ),
            "enter_long",
        ] = 1

        return dataframe
