"""Networked benchmarks: real producer and client processes on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

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
    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.procs", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def read(self) -> dict:
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("benchmark process ended early")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.send("quit")
            self.p.wait(20)
        except Exception:
            self.p.kill()


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
        consumer.read()
        producer.send("tick")  # warm-up: first calls of every code path
        producer.read()
        time.sleep(0.3)
        consumer.send("report")
        consumer.read()
        for _ in range(ticks):
            producer.send("tick")
            producer.read()
            time.sleep(0.05)
        time.sleep(0.3)
        consumer.send("report")
        lat = np.array(consumer.read()["latencies_ms"])
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


def run(quick: bool) -> list[dict]:
    rounds = 3 if quick else 7
    results = [
        fanout(1, False, "full", rounds),
        fanout(10, True, "full", rounds),
        fanout(50, False, "full", rounds),
        fanout(50, True, "full", rounds),
        fanout(50, False, "one", rounds),
        fanout(50, False, "full", rounds, binary=True),
    ]
    if not quick:
        results.append(fanout(200, False, "full", 3))
    results += [latency(True, 20 if quick else 60), latency(False, 20 if quick else 60)]
    results += [initial_sync(False, 100), initial_sync(True, 100)]
    return results
