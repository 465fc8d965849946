"""Processes of the end-to-end benchmark (benchmarks.e2e), driven over stdin/stdout.

``producer``: candlecast's producer pieces as the bot runs them (DataProvider, MessageHub,
the uvicorn API server, ``plan_broadcast``) with a strategy computing 20 TA-Lib
indicators; a new candle per pair is analysed in a worker thread and each pair's update
is broadcast as soon as it is analysed, as ``Bot._analyze`` does.
``clients``: freqtrade-style consumers (the ``websockets`` client offering
permessage-deflate, as freqtrade's consumer does): subscribe, ask for the whitelist and
``analyzed_df {limit 1500}``, count the replies (not decoded), then stamp every live
update's arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import talib.abstract as ta

from candlecast.api.app import ApiContext, create_app
from candlecast.api.server import ApiServer, bind_socket
from candlecast.bot.analysis_pool import AnalysisPool, StrategySpec, ThreadAnalysis, let_writers_run
from candlecast.config import validate_config
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType, RunMode
from candlecast.messaging.broadcast import plan_broadcast
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.persistence.repository import TradeRepository
from candlecast.strategy.interface import IStrategy
from candlecast.testing import make_ohlcv

TOKEN = "benchmark-token-0123456789abcdef"
TIMEFRAME = "5m"
STEP_MS = 300_000


def say(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def read_line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


class TwentyIndicators(IStrategy):
    """OHLCV + 20 float indicators by TA-Lib + enter/exit long: 28 columns."""

    timeframe = TIMEFRAME
    stoploss = -0.1
    process_only_new_candles = False

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        d = dataframe
        d["rsi"] = ta.RSI(d, timeperiod=14)
        d["rsi_fast"] = ta.RSI(d, timeperiod=4)
        d["ema_9"] = ta.EMA(d, timeperiod=9)
        d["ema_21"] = ta.EMA(d, timeperiod=21)
        d["ema_50"] = ta.EMA(d, timeperiod=50)
        d["ema_200"] = ta.EMA(d, timeperiod=200)
        d["sma_20"] = ta.SMA(d, timeperiod=20)
        d["tema"] = ta.TEMA(d, timeperiod=9)
        macd = ta.MACD(d)
        d["macd"], d["macdsignal"], d["macdhist"] = (
            macd["macd"],
            macd["macdsignal"],
            macd["macdhist"],
        )
        bands = ta.BBANDS(d, timeperiod=20)
        d["bb_upper"], d["bb_middle"], d["bb_lower"] = (
            bands["upperband"],
            bands["middleband"],
            bands["lowerband"],
        )
        d["adx"] = ta.ADX(d)
        d["cci"] = ta.CCI(d)
        d["mfi"] = ta.MFI(d)
        d["atr"] = ta.ATR(d)
        d["willr"] = ta.WILLR(d)
        d["obv"] = ta.OBV(d)
        return d

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["enter_long"] = (
            (dataframe["rsi"] < 30) & (dataframe["tema"] > dataframe["bb_middle"])
        ).astype("int64")
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["exit_long"] = (dataframe["rsi"] > 70).astype("int64")
        return dataframe


class Trace:
    """Producer-side stamps of each analyzed_df broadcast (``--trace``): encoded (after
    ``la``), the event loop publishing it, every channel's socket write of it done."""

    def __init__(self, hub: MessageHub) -> None:
        from candlecast.messaging import hub as hub_module

        self.by_payload: dict[int, dict[str, Any]] = {}
        self._rows: list[dict[str, Any]] = []
        self._keep: list[Any] = []
        publish = hub.publish

        def traced_publish(message: Any) -> int:
            row = self.by_payload.get(id(message.text))
            if row is not None:
                row["published"] = time.time()
            return publish(message)

        hub.publish = traced_publish  # type: ignore[method-assign]
        send = hub_module.Channel._send
        trace = self

        async def traced_send(channel: Any, payload: str | bytes) -> None:
            await send(channel, payload)
            row = trace.by_payload.get(id(payload))
            if row is not None:
                row["writes"].append(time.time())

        hub_module.Channel._send = traced_send  # type: ignore[method-assign,assignment]

    def built(self, message: Any, analyzed_at: datetime) -> None:
        if message.text is None or '"analyzed_df"' not in message.text[:40]:
            return
        row = {"la": analyzed_at.timestamp(), "built": time.time(), "writes": []}
        self.by_payload[id(message.text)] = row
        self._rows.append(row)
        self._keep.append(message)  # alive until reported, so the ids stay unique

    def rows(self) -> list[dict[str, Any]]:
        rows, self._rows, self.by_payload, self._keep = self._rows, [], {}, []
        return rows


