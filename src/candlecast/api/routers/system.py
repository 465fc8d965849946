"""System routes: ping, version, login, config, health, sysinfo, logs, bot state."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from candlecast import __version__
from candlecast.api import auth
from candlecast.api.context import ApiContext, BotState
from candlecast.api.deps import basic_user, get_ctx, require_auth, unauthorized
from candlecast.api.shapes import fmt
from candlecast.domain.timeframes import timeframe_to_minutes, timeframe_to_msecs
from candlecast.showconfig import effective

logger = logging.getLogger(__name__)

#: freqtrade's REST API version this server answers as (FreqUI gates features on it)
API_VERSION = 2.5

router = APIRouter(prefix="/api/v1")
Auth = Depends(require_auth)
Ctx = Depends(get_ctx)


@router.get("/ping")
@router.head("/ping")
def ping() -> dict[str, str]:
    return {"status": "pong"}


@router.get("/version", dependencies=[Auth])
def version() -> dict[str, str]:
    return {"version": f"candlecast {__version__}"}


@router.post("/token/login")
def login(request: Request, ctx: ApiContext = Ctx) -> dict[str, str]:
    user = basic_user(request)
    if user is None:
        raise unauthorized()
    return {
        "access_token": auth.create_jwt(ctx.jwt_secret, user, "access", auth.ACCESS_TOKEN_SECONDS),
        "refresh_token": auth.create_jwt(
            ctx.jwt_secret, user, "refresh", auth.REFRESH_TOKEN_SECONDS
        ),
    }


@router.post("/token/refresh")
def refresh(request: Request, ctx: ApiContext = Ctx) -> dict[str, str]:
    """A new access token for a refresh token sent as ``Authorization: Bearer``."""
    token = auth.bearer_token(request.headers.get("authorization"))
    claims = auth.verify_jwt(token, ctx.jwt_secret, "refresh") if token else None
    if claims is None:
        raise unauthorized()
    subject = str(claims.get("sub"))
    return {
        "access_token": auth.create_jwt(
            ctx.jwt_secret, subject, "access", auth.ACCESS_TOKEN_SECONDS
        )
    }


def freqtrade_config(ctx: ApiContext) -> dict[str, Any]:
    """The running configuration as freqtrade's ``ShowConfig``."""
    cfg = ctx.config
    strategy = ctx.strategy
    timeframe = ctx.timeframe or cfg.timeframe or "5m"

    def pick(name: str, default: Any = None) -> Any:
        value = getattr(cfg, name, None)
        return value if value is not None else getattr(strategy, name, default)

    roi = pick("minimal_roi", {}) or {}
    return {
        "version": __version__,
        "api_version": API_VERSION,
        "strategy_version": getattr(strategy, "version", lambda: None)()
        if callable(getattr(strategy, "version", None))
        else None,
        "dry_run": cfg.dry_run,
        "demo_trading": False,
        "trading_mode": "spot",
        "margin_mode": "",
        "short_allowed": False,
        "stake_currency": cfg.stake_currency,
        "stake_currency_decimals": 8 if cfg.stake_currency in ("BTC", "ETH") else 3,
        "stake_amount": str(cfg.stake_amount),
        "available_capital": None,
        "max_open_trades": float(cfg.max_open_trades if cfg.max_open_trades >= 0 else -1),
        "minimal_roi": {str(k): v for k, v in dict(roi).items()},
        "stoploss": pick("stoploss"),
        "stoploss_on_exchange": bool((ctx.order_types or {}).get("stoploss_on_exchange", False)),
        "trailing_stop": pick("trailing_stop", False),
        "trailing_stop_positive": pick("trailing_stop_positive"),
        "trailing_stop_positive_offset": pick("trailing_stop_positive_offset"),
        "trailing_only_offset_is_reached": pick("trailing_only_offset_is_reached", False),
        "unfilledtimeout": {
            "entry": int(cfg.unfilledtimeout.entry),
            "exit": int(cfg.unfilledtimeout.exit),
            "unit": cfg.unfilledtimeout.unit,
            "exit_timeout_count": cfg.unfilledtimeout.exit_timeout_count,
        },
        "order_types": ctx.order_types,
        "use_custom_stoploss": bool(getattr(strategy, "use_custom_stoploss", False)),
        "timeframe": timeframe,
        "timeframe_ms": timeframe_to_msecs(timeframe),
        "timeframe_min": timeframe_to_minutes(timeframe),
        "exchange": cfg.exchange.name,
        "strategy": type(strategy).__name__ if strategy is not None else cfg.strategy,
        "force_entry_enable": ctx.control.force_enter is not None,
        "exit_pricing": {},
        "entry_pricing": {},
        "bot_name": cfg.bot_name,
        "state": ctx.control.state.value,
        "runmode": "dry_run" if cfg.dry_run else "live",
        "position_adjustment_enable": bool(pick("position_adjustment_enable", False)),
        "max_entry_position_adjustment": int(pick("max_entry_position_adjustment", -1)),
    }


@router.get("/show_config", dependencies=[Auth])
def show_config(
    format: Literal["freqtrade", "candlecast"] = "freqtrade", ctx: ApiContext = Ctx
) -> dict[str, Any]:
    """freqtrade's ``ShowConfig``; ``?format=candlecast``: the whole effective config (the
    strategy's values where the config leaves a key unset, as ``candlecast show-config``),
    secrets masked."""
    if format == "candlecast":
        return effective(ctx.config, ctx.strategy)[0]
    return freqtrade_config(ctx)


