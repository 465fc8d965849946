"""Pair routes: whitelist, blacklist, candles (freqtrade's and candlecast's), strategy info."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from candlecast.api.context import ApiContext
from candlecast.api.deps import get_ctx, require_auth
from candlecast.api.frames import frame_payload, pair_history

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_auth)])
Ctx = Depends(get_ctx)


def _methods(ctx: ApiContext) -> list[str]:
    if ctx.pairlist_methods is not None:
        return ctx.pairlist_methods()
    return [p.method for p in ctx.config.pairlists]


@router.get("/whitelist")
def whitelist(ctx: ApiContext = Ctx) -> dict[str, Any]:
    pairs = ctx.dataprovider.current_whitelist()
    return {"whitelist": pairs, "length": len(pairs), "method": _methods(ctx)}


def _blacklist(ctx: ApiContext, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    entries = ctx.blacklist() if ctx.blacklist else list(ctx.config.exchange.pair_blacklist)
    known = set(ctx.available_pairs() if ctx.available_pairs else [])
    expanded = [p for p in entries if p in known] if known else list(entries)
    return {
        "blacklist": entries,
        "blacklist_expanded": expanded,
        "errors": errors or {},
        "length": len(entries),
        "method": _methods(ctx),
    }


class BlacklistPayload(BaseModel):
    blacklist: list[str]


def _set_blacklist(ctx: ApiContext, entries: list[str]) -> dict[str, Any]:
    if ctx.control.set_blacklist is None:
        ctx.config.exchange.pair_blacklist[:] = entries
        return {}
    rejected = set(entries) - set(ctx.control.set_blacklist(entries))
    return {p: {"error_msg": f"Pair {p} is not a valid pair or pattern."} for p in rejected}


@router.get("/blacklist")
def blacklist(ctx: ApiContext = Ctx) -> dict[str, Any]:
    return _blacklist(ctx)


@router.post("/blacklist")
def add_blacklist(payload: BlacklistPayload, ctx: ApiContext = Ctx) -> dict[str, Any]:
    current = _blacklist(ctx)["blacklist"]
    errors: dict[str, Any] = {}
    for pair in payload.blacklist:
        if pair in current:
            errors[pair] = {"error_msg": f"Pair {pair} already in pairlist."}
    wanted = current + [p for p in payload.blacklist if p not in current]
    errors.update(_set_blacklist(ctx, list(dict.fromkeys(wanted))))
    return _blacklist(ctx, errors)


@router.delete("/blacklist")
def delete_blacklist(
    pairs_to_delete: list[str] = Query([]), ctx: ApiContext = Ctx
) -> dict[str, Any]:
    current = _blacklist(ctx)["blacklist"]
    errors = {
        p: {"error_msg": f"Pair {p} is not in the current blacklist."}
        for p in pairs_to_delete
        if p not in current
    }
    _set_blacklist(ctx, [p for p in current if p not in pairs_to_delete])
    return _blacklist(ctx, errors)


@router.get("/available_pairs")
def available_pairs(
    timeframe: str | None = None,
    stake_currency: str | None = None,
    candletype: str | None = None,
    ctx: ApiContext = Ctx,
) -> dict[str, Any]:
    """The pairs (and timeframe) the bot holds candles for."""
    tf = ctx.dataprovider.timeframe
    pairs = sorted(set(ctx.dataprovider.current_whitelist()))
    if stake_currency:
        pairs = [p for p in pairs if p.split("/")[-1].split(":")[0] == stake_currency]
    if timeframe and timeframe != tf:
        pairs = []
    return {"length": len(pairs), "pairs": pairs, "pair_interval": [[p, tf] for p in pairs]}


def _strategy_name(ctx: ApiContext) -> str:
    return type(ctx.strategy).__name__ if ctx.strategy is not None else ctx.config.strategy or ""


def _frame(
    ctx: ApiContext, pair: str, timeframe: str | None, producer: str | None
) -> tuple[pd.DataFrame, datetime, str]:
    tf = timeframe or ctx.dataprovider.timeframe
    if producer:
        frame, analyzed_at = ctx.dataprovider.get_producer_df(pair, tf, producer_name=producer)
    else:
        frame, analyzed_at = ctx.dataprovider.get_analyzed_dataframe(pair, tf)
    if frame.empty:
        raise HTTPException(status_code=404, detail=f"no analyzed data for {pair} {tf}")
    return frame, analyzed_at, tf


def _candles(
    ctx: ApiContext,
    pair: str,
    timeframe: str | None,
    limit: int | None,
    producer: str | None,
    fmt: str,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    frame, analyzed_at, tf = _frame(ctx, pair, timeframe, producer)
    if limit:
        frame = frame.tail(limit)
    if fmt == "candlecast":
        return {
            "pair": pair,
            "timeframe": tf,
            "length": len(frame),
            "last_analyzed": analyzed_at.isoformat(),  # freqtrade's field name
            **frame_payload(frame),
        }
    return pair_history(frame, pair, tf, _strategy_name(ctx), analyzed_at, columns)


Format = Query(
    "freqtrade",
    description="freqtrade: its PairHistory (FreqUI); candlecast: exact values, dates as epoch ms",
)


@router.get("/pair_candles")
def pair_candles(
    pair: str,
    timeframe: str | None = None,
    limit: int | None = Query(None, ge=1),
    producer: str | None = Query(None, description="a consumer's copy from this producer instead"),
    format: Literal["freqtrade", "candlecast"] = Format,
    ctx: ApiContext = Ctx,
) -> dict[str, Any]:
    return _candles(ctx, pair, timeframe, limit, producer, format)


class PairCandlesRequest(BaseModel):
    pair: str
    timeframe: str
    limit: int | None = None
    columns: list[str] | None = None


@router.post("/pair_candles")
def pair_candles_post(payload: PairCandlesRequest, ctx: ApiContext = Ctx) -> dict[str, Any]:
    return _candles(
        ctx, payload.pair, payload.timeframe, payload.limit, None, "freqtrade", payload.columns
    )


def _parse_timerange(timerange: str | None) -> tuple[datetime | None, datetime | None]:
    """freqtrade's ``YYYYMMDD-YYYYMMDD`` (either side may be empty)."""
    if not timerange:
        return None, None
    start, _, stop = timerange.partition("-")

    def parse(text: str) -> datetime | None:
        if not text:
            return None
        try:
            if text.isdigit() and len(text) >= 10:
                return datetime.fromtimestamp(int(text), UTC)
            return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            raise HTTPException(
                status_code=422, detail=f"timerange: {timerange!r} is not YYYYMMDD-YYYYMMDD"
            ) from None

    return parse(start), parse(stop)