def new_candle(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``frame`` with one more closed candle (the oldest dropped: 1500 rows stay)."""
    last = frame.iloc[-1]
    close = float(last["close"]) * float(np.exp(rng.normal(0, 0.002)))
    row = pd.DataFrame(
        {
            "date": [last["date"] + pd.Timedelta(milliseconds=STEP_MS)],
            "open": [float(last["close"])],
            "high": [max(close, float(last["close"])) * 1.001],
            "low": [min(close, float(last["close"])) * 0.999],
            "close": [close],
            "volume": [float(rng.uniform(100, 50_000))],
        }
    )
    return pd.concat([frame.iloc[1:], row], ignore_index=True)


async def producer(args: argparse.Namespace) -> None:
    config = validate_config(
        {
            "api_server": {
                "enabled": True,
                "listen_ip_address": "127.0.0.1",
                "listen_port": 0,
                "username": "u",
                "password": "p",
                "ws_token": TOKEN,
                "ws_send_timeout": 600,
            }
        }
    )
    strategy = TwentyIndicators({})
    dp = DataProvider(TIMEFRAME)
    pairs = [f"P{i:03d}/USDT" for i in range(args.pairs)]
    ohlcv = {p: make_ohlcv(args.rows, timeframe=TIMEFRAME, seed=i) for i, p in enumerate(pairs)}
    rng = np.random.default_rng(7)
    durations: list[float] = []

    def analyze(pair: str, frame: pd.DataFrame) -> pd.DataFrame:
        started = time.perf_counter()
        analyzed = strategy.analyze(frame, pair)
        durations.append(time.perf_counter() - started)
        return analyzed

    for pair in pairs:
        dp.set_analyzed(pair, analyze(pair, ohlcv[pair]), datetime.now(UTC))
    dp.set_whitelist(pairs)
    hub = MessageHub(dp, ChannelPolicy.from_config(config.api_server))
    await hub.start()
    repo = TradeRepository(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite")
    ctx = ApiContext(config=config, jwt_secret="x" * 32, dataprovider=dp, repository=repo, hub=hub)
    server = ApiServer(create_app(ctx), config.api_server, bind_socket("127.0.0.1", 0))
    hub.precompress = server.deflate_cache.precompress  # as Bot.start_api
    await server.start()
    columns = len(dp.get_analyzed_dataframe(pairs[0])[0].columns)
    say({"port": server.port, "columns": columns})

    trace = Trace(hub) if args.trace else None
    profiler: Any = None

    loop = asyncio.get_running_loop()
    pool: AnalysisPool | None = None
    analysis: ThreadAnalysis | AnalysisPool
    if args.mode == "workers":
        spec = StrategySpec(
            "TwentyIndicators",
            TIMEFRAME,
            RunMode.DRY_RUN,
            {},
            {},
            module="benchmarks.e2e_procs",
            niceness=args.niceness,
        )
        analysis = pool = AnalysisPool(args.workers, spec)
        await asyncio.to_thread(pool.start)
    else:
        analysis = ThreadAnalysis(strategy, args.switch_ms / 1000 if args.switch_ms else None)

    def one_candle() -> None:
        # as Bot._analyze: analyse pair by pair, broadcast each result at once
        previous = {}
        for pair in pairs:
            previous[pair] = ohlcv[pair]["date"].iloc[-1]
            ohlcv[pair] = new_candle(ohlcv[pair], rng)
            dp.set_ohlcv(pair, TIMEFRAME, ohlcv[pair])
        for outcome in analysis.analyze(pairs, dp.ohlcv_frames(), pairs):
            pair, frame = outcome.pair, outcome.frame
            assert frame is not None, outcome.error
            durations.append(outcome.seconds)
            analyzed_at = datetime.now(UTC)
            dp.set_analyzed(pair, frame, analyzed_at)
            part = plan_broadcast(frame, previous[pair], True, False)
            key = PairKey(pair, TIMEFRAME, CandleType.SPOT)
            for message in hub.build_analyzed(key, part, analyzed_at, True):
                if trace is not None:
                    trace.built(message, analyzed_at)
                hub.publish_threadsafe(message)
            if args.let_writers_run:
                asyncio.run_coroutine_threadsafe(
                    let_writers_run(lambda: list(hub.channels)), loop
                ).result()

    while True:
        command = await read_line()
        if command in ("", "quit"):
            break
        if command == "cpu":
            say({"cpu": time.process_time()})
        elif command == "profile":  # the event loop thread, from now until "profile-end"
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
            say({"profiling": True})
        elif command == "profile-end":
            import pstats

            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
            say({"profiled": True})
        elif command == "subscribed":
            say({"subscribed": sum(1 for c in hub.channels if c.subscriptions)})
        elif command.startswith("stream"):
            _, ticks, interval = command.split()
            durations.clear()
            for _ in range(int(ticks)):
                started = time.monotonic()
                await asyncio.to_thread(one_candle)
                await asyncio.sleep(max(0.0, float(interval) - (time.monotonic() - started)))
            say({"analysis_s": durations, "trace": trace.rows() if trace is not None else []})
    if pool is not None:
        await asyncio.to_thread(pool.close)
    await server.stop()
    await hub.stop()


async def clients(args: argparse.Namespace) -> None:
    from websockets.asyncio.client import ClientConnection, connect

    url = f"ws://127.0.0.1:{args.port}/api/v1/message/ws?token={TOKEN}"
    conns: list[ClientConnection] = []
    for _ in range(args.n):
        # freqtrade's consumer: the websockets client with its defaults, deflate offered
        ws = await connect(url, compression="deflate", max_size=2**27, ping_interval=None)
        await ws.send('{"type":"subscribe","data":["whitelist","analyzed_df"]}')
        conns.append(ws)
    say({"ready": len(conns)})

    async def sync(ws: ClientConnection) -> float:
        await ws.send('{"type":"whitelist","data":null}')
        await ws.send('{"type":"analyzed_df","data":{"limit":1500}}')
        frames = 0
        while frames < args.pairs:
            raw = await ws.recv()
            if '"analyzed_df"' in raw[:40]:
                frames += 1
        return time.time()

    async def stream(ws: ClientConnection, count: int) -> list[tuple[str, str, float]]:
        seen: list[tuple[str, str, float]] = []
        while len(seen) < count:
            raw = await ws.recv()
            arrived = time.time()
            message: Any = orjson.loads(raw)
            if message.get("type") == "analyzed_df":
                data = message["data"]
                seen.append((data["key"][0], data["la"], arrived))
        return seen

    while True:
        command = await read_line()
        if command in ("", "quit"):
            break
        if command == "sync":
            started, cpu = time.time(), time.process_time()
            done = await asyncio.gather(*(sync(ws) for ws in conns))
            say({"started": started, "done": max(done), "cpu_s": time.process_time() - cpu})
        elif command.startswith("stream"):
            count = int(command.split()[1])
            arrivals = await asyncio.gather(*(stream(ws, count) for ws in conns))
            say({"arrivals": arrivals})
    for ws in conns:
        await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("producer")
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--rows", type=int, default=1500)
    p.add_argument("--trace", action="store_true")
    p.add_argument("--mode", choices=["thread", "workers"], default="thread")
    p.add_argument(
        "--let-writers-run", action="store_true", help="wait for the writes after each pair"
    )
    p.add_argument("--switch-ms", type=float, default=0.0, help="GIL switch interval (thread)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--niceness", type=int, default=10)
    c = sub.add_parser("clients")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(producer(args) if args.role == "producer" else clients(args))


if __name__ == "__main__":
    main()
