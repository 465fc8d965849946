"""Pair locks: GET/POST /api/v1/locks, DELETE /api/v1/locks/{id}, POST /api/v1/locks/delete,
with freqtrade's shapes: ``{"lock_count": n, "locks": [LockModel, ...]}`` listing the locks
in force now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from candlecast.api.context import ApiContext
from candlecast.api.deps import get_ctx, require_auth
from candlecast.domain.locks import PairLock, next_candle_open
from candlecast.persistence.locks import LockRepository

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_auth)])
Ctx = Depends(get_ctx)


class LockPayload(BaseModel):
    """A lock to add (freqtrade's ``LocksPayload``)."""

    pair: str
    side: str = "*"
    reason: str | None = None
    until: datetime


class DeleteLockRequest(BaseModel):
    pair: str | None = None
    lockid: int | None = None


def _store(ctx: ApiContext) -> LockRepository:
    if ctx.locks is None:
        raise HTTPException(status_code=503, detail="locks are not available")
    return ctx.locks


def _current(ctx: ApiContext) -> dict[str, Any]:
    locks = _store(ctx).in_force(None, ctx.now())
    return {"lock_count": len(locks), "locks": [lock.to_json() for lock in locks]}


@router.get("/locks")
def locks(ctx: ApiContext = Ctx) -> dict[str, Any]:
    return _current(ctx)


@router.post("/locks")
def add_locks(payload: list[LockPayload], ctx: ApiContext = Ctx) -> dict[str, Any]:
    timeframe = ctx.timeframe or "1m"
    for item in payload:
        until = item.until if item.until.tzinfo else item.until.replace(tzinfo=UTC)
        _store(ctx).add(
            PairLock(
                None,
                item.pair,
                item.side,
                item.reason,
                ctx.now(),
                next_candle_open(timeframe, until),
            )
        )
    return _current(ctx)


@router.delete("/locks/{lockid}")
def delete_lock(lockid: int, ctx: ApiContext = Ctx) -> dict[str, Any]:
    _store(ctx).release(ctx.now(), lock_id=lockid)
    return _current(ctx)


@router.post("/locks/delete")
def delete_lock_pair(payload: DeleteLockRequest, ctx: ApiContext = Ctx) -> dict[str, Any]:
    _store(ctx).release(ctx.now(), lock_id=payload.lockid, pair=payload.pair)
    return _current(ctx)
