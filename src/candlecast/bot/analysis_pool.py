"""Strategy analysis in worker processes (``internals.analysis_workers`` > 0).

Each worker is a fresh Python process (``spawn``: never a fork of the threaded bot) that
loads the same strategy class (same file, its parameter file, the config's overrides and
the same masked ``self.config``), calls its ``bot_start`` once and then runs
``IStrategy.analyze`` for the pairs it is given. Before a pair's task the worker receives
every candle frame of the bot it does not hold yet (the pair's own, the informative pairs',
the other pairs'), and the whitelist, so ``dp.get_pair_dataframe``, ``@informative`` and
``dp.current_whitelist`` answer as in the bot. The analyzed frame comes back pickled
(protocol 5: numpy columns travel as raw buffers); ``dp.send_msg`` texts travel with it.

The dispatcher (:meth:`AnalysisPool.analyze`) runs in the bot's analysis thread and
spends its time waiting on the pipes, without the GIL: the event loop keeps sending.
A worker that dies (killed, crashed) is replaced; the pair it was analysing is given to
another worker once, then reported as a strategy error for this cycle.

State a strategy keeps on ``self`` lives in each worker, apart from the bot's own copy
(which runs the callbacks): docs/configuration.md says so next to the key.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from candlecast.data.dataprovider import DataProvider
from candlecast.domain.enums import RunMode
from candlecast.exceptions import StrategyError
from candlecast.strategy.interface import IStrategy, StrategyRunError

logger = logging.getLogger(__name__)

USER_MODULE_PREFIX = "candlecast_user_strategy_"  # strategy.loader's module names
START_TIMEOUT = 120.0  # seconds a worker may take to import and load the strategy
STOP_TIMEOUT = 5.0
WORKER_NICENESS = 10  # os.nice() of a worker: the bot's own process comes first
RETRIES = 1  # a pair whose worker died is tried this many more times in the cycle

FrameKey = tuple[str, str]  # (pair, timeframe)


@dataclass(frozen=True)
class StrategySpec:
    """How a worker re-creates the bot's strategy: its class (by strategy file, else by
    importable module), the config dict it sees and the attributes the config overrides."""

    class_name: str
    timeframe: str
    runmode: RunMode
    config: dict[str, Any]
    overrides: dict[str, Any]
    strategy_dir: str | None = None
    module: str | None = None
    niceness: int = WORKER_NICENESS

    @classmethod
    def of(cls, strategy: IStrategy, runmode: RunMode, overrides: dict[str, Any]) -> StrategySpec:
        """The spec of a loaded strategy.

        Raises:
            StrategyError: the class cannot be found again in another process.
        """
        klass = type(strategy)
        name = klass.__name__
        common: dict[str, Any] = {
            "class_name": name,
            "timeframe": strategy.timeframe,
            "runmode": runmode,
            "config": dict(strategy.config),
            "overrides": overrides,
        }
        if klass.__module__.startswith(USER_MODULE_PREFIX):
            source = getattr(klass, "__file__", None)
            if source:
                return cls(**common, strategy_dir=str(Path(source).resolve().parent))
        elif klass.__module__ != "__main__" and "<locals>" not in klass.__qualname__:
            return cls(**common, module=klass.__module__)
        raise StrategyError(
            f"internals.analysis_workers: strategy {name} was not loaded from a strategy "
            "file or an importable module, so worker processes cannot load it; set 0"
        )

    def load(self) -> IStrategy:
        """Create the strategy as the bot did (in a worker)."""
        if self.strategy_dir is not None:
            from candlecast.strategy.loader import load_strategy

            strategy = load_strategy(self.class_name, self.strategy_dir, self.config)
        else:
            assert self.module is not None
            strategy = getattr(importlib.import_module(self.module), self.class_name)(self.config)
        for name, value in self.overrides.items():
            setattr(strategy, name, value)
        strategy.config = dict(self.config)
        return strategy


@dataclass
class Outcome:
    """One pair's analysis: the frame, or the error; seconds the strategy took;
    ``dp.send_msg`` calls made meanwhile (text, always_send)."""

    pair: str
    frame: pd.DataFrame | None
    error: StrategyError | None
    seconds: float
    messages: list[tuple[str, bool]] = field(default_factory=list)


class RemoteTraceback(Exception):
    """A worker's traceback, as text (shown with -v)."""


# --- the worker process ------------------------------------------------------------------
class _WorkerDataProvider(DataProvider):
    """The worker's ``self.dp``: the bot's candles as shipped; messages collected."""

    def __init__(self, timeframe: str, runmode: RunMode) -> None:
        super().__init__(timeframe, runmode=runmode)
        self.outbox: list[tuple[str, bool]] = []

    def send_msg(self, message: str, *, always_send: bool = False) -> None:
        self.outbox.append((message, always_send))


def _send(conn: mpc.Connection, message: tuple[Any, ...]) -> None:
    conn.send_bytes(pickle.dumps(message, protocol=5))