@router.get("/health", dependencies=[Auth])
def health(ctx: ApiContext = Ctx) -> dict[str, Any]:
    started = ctx.control.started_at
    last = ctx.control.last_process
    return {
        "last_process": fmt(last),
        "last_process_ts": None if last is None else int(last.timestamp()),
        "bot_start": fmt(started),
        "bot_start_ts": int(started.timestamp()),
        "bot_startup": fmt(started),
        "bot_startup_ts": int(started.timestamp()),
    }


def _cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat (empty where there is none)."""
    try:
        with open("/proc/stat") as fh:
            lines = [ln.split() for ln in fh if ln.startswith("cpu") and ln[3].isdigit()]
    except OSError:
        return []
    out = []
    for parts in lines:
        values = [int(v) for v in parts[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        out.append((sum(values) - idle, sum(values)))
    return out


def _ram_pct() -> float:
    try:
        with open("/proc/meminfo") as fh:
            info = {ln.split(":")[0]: int(ln.split()[1]) for ln in fh if ":" in ln}
        return round(100.0 * (1 - info["MemAvailable"] / info["MemTotal"]), 1)
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return 0.0


@router.get("/sysinfo", dependencies=[Auth])
def sysinfo() -> dict[str, Any]:
    """CPU load (since boot, per CPU, from /proc) and memory in use, as freqtrade's ``SysInfo``."""
    per_cpu = [round(100.0 * busy / total, 1) if total else 0.0 for busy, total in _cpu_times()]
    count = os.cpu_count() or len(per_cpu) or 1
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu_pct": per_cpu,
        "cpu_count": count,
        "cpu_load": [{"cpu": i, "pct": pct} for i, pct in enumerate(per_cpu)],
        "cpu_avg": round(sum(per_cpu) / len(per_cpu), 1) if per_cpu else 0.0,
        "cpu_load_avg": {"1min": load[0], "5min": load[1], "15min": load[2]},
        "ram_pct": _ram_pct(),
    }


@router.get("/logs", dependencies=[Auth])
def logs(limit: int | None = Query(None, ge=1), ctx: ApiContext = Ctx) -> dict[str, Any]:
    """The last log records: ``[time, epoch ms, logger, level, message]`` each."""
    records = list(ctx.control.logs.records)
    if limit:
        records = records[-limit:]
    rows = [
        [
            fmt(datetime.fromtimestamp(r.created, UTC)),
            r.created * 1000,
            r.name,
            r.levelname,
            r.getMessage(),
        ]
        for r in records
    ]
    return {"log_count": len(rows), "logs": rows}


def _state_change(ctx: ApiContext, state: BotState) -> None:
    if ctx.control.state != state:
        logger.info("Bot state: %s (through the REST API)", state.value)
        ctx.control.state = state
        if ctx.control.on_state is not None:
            ctx.control.on_state(state.value)


@router.post("/start", dependencies=[Auth])
def start(ctx: ApiContext = Ctx) -> dict[str, str]:
    if ctx.control.state == BotState.RUNNING:
        return {"status": "already running"}
    _state_change(ctx, BotState.RUNNING)
    return {"status": "starting trader ..."}


@router.post("/stop", dependencies=[Auth])
def stop(ctx: ApiContext = Ctx) -> dict[str, str]:
    if ctx.control.state == BotState.STOPPED:
        return {"status": "already stopped"}
    _state_change(ctx, BotState.STOPPED)
    return {"status": "stopping trader ..."}


@router.post("/stopbuy", dependencies=[Auth])
@router.post("/stopentry", dependencies=[Auth])
@router.post("/pause", dependencies=[Auth])
def pause(ctx: ApiContext = Ctx) -> dict[str, str]:
    _state_change(ctx, BotState.PAUSED)
    return {"status": "paused, no more entries will occur from now. Run /start to enable entries."}


@router.post("/reload_config", dependencies=[Auth])
def reload_config(ctx: ApiContext = Ctx) -> dict[str, str]:
    if ctx.control.reload is None:
        raise HTTPException(status_code=503, detail="Bot is not in the correct state.")
    ctx.control.reload()
    return {"status": "Reloading config ..."}


@router.get("/message/clients", dependencies=[Auth])
def message_clients(ctx: ApiContext = Ctx) -> list[dict[str, Any]]:
    """The consumers connected to this producer's message websocket."""
    if ctx.hub is None:
        return []
    return [
        {
            "address": ch.peer,
            "subscriptions": sorted(ch.subscriptions),
            "encoding": ch.encoding.value,
            "queue_depth": ch.queue_depth,
            "messages_sent": ch.stats.messages_sent,
            "bytes_sent": ch.stats.bytes_sent,
            "connected_since": ch.stats.connected_at,
        }
        for ch in list(ctx.hub.channels)
    ]


@router.get("/producers", dependencies=[Auth])
def producers(ctx: ApiContext = Ctx) -> list[dict[str, Any]]:
    """This consumer's producers: connection state, lag, per-pair freshness."""
    return ctx.producers_status()
