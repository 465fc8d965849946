"""merge_informative_pair against freqtrade 2026.9's golden vectors (one test per case).

Every case must match exactly: columns and their order, dtypes, the fresh 0..n-1 index,
values bit for bit, or the same exception type and message.
"""

from __future__ import annotations

from typing import Any

import pytest

from candlecast.strategy import merge_informative_pair
from tests import golden

VECTORS = golden.load("merge_informative_pair")
CASES = VECTORS["cases"]


def _exception_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def test_the_vector_file_has_every_case_with_a_unique_id():
    assert len(CASES) == 66  # 10 of them raise (the vectors' README says 15)
    assert len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_merge_informative_pair_matches_freqtrade(case: dict[str, Any]):
    inputs = VECTORS["inputs"]
    base = golden.frame_ref(case["base"], inputs)
    informative = golden.frame_ref(case["informative"], inputs)
    base_before, informative_before = base.copy(), informative.copy()
    args = (base, informative, case["timeframe"], case["timeframe_inf"])

    if "raises" in case:
        with pytest.raises(Exception) as info:
            merge_informative_pair(*args, **case["options"])
        assert _exception_name(info.value) == case["raises"]["type"]
        assert str(info.value) == case["raises"]["message"]
    else:
        result = merge_informative_pair(*args, **case["options"])
        golden.assert_exact(result, golden.decode(case["result"]))

    # the caller's frames are left as they were
    golden.assert_exact(base, base_before, "base after the merge")
    golden.assert_exact(informative, informative_before, "informative after the merge")
