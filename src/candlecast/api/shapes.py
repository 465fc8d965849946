"""Trades and statistics in the shapes of freqtrade's REST API (its OpenAPI schemas).

Pure functions of stored trades: no I/O, no FastAPI. Fields candlecast has no notion
of (futures, leverage, fiat conversion) get freqtrade's spot/no-fiat values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from candlecast.domain.locks import DATETIME_PRINT_FORMAT
from candlecast.domain.timeframes import timeframe_to_minutes
from candlecast.domain.trades import Trade


def ms(when: datetime | None) -> int | None:
    if when is None:
        return None
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def fmt(when: datetime | None) -> str | None:
    return None if when is None else when.strftime(DATETIME_PRINT_FORMAT)


def _pct(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio * 100, 2)


def _minutes(timeframe: str) -> int:
    try:
        return timeframe_to_minutes(timeframe)
    except Exception:
        return 0


def order_schema(pair: str, order: dict[str, Any]) -> dict[str, Any]:
    """One stored order as freqtrade's ``OrderSchema``."""
    amount = float(order.get("amount") or 0.0)
    filled = order.get("filled")
    price = order.get("average") or order.get("price") or 0.0
    status = str(order.get("status") or "open")
    side = str(order.get("side") or "buy")
    return {
        "pair": pair,
        "order_id": str(order.get("order_id") or ""),
        "status": status,
        "remaining": None if filled is None else max(amount - float(filled), 0.0),
        "amount": amount,
        "safe_price": float(price),
        "cost": float(order.get("cost") or float(price) * float(filled or 0.0)),
        "filled": None if filled is None else float(filled),
        "ft_order_side": side,
        "order_type": "limit",
        "is_open": status == "open",
        "order_timestamp": ms(order.get("created_at")),
        "order_filled_timestamp": ms(order.get("updated_at")) if status == "closed" else None,
        "ft_fee_base": None,
        "ft_order_tag": order.get("reason"),
    }


