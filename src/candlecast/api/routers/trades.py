"""Trade routes: open and closed trades, profit figures, forced entries and exits."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from candlecast.api import shapes
from candlecast.api.context import ApiContext
from candlecast.api.deps import get_ctx, require_auth
from candlecast.domain.trades import Trade

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_auth)])
Ctx = Depends(get_ctx)


def current_rate(ctx: ApiContext, pair: str) -> float | None:
    """The last close the bot holds for ``pair`` (the analyzed frame, else raw candles)."""
    frame, _ = ctx.dataprovider.get_analyzed_dataframe(pair, ctx.dataprovider.timeframe)
    if frame.empty:
        frame = ctx.dataprovider.ohlcv(pair, copy=False)
    if frame.empty or "close" not in frame.columns:
        return None
    return float(frame["close"].iloc[-1])


def as_schema(ctx: ApiContext, trade: Trade) -> dict[str, Any]:
    orders = ctx.repository.orders_for(trade.id) if trade.id is not None else []
    rate = None
    if trade.is_open:
        rate = current_rate(ctx, trade.pair)
        rate = trade.open_rate if rate is None else rate
    return shapes.trade_schema(trade, ctx.config.exchange.name, orders, rate)


def closed_trades(ctx: ApiContext) -> list[Trade]:
    trades = ctx.repository.find_trades(is_open=False)
    return sorted(trades, key=lambda t: (t.close_date or t.open_date, t.id or 0))


def starting_capital(ctx: ApiContext) -> float:
    return ctx.config.dry_run_wallet


@router.get("/status")
def status(ctx: ApiContext = Ctx) -> list[dict[str, Any]]:
    """Open trades (``OpenTradeSchema``: with the current rate and profit)."""
    return [as_schema(ctx, t) for t in ctx.repository.open_trades()]


@router.get("/trades")
def trades(
    limit: int = Query(500, ge=0, le=500),
    offset: int = Query(0, ge=0),
    order_by_id: bool = True,
    ctx: ApiContext = Ctx,
) -> dict[str, Any]:
    """Closed trades, as freqtrade: oldest first by id (``order_by_id``), else newest close."""
    closed = closed_trades(ctx)
    if order_by_id:
        closed.sort(key=lambda t: t.id or 0)
    else:
        closed.reverse()
    page = closed[offset : offset + limit] if limit else closed[offset:]
    return {
        "trades": [as_schema(ctx, t) for t in page],
        "trades_count": len(page),
        "offset": offset,
        "total_trades": len(closed),
    }


@router.get("/trade/{tradeid}")
def trade(tradeid: int, ctx: ApiContext = Ctx) -> dict[str, Any]:
    found = [t for t in ctx.repository.find_trades() if t.id == tradeid]
    if not found:
        raise HTTPException(status_code=404, detail="Trade not found.")
    return as_schema(ctx, found[0])


@router.get("/count")
def count(ctx: ApiContext = Ctx) -> dict[str, Any]:
    open_trades = ctx.repository.open_trades()
    limit = ctx.config.max_open_trades
    return {
        "current": len(open_trades),
        "max": limit if limit >= 0 else -1,
        "total_stake": sum(t.stake_amount for t in open_trades),
    }


@router.get("/balance")
def balance(ctx: ApiContext = Ctx) -> dict[str, Any]:
    """The bot's stake-currency wallet: starting capital plus realized profit (dry-run
    wallet semantics), what is free and what open trades hold."""
    stake = ctx.config.stake_currency
    start = starting_capital(ctx)
    realized = ctx.repository.realized_profit()
    open_trades = ctx.repository.open_trades()
    used = sum(t.stake_amount for t in open_trades)
    total = start + realized
    currencies: list[dict[str, Any]] = [
        {
            "currency": stake,
            "free": total - used,
            "balance": total,
            "used": used,
            "bot_owned": total,
            "est_stake": total,
            "est_stake_bot": total,
            "stake": stake,
            "side": "long",
            "position": 0.0,
            "is_position": False,
            "is_bot_managed": True,
        }
    ]
    for t in open_trades:
        base = t.pair.split("/")[0]
        rate = current_rate(ctx, t.pair) or t.open_rate
        currencies.append(
            {
                "currency": base,
                "free": t.amount,
                "balance": t.amount,
                "used": 0.0,
                "bot_owned": t.amount,
                "est_stake": t.amount * rate,
                "est_stake_bot": t.amount * rate,
                "stake": stake,
                "side": "long",
                "position": 0.0,
                "is_position": False,
                "is_bot_managed": True,
            }
        )
    value = sum(c["est_stake"] for c in currencies) - used
    gain = value - start
    return {
        "currencies": currencies,
        "total": value,
        "total_bot": value,
        "symbol": "",
        "value": 0.0,
        "value_bot": 0.0,
        "stake": stake,
        "note": "Simulated balances" if ctx.config.dry_run else "",
        "starting_capital": start,
        "starting_capital_ratio": gain / start if start else 0.0,
        "starting_capital_pct": round(gain / start * 100, 2) if start else 0.0,
        "starting_capital_fiat": 0.0,
        "starting_capital_fiat_ratio": 0.0,
        "starting_capital_fiat_pct": 0.0,
    }


@router.get("/profit")
def profit(ctx: ApiContext = Ctx) -> dict[str, Any]:
    all_trades = ctx.repository.find_trades()
    open_profits: dict[int, tuple[float, float]] = {}
    for t in all_trades:
        if t.is_open and t.id is not None:
            rate = current_rate(ctx, t.pair) or t.open_rate
            open_profits[t.id] = (t.profit_ratio(rate), t.profit_abs(rate))
    return shapes.profit(
        all_trades, open_profits, ctx.now(), ctx.control.started_at, starting_capital(ctx)
    )


@router.get("/performance")
def performance(ctx: ApiContext = Ctx) -> list[dict[str, Any]]:
    return shapes.tag_stats(closed_trades(ctx), "pair", lambda t: t.pair)


@router.get("/entries")
def entries(pair: str | None = None, ctx: ApiContext = Ctx) -> list[dict[str, Any]]:
    closed = [t for t in closed_trades(ctx) if pair is None or t.pair == pair]
    return shapes.tag_stats(closed, "enter_tag", lambda t: t.enter_tag)


@router.get("/exits")
def exits(pair: str | None = None, ctx: ApiContext = Ctx) -> list[dict[str, Any]]:
    closed = [t for t in closed_trades(ctx) if pair is None or t.pair == pair]
    return shapes.tag_stats(closed, "exit_reason", lambda t: t.exit_reason)


@router.get("/mix_tags")
def mix_tags(pair: str | None = None, ctx: ApiContext = Ctx) -> list[dict[str, Any]]:
    closed = [t for t in closed_trades(ctx) if pair is None or t.pair == pair]
    return shapes.tag_stats(
        closed, "mix_tag", lambda t: f"{t.enter_tag or 'Other'} {t.exit_reason or 'Other'}"
    )


@router.get("/stats")
def stats(ctx: ApiContext = Ctx) -> dict[str, Any]:
    return shapes.stats(closed_trades(ctx))


def _periodic(ctx: ApiContext, count: int, unit: str) -> dict[str, Any]:
    return shapes.periodic(
        closed_trades(ctx),
        ctx.now(),
        count,
        unit,
        starting_capital(ctx),
        ctx.config.stake_currency,
    )


@router.get("/daily")
def daily(timescale: int = Query(7, ge=1), ctx: ApiContext = Ctx) -> dict[str, Any]:
    return _periodic(ctx, timescale, "days")


@router.get("/weekly")
def weekly(timescale: int = Query(4, ge=1), ctx: ApiContext = Ctx) -> dict[str, Any]:
    return _periodic(ctx, timescale, "weeks")


@router.get("/monthly")
def monthly(timescale: int = Query(3, ge=1), ctx: ApiContext = Ctx) -> dict[str, Any]:
    return _periodic(ctx, timescale, "months")


class ForceEnterPayload(BaseModel):
    pair: str
    side: Literal["long", "short"] = "long"
    price: float | None = None
    ordertype: str | None = None
    stakeamount: float | None = None
    entry_tag: str | None = None
    leverage: float | None = None


class ForceExitPayload(BaseModel):
    tradeid: str | int
    ordertype: str | None = None
    amount: float | None = None


def _not_available(what: str) -> HTTPException:
    return HTTPException(status_code=503, detail=f"Bot is not in the correct state: {what}.")


@router.post("/forceenter")
@router.post("/forcebuy")
async def forceenter(payload: ForceEnterPayload, ctx: ApiContext = Ctx) -> dict[str, Any]:
    """Open a trade now (long only: candlecast trades spot). freqtrade's answers: the trade,
    or ``{"status": "Error entering ..."}``."""
    if ctx.control.force_enter is None:
        raise _not_available("force entries need a running bot")
    if payload.side != "long":
        return {"status": f"Error entering {payload.side} trade for pair {payload.pair}."}
    trade = await ctx.control.force_enter(
        payload.pair, payload.price, payload.stakeamount, payload.entry_tag or "force_entry"
    )
    if trade is None:
        return {"status": f"Error entering {payload.side} trade for pair {payload.pair}."}
    return shapes.trade_schema(
        trade,
        ctx.config.exchange.name,
        ctx.repository.orders_for(trade.id) if trade.id is not None else [],
    )


@router.post("/forceexit")
@router.post("/forcesell")
async def forceexit(payload: ForceExitPayload, ctx: ApiContext = Ctx) -> dict[str, str]:
    if ctx.control.force_exit is None:
        raise _not_available("force exits need a running bot")
    if str(payload.tradeid) == "all":
        for t in ctx.repository.open_trades():
            if t.id is not None:
                await ctx.control.force_exit(t.id, payload.amount)
        return {"result": "Created exit orders for all open trades."}
    try:
        tradeid = int(payload.tradeid)
    except ValueError:
        raise HTTPException(status_code=422, detail="tradeid: a trade id or 'all'") from None
    if not any(t.id == tradeid for t in ctx.repository.open_trades()):
        raise HTTPException(status_code=502, detail="invalid argument")
    if not await ctx.control.force_exit(tradeid, payload.amount):
        return {"result": f"Could not exit trade {tradeid} now."}
    return {"result": f"Created exit order for trade {tradeid}."}
