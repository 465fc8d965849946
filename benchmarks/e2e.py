"""End to end as freqtrade consumers see a producer (issue 18).

20 pairs x 1,500 candles x 28 columns (OHLCV, 20 TA-Lib indicators, enter/exit long), a
new candle per pair every 2 s analysed by the strategy, N clients in separate processes
(up to 2, the machine has 2 cores) that offer permessage-deflate as freqtrade's consumer
does. Reported per N: the sync (subscribe, whitelist, ``analyzed_df {limit 1500}`` sent
by every client at once, until the last client holds all 20 frames, not decoded), and
for the live stream the delay from the analysis stamp (``la``) to each client's
arrival and the spread between the first and the last client, p50 and p99. The
reference column quotes freqtrade 2026.9 on this kind of machine (issue 18), not this run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from typing import Any

import numpy as np

from benchmarks.net import Proc

FREQTRADE = {
    ("sync", 1): 595.0,
    ("sync", 10): 3809.0,
    ("sync", 50): 17621.0,
    ("delay_p99", 10): 310.0,
    ("delay_p99", 50): 738.0,
    ("spread_p99", 50): 103.0,
}
REFERENCE = "freqtrade 2026.9 (issue 18), not measured in this run"


def _spawn(*args: str) -> Proc:
    return Proc(*args, module="benchmarks.e2e_procs")


def _wait_subscribed(producer: Proc, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        producer.send("subscribed")
        if producer.read()["subscribed"] >= n:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only some of {n} clients subscribed within {timeout:.0f} s")
        time.sleep(0.02)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def scenario(
    n: int,
    ticks: int,
    interval: float = 2.0,
    pairs: int = 20,
    producer_args: tuple[str, ...] = (),
    breakdown: dict[str, Any] | None = None,
) -> list[dict]:
    """One producer and N clients: the sync, then ``ticks`` new candles per pair.
    ``breakdown``: filled with where the stream delay goes (the producer traces)."""
    trace = ("--trace",) if breakdown is not None else ()
    producer = _spawn("producer", "--pairs", str(pairs), *producer_args, *trace)
    hello = producer.read(timeout=300)
    port = hello["port"]
    groups = min(2, n)
    sizes = [n // groups + (1 if i < n % groups else 0) for i in range(groups)]
    client_procs = [
        _spawn("clients", "--port", str(port), "--n", str(s), "--pairs", str(pairs)) for s in sizes
    ]
    try:
        for c in client_procs:
            c.read(timeout=120)
        _wait_subscribed(producer, n)
        producer.send("cpu")
        cpu_before = producer.read()["cpu"]
        if os.environ.get("E2E_PROFILE_SYNC"):  # the producer's loop, printed on its stderr
            producer.send("profile")
            producer.read()
        for c in client_procs:
            c.send("sync")
        synced = [c.read(timeout=600) for c in client_procs]
        if os.environ.get("E2E_PROFILE_SYNC"):
            producer.send("profile-end")
            producer.read()
        sync_ms = (max(s["done"] for s in synced) - min(s["started"] for s in synced)) * 1000
        producer.send("cpu")
        sync_cpu = {
            "producer_cpu_ms": round((producer.read()["cpu"] - cpu_before) * 1000),
            "clients_cpu_ms": [round(s["cpu_s"] * 1000) for s in synced],
        }
        for c in client_procs:
            c.send(f"stream {pairs * ticks}")
        producer.send(f"stream {ticks} {interval}")
        streamed = producer.read(timeout=60 + ticks * interval * 10)
        analysis = streamed["analysis_s"]
        arrivals: list[list[tuple[str, str, float]]] = []
        for c in client_procs:
            arrivals += c.read(timeout=120)["arrivals"]
    finally:
        for c in client_procs:
            c.close()
        producer.close()
    delays: list[float] = []
    by_update: dict[tuple[str, str], list[float]] = {}
    for client in arrivals:
        for pair, la, arrived in client:
            delays.append((arrived - datetime.fromisoformat(la).timestamp()) * 1000)
            by_update.setdefault((pair, la), []).append(arrived)
    spreads = [(max(t) - min(t)) * 1000 for t in by_update.values() if len(t) == n]
    if breakdown is not None:
        breakdown.update(_breakdown(streamed["trace"], by_update))
    name = f"end to end, {pairs} pairs x 1500 x {hello['columns']} cols, deflate offered"
    params = {"n": n}
    results = [
        {
            "name": f"{name}: sync",
            "params": {**params, **sync_cpu},
            "candlecast_ms": sync_ms,
            "reference_ms": FREQTRADE.get(("sync", n)),
            "reference": REFERENCE,
            "bytes": None,
        }
    ]
    for what, values in (("delay", delays), ("spread", spreads)):
        if what == "spread" and n == 1:
            continue
        for q in (50, 99):
            results.append(
                {
                    "name": f"{name}: 1-row update, analysis stamp to arrival, {what} p{q}",
                    "params": params,
                    "candlecast_ms": _pct(values, q),
                    "reference_ms": FREQTRADE.get((f"{what}_p{q}", n)),
                    "reference": REFERENCE,
                    "bytes": None,
                }
            )
    results.append(
        {
            "name": "strategy analysis of one pair (1500 candles, 20 TA-Lib indicators), median",
            "params": params,
            "candlecast_ms": float(np.median(analysis)) * 1000,
            "reference_ms": None,
            "reference": "-",
            "bytes": None,
        }
    )
    return results


def _breakdown(
    trace: list[dict[str, Any]], by_update: dict[tuple[str, str], list[float]]
) -> dict[str, Any]:
    """p50 / p99 (ms) of each stage of a broadcast: ``la`` -> encoded -> published by the
    event loop -> first / last socket write done -> last client's arrival."""
    arrivals = {datetime.fromisoformat(la).timestamp(): t for (_, la), t in by_update.items()}
    stages: dict[str, list[float]] = {
        k: [] for k in ("encoded", "published", "first_write", "last_write", "last_arrival")
    }
    for row in trace:
        if "published" not in row or not row["writes"]:
            continue
        la = row["la"]
        stages["encoded"].append((row["built"] - la) * 1000)
        stages["published"].append((row["published"] - la) * 1000)
        stages["first_write"].append((min(row["writes"]) - la) * 1000)
        stages["last_write"].append((max(row["writes"]) - la) * 1000)
        got = arrivals.get(la)
        if got:
            stages["last_arrival"].append((max(got) - la) * 1000)
    return {k: (round(_pct(v, 50), 1), round(_pct(v, 99), 1)) for k, v in stages.items()}


