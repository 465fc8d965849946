"""``candlecast demo``: one producer and two consumers as separate processes on loopback.

The demo writes three configs with free ports, starts three ``candlecast trade``
processes on the simulated exchange with a fast timeframe, watches them through
their REST APIs, and ends with a summary. Whether the consumers' copies equal the
producer's frames is checked through the REST API, not taken from counters.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from candlecast.data.merge import MAX_STORED_CANDLES
from candlecast.exceptions import ConfigError

DEMO_PAIRS = [
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "BNB/USDT",
    "XRP/USDT",
    "ADA/USDT",
    "DOGE/USDT",
    "DOT/USDT",
    "LTC/USDT",
    "LINK/USDT",
    "AVAX/USDT",
    "TRX/USDT",
]
USER, PASSWORD = "demo", "demo-password"
TOKEN_BYTES = 24
STATUS_EVERY = 5.0
START_TIMEOUT = 90  # seconds for all three bots to answer on their APIs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_strategy_dir(explicit: str | None) -> Path:
    candidates = [Path(explicit)] if explicit else []
    candidates += [
        Path.cwd() / "examples" / "strategies",
        Path(__file__).resolve().parents[2] / "examples" / "strategies",
    ]
    for path in candidates:
        if (path / "ProducerStrategy.py").exists() and (path / "ConsumerStrategy.py").exists():
            return path
    raise ConfigError(
        "cannot find examples/strategies with ProducerStrategy.py and ConsumerStrategy.py; "
        "run the demo from the candlecast checkout"
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: the child gets SIGTERM if the demo process dies, so no bot is orphaned.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


#: how long a bot may take to stop cleanly after SIGTERM before it is killed: it stops
#: within about 2 s (tests/integration/test_trade_cli.py), but a loaded 2-core machine
#: running it at low priority was seen to need more than 5 s
STOP_TIMEOUT = 15.0


@dataclass
class BotProcess:
    name: str
    role: str
    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "candlecast.cli", "trade", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.config.parent,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def write_configs(
    workdir: Path,
    strategy_dir: Path,
    timeframe: str,
    pairs: list[str],
    token: str,
    consumers: int = 2,
) -> list[BotProcess]:
    producer_port = free_port()
    bots = [
        BotProcess(
            "producer",
            "producer",
            producer_port,
            workdir / "producer.json",
            workdir / "producer.log",
        )
    ]
    common = {
        "dry_run": True,
        "dry_run_wallet": 1000,
        "stake_currency": "USDT",
        "stake_amount": 100,
        "max_open_trades": 3,
        "timeframe": timeframe,
        "internals": {"process_throttle_secs": 1},
        # quick exits, so that a one-minute demo shows trades closing too
        "minimal_roi": {"0": 0.003},
        "stoploss": -0.005,
        "strategy_path": str(strategy_dir),
    }
    producer = {
        **common,
        "bot_name": "producer",
        "strategy": "ProducerStrategy",
        "exchange": {"name": "simulated", "sim_volatility": 10, "pair_whitelist": pairs},
        "db_url": f"sqlite:///{workdir / 'producer.sqlite'}",
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": producer_port,
            "ws_token": token,
            "username": USER,
            "password": PASSWORD,
        },
    }
    bots[0].config.write_text(json.dumps(producer, indent=2))
    for i in range(1, consumers + 1):
        port = free_port()
        name = f"consumer-{i}"
        consumer = {
            **common,
            "bot_name": name,
            "strategy": "ConsumerStrategy",
            "exchange": {"name": "simulated", "sim_volatility": 10},
            "pairlists": [{"method": "ProducerPairList", "producer_name": "default"}],
            "db_url": f"sqlite:///{workdir / (name + '.sqlite')}",
            "api_server": {
                "enabled": True,
                "listen_ip_address": "127.0.0.1",
                "listen_port": port,
                "username": USER,
                "password": PASSWORD,
            },
            "external_message_consumer": {
                "enabled": True,
                "sleep_time": 1,
                "producers": [
                    {
                        "name": "default",
                        "host": "127.0.0.1",
                        "port": producer_port,
                        "ws_token": token,
                    }
                ],
            },
        }
        bot = BotProcess(name, "consumer", port, workdir / f"{name}.json", workdir / f"{name}.log")
        bot.config.write_text(json.dumps(consumer, indent=2))
        bots.append(bot)
    return bots


@dataclass
class Snapshot:
    """What the demo knows of the fleet at one moment (all read over REST)."""

    pairs: list[str] = field(default_factory=list)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)  # producer's last candle per pair
    copies: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # consumer -> pair -> last candle
    producers: dict[str, dict[str, Any]] = field(default_factory=dict)  # consumer -> /producers[0]
    open_trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    trades: dict[str, dict[str, int]] = field(default_factory=dict)


class Fleet:
    def __init__(self, bots: list[BotProcess], timeout: float = 5.0) -> None:
        self.bots = bots
        self.http = httpx.Client(auth=(USER, PASSWORD), timeout=timeout)

    @property
    def producer(self) -> BotProcess:
        return self.bots[0]

    @property
    def consumers(self) -> list[BotProcess]:
        return self.bots[1:]

    def get(self, bot: BotProcess, path: str, **params: Any) -> Any:
        response = self.http.get(f"{bot.url}/{path}", params=params)
        response.raise_for_status()
        return response.json()

    def ready(self) -> bool:
        for bot in self.bots:
            try:
                self.http.get(f"{bot.url}/ping", timeout=0.5).raise_for_status()
            except httpx.HTTPError:
                return False
        return True

    def snapshot(self) -> Snapshot:
        snap = Snapshot()
        with contextlib.suppress(httpx.HTTPError):
            snap.pairs = self.get(self.producer, "whitelist")["whitelist"]
        for pair in snap.pairs:
            with contextlib.suppress(httpx.HTTPError):
                snap.last[pair] = _last_row(
                    self.get(self.producer, "pair_candles", pair=pair, limit=2, format="candlecast")
                )
        for bot in self.bots:
            with contextlib.suppress(httpx.HTTPError):
                snap.open_trades[bot.name] = self.get(bot, "status")
                closed = self.get(bot, "trades")["total_trades"]  # /trades lists closed ones
                snap.trades[bot.name] = {
                    "opened": len(snap.open_trades[bot.name]) + closed,
                    "closed": closed,
                }
        for bot in self.consumers:
            with contextlib.suppress(httpx.HTTPError):
                status = self.get(bot, "producers")
                if status:
                    snap.producers[bot.name] = status[0]
            copies: dict[str, dict[str, Any]] = {}
            for pair in snap.pairs:
                with contextlib.suppress(httpx.HTTPError):
                    copies[pair] = _last_row(
                        self.get(
                            bot,
                            "pair_candles",
                            pair=pair,
                            producer="default",
                            limit=2,
                            format="candlecast",
                        )
                    )
            snap.copies[bot.name] = copies
        return snap

    def compare_frames(self) -> dict[str, dict[str, str]]:
        """Per consumer and pair: "equal", or what differs from the producer's frame."""
        result: dict[str, dict[str, str]] = {}
        pairs = self.get(self.producer, "whitelist")["whitelist"]
        for bot in self.consumers:
            result[bot.name] = {}
            for pair in pairs:
                for _ in range(3):
                    try:
                        theirs = self.get(
                            bot, "pair_candles", pair=pair, producer="default", format="candlecast"
                        )
                        ours = self.get(
                            self.producer, "pair_candles", pair=pair, format="candlecast"
                        )
                    except httpx.HTTPStatusError as exc:
                        result[bot.name][pair] = f"missing ({exc.response.status_code})"
                        break
                    # the copy is read first: the producer may analyze one more candle before
                    # its own frame is read. A copy caught reading while its newest candle is
                    # on the way (a loaded machine, 1 s candles) is read again, at most twice:
                    # a copy that stays behind, or differs in any row, is reported.
                    verdict = compare_payloads(ours, theirs, allow_lag=1)
                    result[bot.name][pair] = verdict
                    if not verdict.endswith("candles behind"):
                        break
        return result

    def close(self) -> None:
        self.http.close()


