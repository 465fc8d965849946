"""``make bench`` / ``make bench-quick``: run every benchmark, print a table, write results.json.

Ratios compare against a reference measured in the same run where one exists (the codec
benchmarks: pandas' to_json/read_json, which is what freqtrade does); the networked
benchmarks quote freqtrade's figures from issue 8, measured on this kind of machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from benchmarks import bus, codec, e2e, net

RESULTS = Path(__file__).parent / "results.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under 60 s)")
    parser.add_argument("--only", choices=["codec", "net", "bus", "e2e"], default=None)
    args = parser.parse_args()
    started = time.time()
    results = []
    if args.only in (None, "codec"):
        results += codec.run(args.quick)
    if args.only in (None, "net"):
        results += net.run(args.quick)
    if args.only in (None, "bus"):
        results += bus.run(args.quick)
    if args.only in (None, "e2e"):
        results += e2e.run(args.quick)
    for r in results:
        ref = r.get("reference_ms")
        r["ratio"] = round(ref / r["candlecast_ms"], 2) if ref and r["candlecast_ms"] else None
        r["candlecast_ms"] = round(r["candlecast_ms"], 3)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "python": platform.python_version(),
                "quick": args.quick,
                "results": results,
            },
            indent=2,
        )
    )
    width = max(len(r["name"]) for r in results)
    print(
        f"{'benchmark':<{width}}  {'params':<44} {'candlecast':>11} {'reference':>11} {'ratio':>7}"
    )
    for r in results:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        ref = f"{r['reference_ms']:.2f}" if r.get("reference_ms") else "-"
        ratio = f"{r['ratio']:.1f}x" if r.get("ratio") else "-"
        print(
            f"{r['name']:<{width}}  {params:<44} {r['candlecast_ms']:>9.2f}ms {ref:>9}ms {ratio:>7}"
        )
    print(f"\nwrote {RESULTS} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