MODES = {
    # the bot's two ways (Bot._analyze): the analysis thread waits for each broadcast's
    # writes before the next pair in both
    "1 analysis thread": ("--mode", "thread", "--let-writers-run"),
    "2 analysis workers": ("--mode", "workers", "--workers", "2", "--let-writers-run"),
}


def run(quick: bool) -> list[dict]:
    results: list[dict] = []
    for mode, producer_args in MODES.items():
        for n in (1, 10, 50):
            for r in scenario(n, ticks=3 if quick else 10, producer_args=producer_args):
                r["name"] = f"{r['name']} [{mode}]"
                results.append(r)
    results += analysis_throughput(50 if quick else 200)
    return results


def analysis_throughput(pairs: int = 200, rows: int = 1500) -> list[dict]:
    """Pairs analysed per second by the 20-indicator strategy, the bot's way: in its
    analysis thread (``ThreadAnalysis``) while the event loop measures how late a 1 ms
    timer fires, and in 2 worker processes (``AnalysisPool``: candles shipped, frames
    returned, as in the bot); and what shipping one analysed frame back costs."""
    import asyncio
    import pickle

    from benchmarks.e2e_procs import TIMEFRAME, TwentyIndicators
    from candlecast.bot.analysis_pool import AnalysisPool, StrategySpec, ThreadAnalysis
    from candlecast.domain.enums import RunMode
    from candlecast.testing import make_ohlcv

    strategy = TwentyIndicators({})
    names = [f"P{i:03d}/USDT" for i in range(pairs)]
    frames = {
        (pair, TIMEFRAME): make_ohlcv(rows, timeframe=TIMEFRAME, seed=i)
        for i, pair in enumerate(names)
    }
    strategy.analyze(next(iter(frames.values())), "warm/up")

    async def in_thread() -> tuple[float, list[float]]:
        lateness: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                asked = time.perf_counter()
                await asyncio.sleep(0.001)
                lateness.append((time.perf_counter() - asked - 0.001) * 1000)

        tick = asyncio.get_running_loop().create_task(ticker())
        started = time.perf_counter()
        await asyncio.to_thread(
            lambda: list(ThreadAnalysis(strategy).analyze(names, frames, names))
        )
        elapsed = time.perf_counter() - started
        done.set()
        await tick
        return elapsed, lateness

    thread_s, lateness = asyncio.run(in_thread())
    spec = StrategySpec(
        "TwentyIndicators", TIMEFRAME, RunMode.DRY_RUN, {}, {}, module="benchmarks.e2e_procs"
    )
    pool = AnalysisPool(2, spec)
    pool.start()
    try:
        warm = names[:2]
        list(pool.analyze(warm, {k: frames[k] for k in frames if k[0] in warm}, warm))
        started = time.perf_counter()
        outcomes = list(pool.analyze(names, frames, names))
        procs_s = time.perf_counter() - started
        # a second pass: every worker holds the candles already, only frames come back
        started = time.perf_counter()
        list(pool.analyze(names, frames, names))
        procs_again_s = time.perf_counter() - started
    finally:
        pool.close()
    assert all(o.error is None for o in outcomes)
    frame = outcomes[0].frame
    assert frame is not None
    started = time.perf_counter()
    for _ in range(20):
        payload = pickle.dumps(frame, protocol=5)
        pickle.loads(payload)
    transfer_ms = (time.perf_counter() - started) / 20 * 1000
    base = {"reference_ms": None, "reference": "-", "bytes": None}
    return [
        {
            "name": f"analysis of {pairs} pairs x {rows} candles, 20 TA-Lib indicators, 1 analysis thread",
            "params": {"pairs_per_s": round(pairs / thread_s, 1)},
            "candlecast_ms": thread_s * 1000,
            **base,
        },
        {
            "name": "event loop lateness of a 1 ms timer during that analysis, p50 / p99",
            "params": {
                "p50_ms": round(_pct(lateness, 50), 2),
                "p99_ms": round(_pct(lateness, 99), 2),
            },
            "candlecast_ms": _pct(lateness, 99),
            **base,
        },
        {
            "name": f"analysis of {pairs} pairs, same, 2 analysis workers (candles shipped)",
            "params": {"pairs_per_s": round(pairs / procs_s, 1)},
            "candlecast_ms": procs_s * 1000,
            **base,
        },
        {
            "name": f"analysis of {pairs} pairs, same, 2 analysis workers holding the candles",
            "params": {"pairs_per_s": round(pairs / procs_again_s, 1)},
            "candlecast_ms": procs_again_s * 1000,
            **base,
        },
        {
            "name": f"one analysed frame ({rows} x {len(frame.columns)}) pickled and unpickled",
            "params": {"bytes": len(payload)},
            "candlecast_ms": transfer_ms,
            **base,
        },
    ]


def main() -> None:
    """One traced scenario: ``python -m benchmarks.e2e --n 50 [--ticks 10] [-- producer args]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("producer_args", nargs="*")
    args = parser.parse_args()
    breakdown: dict[str, Any] = {}
    results = scenario(
        args.n, args.ticks, producer_args=tuple(args.producer_args), breakdown=breakdown
    )
    load = os.getloadavg()
    for r in results:
        print(f"{r['name'][-60:]:<60} {r['candlecast_ms']:>10.1f} ms")
    print("stages from la, p50 / p99 ms:", json.dumps(breakdown))
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