def _last_row(payload: dict[str, Any]) -> dict[str, Any]:
    if not payload.get("data"):
        return {}
    row = dict(zip(payload["columns"], payload["data"][-1], strict=True))
    if len(payload["data"]) > 1:
        first = dict(zip(payload["columns"], payload["data"][-2], strict=True))
        row["_step"] = row["date"] - first["date"]
    return row


def compare_payloads(
    producer: dict[str, Any],
    consumer: dict[str, Any],
    allow_lag: int = 0,
    max_rows: int = MAX_STORED_CANDLES,
) -> str:
    """Compare a consumer's copy with the producer's frame, every row both ways, exactly.

    ``producer`` and ``consumer`` are ``pair_candles`` payloads (columns + rows). The copy
    must hold exactly the producer's rows from the producer's first candle up to the copy's
    last candle, or the newest ``max_rows`` of them (a consumer keeps at most 1500 candles
    while a producer's history may grow past that): a missing, extra or different row is
    reported. The copy may end up to ``allow_lag`` candles before the producer's last one
    (the producer moved on between the two reads); rows older than the producer's window
    are the producer's to forget and are not compared.
    """
    if producer["columns"] != consumer["columns"]:
        return "different columns"
    prod_rows, cons_rows = producer["data"], consumer["data"]
    if not cons_rows:
        return "empty copy" if prod_rows else "equal"
    if not prod_rows:
        return "the producer has no candles"
    date_col = producer["columns"].index("date")
    cons_last = cons_rows[-1][date_col]
    newer = sum(1 for row in prod_rows if row[date_col] > cons_last)
    if newer > allow_lag:
        return f"copy is {newer} candles behind"
    expected = [row for row in prod_rows if row[date_col] <= cons_last][-max_rows:]
    if not expected:
        return "the copy ends before the producer's first candle"
    first = expected[0][date_col]
    held = [row for row in cons_rows if row[date_col] >= first]
    if len(held) != len(expected):
        return f"copy holds {len(held)} of the producer's {len(expected)} candles"
    for got, want in zip(held, expected, strict=True):
        if got[date_col] != want[date_col]:
            return f"candle {want[date_col]} missing from the copy"
        if not _rows_equal(want, got):
            return f"candle {want[date_col]} differs"
    return "equal"


