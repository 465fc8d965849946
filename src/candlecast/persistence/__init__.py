"""Trades in SQL: the repository, and ``Trade``/``Order`` as strategy callbacks see them.

``from candlecast.persistence import Trade`` (freqtrade's ``freqtrade.persistence.Trade``).
"""

from candlecast.persistence.trade import Order, Trade

__all__ = ["Order", "Trade"]
