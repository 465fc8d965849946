"""Refuse to run a strategy that asks for something candlecast does not do yet."""

from __future__ import annotations

from candlecast.domain.features import strategy_requests
from candlecast.exceptions import StrategyError
from candlecast.strategy.interface import IStrategy


def check_supported(strategy: IStrategy) -> None:
    """Raise if ``strategy`` asks for an unhonoured feature of ``domain.features.FEATURES``.

    Raises:
        StrategyError: one line naming the strategy, its file and every such feature.
    """
    asked = strategy_requests(strategy, IStrategy)
    if asked:
        features = ", ".join(f"{feature} ({attr})" for feature, attr in asked)
        raise StrategyError(
            f"strategy {type(strategy).__name__} ({strategy.source_file()}) asks for {features}, "
            "which candlecast does not do yet; remove it from the strategy to run it here"
        )