def trade_schema(
    trade: Trade, exchange: str, orders: list[dict[str, Any]], current_rate: float | None = None
) -> dict[str, Any]:
    """A trade as freqtrade's ``TradeSchema``, or ``OpenTradeSchema`` given ``current_rate``."""
    base, _, quote = trade.pair.partition("/")
    quote = quote.split(":")[0]
    open_value = trade.amount * trade.open_rate * (1 + trade.fee_open)
    entries = sum(1 for o in orders if o.get("side") == "buy" and o.get("status") == "closed")
    exits = sum(1 for o in orders if o.get("side") == "sell" and o.get("status") == "closed")
    realized = 0.0 if trade.is_open else (trade.close_profit_abs or 0.0)
    profit_ratio, profit_abs = trade.close_profit, trade.close_profit_abs
    if trade.is_open and current_rate is not None:
        profit_ratio, profit_abs = trade.profit_ratio(current_rate), trade.profit_abs(current_rate)
    out: dict[str, Any] = {
        "trade_id": trade.id,
        "pair": trade.pair,
        "base_currency": base,
        "quote_currency": quote,
        "is_open": trade.is_open,
        "is_short": False,
        "exchange": exchange,
        "amount": trade.amount,
        "amount_requested": trade.amount,
        "stake_amount": trade.stake_amount,
        "max_stake_amount": trade.stake_amount,
        "strategy": trade.strategy,
        "enter_tag": trade.enter_tag,
        "timeframe": _minutes(trade.timeframe),
        "fee_open": trade.fee_open,
        "fee_open_cost": None,
        "fee_open_currency": None,
        "fee_close": trade.fee_close,
        "fee_close_cost": None,
        "fee_close_currency": None,
        "open_date": fmt(trade.open_date),
        "open_timestamp": ms(trade.open_date),
        "open_fill_date": fmt(trade.open_date),
        "open_fill_timestamp": ms(trade.open_date),
        "open_rate": trade.open_rate,
        "open_rate_requested": trade.open_rate,
        "open_trade_value": open_value,
        "close_date": fmt(trade.close_date),
        "close_timestamp": ms(trade.close_date),
        "realized_profit": realized,
        "realized_profit_ratio": None if trade.is_open else trade.close_profit,
        "close_rate": trade.close_rate,
        "close_rate_requested": trade.close_rate,
        "close_profit": trade.close_profit,
        "close_profit_pct": _pct(trade.close_profit),
        "close_profit_abs": trade.close_profit_abs,
        "profit_ratio": profit_ratio,
        "profit_pct": _pct(profit_ratio),
        "profit_abs": profit_abs,
        "profit_fiat": None,
        "exit_reason": trade.exit_reason,
        "exit_order_status": None,
        "stop_loss_abs": trade.stop_loss,
        "stop_loss_ratio": trade.stop_loss_pct,
        "stop_loss_pct": _pct(trade.stop_loss_pct),
        "stoploss_last_update": None,
        "stoploss_last_update_timestamp": None,
        "initial_stop_loss_abs": trade.initial_stop_loss,
        "initial_stop_loss_ratio": trade.initial_stop_loss_pct,
        "initial_stop_loss_pct": _pct(trade.initial_stop_loss_pct),
        "min_rate": trade.min_rate,
        "max_rate": trade.max_rate,
        "has_open_orders": any(o.get("status") == "open" for o in orders),
        "orders": [order_schema(trade.pair, o) for o in orders],
        "leverage": 1.0,
        "interest_rate": 0.0,
        "liquidation_price": None,
        "funding_fees": 0.0,
        "trading_mode": "spot",
        "amount_precision": None,
        "price_precision": None,
        "precision_mode": None,
        "nr_of_successful_entries": max(entries, 1),
        "nr_of_successful_exits": exits,
    }
    if current_rate is not None:
        stop = trade.stop_loss
        out.update(
            current_rate=current_rate,
            total_profit_abs=(profit_abs or 0.0),
            total_profit_fiat=None,
            total_profit_ratio=profit_ratio,
            stoploss_current_dist=None if stop is None else stop - current_rate,
            stoploss_current_dist_ratio=None if stop is None else stop / current_rate - 1,
            stoploss_current_dist_pct=None
            if stop is None
            else round((stop / current_rate - 1) * 100, 2),
            stoploss_entry_dist=None if stop is None else trade.amount * (stop - trade.open_rate),
            stoploss_entry_dist_ratio=None if stop is None else stop / trade.open_rate - 1,
        )
    return out


def _group(
    trades: Iterable[Trade], key: Callable[[Trade], str | None]
) -> list[tuple[str, list[Trade]]]:
    groups: dict[str, list[Trade]] = defaultdict(list)
    for trade in trades:
        groups[key(trade) or "Other"].append(trade)
    return list(groups.items())


def tag_stats(closed: list[Trade], field: str, key: Callable[[Trade], str | None]) -> list[dict]:
    """``/performance``, ``/entries``, ``/exits``, ``/mix_tags``: per group, best first."""
    rows: list[dict[str, Any]] = []
    for name, group in _group(closed, key):
        ratio = sum(t.close_profit or 0.0 for t in group)
        rows.append(
            {
                field: name,
                "profit": round(ratio * 100, 2) if field == "pair" else None,
                "profit_ratio": ratio,
                "profit_pct": round(ratio * 100, 2),
                "profit_abs": sum(t.close_profit_abs or 0.0 for t in group),
                "count": len(group),
            }
        )
        if field != "pair":
            del rows[-1]["profit"]
    rows.sort(key=lambda r: float(r["profit_abs"] or 0.0), reverse=True)
    return rows


def _period_start(day: date, unit: str) -> date:
    if unit == "weeks":
        return day - timedelta(days=day.weekday())
    if unit == "months":
        return day.replace(day=1)
    return day


def _step(start: date, unit: str) -> date:
    if unit == "weeks":
        return start - timedelta(days=7)
    if unit == "months":
        return (start - timedelta(days=1)).replace(day=1)
    return start - timedelta(days=1)


