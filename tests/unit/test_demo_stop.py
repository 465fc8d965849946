"""When ``candlecast demo`` stops: after --duration, or (--until-trades) once the consumers
have traded, never past --max-duration."""

from __future__ import annotations

from candlecast.demo import Snapshot, consumer_trades, keep_running


def snap(**opened: int) -> Snapshot:
    return Snapshot(trades={name: {"opened": n, "closed": 0} for name, n in opened.items()})


def test_consumer_trades_counts_the_consumers_only():
    assert consumer_trades(snap(producer=5, **{"consumer-1": 2, "consumer-2": 1})) == 3
    assert consumer_trades(snap(producer=5)) == 0


def test_the_demo_runs_until_its_duration_whatever_the_trades():
    assert keep_running(snap(**{"consumer-1": 9}), 29.9, 30, 1, 120)
    assert keep_running(None, 0.0, 30, 0, 0)


def test_without_until_trades_it_stops_at_its_duration():
    assert not keep_running(snap(), 30.0, 30, 0, 120)


def test_with_until_trades_it_goes_on_until_the_consumers_opened_that_many():
    assert keep_running(snap(producer=3), 31, 30, 1, 120)  # the producer's trades don't count
    assert keep_running(None, 31, 30, 1, 120)  # nothing read yet
    assert keep_running(snap(**{"consumer-1": 1}), 31, 30, 2, 120)
    assert not keep_running(snap(**{"consumer-1": 1, "consumer-2": 1}), 31, 30, 2, 120)


def test_until_trades_never_runs_past_the_cap():
    assert keep_running(snap(), 119.9, 30, 1, 120)
    assert not keep_running(snap(), 120.0, 30, 1, 120)
