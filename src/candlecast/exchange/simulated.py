"""The embedded simulated exchange: a deterministic market that needs no network.

Prices are a pure function of ``(seed, pair, time)``: the log price is a sum of
sinusoids whose periods span seconds to months with amplitudes growing like the
square root of the period (which looks like a random walk at every scale), plus
per-instant hash noise. Two processes with the same ``sim_seed`` therefore see the
same candles for the same pair and time, whatever timeframe each one asks for, and
any amount of history is available instantly.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd

from candlecast.clock import Clock, LiveClock
from candlecast.domain.candles import ms_to_dates
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.exchange.base import Exchange, Ticker

_KNOWN_BASES = {
    "BTC": 60000.0,
    "ETH": 3000.0,
    "SOL": 150.0,
    "BNB": 600.0,
    "XRP": 0.6,
    "ADA": 0.45,
    "DOGE": 0.15,
    "DOT": 7.0,
    "LTC": 85.0,
    "LINK": 15.0,
    "AVAX": 35.0,
    "TRX": 0.12,
}
_N_COMPONENTS = 32
_MIN_PERIOD_S = 3.0
_MAX_PERIOD_S = 120 * 86400.0
_DAILY_VOL = 0.02  # typical daily move of the log price at volatility 1.0
MAX_HISTORY = 100_000


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A vectorized 64-bit integer hash (wrapping arithmetic on uint64)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit(h: np.ndarray) -> np.ndarray:
    """Map hashes to floats in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class _PairModel:
    def __init__(self, pair: str, seed: int, volatility: float) -> None:
        self.key = np.uint64(zlib.crc32(f"{seed}:{pair}".encode()))
        rng = np.random.default_rng(int(self.key))
        base = pair.split("/")[0]
        self.base_price = _KNOWN_BASES.get(base, 1.0 + (zlib.crc32(base.encode()) % 5000) / 10)
        self.periods = np.geomspace(_MIN_PERIOD_S, _MAX_PERIOD_S, _N_COMPONENTS)
        self.omegas = 2 * math.pi / self.periods
        self.phases = rng.uniform(0, 2 * math.pi, _N_COMPONENTS)
        scale = _DAILY_VOL / math.sqrt(86400.0)
        # sqrt(period) amplitudes up to a day (flat beyond), jittered so pairs differ;
        # volatility scales only the intraday components, so long-run levels stay sane.
        intraday = np.where(self.periods < 86400.0, volatility, 1.0)
        self.amps = (
            scale
            * np.sqrt(np.minimum(self.periods, 86400.0))
            * intraday
            * rng.uniform(0.5, 1.5, _N_COMPONENTS)
            / 2.5
        )
        self.noise = scale * volatility * math.sqrt(_MIN_PERIOD_S) * 0.3
        self.base_volume = 1000.0 * rng.uniform(0.5, 5.0)

    def log_price(self, t_ms: np.ndarray) -> np.ndarray:
        t = t_ms.astype(np.float64) / 1000.0
        # summed component by component, in one order for every element: a matrix product
        # (BLAS) rounds differently with the number of rows, so a candle's price would
        # depend on how many candles were asked for at once
        smooth = np.zeros_like(t)
        for omega, phase, amp in zip(self.omegas, self.phases, self.amps, strict=True):
            smooth += amp * np.sin(t * omega + phase)
        eps = (_unit(_splitmix64(t_ms.astype(np.uint64) ^ self.key)) - 0.5) * 2 * self.noise
        return math.log(self.base_price) + smooth + eps


class SimulatedExchange(Exchange):
    """Deterministic candles for any ``BASE/QUOTE`` pair and any timeframe from 1s."""

    name = "simulated"

    def __init__(
        self,
        seed: int = 42,
        fee: float = 0.001,
        volatility: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.seed = seed
        self._fee = fee
        self.volatility = volatility
        self.clock = clock or LiveClock()
        self._models: dict[str, _PairModel] = {}

    def _model(self, pair: str) -> _PairModel:
        model = self._models.get(pair)
        if model is None:
            model = self._models[pair] = _PairModel(pair, self.seed, self.volatility)
        return model

    async def load_markets(self) -> dict[str, dict]:
        # Every well-formed pair exists on the simulated exchange.
        return _AnyPairMarkets()

    def candles(self, pair: str, timeframe: str, start_ms: int, count: int) -> pd.DataFrame:
        """Return ``count`` candles of ``pair`` opening at ``start_ms`` and after (pure)."""
        tf = timeframe_to_msecs(timeframe)
        opens = start_ms + tf * np.arange(count, dtype=np.int64)
        model = self._model(pair)
        # five samples per candle: open, three inside, close (= next open)
        offsets = np.array([0, tf // 4, tf // 2, 3 * tf // 4, tf], dtype=np.int64)
        samples = np.exp(model.log_price((opens[:, None] + offsets).ravel())).reshape(count, 5)
        wick = (
            _unit(_splitmix64(opens.astype(np.uint64) * np.uint64(3) ^ model.key)) * model.noise * 2
        )
        open_, close = samples[:, 0], samples[:, 4]
        high = samples.max(axis=1) * (1 + wick)
        low = samples.min(axis=1) * (1 - wick)
        move = np.abs(np.log(close / open_))
        vol_noise = _unit(_splitmix64(opens.astype(np.uint64) * np.uint64(7) ^ model.key))
        volume = model.base_volume * (0.2 + vol_noise) * (1 + 200 * move) * (tf / 60000) ** 0.5
        return pd.DataFrame(
            {
                "date": ms_to_dates(opens),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": volume,
            }
        )

    def now_ms(self) -> int:
        return int(self.clock.timestamp() * 1000)

    async def fetch_ohlcv(self, pair: str, timeframe: str, limit: int) -> pd.DataFrame:
        limit = max(1, min(int(limit), MAX_HISTORY))
        last_open = self.last_closed_open_ms(timeframe)
        start = last_open - (limit - 1) * timeframe_to_msecs(timeframe)
        return self.candles(pair, timeframe, start, limit)

    def price_at(self, pair: str, t_ms: int) -> float:
        return float(np.exp(self._model(pair).log_price(np.array([t_ms], dtype=np.int64)))[0])

    async def fetch_ticker(self, pair: str) -> Ticker:
        last = self.price_at(pair, int(self.clock.timestamp() * 1000))
        spread = last * 0.0001
        return Ticker(pair, last, last - spread, last + spread)

    def fee(self, pair: str) -> float:
        return self._fee

    def stop_order_problem(self, order_type: str) -> str | None:
        return None  # the dry-run book holds stop orders on these prices


class _AnyPairMarkets(dict):
    """A markets mapping that contains every ``BASE/QUOTE`` pair."""

    def __contains__(self, pair: object) -> bool:
        return isinstance(pair, str) and pair.count("/") == 1 and all(pair.split("/"))

    def __getitem__(self, pair: str) -> dict:
        if pair not in self:
            raise KeyError(pair)
        base, quote = pair.split("/")
        return {"symbol": pair, "base": base, "quote": quote, "active": True, "spot": True}

    def get(self, pair: str, default: object = None) -> object:
        return self[pair] if pair in self else default  # noqa: SIM401 (self.get would recurse)