def _rows_equal(a: list[Any], b: list[Any]) -> bool:
    """Cell by cell; NaN (JSON null read back as NaN) equals NaN."""
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y):
            continue
        return False
    return True


def _current(copy: dict[str, Any], last: dict[str, Any]) -> bool:
    """The copy holds the producer's last candle or the one before (snapshots are not atomic)."""
    if not copy.get("date") or not last.get("date") or not last.get("_step"):
        return bool(copy.get("date")) and copy.get("date") == last.get("date")
    return bool(last["date"] - copy["date"] <= last["_step"])


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def status_line(snap: Snapshot, elapsed: float) -> str:
    parts = [
        f"[{elapsed:5.0f} s] producer: {len(snap.pairs)} pairs, trades {snap.trades.get('producer', {}).get('opened', 0)}"
    ]
    for name, status in snap.producers.items():
        have = sum(
            1
            for p in snap.pairs
            if _current(snap.copies.get(name, {}).get(p, {}), snap.last.get(p, {}))
        )
        parts.append(
            f"{name}: {status.get('state')} {status.get('encoding') or ''}, {have}/{len(snap.pairs)} pairs current, "
            f"p50 {_fmt_ms(status.get('latency_ms_p50'))}, trades {snap.trades.get(name, {}).get('opened', 0)}"
        )
    return " | ".join(parts)


