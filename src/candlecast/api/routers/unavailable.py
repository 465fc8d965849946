"""Routes for what candlecast does not have (backtesting, hyperopt, FreqAI, background jobs).

freqtrade answers these outside its webserver mode with HTTP 503 and
``{"detail": "Bot is not in the correct state."}``; so does candlecast, always, so
FreqUI shows the feature as unavailable instead of failing on a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from candlecast.api.deps import require_auth

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_auth)])

NOT_AVAILABLE = "Bot is not in the correct state."

_ROUTES: list[tuple[str, list[str]]] = [
    ("/backtest", ["GET", "POST", "DELETE"]),
    ("/backtest/abort", ["GET"]),
    ("/backtest/history", ["GET"]),
    ("/backtest/history/result", ["GET"]),
    ("/backtest/history/{file}", ["DELETE", "PATCH"]),
    ("/backtest/history/{file}/market_change", ["GET"]),
    ("/backtest/history/{file}/{strategy}/wallet", ["GET"]),
    ("/hyperoptloss", ["GET"]),
    ("/freqaimodels", ["GET"]),
    ("/background", ["GET"]),
    ("/background/clear", ["DELETE"]),
    ("/background/{jobid}", ["GET", "DELETE"]),
    ("/download_data", ["POST"]),
    ("/pairlists/evaluate", ["POST"]),
    ("/pairlists/evaluate/{jobid}", ["GET"]),
    ("/lookahead_analysis", ["POST"]),
    ("/lookahead_analysis/{jobid}", ["GET"]),
    ("/recursive_analysis", ["POST"]),
    ("/recursive_analysis/{jobid}", ["GET"]),
    ("/markets", ["GET"]),
    ("/exchanges", ["GET"]),
]


def not_available() -> None:
    raise HTTPException(status_code=503, detail=NOT_AVAILABLE)


for _path, _methods in _ROUTES:
    router.add_api_route(_path, not_available, methods=_methods, include_in_schema=True)
