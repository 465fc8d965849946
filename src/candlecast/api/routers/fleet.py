"""``/fleet``: the built-in fleet page (static files shipped in the package)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from candlecast.api.context import ApiContext
from candlecast.api.deps import get_ctx, require_auth
from candlecast.api.routers import system
from candlecast.domain.analyzed import EPOCH

STATIC = Path(__file__).resolve().parent.parent / "static"

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}

router = APIRouter()


@router.get("/fleet", include_in_schema=False)
def fleet_page() -> FileResponse:
    return FileResponse(STATIC / "fleet.html", media_type="text/html")


@router.get("/fleet/", include_in_schema=False)
def fleet_slash() -> RedirectResponse:
    return RedirectResponse("/fleet")


@router.get("/fleet/static/{name:path}", include_in_schema=False)
def fleet_static(name: str) -> FileResponse:
    """The page's scripts, styles and the charting library with its licence."""
    path = (STATIC / name).resolve()
    if STATIC not in path.parents or not path.is_file():
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(path, media_type=_TYPES.get(path.suffix, "application/octet-stream"))


def _age(now: datetime, when: datetime | None) -> float | None:
    if when is None or when <= EPOCH:
        return None
    return round((now - when).total_seconds(), 3)


def _pairs(ctx: ApiContext, producer: str | None, now: datetime) -> list[dict[str, Any]]:
    dp = ctx.dataprovider
    pairs = dp.get_producer_pairs(producer) if producer else dp.current_whitelist()
    rows = []
    for pair in pairs:
        if producer:
            frame, analyzed_at = dp.get_producer_df(pair, dp.timeframe, producer_name=producer)
        else:
            frame, analyzed_at = dp.get_analyzed_dataframe(pair, dp.timeframe)
        last = frame["date"].iloc[-1] if not frame.empty and "date" in frame.columns else None
        rows.append(
            {
                "pair": pair,
                "rows": len(frame),
                "last_candle": None if last is None else last.isoformat(),
                "analyzed_at": None if frame.empty else analyzed_at.isoformat(),
                "age_s": None if frame.empty else _age(now, analyzed_at),
            }
        )
    return rows


@router.get("/api/v1/fleet", dependencies=[Depends(require_auth)])
def fleet(ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    """Everything the fleet page shows, in one read (a candlecast extension)."""
    now = ctx.now()
    producers = []
    for status in ctx.producers_status():
        name = status.get("name", "default")
        producers.append({**status, "pair_freshness": _pairs(ctx, name, now)})
    consumers = system.message_clients(ctx)
    serving = ctx.hub is not None and bool(ctx.config.api_server.ws_token or consumers)
    roles = [r for r, on in (("producer", serving), ("consumer", producers)) if on]
    return {
        "bot_name": ctx.config.bot_name,
        "state": ctx.control.state.value,
        "timeframe": ctx.dataprovider.timeframe,
        "roles": roles,
        "now": now.isoformat(),
        "whitelist": ctx.dataprovider.current_whitelist(),
        "consumers": consumers,
        "producers": producers,
        "pairs": _pairs(ctx, None, now),
        "open_trades": len(ctx.repository.open_trades()),
        "total_trades": ctx.repository.count(),
    }