def render_table(snap: Snapshot, elapsed: float, duration: float) -> Any:
    from rich.console import Group
    from rich.table import Table

    table = Table(title=f"candlecast demo: {elapsed:.0f}/{duration:.0f} s", expand=True)
    table.add_column("pair")
    table.add_column("producer last candle")
    table.add_column("close", justify="right")
    table.add_column("rsi", justify="right")
    table.add_column("tema", justify="right")
    table.add_column("enter", justify="center")
    consumers = list(snap.copies)
    for name in consumers:
        table.add_column(f"{name} copy", justify="center")
    for name in snap.trades:
        table.add_column(f"{name} open", justify="center")
    for pair in snap.pairs:
        last = snap.last.get(pair, {})
        date = last.get("date")
        when = time.strftime("%H:%M:%S", time.gmtime(date / 1000)) if date else "-"
        row = [
            pair,
            when,
            f"{last.get('close', float('nan')):.6g}",
            f"{last.get('rsi') or float('nan'):.1f}",
            f"{last.get('tema') or float('nan'):.6g}",
            "[green]●[/]" if last.get("enter_long") == 1 else "",
        ]
        for name in consumers:
            copy = snap.copies[name].get(pair, {})
            row.append("[green]current[/]" if _current(copy, last) else "[yellow]behind[/]")
        for name in snap.trades:
            row.append(
                "●" if any(t["pair"] == pair for t in snap.open_trades.get(name, [])) else ""
            )
        table.add_row(*row)
    conn = Table(expand=True)
    for col in (
        "consumer",
        "state",
        "encoding",
        "messages",
        "bytes",
        "latency p50",
        "latency p99",
        "reconnects",
        "trades opened/closed",
    ):
        conn.add_column(col)
    for name, status in snap.producers.items():
        trades = snap.trades.get(name, {})
        conn.add_row(
            name,
            str(status.get("state")),
            str(status.get("encoding")),
            str(status.get("messages_received")),
            _fmt_bytes(status.get("bytes_received") or 0),
            _fmt_ms(status.get("latency_ms_p50")),
            _fmt_ms(status.get("latency_ms_p99")),
            str(status.get("reconnects")),
            f"{trades.get('opened', 0)}/{trades.get('closed', 0)}",
        )
    return Group(table, conn)


def run_demo(args: argparse.Namespace) -> int:
    strategy_dir = find_strategy_dir(getattr(args, "strategy_path", None))
    pairs = DEMO_PAIRS[: max(1, min(args.pairs, len(DEMO_PAIRS)))]
    workdir = (
        Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="candlecast-demo-"))
    )
    workdir.mkdir(parents=True, exist_ok=True)
    token = os.urandom(TOKEN_BYTES).hex()
    bots = write_configs(workdir, strategy_dir, args.timeframe, pairs, token)
    fleet = Fleet(bots)
    live_view = sys.stdout.isatty() and not args.plain
    print(
        f"candlecast demo: 1 producer + 2 consumers, {len(pairs)} pairs, {args.timeframe} candles, "
        f"{args.duration:.0f} s; files in {workdir}",
        flush=True,
    )
    started = time.monotonic()
    failure: str | None = None
    summary: dict[str, Any] = {}
    try:
        for bot in bots:
            bot.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not fleet.ready():
            dead = [b for b in bots if not b.alive()]
            if dead:
                raise _BotDied(dead[0])
            if time.monotonic() > deadline:
                raise _NotReady(
                    f"the bots' APIs did not answer within {START_TIMEOUT} s of starting "
                    "(a heavily loaded machine?); their logs are in the demo directory"
                )
            time.sleep(0.2)
        print(
            "All three bots are up: " + ", ".join(f"{b.name} on :{b.port}" for b in bots),
            flush=True,
        )
        cap = args.max_duration or 4 * args.duration
        failure = _watch(fleet, started, args.duration, live_view, args.until_trades, cap)
        if failure is None:
            summary = _summarize(fleet, time.monotonic() - started)
    except _NotReady as slow:
        failure = str(slow)
    except _BotDied as died:
        failure = f"{died.bot.name} exited with code {died.bot.proc.returncode if died.bot.proc else '?'}:\n{died.bot.log_tail()}"
    except KeyboardInterrupt:
        failure = "interrupted"
        with contextlib.suppress(Exception):
            summary = _summarize(fleet, time.monotonic() - started)
    finally:
        codes = {bot.name: bot.stop() for bot in reversed(bots)}
        fleet.close()
    summary["exit_codes"] = codes
    summary["workdir"] = str(workdir)
    summary["failure"] = failure
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary)
    if failure:
        print(f"Demo failed: {failure}", flush=True)
        return 1
    return 0 if summary.get("frames_match") else 1


class _NotReady(Exception):
    """The bots did not come up in time."""


class _BotDied(Exception):
    def __init__(self, bot: BotProcess) -> None:
        super().__init__(bot.name)
        self.bot = bot


