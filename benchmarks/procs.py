"""Processes for the networked benchmarks, driven over stdin/stdout by benchmarks.net.

``producer``: a real candlecast API server (uvicorn, MessageHub) holding synthetic frames.
``clients``: N websocket clients in one process that only receive (fan-out).
``consumer``: a real ProducerClient + ProducerStore (latency and initial sync).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.fixtures import analyzed_frame
from candlecast.api.app import ApiContext, create_app
from candlecast.api.server import ApiServer, bind_socket
from candlecast.config import validate_config
from candlecast.data.dataprovider import DataProvider
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.enums import CandleType
from candlecast.messaging.client import ProducerClient
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.persistence.repository import TradeRepository

TOKEN = "benchmark-token-0123456789abcdef"


def say(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def read_line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


async def serve_reports(latencies: list[float]) -> None:
    """Answer "report" with the latencies gathered since the last report, until "quit"."""
    while True:
        command = await read_line()
        if command in ("", "quit"):
            return
        if command == "report":
            say({"latencies_ms": latencies})
            latencies.clear()


async def producer(args: argparse.Namespace) -> None:
    config = validate_config(
        {
            "api_server": {
                "enabled": True,
                "listen_ip_address": "127.0.0.1",
                "listen_port": 0,
                "username": "bench",
                "password": "bench",
                "ws_token": TOKEN,
                "ws_max_queue_bytes": args.max_queue_bytes,
                "ws_send_timeout": 600,
            }
        }
    )
    dp = DataProvider("5m")
    pairs = [f"P{i:03d}/USDT" for i in range(args.pairs)]
    frames = {p: analyzed_frame(args.rows, args.columns, seed=i) for i, p in enumerate(pairs)}
    now = datetime.now(UTC)
    for pair, frame in frames.items():
        dp.set_analyzed(pair, frame, now)
    dp.set_whitelist(pairs)
    # the policy from the config above (the default send timeout would drop a healthy but
    # slow client of a loaded machine after 10 s and stall the benchmark waiting for it)
    api = config.api_server
    hub = MessageHub(dp, ChannelPolicy.from_config(api))
    await hub.start()
    repo = TradeRepository(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite")
    server = ApiServer(
        create_app(
            ApiContext(
                config=config, jwt_secret="x" * 32, dataprovider=dp, repository=repo, hub=hub
            )
        ),
        config.api_server,
        bind_socket("127.0.0.1", 0),
    )
    await server.start()
    say({"port": server.port})
    step = 300_000
    tick = 0
    while True:
        command = await read_line()
        if command in ("", "quit"):
            break
        if command == "channels":
            say(
                {
                    "channels": len(hub.channels),
                    "subscribed": sum(1 for c in hub.channels if c.subscriptions),
                    "queued": [c.queue_depth for c in hub.channels],
                }
            )
        elif command == "rss":
            status = Path("/proc/self/status").read_text()
            say(
                {
                    "rss_kb": int(
                        next(
                            line.split()[1]
                            for line in status.splitlines()
                            if line.startswith("VmRSS:")
                        )
                    )
                }
            )
        elif command in ("full", "one"):
            t0 = time.time()
            for pair in pairs:
                frame = frames[pair] if command == "full" else frames[pair].tail(1)
                key = (pair, "5m", CandleType.SPOT)
                for message in hub.build_analyzed(key, frame, datetime.now(UTC), False):
                    hub.publish(message)
            say({"t0": t0})
        elif command == "tick":
            # one new analyzed candle per pair, published from a worker thread pair by
            # pair as the bot's analysis does (la = when that pair's analysis finished)
            tick += 1
            t0 = time.time()

            def analyze_all(tick: int = tick) -> None:
                for pair in pairs:
                    row = frames[pair].tail(1).copy()
                    row["date"] = row["date"] + np.timedelta64(tick * step, "ms")
                    key = (pair, "5m", CandleType.SPOT)
                    for message in hub.build_analyzed(key, row, datetime.now(UTC), False):
                        hub.publish_threadsafe(message)
                    time.sleep(args.analysis_ms / 1000)  # the next pair's indicators

            await asyncio.to_thread(analyze_all)
            say({"t0": t0})
    await server.stop()
    await hub.stop()


async def clients(args: argparse.Namespace) -> None:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{args.port}/api/v1/message/ws?token={TOKEN}"
    subprotocols = ["candlecast.v1"] if args.binary else None
    conns = []
    for _ in range(args.n):
        ws = await connect(
            url,
            compression="deflate" if args.deflate else None,
            max_size=2**28,
            ping_interval=None,
            subprotocols=subprotocols,
            max_queue=None,
        )  # type: ignore[arg-type]
        await ws.send('{"type":"subscribe","data":["analyzed_df"]}')
        conns.append(ws)
    say({"ready": len(conns)})

    async def drain(ws: object, count: int) -> float:
        for _ in range(count):
            await ws.recv()  # type: ignore[attr-defined]
        return time.time()

    while True:
        command = await read_line()
        if command in ("", "quit"):
            break
        count = int(command.split()[1])
        done = await asyncio.gather(*(drain(ws, count) for ws in conns))
        say({"done": max(done)})
    for ws in conns:
        await ws.close()


async def consumer(args: argparse.Namespace) -> None:
    from candlecast.config.models import ExternalMessageConsumerConfig, ProducerConfig

    producer_cfg = ProducerConfig(name="default", host="127.0.0.1", port=args.port, ws_token=TOKEN)
    settings = ExternalMessageConsumerConfig(
        enabled=True,
        producers=[producer_cfg],
        binary=bool(args.binary),
        message_size_limit=20,
        sleep_time=1,
    )
    store = ProducerStore()
    latencies: list[float] = []
    synced = asyncio.Event()

    def listener(name: str, key: object) -> None:
        if key is None:
            return
        entry = store.get(name, key)  # type: ignore[arg-type]
        if entry is not None and len(entry.frame) and len(store.keys(name)) >= args.pairs:
            synced.set()
        if entry is not None and args.latency:
            latencies.append((time.time() - entry.analyzed_at.timestamp()) * 1000)

    store.add_listener(listener)
    client = ProducerClient(producer_cfg, settings, store)
    started = time.time()
    task = asyncio.create_task(client.run())
    await synced.wait()
    say({"synced_s": time.time() - started, "encoding": client.status.encoding})
    latencies.clear()
    await serve_reports(latencies)
    task.cancel()


async def consumer_bot(args: argparse.Namespace) -> None:
    """A real consumer Bot whose strategy records when it first sees each new producer candle."""
    import pandas as pd

    from candlecast.bot.runtime import Bot
    from candlecast.strategy import IStrategy

    latencies: list[float] = []
    seen: dict[str, object] = {}

    class Probe(IStrategy):
        timeframe = "5m"
        stoploss = -0.5
        process_only_new_candles = False

        def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
            assert self.dp is not None
            producer_df, analyzed_at = self.dp.get_producer_df(metadata["pair"])
            if not producer_df.empty:
                last = producer_df["date"].iloc[-1]
                if seen.get(metadata["pair"]) != last:
                    if metadata["pair"] in seen:
                        latencies.append((time.time() - analyzed_at.timestamp()) * 1000)
                    seen[metadata["pair"]] = last
            return dataframe

        def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
            return dataframe

    config = validate_config(
        {
            "timeframe": "5m",
            "db_url": f"sqlite:///{tempfile.mkdtemp()}/c.sqlite",
            "internals": {"process_throttle_secs": 3600},
            "pairlists": [{"method": "ProducerPairList"}],
            "external_message_consumer": {
                "enabled": True,
                "producers": [
                    {"name": "default", "host": "127.0.0.1", "port": args.port, "ws_token": TOKEN}
                ],
                "message_size_limit": 20,
                "sleep_time": 1,
            },
        }
    )
    bot = Bot(config, Probe())
    task = asyncio.create_task(bot.run(install_signals=False))
    while len(seen) < args.pairs:
        await asyncio.sleep(0.05)
    say({"ready": True})
    await serve_reports(latencies)
    bot.request_stop()
    await task


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("producer")
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--rows", type=int, default=500)
    p.add_argument("--columns", type=int, default=20)
    p.add_argument(
        "--analysis-ms", type=float, default=2.0, help="simulated analysis time per pair"
    )
    p.add_argument(
        "--max-queue-bytes", type=int, default=2**31, help="slow-consumer byte limit per client"
    )
    c = sub.add_parser("clients")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--n", type=int, default=1)
    c.add_argument("--deflate", type=int, default=0)
    c.add_argument("--binary", type=int, default=0)
    k = sub.add_parser("consumer")
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--pairs", type=int, required=True)
    k.add_argument("--binary", type=int, default=1)
    k.add_argument("--latency", type=int, default=0)
    b = sub.add_parser("consumerbot")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--pairs", type=int, required=True)
    args = parser.parse_args()
    roles = {
        "producer": producer,
        "clients": clients,
        "consumer": consumer,
        "consumerbot": consumer_bot,
    }
    asyncio.run(roles[args.role](args))


if __name__ == "__main__":
    main()