def _history(
    ctx: ApiContext, pair: str, timeframe: str, timerange: str | None, columns: list[str] | None
) -> dict[str, Any]:
    frame, analyzed_at, tf = _frame(ctx, pair, timeframe, None)
    start, stop = _parse_timerange(timerange)
    if "date" in frame.columns:
        if start is not None:
            frame = frame[frame["date"] >= start]
        if stop is not None:
            frame = frame[frame["date"] < stop]
    return pair_history(frame, pair, tf, _strategy_name(ctx), analyzed_at, columns)


@router.get("/pair_history")
def pair_history_get(
    pair: str,
    timeframe: str,
    timerange: str | None = None,
    strategy: str | None = None,
    freqaimodel: str | None = None,
    ctx: ApiContext = Ctx,
) -> dict[str, Any]:
    """The bot's analyzed candles of ``pair`` within ``timerange`` (candlecast keeps no
    history files: the analyzed frame in memory is what it has)."""
    return _history(ctx, pair, timeframe, timerange, None)


class PairHistoryRequest(BaseModel):
    pair: str
    timeframe: str
    timerange: str | None = None
    strategy: str | None = None
    columns: list[str] | None = None


@router.post("/pair_history")
def pair_history_post(payload: PairHistoryRequest, ctx: ApiContext = Ctx) -> dict[str, Any]:
    return _history(ctx, payload.pair, payload.timeframe, payload.timerange, payload.columns)


@router.get("/plot_config")
def plot_config(strategy: str | None = None, ctx: ApiContext = Ctx) -> dict[str, Any]:
    config = getattr(ctx.strategy, "plot_config", None)
    if not isinstance(config, dict) or not config:
        return {}
    return {"main_plot": config.get("main_plot", {}), "subplots": config.get("subplots", {})}


@router.get("/pairlists/available")
def pairlists_available() -> dict[str, Any]:
    return {
        "pairlists": [
            {
                "name": "StaticPairList",
                "is_pairlist_generator": True,
                "params": {},
                "description": "Use pairlist as configured in config.",
            },
            {
                "name": "ProducerPairList",
                "is_pairlist_generator": True,
                "params": {
                    "producer_name": {"type": "string", "default": "default"},
                    "number_assets": {"type": "number", "default": 0},
                },
                "description": "Get a pairlist from an upstream bot.",
            },
        ]
    }


@router.get("/strategies")
def strategies(ctx: ApiContext = Ctx) -> dict[str, list[str]]:
    """The strategy this bot runs (candlecast loads one strategy per bot)."""
    name = _strategy_name(ctx)
    return {"strategies": [name] if name else []}


@router.get("/strategy/{strategy}")
def strategy(strategy: str, ctx: ApiContext = Ctx) -> dict[str, Any]:
    if strategy != _strategy_name(ctx) or ctx.strategy is None:
        raise HTTPException(status_code=404, detail="No strategy with this name found.")
    try:
        code = inspect.getsource(type(ctx.strategy))
    except (OSError, TypeError):
        code = ""
    return {
        "strategy": strategy,
        "code": code,
        "params": [],
        "timeframe": getattr(ctx.strategy, "timeframe", None) or ctx.timeframe,
    }
