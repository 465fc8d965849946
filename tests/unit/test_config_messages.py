"""Config errors read as one plain line: no pydantic branch labels or wording."""

from __future__ import annotations

import pytest

from candlecast.config import validate_config
from candlecast.exceptions import ConfigError


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    return caught.value.problems


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", '"abc"'), (-5, "-5"), (True, "true"), ([1], "a list"), ("50", '"50" (a string)')],
)
def test_a_bad_stake_amount_is_one_line_naming_both_forms(value, shown):
    assert problems({"stake_amount": value}) == [
        f'stake_amount: expected a positive number or "unlimited", got {shown}'
    ]


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ({"stoploss": "abc"}, 'stoploss: expected a number, got "abc"'),
        ({"timeframe": 5}, "timeframe: expected a string, got 5"),
        ({"minimal_roi": "x"}, 'minimal_roi: expected an object, got "x"'),
        ({"dry_run": "x"}, 'dry_run: expected true or false, got "x"'),
    ],
)
def test_type_errors_use_plain_words(raw, line):
    assert problems(raw) == [line]
