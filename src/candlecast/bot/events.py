"""freqtrade's RPC event messages, as its API server sends them to websocket subscribers.

Each is a flat JSON object whose ``type`` is the message type (``entry``, ``entry_fill``,
``exit``, ``exit_fill``, ``status``, ``startup``, ``warning``, ``strategy_msg``, ...),
the other fields as freqtrade names them. Pure builders: the bot publishes them
through the hub (``Bot.notify``).
"""

from __future__ import annotations

from typing import Any

from candlecast.domain.locks import DATETIME_PRINT_FORMAT
from candlecast.domain.trades import Trade


def _currencies(pair: str) -> tuple[str, str]:
    base, _, quote = pair.partition("/")
    return base, quote.split(":")[0]


def entry(kind: str, trade: Trade, exchange: str, stake_currency: str, rate: float) -> dict:
    """``entry`` (order placed) or ``entry_fill`` (filled), freqtrade's ``RPCEntryMsg``."""
    base, quote = _currencies(trade.pair)
    return {
        "type": kind,
        "trade_id": trade.id,
        "buy_tag": trade.enter_tag,
        "enter_tag": trade.enter_tag,
        "exchange": exchange.capitalize(),
        "pair": trade.pair,
        "leverage": 1.0,
        "direction": "Long",
        "limit": trade.open_rate,
        "open_rate": trade.open_rate,
        "order_type": "limit",
        "stake_amount": trade.stake_amount,
        "stake_currency": stake_currency,
        "base_currency": base,
        "quote_currency": quote,
        "fiat_currency": None,
        "amount": trade.amount,
        "open_date": trade.open_date.strftime(DATETIME_PRINT_FORMAT),
        "current_rate": rate,
        "sub_trade": False,
    }


def exit(kind: str, trade: Trade, exchange: str, stake_currency: str, rate: float) -> dict:
    """``exit`` (order placed) or ``exit_fill`` (filled), freqtrade's ``RPCExitMsg``."""
    base, quote = _currencies(trade.pair)
    ratio = trade.close_profit if trade.close_profit is not None else trade.profit_ratio(rate)
    amount = (
        trade.close_profit_abs if trade.close_profit_abs is not None else trade.profit_abs(rate)
    )
    close_rate = trade.close_rate if trade.close_rate is not None else rate
    return {
        "type": kind,
        "trade_id": trade.id,
        "exchange": exchange.capitalize(),
        "pair": trade.pair,
        "leverage": 1.0,
        "direction": "Long",
        "gain": "profit" if ratio > 0 else "loss",
        "limit": close_rate,
        "order_rate": close_rate,
        "order_type": "limit",
        "amount": trade.amount,
        "open_rate": trade.open_rate,
        "close_rate": close_rate,
        "current_rate": rate,
        "profit_amount": amount,
        "profit_ratio": ratio,
        "buy_tag": trade.enter_tag,
        "enter_tag": trade.enter_tag,
        "exit_reason": trade.exit_reason,
        "open_date": trade.open_date.strftime(DATETIME_PRINT_FORMAT),
        "close_date": trade.close_date.strftime(DATETIME_PRINT_FORMAT)
        if trade.close_date
        else None,
        "stake_amount": trade.stake_amount,
        "stake_currency": stake_currency,
        "base_currency": base,
        "quote_currency": quote,
        "fiat_currency": None,
        "sub_trade": False,
        "cumulative_profit": amount,
        "final_profit_ratio": ratio if kind == "exit_fill" else None,
        "is_final_exit": kind == "exit_fill",
    }


def cancel(
    kind: str,
    trade_id: int,
    pair: str,
    amount: float,
    price: float,
    exchange: str,
    stake_currency: str,
) -> dict[str, Any]:
    """``entry_cancel`` or ``exit_cancel``: an order cancelled unfilled after
    ``unfilledtimeout``."""
    base, quote = _currencies(pair)
    return {
        "type": kind,
        "trade_id": trade_id,
        "reason": "cancelled due to timeout",
        "exchange": exchange.capitalize(),
        "pair": pair,
        "leverage": 1.0,
        "direction": "Long",
        "limit": price,
        "order_type": "limit",
        "amount": amount,
        "stake_currency": stake_currency,
        "base_currency": base,
        "quote_currency": quote,
        "fiat_currency": None,
        "sub_trade": False,
    }


def status(kind: str, text: str) -> dict[str, Any]:
    """``status``, ``startup`` or ``warning``: ``{"type": kind, "status": text}``."""
    return {"type": kind, "status": text}


def strategy_msg(text: str) -> dict[str, Any]:
    return {"type": "strategy_msg", "msg": text}


def protection_trigger(lock_json: dict[str, Any], pair: str | None) -> dict[str, Any]:
    """A lock a protection set: ``protection_trigger`` for one pair, ``_global`` for all."""
    kind = "protection_trigger" if pair and pair != "*" else "protection_trigger_global"
    base = (pair or "").split("/")[0] if kind == "protection_trigger" else None
    return {"type": kind, "base_currency": base, **lock_json}