def worker_main(conn: mpc.Connection, spec: StrategySpec) -> None:
    """A worker's life: load the strategy, then analyse until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the bot stops its workers
    if spec.niceness:
        # below the bot's event loop: a core it needs for a broadcast is its own at once
        os.nice(spec.niceness)
    try:
        strategy = spec.load()
        dp = _WorkerDataProvider(spec.timeframe, spec.runmode)
        strategy.dp = dp
        from candlecast.bot import callbacks

        callbacks.call(strategy, "bot_start", None)
    except Exception as exc:
        _send(conn, ("fatal", str(exc) if isinstance(exc, StrategyError) else repr(exc)))
        return
    _send(conn, ("ready",))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the bot is gone
        if message[0] == "stop":
            return
        _, pair, frames, whitelist = message
        for (p, tf), frame in frames.items():
            dp.set_ohlcv(p, tf, frame)
        if whitelist is not None:
            dp.set_whitelist(whitelist)
        _send(conn, _analyze_one(strategy, dp, pair))


def _analyze_one(strategy: IStrategy, dp: _WorkerDataProvider, pair: str) -> tuple[Any, ...]:
    import traceback

    started = time.perf_counter()
    dp.outbox = []
    try:
        frame = strategy.analyze(dp.ohlcv(pair, copy=False), pair)
    except StrategyRunError as exc:
        cause = exc.__cause__ or exc
        text = "".join(traceback.format_exception(cause))
        return ("failed", pair, str(exc), exc.fold_key, text, dp.outbox)
    except Exception as exc:  # not the strategy's step: the worker's own fault
        text = "".join(traceback.format_exception(exc))
        return ("failed", pair, f"{pair}: analysis worker: {exc!r}", repr(exc), text, dp.outbox)
    return ("done", pair, frame, time.perf_counter() - started, dp.outbox)


# --- the bot's side ----------------------------------------------------------------------
class _Queued(Protocol):
    @property
    def queue_depth(self) -> int: ...


async def let_writers_run(channels: Callable[[], Iterable[_Queued]], budget: float = 0.02) -> None:
    """Return once the channels' outboxes are empty, or stopped shrinking (a slow
    socket), or after ``budget`` seconds: awaited from the analysis thread after each
    broadcast, so the next pair's analysis does not compete with the writes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    last, still = -1, 0
    while loop.time() < deadline:
        queued = sum(c.queue_depth for c in channels())
        if queued == 0:
            return
        still = still + 1 if queued == last else 0
        if still >= 3:
            return
        last = queued
        await asyncio.sleep(0)


class ThreadAnalysis:
    """``internals.analysis_workers: 0``: the bot's own strategy instance, in the calling
    thread (the bot's analysis thread). ``switch_interval``: the GIL switch interval while
    it runs (None: Python's), so the event loop gets the GIL back sooner after each write."""

    def __init__(self, strategy: IStrategy, switch_interval: float | None = None) -> None:
        self.strategy = strategy
        self.switch_interval = switch_interval

    def analyze(
        self, pairs: list[str], frames: dict[FrameKey, pd.DataFrame], whitelist: list[str]
    ) -> Iterator[Outcome]:
        timeframe = self.strategy.timeframe
        previous = sys.getswitchinterval()
        if self.switch_interval is not None:
            sys.setswitchinterval(self.switch_interval)
        try:
            for pair in pairs:
                started = time.perf_counter()
                try:
                    frame = self.strategy.analyze(frames[(pair, timeframe)], pair)
                except StrategyError as exc:
                    yield Outcome(pair, None, exc, 0.0)
                    continue
                yield Outcome(pair, frame, None, time.perf_counter() - started)
        finally:
            sys.setswitchinterval(previous)


class _Worker:
    def __init__(self, spec: StrategySpec, number: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=worker_main,
            args=(child, spec),
            name=f"candlecast-analysis-{number}",
            daemon=True,
        )
        self.process.start()
        child.close()  # only the worker holds its end: its death reads as EOF here
        self.ready = False
        self.pair: str | None = None
        #: the frames this worker holds, by identity (the bot replaces, never mutates them)
        self.held: dict[FrameKey, pd.DataFrame] = {}
        self.whitelist: list[str] | None = None

    def stop(self, timeout: float) -> None:
        try:
            _send(self.conn, ("stop",))
        except (OSError, ValueError):
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.conn.close()


