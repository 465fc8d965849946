"""``candlecast trade`` as a real process: trades in SQLite, kill -9, restart, clean stop."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from candlecast.testing import wait_until_sync
from tests.integration.harness import run_trade, start_trade, write_trading_bot

STRATEGY = """
from candlecast.strategy import IStrategy

class EveryRise(IStrategy):
    timeframe = "1s"
    minimal_roi = {"0": 0.0004}
    stoploss = -0.0004
    process_only_new_candles = True

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["close"] > dataframe["open"], "enter_long"] = 1
        return dataframe
"""


# On top of the documented 2 s: a loaded 2-core machine may schedule the stopping bot and
# this test's polling of its log this late.
STOP_ALLOWANCE = 1.0


@pytest.fixture
def bot_dir(tmp_path: Path) -> Path:
    write_trading_bot(tmp_path, STRATEGY, throttle=0.5)
    return tmp_path


def start(bot_dir: Path, log: str = "bot.log") -> subprocess.Popen[bytes]:
    return start_trade(bot_dir / "config.json", bot_dir / log)


def rows(bot_dir: Path, query: str) -> list[tuple]:
    db = bot_dir / "trades.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(query).fetchall()
        except sqlite3.OperationalError:
            return []


def count(bot_dir: Path, where: str) -> int:
    found = rows(bot_dir, f"select count(*) from trades where {where}")
    return found[0][0] if found else 0


def test_trades_open_and_close_survive_kill_9_and_stop_cleanly(bot_dir: Path):
    proc = start(bot_dir)
    try:
        wait_until_sync(
            lambda: count(bot_dir, "is_open = 0") >= 1 and count(bot_dir, "is_open = 1") >= 1,
            timeout=60,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = rows(bot_dir, "select id, pair, open_rate, amount, is_open from trades order by id")
    open_before = [r for r in before if r[4] == 1]
    assert open_before, "no open trade at the moment of the kill"
    # every trade has its buy order; every closed one its sell order (nothing half-written)
    orders = rows(bot_dir, "select trade_id, side from orders")
    for trade_id, _, _, _, is_open in before:
        sides = sorted(side for tid, side in orders if tid == trade_id)
        assert sides == (["buy"] if is_open else ["buy", "sell"])

    proc = start(bot_dir, "restarted.log")
    try:
        # the open trades are resumed (managed until they close), never duplicated
        open_ids = [r[0] for r in open_before]
        wait_until_sync(
            lambda: all(
                r[0] == 0
                for r in rows(
                    bot_dir,
                    f"select is_open from trades where id in ({','.join(map(str, open_ids))})",
                )
            ),
            timeout=60,
        )
        after = rows(bot_dir, "select id, pair, open_rate, amount from trades order by id")
        assert [r for r in after if r[0] in open_ids] == [
            (r[0], r[1], r[2], r[3]) for r in open_before
        ]
        assert all(
            n <= 1
            for (n,) in rows(bot_dir, "select count(*) from trades where is_open = 1 group by pair")
        )
    finally:
        log = bot_dir / "restarted.log"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # the bot's own stop (docs/cli.md: within 2 s) ends with its "stopped" line; the
        # interpreter's exit after it is not part of the claim
        wait_until_sync(lambda: " stopped: " in log.read_text(), timeout=10, interval=0.01)
        elapsed = time.monotonic() - started
        code = proc.wait(10)
    assert code == 0
    assert elapsed <= 2.0 + STOP_ALLOWANCE, f"SIGTERM took {elapsed:.1f} s"
    assert "Traceback" not in log.read_text()


def test_bad_strategy_file_is_one_line_exit_2(bot_dir: Path):
    (bot_dir / "strategies" / "every_rise.py").write_text("class EveryRise(:\n")
    result = run_trade(bot_dir / "config.json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "every_rise.py (syntax error at line 1" in result.stderr


def test_taken_port_is_one_line_exit_2(bot_dir: Path):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    config = json.loads((bot_dir / "config.json").read_text())
    config["api_server"] = {
        "enabled": True,
        "listen_ip_address": "127.0.0.1",
        "listen_port": port,
        "username": "u",
        "password": "p",
        "ws_token": "x" * 20,
    }
    (bot_dir / "config.json").write_text(json.dumps(config))
    try:
        result = run_trade(bot_dir / "config.json")
    finally:
        holder.close()
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


TRAIL_AND_ADD = """
from candlecast.strategy import IStrategy

