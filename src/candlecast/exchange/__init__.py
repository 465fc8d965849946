"""Exchanges: the interface, the embedded simulated exchange, and the factory."""

from __future__ import annotations

from candlecast.clock import Clock
from candlecast.config.models import ExchangeConfig
from candlecast.exceptions import ConfigError
from candlecast.exchange.base import Exchange, Ticker
from candlecast.exchange.simulated import SimulatedExchange


def create_exchange(config: ExchangeConfig, clock: Clock | None = None) -> Exchange:
    """Build the exchange named in the config.

    Raises:
        ConfigError: the exchange is not supported.
    """
    if config.name == "simulated":
        return SimulatedExchange(
            seed=config.sim_seed, fee=config.sim_fee, volatility=config.sim_volatility, clock=clock
        )
    raise ConfigError(
        f'exchange.name: expected "simulated" (ccxt exchanges are not available yet), got {config.name!r}'
    )


__all__ = ["Exchange", "SimulatedExchange", "Ticker", "create_exchange"]
