"""``make soak``: a producer and three consumers for a while; resources must stay flat.

Samples every process's resident memory (VmRSS) and open file descriptors from /proc,
and the producer's connected consumers, after a warm-up; at the end checks that every
consumer's copy equals the producer's frames (through the REST APIs, as the demo does).
Exit code 0 only if memory grew less than 10 % after warm-up, descriptor counts did not
grow, and the frames are equal. ``SOAK_ARGS="--minutes 2"`` for a shorter run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from candlecast.demo import DEMO_PAIRS, Fleet, find_strategy_dir, write_configs


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the baseline (default 20%% of the run)",
    )
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--timeframe", default="1s")
    args = parser.parse_args()
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else max(30.0, duration * 0.2)
    workdir = Path(tempfile.mkdtemp(prefix="candlecast-soak-"))
    bots = write_configs(
        workdir,
        find_strategy_dir(None),
        args.timeframe,
        DEMO_PAIRS[: args.pairs],
        os.urandom(24).hex(),
        consumers=3,
    )
    # REST reads wait up to 30 s: on a shared, loaded machine a bot's answer can be late
    # without anything being wrong; memory, descriptors and frames are what the soak judges
    fleet = Fleet(bots, timeout=30.0)
    samples: list[dict] = []
    started = time.monotonic()
    ok = False
    try:
        for bot in bots:
            bot.start()
        while not fleet.ready():
            if any(not b.alive() for b in bots):
                raise SystemExit(f"a bot died during start-up; logs in {workdir}")
            time.sleep(0.2)
        print(
            f"soak: producer + 3 consumers, {args.pairs} pairs, {args.timeframe} candles, {args.minutes:g} min; "
            f"files in {workdir}",
            flush=True,
        )
        while (elapsed := time.monotonic() - started) < duration:
            dead = [b.name for b in bots if not b.alive()]
            if dead:
                raise SystemExit(f"{dead} died; logs in {workdir}")
            pids = {b.name: b.proc.pid for b in bots if b.proc}
            samples.append(
                {
                    "t": round(elapsed, 1),
                    "rss_kb": {n: rss_kb(p) for n, p in pids.items()},
                    "fds": {n: fd_count(p) for n, p in pids.items()},
                    "consumers": len(fleet.get(fleet.producer, "message/clients")),
                }
            )
            time.sleep(5)
        comparison = fleet.compare_frames()
        base = next(s for s in samples if s["t"] >= warmup)
        last = samples[-1]
        report = {
            "workdir": str(workdir),
            "warmup_s": warmup,
            "baseline": base,
            "final": last,
            "frames": comparison,
        }
        growth = {
            n: (last["rss_kb"][n] - base["rss_kb"][n]) / base["rss_kb"][n] for n in base["rss_kb"]
        }
        fd_growth = {
            n: last["fds"][n] - max(s["fds"][n] for s in samples if s["t"] <= base["t"])
            for n in base["fds"]
        }
        frames_equal = all(v == "equal" for per in comparison.values() for v in per.values())
        ok = (
            all(g < 0.10 for g in growth.values())
            and all(g <= 0 for g in fd_growth.values())
            and frames_equal
            and last["consumers"] == 3
        )
        report.update(
            {"rss_growth": growth, "fd_growth": fd_growth, "frames_equal": frames_equal, "ok": ok}
        )
        (workdir / "soak.json").write_text(json.dumps(report, indent=2))
        print(
            "memory growth after warm-up: "
            + ", ".join(f"{n} {g * 100:+.1f}%" for n, g in growth.items())
        )
        print("descriptor growth: " + ", ".join(f"{n} {g:+d}" for n, g in fd_growth.items()))
        print(f"consumers connected at the end: {last['consumers']}; frames equal: {frames_equal}")
        print(
            "Result: "
            + ("flat and exact" if ok else "FAILED")
            + f" (details in {workdir / 'soak.json'})"
        )
    finally:
        for bot in reversed(bots):
            bot.stop()
        fleet.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