def periodic(
    closed: list[Trade], now: datetime, count: int, unit: str, starting: float, stake: str
) -> dict[str, Any]:
    """``/daily``, ``/weekly``, ``/monthly``: profit per period, newest first."""
    by_period: dict[date, list[Trade]] = defaultdict(list)
    for trade in closed:
        if trade.close_date is not None:
            by_period[_period_start(trade.close_date.date(), unit)].append(trade)
    starts = [_period_start(now.date(), unit)]
    for _ in range(count - 1):
        starts.append(_step(starts[-1], unit))
    total_before: dict[date, float] = {}
    for start in starts:
        total_before[start] = sum(
            t.close_profit_abs or 0.0
            for t in closed
            if t.close_date is not None and t.close_date.date() < start
        )
    data = []
    for start in starts:
        group = by_period.get(start, [])
        profit = sum(t.close_profit_abs or 0.0 for t in group)
        balance = starting + total_before[start]
        data.append(
            {
                "date": start.isoformat(),
                "abs_profit": profit,
                "starting_balance": balance,
                "rel_profit": profit / balance if balance else 0.0,
                "fiat_value": 0.0,
                "trade_count": len(group),
            }
        )
    return {"data": data, "fiat_display_currency": "", "stake_currency": stake}


def _humanize(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {name}{'s' if n != 1 else ''} ago"
    return "seconds ago"


def _drawdown(closed: list[Trade], starting: float) -> dict[str, Any]:
    peak = equity = starting
    peak_at: datetime | None = None
    worst = worst_abs = 0.0
    worst_start = worst_end = None
    for trade in closed:
        equity += trade.close_profit_abs or 0.0
        if equity > peak:
            peak, peak_at = equity, trade.close_date
        drop = peak - equity
        if drop > worst_abs:
            worst_abs, worst = drop, (drop / peak if peak else 0.0)
            worst_start, worst_end = peak_at, trade.close_date
    current_abs = peak - equity
    return {
        "max_drawdown": worst,
        "max_drawdown_abs": worst_abs,
        "max_drawdown_start": fmt(worst_start) or "",
        "max_drawdown_start_timestamp": ms(worst_start) or 0,
        "max_drawdown_end": fmt(worst_end) or "",
        "max_drawdown_end_timestamp": ms(worst_end) or 0,
        "current_drawdown": current_abs / peak if peak else 0.0,
        "current_drawdown_abs": current_abs,
        "current_drawdown_high": peak,
        "current_drawdown_start": fmt(peak_at) or "",
        "current_drawdown_start_timestamp": ms(peak_at) or 0,
    }


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def profit(
    trades: list[Trade],
    open_profits: dict[int, tuple[float, float]],
    now: datetime,
    started: datetime,
    starting: float,
) -> dict[str, Any]:
    """``/profit``: freqtrade's ``Profit`` figures over all trades.

    ``open_profits`` maps an open trade's id to its (ratio, abs) at the current price.
    Ratios freqtrade computes from risk-free returns (Sharpe, Sortino, Calmar, SQN, CAGR)
    are left at 0.0: candlecast does not estimate them.
    """
    closed = sorted((t for t in trades if not t.is_open), key=lambda t: t.close_date or t.open_date)
    closed_ratios = [t.close_profit or 0.0 for t in closed]
    closed_abs = [t.close_profit_abs or 0.0 for t in closed]
    all_ratios = closed_ratios + [open_profits[t.id][0] for t in trades if t.id in open_profits]
    all_abs = closed_abs + [open_profits[t.id][1] for t in trades if t.id in open_profits]
    wins = [a for a in closed_abs if a > 0]
    losses = [a for a in closed_abs if a < 0]
    by_pair = tag_stats(closed, "pair", lambda t: t.pair)
    best = by_pair[0] if by_pair else None
    first = min((t.open_date for t in trades), default=None)
    latest = max((t.open_date for t in trades), default=None)
    durations = [
        (t.close_date - t.open_date).total_seconds() for t in closed if t.close_date is not None
    ]
    avg = timedelta(seconds=int(sum(durations) / len(durations))) if durations else timedelta()
    winrate = len(wins) / len(closed) if closed else 0.0
    mean_win = sum(wins) / len(wins) if wins else 0.0
    mean_loss = -sum(losses) / len(losses) if losses else 0.0
    expectancy = sum(closed_abs) / len(closed) if closed else 0.0
    expectancy_ratio = ((1 + mean_win / mean_loss) * winrate - 1) if mean_loss and closed else 0.0

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return {
        "profit_closed_coin": sum(closed_abs),
        "profit_closed_percent_mean": round(mean(closed_ratios) * 100, 2),
        "profit_closed_ratio_mean": mean(closed_ratios),
        "profit_closed_percent_sum": round(sum(closed_ratios) * 100, 2),
        "profit_closed_ratio_sum": sum(closed_ratios),
        "profit_closed_ratio": sum(closed_abs) / starting if starting else 0.0,
        "profit_closed_percent": round(sum(closed_abs) / starting * 100, 2) if starting else 0.0,
        "profit_closed_fiat": 0.0,
        "profit_all_coin": sum(all_abs),
        "profit_all_percent_mean": round(mean(all_ratios) * 100, 2),
        "profit_all_ratio_mean": mean(all_ratios),
        "profit_all_percent_sum": round(sum(all_ratios) * 100, 2),
        "profit_all_ratio_sum": sum(all_ratios),
        "profit_all_ratio": sum(all_abs) / starting if starting else 0.0,
        "profit_all_percent": round(sum(all_abs) / starting * 100, 2) if starting else 0.0,
        "profit_all_fiat": 0.0,
        "trade_count": len(trades),
        "closed_trade_count": len(closed),
        "first_trade_date": fmt(first) or "",
        "first_trade_humanized": _humanize(now - first) if first else "",
        "first_trade_timestamp": ms(first) or 0,
        "latest_trade_date": fmt(latest) or "",
        "latest_trade_humanized": _humanize(now - latest) if latest else "",
        "latest_trade_timestamp": ms(latest) or 0,
        "avg_duration": str(avg),
        "best_pair": best["pair"] if best else "",
        "best_rate": best["profit"] if best else 0.0,
        "best_pair_profit_ratio": best["profit_ratio"] if best else 0.0,
        "best_pair_profit_abs": best["profit_abs"] if best else 0.0,
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "profit_factor": _finite(sum(wins) / -sum(losses)) if losses else 0.0,
        "winrate": winrate,
        "expectancy": expectancy,
        "expectancy_ratio": _finite(expectancy_ratio),
        "trading_volume": sum(t.stake_amount for t in trades),
        "bot_start_timestamp": ms(started) or 0,
        "bot_start_date": fmt(started) or "",
        "sharpe": 0.0,
        "sortino": 0.0,
        "sqn": 0.0,
        "calmar": 0.0,
        "cagr": 0.0,
        **_drawdown(closed, starting),
    }


def stats(closed: list[Trade]) -> dict[str, Any]:
    """``/stats``: wins/losses/draws per exit reason, mean durations of each."""
    reasons: dict[str, dict[str, int]] = defaultdict(lambda: {"wins": 0, "losses": 0, "draws": 0})
    buckets: dict[str, list[float]] = {"wins": [], "draws": [], "losses": []}
    for trade in closed:
        outcome = (
            "wins"
            if (trade.close_profit or 0) > 0
            else "losses"
            if (trade.close_profit or 0) < 0
            else "draws"
        )
        reasons[trade.exit_reason or "other"][outcome] += 1
        if trade.close_date is not None:
            buckets[outcome].append((trade.close_date - trade.open_date).total_seconds())
    return {
        "exit_reasons": dict(reasons),
        "durations": {k: (sum(v) / len(v) if v else None) for k, v in buckets.items()},
    }
