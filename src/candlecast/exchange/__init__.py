"""Exchanges: the interface, the embedded simulated exchange, ccxt, and the factory."""

from __future__ import annotations

from candlecast.clock import Clock
from candlecast.config.models import ExchangeConfig
from candlecast.exchange.base import Exchange, Ticker
from candlecast.exchange.simulated import SimulatedExchange


def create_exchange(
    config: ExchangeConfig, clock: Clock | None = None, *, live: bool = False
) -> Exchange:
    """Build the exchange named in the config (``live``: orders will be real).

    Raises:
        ConfigError: the name is neither "simulated" nor a ccxt exchange id, or live
            trading lacks the credentials the exchange requires.
    """
    if config.name == "simulated":
        return SimulatedExchange(
            seed=config.sim_seed, fee=config.sim_fee, volatility=config.sim_volatility, clock=clock
        )
    from candlecast.exchange.ccxt_exchange import CcxtExchange

    return CcxtExchange(config, clock, live=live)


__all__ = ["Exchange", "SimulatedExchange", "Ticker", "create_exchange"]
