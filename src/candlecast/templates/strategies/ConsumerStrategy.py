# A consumer strategy (from freqtrade's producer/consumer document, imports changed):
# it computes no indicators; it merges the producer's columns (rsi_default, ...) into
# its own candles and enters on them.
from pandas import DataFrame

from candlecast.strategy import IntParameter, IStrategy, merge_informative_pair, qtpylib


class ConsumerStrategy(IStrategy):
    timeframe = "5m"
    minimal_roi = {"0": 0.01, "10": 0.005}
    stoploss = -0.02
    buy_rsi = IntParameter(10, 60, default=45, space="buy")

    process_only_new_candles = False  # required for consumers

    _columns_to_expect = ["rsi_default", "tema_default", "bb_middleband_default"]

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """
        Use the websocket api to get pre-populated indicators from another freqtrade instance.
        Use `self.dp.get_producer_df(pair)` to get the dataframe
        """
        pair = metadata["pair"]
        timeframe = self.timeframe

        producer_pairs = self.dp.get_producer_pairs()
        # You can specify which producer to get pairs from via:
        # self.dp.get_producer_pairs("my_other_producer")

        # This func returns the analyzed dataframe, and when it was analyzed
        producer_dataframe, _ = self.dp.get_producer_df(pair)
        # You can get other data if the producer makes it available:
        # self.dp.get_producer_df(
        #   pair,
        #   timeframe="1h",
        #   candle_type=CandleType.SPOT,
        #   producer_name="my_other_producer"
        # )

        if not producer_dataframe.empty:
            # If you plan on passing the producer's entry/exit signal directly,
            # specify ffill=False or it will have unintended results
            merged_dataframe = merge_informative_pair(
                dataframe,
                producer_dataframe,
                timeframe,
                timeframe,
                append_timeframe=False,
                suffix="default",
            )
            return merged_dataframe
        else:
            dataframe[self._columns_to_expect] = 0

        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """
        Populates the entry signal for the given dataframe
        """
        # Use the dataframe columns as if we calculated them ourselves
        dataframe.loc[
            (
                (qtpylib.crossed_above(dataframe["rsi_default"], self.buy_rsi.value))
                & (dataframe["tema_default"] <= dataframe["bb_middleband_default"])
                & (dataframe["tema_default"] > dataframe["tema_default"].shift(1))
                & (dataframe["volume"] > 0)
            ),
            "enter_long",
        ] = 1

        return dataframe