def consumer_trades(snap: Snapshot) -> int:
    """The trades the consumers have opened between them, open or closed."""
    return sum(t.get("opened", 0) for name, t in snap.trades.items() if name != "producer")


def keep_running(
    snap: Snapshot | None, elapsed: float, duration: float, until_trades: int, cap: float
) -> bool:
    """Whether the demo goes on: until ``duration``, then (with ``until_trades``) until the
    consumers have opened that many trades, but never past ``cap`` seconds."""
    if elapsed < duration:
        return True
    if until_trades <= 0 or elapsed >= cap:
        return False
    return snap is None or consumer_trades(snap) < until_trades


def _watch(
    fleet: Fleet,
    started: float,
    duration: float,
    live_view: bool,
    until_trades: int,
    cap: float,
) -> str | None:
    next_status = 0.0
    snap: Snapshot | None = None
    live = None
    if live_view:
        from rich.live import Live

        live = Live(refresh_per_second=2, transient=False)
        live.start()
    try:
        while keep_running(
            snap, elapsed := time.monotonic() - started, duration, until_trades, cap
        ):
            dead = [b for b in fleet.bots if not b.alive()]
            if dead:
                raise _BotDied(dead[0])
            snap = fleet.snapshot()
            if live is not None:
                live.update(render_table(snap, elapsed, duration))
            elif elapsed >= next_status:
                print(status_line(snap, elapsed), flush=True)
                next_status = elapsed + STATUS_EVERY
            time.sleep(1.0 if live is not None else 0.5)
    finally:
        if live is not None:
            live.stop()
    return None


def _summarize(fleet: Fleet, duration: float) -> dict[str, Any]:
    snap = fleet.snapshot()
    comparison = fleet.compare_frames()
    consumers = {}
    for bot in fleet.consumers:
        status = snap.producers.get(bot.name, {})
        pairs = comparison.get(bot.name, {})
        consumers[bot.name] = {
            "state": status.get("state"),
            "encoding": status.get("encoding"),
            "messages": status.get("messages_received"),
            "bytes": status.get("bytes_received"),
            "latency_ms_p50": status.get("latency_ms_p50"),
            "latency_ms_p99": status.get("latency_ms_p99"),
            "reconnects": status.get("reconnects"),
            "trades_opened": snap.trades.get(bot.name, {}).get("opened", 0),
            "trades_closed": snap.trades.get(bot.name, {}).get("closed", 0),
            "frames": pairs,
            "frames_match": bool(pairs) and all(v == "equal" for v in pairs.values()),
        }
    return {
        "duration_s": round(duration, 1),
        "pairs": snap.pairs,
        "producer": {
            "trades_opened": snap.trades.get("producer", {}).get("opened", 0),
            "trades_closed": snap.trades.get("producer", {}).get("closed", 0),
        },
        "consumers": consumers,
        "frames_match": bool(consumers) and all(c["frames_match"] for c in consumers.values()),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    print("\nSummary", flush=True)
    producer = summary.get("producer")
    if producer:
        print(
            f"  producer   : {len(summary.get('pairs', []))} pairs, trades opened {producer['trades_opened']}, "
            f"closed {producer['trades_closed']}"
        )
    for name, c in summary.get("consumers", {}).items():
        matched = sum(1 for v in c["frames"].values() if v == "equal")
        print(
            f"  {name} : {c['state']} ({c['encoding']}), {c['messages']} messages, {_fmt_bytes(c['bytes'] or 0)}, "
            f"latency p50 {_fmt_ms(c['latency_ms_p50'])} p99 {_fmt_ms(c['latency_ms_p99'])}, "
            f"trades opened {c['trades_opened']} closed {c['trades_closed']}, "
            f"frames equal to the producer's: {matched}/{len(c['frames'])}"
        )
        for pair, verdict in c["frames"].items():
            if verdict != "equal":
                print(f"      {pair}: {verdict}")
    codes = summary.get("exit_codes", {})
    if codes:
        print("  shutdown   : " + ", ".join(f"{k} exit {v}" for k, v in codes.items()))
    if "frames_match" in summary:
        verdict = (
            "every consumer's copy equals the producer's frames"
            if summary["frames_match"]
            else "MISMATCH"
        )
        print(f"Result: {verdict}", flush=True)