class EveryRise(IStrategy):
    timeframe = "1s"
    minimal_roi = {"0": 10}
    stoploss = -0.002
    trailing_stop = True
    position_adjustment_enable = True
    max_entry_position_adjustment = 1
    process_only_new_candles = True

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["close"] > dataframe["open"], "enter_long"] = 1
        return dataframe

    def adjust_trade_position(self, trade, current_time, current_rate, current_profit,
                              min_stake, max_stake, current_entry_rate, current_exit_rate,
                              current_entry_profit, current_exit_profit, **kwargs):
        return 20 if current_profit < -0.0005 else None
"""

RISK_COLUMNS = "id, is_open, stop_loss, initial_stop_loss, is_stop_loss_trailing, open_rate, amount"


def test_trailing_stops_and_added_entries_survive_kill_9(tmp_path: Path):
    write_trading_bot(tmp_path, TRAIL_AND_ADD, throttle=0.5)

    def trailing_and_added() -> bool:
        trailing = count(tmp_path, "is_open = 1 and is_stop_loss_trailing = 1")
        added = rows(
            tmp_path,
            "select t.id from trades t join orders o on o.trade_id = t.id "
            "where t.is_open = 1 and o.side = 'buy' group by t.id having count(*) = 2",
        )
        return trailing >= 1 and len(added) >= 1

    proc = start(tmp_path)
    try:
        wait_until_sync(trailing_and_added, timeout=90)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = {r[0]: r for r in rows(tmp_path, f"select {RISK_COLUMNS} from trades")}
    buys_before = dict(
        rows(tmp_path, "select trade_id, count(*) from orders where side = 'buy' group by trade_id")
    )
    trailing = [r for r in before.values() if r[1] == 1 and r[4] == 1]
    assert trailing and all(r[2] > r[3] for r in trailing)  # the stop moved up from its start
    # every added entry is whole: the trade's amount and average match its buy orders
    for trade_id in buys_before:
        fills = rows(
            tmp_path,
            "select filled, coalesce(average, price) from orders "
            f"where trade_id = {trade_id} and side = 'buy'",
        )
        amount = sum(f for f, _ in fills)
        assert before[trade_id][6] == pytest.approx(amount, rel=1e-12)
        assert before[trade_id][5] == pytest.approx(sum(f * p for f, p in fills) / amount)

    # restarted without trailing: a bot that forgot the stored stop would start again
    # from the open rate; one that kept it holds the trailed stop where it was
    config = json.loads((tmp_path / "config.json").read_text())
    config["trailing_stop"] = False
    (tmp_path / "config.json").write_text(json.dumps(config))
    proc = start(tmp_path, "restarted.log")
    try:
        wait_until_sync(lambda: count(tmp_path, f"id > {max(before)}") >= 1, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    after = {r[0]: r for r in rows(tmp_path, f"select {RISK_COLUMNS} from trades")}
    for old in trailing:
        new = after[old[0]]
        assert (new[2], new[3], new[4]) == (old[2], old[3], 1)
    buys_after = dict(
        rows(tmp_path, "select trade_id, count(*) from orders where side = 'buy' group by trade_id")
    )
    for trade_id, n in buys_before.items():
        assert buys_after[trade_id] == n if n == 2 else buys_after[trade_id] <= 2
    assert max(buys_after.values()) <= 2  # max_entry_position_adjustment = 1
    assert "Traceback" not in (tmp_path / "restarted.log").read_text()
