"""Figures the docs quote, counted by the tests that claim them.

A test calls ``count(figure, n)`` for what it really ran (fuzz messages, wrong tokens
tried, kills, restarts...); pytest prints every figure at the end of the run, so the
numbers in README.md and docs/reliability.md can be read off a ``make test`` log.
"""

from __future__ import annotations

COUNTS: dict[str, int] = {}


def count(figure: str, n: int = 1) -> None:
    COUNTS[figure] = COUNTS.get(figure, 0) + n
