"""A producer whose strategy adds nullable and boolean columns keeps broadcasting and
trading, and its consumers hold those columns with the producer's dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from candlecast.testing import wait_until
from tests.integration.harness import (
    PAIRS,
    CraftedSignals,
    advance,
    consumer_config,
    make_bot,
    new_clock,
    opened,
    producer_config,
    producer_frame,
    running,
)

pytestmark = pytest.mark.anyio


class NullableColumns(CraftedSignals):
    """CraftedSignals plus an ``Int64`` column with NA and a bool column."""

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe = super().populate_indicators(dataframe, metadata)
        n = len(dataframe)
        streak = pd.array(np.arange(n) % 5, dtype="Int64")
        streak[np.arange(n) % 5 == 0] = pd.NA  # NA in the stored rows, none in the newest
        dataframe["streak"] = streak
        dataframe["rising"] = dataframe["close"].diff().fillna(0) > 0
        return dataframe


def stored_copy(consumer, pair: str) -> pd.DataFrame:
    frame, _ = consumer.dp.get_producer_df(pair, producer_name="default")
    return frame


async def eventually(predicate, timeout: float = 3.0) -> bool:
    try:
        await wait_until(predicate, timeout=timeout)
    except TimeoutError:
        return False
    return True


def caught_up(consumer, producer) -> bool:
    return all(
        stored_copy(consumer, pair)["date"].iloc[-1]
        == producer_frame(producer, pair)["date"].iloc[-1]
        for pair in PAIRS
    )


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_a_producer_with_an_int64_column_holding_na_keeps_broadcasting_and_trading(
    tmp_path: Path, binary: bool
):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), NullableColumns(), clock)) as producer:
        assert producer_frame(producer, PAIRS[0])["streak"].isna().any()
        raw = consumer_config(
            tmp_path, {"default": producer.api_port}, external_message_consumer={"binary": binary}
        )
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: not stored_copy(consumer, PAIRS[0]).empty, timeout=10)
            for _ in range(2):  # live 1-candle updates; one of two carries the crossing
                await advance(producer, clock)
                await wait_until(lambda: caught_up(consumer, producer), timeout=10)
                if await eventually(lambda: consumer.repository.count(is_open=True) >= 1):
                    break
            # the producer kept trading on its own signals, the consumer on the producer's
            assert producer.repository.count(is_open=True) >= 1
            assert consumer.repository.count(is_open=True) >= 1
            for pair in PAIRS:
                theirs = producer_frame(producer, pair)
                ours = stored_copy(consumer, pair)
                expected = theirs.tail(len(ours)).reset_index(drop=True)
                assert ours["rising"].dtype == bool
                assert (~ours["rising"]).tolist() == (~expected["rising"]).tolist()
                if binary:  # every dtype exactly
                    pd.testing.assert_frame_equal(ours, expected, check_exact=True)
                else:  # as freqtrade's reader gives it: float64 with NaN for NA
                    assert ours["streak"].dtype == np.float64
                    assert ours["streak"].isna().tolist() == expected["streak"].isna().tolist()
                    assert (
                        ours["streak"].dropna().tolist()
                        == expected["streak"].dropna().astype(float).tolist()
                    )