class AnalysisPool:
    """``size`` worker processes analysing pairs for the bot (see the module doc)."""

    def __init__(self, size: int, spec: StrategySpec) -> None:
        self.size = size
        self.spec = spec
        self.workers: list[_Worker] = []
        self.replaced = 0  # workers that died and were replaced
        self._number = 0
        self._closed = False

    def _spawn(self) -> _Worker:
        self._number += 1
        return _Worker(self.spec, self._number)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the workers and wait until each has loaded the strategy.

        Raises:
            StrategyError: a worker could not load it (its one-line reason).
        """
        self.workers = [self._spawn() for _ in range(self.size)]
        deadline = time.monotonic() + timeout
        try:
            for worker in self.workers:
                self._await_ready(worker, deadline)
        except StrategyError:
            self.close()
            raise

    def _await_ready(self, worker: _Worker, deadline: float) -> None:
        if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
            raise StrategyError("analysis worker did not load the strategy in time")
        try:
            message = pickle.loads(worker.conn.recv_bytes())
        except (EOFError, OSError):
            raise StrategyError(
                f"analysis worker ended at start (exit code {worker.process.exitcode})"
            ) from None
        if message[0] == "fatal":
            raise StrategyError(f"analysis worker: {message[1]}")
        worker.ready = True

    def close(self) -> None:
        """Stop every worker (asked first, killed after a timeout); no process is left."""
        self._closed = True
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.stop(STOP_TIMEOUT)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process.pid is not None]

    def analyze(
        self, pairs: list[str], frames: dict[FrameKey, pd.DataFrame], whitelist: list[str]
    ) -> Iterator[Outcome]:
        """Analyse ``pairs`` on the workers (call from a thread); yield each outcome as it
        arrives. ``frames``: every candle frame of the bot, shipped where missing."""
        self._drain()
        todo = deque(pairs)
        tries: dict[str, int] = {}
        while todo or any(w.pair is not None for w in self.workers):
            if not self.workers or self._closed:
                for pair in todo:
                    yield _failure(pair, "no analysis worker is running")
                return
            for worker in self.workers:
                if worker.ready and worker.pair is None and todo:
                    self._assign(worker, todo.popleft(), frames, whitelist)
            try:
                ready = mpc.wait([w.conn for w in self.workers])
            except (OSError, ValueError):  # closed meanwhile (the bot stops)
                continue
            for conn in ready:
                owner = next((w for w in self.workers if w.conn is conn), None)
                if owner is None:
                    continue
                try:
                    message = pickle.loads(owner.conn.recv_bytes())
                except (EOFError, OSError):
                    lost = self._lost(owner)
                    if lost is not None:
                        tries[lost] = tries.get(lost, 0) + 1
                        if tries[lost] <= RETRIES:
                            todo.appendleft(lost)
                        else:
                            yield _failure(lost, "its analysis worker died again")
                    continue
                outcome = self._receive(owner, message)
                if outcome is not None:
                    yield outcome

    def _drain(self) -> None:
        """Drop the results of a pass its caller left early (a worker still busy with it)."""
        for worker in list(self.workers):
            while worker.pair is not None:
                try:
                    if not worker.conn.poll(START_TIMEOUT):
                        raise EOFError
                    self._receive(worker, pickle.loads(worker.conn.recv_bytes()))
                except (EOFError, OSError):
                    self._lost(worker)
                    break

    def _lost(self, worker: _Worker) -> str | None:
        """A worker's pipe ended: replace it (if it had started and the pool is open);
        return the pair it was analysing."""
        if worker not in self.workers:
            return None
        if not worker.ready or self._closed:  # died while starting: no endless respawning
            if not self._closed:
                logger.error("Analysis worker %s ended while starting", worker.process.pid)
            self._discard(worker)
            return worker.pair
        return self._replace(worker)

    def _assign(
        self,
        worker: _Worker,
        pair: str,
        frames: dict[FrameKey, pd.DataFrame],
        whitelist: list[str],
    ) -> None:
        ship = {k: f for k, f in frames.items() if worker.held.get(k) is not f}
        worker.held.update(ship)
        new_whitelist = whitelist if worker.whitelist != whitelist else None
        worker.whitelist = list(whitelist)
        worker.pair = pair
        try:
            _send(worker.conn, ("analyze", pair, ship, new_whitelist))
        except (OSError, ValueError):
            pass  # dead: its pipe reads as EOF next and the pair is retried

    def _receive(self, worker: _Worker, message: tuple[Any, ...]) -> Outcome | None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            return None
        if kind == "fatal":  # a replacement could not load the strategy
            logger.error("Analysis worker could not start: %s", message[1])
            self._discard(worker)
            return None
        worker.pair = None
        if kind == "done":
            _, pair, frame, seconds, messages = message
            return Outcome(pair, frame, None, seconds, messages)
        _, pair, text, fold_key, trace, messages = message
        error = StrategyRunError(text, pair, fold_key)
        error.__cause__ = RemoteTraceback(trace)
        return Outcome(pair, None, error, 0.0, messages)

    def _discard(self, worker: _Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        worker.stop(STOP_TIMEOUT)

    def _replace(self, worker: _Worker) -> str | None:
        """A worker died: start another in its place; return the pair it was analysing."""
        worker.process.join(STOP_TIMEOUT)
        code = worker.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        logger.warning(
            "Analysis worker %s died (%s)%s; starting another",
            worker.process.pid,
            how,
            f" while analysing {worker.pair}" if worker.pair else "",
        )
        self.workers[self.workers.index(worker)] = self._spawn()
        self.replaced += 1
        worker.conn.close()
        return worker.pair


def _failure(pair: str, why: str) -> Outcome:
    error = StrategyRunError(f"Cannot analyse {pair}: {why}", pair, f"worker|{why}")
    return Outcome(pair, None, error, 0.0)
