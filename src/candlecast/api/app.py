"""The REST API and the message websocket, as one FastAPI application.

Routes stay thin: they read what the bot exposes through ``ApiContext``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from candlecast import __version__
from candlecast.api import auth
from candlecast.api.metrics import BotCollector, mount_metrics
from candlecast.clock import Clock, LiveClock
from candlecast.config.loader import mask_secrets
from candlecast.config.models import Config
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.candles import dates_to_ms
from candlecast.domain.locks import PairLock, next_candle_open
from candlecast.messaging.codec_binary import SUBPROTOCOL
from candlecast.messaging.hub import CLOSE_POLICY, MessageHub
from candlecast.messaging.protocol import WS_PATH
from candlecast.persistence.locks import LockRepository
from candlecast.persistence.repository import TradeRepository

logger = logging.getLogger(__name__)


@dataclass
class ApiContext:
    """What the API may read from the running bot."""

    config: Config
    jwt_secret: str
    dataprovider: DataProvider
    repository: TradeRepository
    hub: MessageHub | None
    producers_status: Callable[[], list[dict[str, Any]]] = list
    locks: LockRepository | None = None
    clock: Clock | None = None
    timeframe: str | None = None
    metrics: BotCollector | None = None  # GET /metrics when the config enables it


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def frame_payload(frame: pd.DataFrame) -> dict[str, Any]:
    """Columns and rows of ``frame`` at full precision (dates as epoch ms, NaN as null)."""
    columns: list[list[Any]] = []
    for name in frame.columns:
        series = frame[name]
        kind = series.dtype.kind
        if kind == "M":
            values = dates_to_ms(series).tolist()
        elif kind in "fiub":
            values = series.to_numpy().tolist()
        else:
            values = [
                None if (v is None or (isinstance(v, float) and math.isnan(v))) else v
                for v in series.tolist()
            ]
        columns.append(values)
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    return {
        "columns": [str(c) for c in frame.columns],
        "data": rows,
        "dtypes": [str(t) for t in frame.dtypes],
    }


def create_app(ctx: ApiContext) -> FastAPI:
    api = ctx.config.api_server
    app = FastAPI(title="candlecast", version=__version__, default_response_class=ORJSONResponse)
    if api.CORS_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.CORS_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )

    def require_auth(request: Request) -> str:
        header = request.headers.get("authorization")
        creds = auth.basic_credentials(header)
        if creds and auth.credentials_match(creds[0], creds[1], api.username, api.password):
            return creds[0]
        token = auth.bearer_token(header)
        if token:
            claims = auth.verify_jwt(token, ctx.jwt_secret, "access")
            if claims:
                return str(claims.get("sub"))
        raise HTTPException(
            status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": "Basic"}
        )

    @app.get("/api/v1/ping")
    def ping() -> dict[str, str]:
        return {"status": "pong"}

    @app.post("/api/v1/token/login")
    def login(request: Request) -> dict[str, str]:
        creds = auth.basic_credentials(request.headers.get("authorization"))
        if not creds or not auth.credentials_match(creds[0], creds[1], api.username, api.password):
            raise HTTPException(
                status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": "Basic"}
            )
        return {
            "access_token": auth.create_jwt(
                ctx.jwt_secret, creds[0], "access", auth.ACCESS_TOKEN_SECONDS
            ),
            "refresh_token": auth.create_jwt(
                ctx.jwt_secret, creds[0], "refresh", auth.REFRESH_TOKEN_SECONDS
            ),
        }

    @app.get("/api/v1/status")
    def status(_: str = Depends(require_auth)) -> list[dict[str, Any]]:
        return [t.to_dict() for t in ctx.repository.open_trades()]

    @app.get("/api/v1/trades")
    def trades(
        limit: int = Query(500, ge=1, le=10000), _: str = Depends(require_auth)
    ) -> dict[str, Any]:
        rows = ctx.repository.trades(limit)
        return {
            "trades": [t.to_dict() for t in rows],
            "trades_count": len(rows),
            "total_trades": ctx.repository.count(),
        }

    @app.get("/api/v1/whitelist")
    def whitelist(_: str = Depends(require_auth)) -> dict[str, Any]:
        pairs = ctx.dataprovider.current_whitelist()
        return {
            "whitelist": pairs,
            "length": len(pairs),
            "method": [p.method for p in ctx.config.pairlists],
        }

    @app.get("/api/v1/pair_candles")
    def pair_candles(
        pair: str,
        timeframe: str | None = None,
        limit: int | None = Query(None, ge=1),
        producer: str | None = Query(
            None, description="a consumer's copy from this producer instead"
        ),
        _: str = Depends(require_auth),
    ) -> dict[str, Any]:
        tf = timeframe or ctx.dataprovider.timeframe
        if producer:
            frame, analyzed_at = ctx.dataprovider.get_producer_df(pair, tf, producer_name=producer)
        else:
            frame, analyzed_at = ctx.dataprovider.get_analyzed_dataframe(pair, tf)
        if frame.empty:
            raise HTTPException(status_code=404, detail=f"no analyzed data for {pair} {tf}")
        if limit:
            frame = frame.tail(limit)
        return {
            "pair": pair,
            "timeframe": tf,
            "length": len(frame),
            "last_analyzed": analyzed_at.isoformat(),  # freqtrade's field name
            **frame_payload(frame),
        }

    add_lock_routes(app, ctx, require_auth)
    if ctx.metrics is not None:
        mount_metrics(app, ctx.metrics, require_auth)

    @app.get("/api/v1/show_config")
    def show_config(_: str = Depends(require_auth)) -> dict[str, Any]:
        return mask_secrets(ctx.config.model_dump(mode="json"))

    @app.get("/api/v1/message/clients")
    def message_clients(_: str = Depends(require_auth)) -> list[dict[str, Any]]:
        if ctx.hub is None:
            return []
        return [
            {
                "address": ch.peer,
                "subscriptions": sorted(ch.subscriptions),
                "encoding": "binary" if ch.binary else "json",
                "queue_depth": ch.queue_depth,
                "messages_sent": ch.stats.messages_sent,
                "bytes_sent": ch.stats.bytes_sent,
                "connected_since": ch.stats.connected_at,
            }
            for ch in list(ctx.hub.channels)
        ]

    @app.get("/api/v1/producers")
    def producers(_: str = Depends(require_auth)) -> list[dict[str, Any]]:
        return ctx.producers_status()

    @app.websocket(WS_PATH)
    async def message_ws(websocket: WebSocket) -> None:
        peer = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "unknown"
        hub = ctx.hub
        token = websocket.query_params.get("token") or auth.bearer_token(
            websocket.headers.get("authorization")
        )
        allowed = auth.ws_token_subject(token, api.ws_token, ctx.jwt_secret) is not None
        if hub is None or not allowed:
            logger.warning(
                "Refused message websocket from %s: %s",
                peer,
                "missing token" if not token else "wrong token",
            )
            await websocket.close(code=CLOSE_POLICY)
            return
        binary = SUBPROTOCOL in websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol=SUBPROTOCOL if binary else None)
        channel = hub.open_channel(websocket, peer, binary)
        logger.info("Consumer %s connected (%s)", peer, "binary" if binary else "json")
        try:
            while not channel.closed:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                payload = message.get("text")
                if payload is None:
                    payload = message.get("bytes")
                if payload is not None:
                    channel.handle_request(payload)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await channel.aclose()
            logger.info(
                "Consumer %s disconnected%s",
                peer,
                f" ({channel.close_reason})" if channel.close_reason else "",
            )

    return app


class LockPayload(BaseModel):
    """A lock to add (freqtrade's ``LocksPayload``)."""

    pair: str
    side: str = "*"
    reason: str | None = None
    until: datetime


class DeleteLockRequest(BaseModel):
    pair: str | None = None
    lockid: int | None = None


def add_lock_routes(app: FastAPI, ctx: ApiContext, require_auth: Callable[..., str]) -> None:
    """GET/POST /api/v1/locks, DELETE /api/v1/locks/{id}, POST /api/v1/locks/delete, with
    freqtrade's shapes: ``{"lock_count": n, "locks": [LockModel, ...]}`` listing the locks
    in force now."""

    def now() -> datetime:
        return (ctx.clock or LiveClock()).now()

    def store() -> LockRepository:
        if ctx.locks is None:
            raise HTTPException(status_code=503, detail="locks are not available")
        return ctx.locks

    def current() -> dict[str, Any]:
        locks = store().in_force(None, now())
        return {"lock_count": len(locks), "locks": [lock.to_json() for lock in locks]}

    @app.get("/api/v1/locks")
    def locks(_: str = Depends(require_auth)) -> dict[str, Any]:
        return current()

    @app.post("/api/v1/locks")
    def add_locks(payload: list[LockPayload], _: str = Depends(require_auth)) -> dict[str, Any]:
        timeframe = ctx.timeframe or "1m"
        for item in payload:
            until = item.until if item.until.tzinfo else item.until.replace(tzinfo=UTC)
            store().add(
                PairLock(
                    None,
                    item.pair,
                    item.side,
                    item.reason,
                    now(),
                    next_candle_open(timeframe, until),
                )
            )
        return current()

    @app.delete("/api/v1/locks/{lockid}")
    def delete_lock(lockid: int, _: str = Depends(require_auth)) -> dict[str, Any]:
        store().release(now(), lock_id=lockid)
        return current()

    @app.post("/api/v1/locks/delete")
    def delete_lock_pair(
        payload: DeleteLockRequest, _: str = Depends(require_auth)
    ) -> dict[str, Any]:
        store().release(now(), lock_id=payload.lockid, pair=payload.pair)
        return current()
