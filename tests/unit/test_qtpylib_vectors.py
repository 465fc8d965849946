"""candlecast's qtpylib gives freqtrade 2026.9's results for every recorded call.

One test per case of ``qtpylib.json`` (freqtrade's ``vendor.qtpylib.indicators`` run on the
frames of ``frames.json``): the same values bit for bit, NaN rows, names, columns, index and
dtypes, or the same exception type and message.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from candlecast.strategy import qtpylib
from candlecast.strategy.loader import load_strategy
from tests import golden

VECTORS = golden.load("qtpylib")
CASES: dict[str, dict[str, Any]] = {case["id"]: case for case in VECTORS["cases"]}

# Where candlecast deliberately does not do what freqtrade does: case id -> reason.
DELIBERATE = {
    "crossed/A close x 103/direction=sideways [rows 0:300]": (
        "freqtrade fails with an UnboundLocalError for an unknown direction; candlecast "
        "raises a ValueError naming the accepted directions"
    ),
}


def _argument(spec: Any) -> Any:
    """One positional argument, built as the vector file's ``format`` describes."""
    if not isinstance(spec, dict):
        return spec
    if "case" in spec:
        return golden.decode(CASES[spec["case"]]["result"])
    if "numpy.float64" in spec:
        return np.float64(spec["numpy.float64"])
    data: Any = golden.frame_ref({key: spec[key] for key in ("frame", "rows") if key in spec})
    if spec.get("reset_index"):
        data = data.reset_index(drop=True)
    if "set_index" in spec:
        data = data.set_index(spec["set_index"])
    if "column" in spec:
        data = data[spec["column"]]
    if spec.get("to") == "ndarray":
        data = data.to_numpy()
    return data


def _call(case: dict[str, Any]) -> Any:
    args = [_argument(spec) for spec in case["args"]]
    kwargs = case.get("kwargs") or {}
    if "method" in case:
        return getattr(args[0], case["method"])(*args[1:], **kwargs)
    return getattr(qtpylib, case["function"])(*args, **kwargs)


def _type_name(error: BaseException) -> str:
    kind = type(error)
    if getattr(builtins, kind.__name__, None) is kind:
        return kind.__name__
    return f"{kind.__module__}.{kind.__qualname__}"


def test_every_function_of_freqtrades_qtpylib_is_provided():
    missing = [
        name
        for name in VECTORS["notes"]["module_functions"]
        if not callable(getattr(qtpylib, name, None))
    ]
    assert missing == []


@pytest.mark.parametrize("case_id", [i for i in CASES if i not in DELIBERATE])
def test_matches_freqtrade(case_id: str) -> None:
    case = CASES[case_id]
    if "raises" in case:
        with pytest.raises(Exception) as caught:
            _call(case)
        raised = {"type": _type_name(caught.value), "message": str(caught.value)}
        assert raised == case["raises"]
    else:
        golden.assert_exact(_call(case), golden.decode(case["result"]), case_id)


def test_crossed_rejects_an_unknown_direction_with_a_clear_error():
    case = CASES["crossed/A close x 103/direction=sideways [rows 0:300]"]
    assert case["raises"]["type"] == "UnboundLocalError"  # freqtrade's own bug
    with pytest.raises(ValueError, match=r"direction must be None, 'above' or 'below'.*sideways"):
        _call(case)


def test_the_deliberate_differences_are_cases_of_the_vectors():
    assert set(DELIBERATE) <= set(CASES)


def test_pandas_methods_call_the_module_functions():
    close = pd.Series([1.0, 3.0, 2.0, 5.0, 4.0, 6.0], name="close")
    golden.assert_exact(close.ema(3), qtpylib.wma(close, 3))
    golden.assert_exact(close.zlwma(5), qtpylib.zlema(close, 5))
    golden.assert_exact(close.rsi(2), qtpylib.rsi(close, 2))


def test_the_producer_example_broadcasts_freqtrades_bollinger_bands(strategy_dir: Path):
    # ProducerStrategy: bollinger_bands(typical_price(dataframe), window=20, stds=2)
    producer = load_strategy("ProducerStrategy", strategy_dir)
    frame = producer.populate_indicators(golden.frame_ref({"frame": "A"}), {"pair": "BTC/USDT"})
    expected = golden.decode(CASES["bollinger_bands/A typical_price/default"]["result"])
    bands = frame[["bb_upperband", "bb_middleband", "bb_lowerband"]]
    bands.columns = pd.Index(["upper", "mid", "lower"])
    golden.assert_exact(bands, expected, "ProducerStrategy bands")
