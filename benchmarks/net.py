"""Networked benchmarks: real producer and client processes on loopback."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time

import numpy as np

from benchmarks.procs import TOKEN
from candlecast.testing import stalled_websocket

# freqtrade 2026.9 on this kind of machine (issue 8); not measured in this run.
FREQTRADE = {
    ("fanout", 1, False, "full"): 409.0,
    ("fanout", 10, True, "full"): 1651.0,
    ("fanout", 50, True, "full"): 6140.0,
    ("fanout", 50, False, "full"): 2113.0,
    ("fanout", 50, False, "one"): 1094.0,
    ("latency", "p50"): 72.0,
    ("latency", "p90"): 113.0,
}


class Proc:
    def __init__(self, *args: str, module: str = "benchmarks.procs") -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def read(self, timeout: float = 120.0) -> dict:
        assert self.p.stdout is not None
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            self.p.kill()
            raise RuntimeError(
                f"benchmark process {self.p.args[3:5]} gave no answer within {timeout:.0f} s"
            )
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark process {self.p.args[3:5]} ended early")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.send("quit")
            self.p.wait(20)
        except Exception:
            self.p.kill()


def wait_for_subscribers(producer: Proc, n: int, timeout: float = 30.0) -> None:
    """Clients say "ready" once they have *sent* their subscription; wait until the
    producer has processed all of them, or the first round could miss a client."""
    deadline = time.monotonic() + timeout
    while True:
        producer.send("channels")
        if producer.read()["subscribed"] >= n:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only some of {n} clients subscribed within {timeout:.0f} s")
        time.sleep(0.02)


def fanout(
    n: int, deflate: bool, kind: str, rounds: int, binary: bool = False, pairs: int = 20
) -> dict:
    producer = Proc("producer", "--pairs", str(pairs), "--rows", "500", "--columns", "20")
    port = producer.read()["port"]
    groups = max(1, min(2, n // 25))  # clients spread over up to 2 processes (2 cores)
    sizes = [n // groups + (1 if i < n % groups else 0) for i in range(groups)]
    clients = [
        Proc(
            "clients",
            "--port",
            str(port),
            "--n",
            str(s),
            "--deflate",
            str(int(deflate)),
            "--binary",
            str(int(binary)),
        )
        for s in sizes
    ]
    try:
        for c in clients:
            c.read()
        wait_for_subscribers(producer, n)
        times = []
        for _ in range(rounds + 1):
            for c in clients:
                c.send(f"go {pairs}")
            producer.send(kind)
            t0 = producer.read()["t0"]
            done = max(c.read()["done"] for c in clients)
            times.append((done - t0) * 1000)
        ms = float(np.median(times[1:]))  # the first round warms up
    finally:
        for c in clients:
            c.close()
        producer.close()
    return {
        "name": f"fan-out {pairs} pairs x {'500 candles' if kind == 'full' else '1 candle'} x 20 columns to N clients",
        "params": {"n": n, "deflate": deflate, "encoding": "binary" if binary else "json"},
        "candlecast_ms": ms,
        "reference_ms": FREQTRADE.get(("fanout", n, deflate, kind)),
        "reference": "freqtrade 2026.9 (issue 8), not measured in this run",
        "bytes": None,
    }


def tick_latencies(producer: Proc, consumer: Proc, ticks: int, pause: float) -> np.ndarray:
    """One warm-up tick (first calls of every code path), then ``ticks`` measured ones."""
    consumer.read()  # synced
    producer.send("tick")
    producer.read()
    time.sleep(0.5)
    consumer.send("report")
    consumer.read()
    for _ in range(ticks):
        producer.send("tick")
        producer.read()
        time.sleep(pause)
    time.sleep(0.5)
    consumer.send("report")
    return np.array(consumer.read()["latencies_ms"])


def latency(binary: bool, ticks: int) -> dict:
    producer = Proc("producer", "--pairs", "20", "--rows", "500", "--columns", "20")
    port = producer.read()["port"]
    consumer = Proc(
        "consumer",
        "--port",
        str(port),
        "--pairs",
        "20",
        "--binary",
        str(int(binary)),
        "--latency",
        "1",
    )
    try:
        lat = tick_latencies(producer, consumer, ticks, 0.05)
    finally:
        consumer.close()
        producer.close()
    return {
        "name": "producer analysis done -> consumer store holds the candle (20 pairs)",
        "params": {
            "encoding": "binary" if binary else "json",
            "samples": len(lat),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "p90_ms": round(float(np.percentile(lat, 90)), 3),
        },
        "candlecast_ms": float(np.median(lat)),
        "reference_ms": FREQTRADE[("latency", "p50")],
        "reference": "freqtrade 2026.9 median (issue 8), not measured in this run",
        "bytes": None,
    }


def strategy_latency(ticks: int) -> dict:
    """Producer analysis done -> a real consumer Bot's strategy has run on that candle."""
    producer = Proc("producer", "--pairs", "20", "--rows", "500", "--columns", "20")
    port = producer.read()["port"]
    consumer = Proc("consumerbot", "--port", str(port), "--pairs", "20")
    try:
        lat = tick_latencies(producer, consumer, ticks, 0.1)
    finally:
        consumer.close()
        producer.close()
    return {
        "name": "producer analysis done -> consumer strategy has run on that candle (20 pairs)",
        "params": {
            "samples": len(lat),
            "p90_ms": round(float(np.percentile(lat, 90)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
        },
        "candlecast_ms": float(np.median(lat)),
        "reference_ms": None,
        "reference": "freqtrade waits for its next process_throttle_secs (5 s default)",
        "bytes": None,
    }


def initial_sync(binary: bool, pairs: int) -> dict:
    producer = Proc("producer", "--pairs", str(pairs), "--rows", "1500", "--columns", "48")
    port = producer.read()["port"]
    consumer = Proc(
        "consumer", "--port", str(port), "--pairs", str(pairs), "--binary", str(int(binary))
    )
    try:
        result = consumer.read()
    finally:
        consumer.close()
        producer.close()
    return {
        "name": f"initial sync of a new consumer, {pairs} pairs x 1500 candles x 48 columns",
        "params": {"encoding": result["encoding"]},
        "candlecast_ms": result["synced_s"] * 1000,
        "reference_ms": None,
        "reference": "no freqtrade figure",
        "bytes": None,
    }


def stalled_among_healthy(rounds: int, n: int = 50) -> list[dict]:
    """1-candle broadcasts to n healthy consumers, without and then with a stalled one;
    then 100 full broadcasts that the stalled one never reads: producer memory. The stalled
    one is dropped by the byte limit (64 MiB, the default); the time limit is long, so the
    healthy clients of a loaded machine are never dropped for being slow."""
    producer = Proc(
        "producer",
        "--pairs",
        "20",
        "--rows",
        "500",
        "--columns",
        "20",
        "--max-queue-bytes",
        str(64 * 1024 * 1024),
    )
    port = producer.read()["port"]
    clients = [Proc("clients", "--port", str(port), "--n", str(n // 2)) for _ in range(2)]
    results = []
    stalled_sock = None
    try:
        for c in clients:
            c.read()
        # "ready" means the clients *sent* their subscriptions: wait until the producer
        # has applied them, or a client not yet subscribed misses a broadcast of the first
        # round and waits for it forever (the hang seen once in make bench-quick)
        wait_for_subscribers(producer, 2 * (n // 2))

        def measure() -> float:
            times = []
            for _ in range(rounds + 1):
                for c in clients:
                    c.send("go 20")
                producer.send("one")
                t0 = producer.read()["t0"]
                times.append((max(c.read()["done"] for c in clients) - t0) * 1000)
            return float(np.median(times[1:]))

        baseline = measure()
        stalled_sock = stalled_websocket(port, TOKEN)
        wait_for_subscribers(producer, 2 * (n // 2) + 1)
        producer.send("rss")
        rss_before = producer.read()["rss_kb"]
        with_stalled = measure()
        for _ in range(100):  # 100 x 20 pairs x 500 candles: ~300 MB if it were all kept
            for c in clients:
                c.send("go 20")
            producer.send("full")
            producer.read()
            for c in clients:
                c.read()
        producer.send("rss")
        rss_after = producer.read()["rss_kb"]
        producer.send("channels")
        channels = producer.read()["channels"]
    finally:
        if stalled_sock is not None:
            stalled_sock.close()  # type: ignore[attr-defined]
        for c in clients:
            c.close()
        producer.close()
    results.append(
        {
            "name": f"20 one-candle updates to {n} healthy consumers with one stalled consumer",
            "params": {
                "baseline_ms": round(baseline, 2),
                "ratio_to_baseline": round(with_stalled / baseline, 2),
            },
            "candlecast_ms": with_stalled,
            "reference_ms": None,
            "reference": "baseline without the stalled consumer",
            "bytes": None,
        }
    )
    results.append(
        {
            "name": "producer memory after 100 full broadcasts a stalled consumer never reads",
            "params": {
                "rss_before_mb": round(rss_before / 1024, 1),
                "rss_after_mb": round(rss_after / 1024, 1),
                "stalled_dropped": channels == n,
            },
            "candlecast_ms": 0.0,
            "reference_ms": None,
            "reference": "-",
            "bytes": (rss_after - rss_before) * 1024,
        }
    )
    return results


def run(quick: bool) -> list[dict]:
    rounds = 3 if quick else 7
    jobs: list[tuple] = [
        (fanout, 1, False, "full", rounds),
        (fanout, 10, True, "full", rounds),
        (fanout, 50, False, "full", rounds),
        (fanout, 50, True, "full", rounds),
        (fanout, 50, False, "one", rounds),
        (fanout, 50, False, "full", rounds, True),
    ]
    if not quick:
        jobs.append((fanout, 200, False, "full", 3))
    jobs += [
        (latency, True, 20 if quick else 60),
        (latency, False, 20 if quick else 60),
        (strategy_latency, 10 if quick else 30),
        (initial_sync, False, 100),
        (initial_sync, True, 100),
        (stalled_among_healthy, 3 if quick else 7),
    ]
    results: list[dict] = []
    for fn, *job_args in jobs:
        started = time.time()
        out = fn(*job_args)
        for r in out if isinstance(out, list) else [out]:
            print(
                f"  {r['name'][:60]} {r['params']}: {r['candlecast_ms']:.1f} ms ({time.time() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            results.append(r)
    return results
