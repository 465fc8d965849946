"""The ccxt adapter, with the real ccxt library talking to a Binance look-alike on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from candlecast.config.models import ExchangeConfig
from candlecast.domain.candles import DATE_DTYPE, dates_to_ms
from candlecast.exceptions import (
    ConfigError,
    ExchangeAuthenticationError,
    ExchangeError,
    InvalidOrderError,
    TemporaryExchangeError,
)
from candlecast.exchange import create_exchange
from candlecast.exchange.ccxt_exchange import CcxtExchange
from candlecast.pairlist import untradable_reason
from tests.integration.fake_binance import API_KEY, API_SECRET, FakeBinance

pytestmark = pytest.mark.anyio

KLINES = "/api/v3/klines"
TICKER = "/api/v3/ticker/24hr"
ORDER = "/api/v3/order"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance().serve() as server:
        yield server


def binance_config(fake: FakeBinance, **extra: Any) -> ExchangeConfig:
    values: dict[str, Any] = {
        "name": "binance",
        "key": API_KEY,
        "secret": API_SECRET,
        "ccxt_config": fake.ccxt_urls(),
    }
    values.update(extra)
    return ExchangeConfig(**values)


@pytest.fixture
async def exchange(fake: FakeBinance) -> AsyncIterator[CcxtExchange]:
    ex = CcxtExchange(binance_config(fake), retry_delay=0.01, live=True)
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


# --- markets ----------------------------------------------------------------------------
async def test_markets_are_the_spot_markets_with_their_state(exchange: CcxtExchange):
    markets = await exchange.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "LUNA/USDT"}
    assert untradable_reason("BTC/USDT", markets) is None
    assert "not active" in (untradable_reason("LUNA/USDT", markets) or "")
    assert "not listed" in (untradable_reason("XYZ/USDT", markets) or "")
    assert exchange.fee("BTC/USDT") == pytest.approx(0.001)


async def test_markets_are_reloaded_only_when_due(fake: FakeBinance, exchange: CcxtExchange):
    loads = len(fake.calls("/api/v3/exchangeInfo"))
    assert await exchange.refresh_markets() is None
    exchange.markets_refresh_secs = 0
    fake.symbols.pop(0)  # BTC delisted
    markets = await exchange.refresh_markets()
    assert markets is not None and "BTC/USDT" not in markets
    assert len(fake.calls("/api/v3/exchangeInfo")) == loads + 1


# --- candles ----------------------------------------------------------------------------
async def test_history_is_paged_and_only_closed_candles_are_kept(
    fake: FakeBinance, exchange: CcxtExchange
):
    frame = await exchange.fetch_ohlcv("BTC/USDT", "1m", 1500)
    calls = fake.calls(KLINES)
    assert len(calls) == 2  # Binance serves at most 1000 candles per request
    assert [int(c["limit"]) for c in calls] == [1000, 500]
    assert len(frame) == 1500
    assert str(frame["date"].dtype) == DATE_DTYPE
    opens = dates_to_ms(frame["date"])
    assert (np.diff(opens) == 60_000).all()
    # the server also sent the candle still forming; it is not in the frame
    assert opens[-1] == exchange.last_closed_open_ms("1m")
    assert opens[-1] + 60_000 <= int(time.time() * 1000)
    expected = fake.market.candles("BTC/USDT", "1m", int(opens[0]), 1500)
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(frame[column], expected[column], rtol=1e-9, atol=1e-8)


async def test_candles_survive_rate_limits_server_errors_and_malformed_bodies(
    fake: FakeBinance, exchange: CcxtExchange
):
    fake.fail(KLINES, 429, {"code": -1003, "msg": "Too many requests; current limit is 6000."})
    fake.fail(KLINES, 503, "<html><body>Service Unavailable</body></html>")
    fake.fail(KLINES, 200, '[[1700000000000,"1.0","1.1"')  # cut off mid-body
    frame = await exchange.fetch_ohlcv("ETH/USDT", "5m", 300)
    assert len(frame) == 300
    assert len(fake.calls(KLINES)) == 4


async def test_a_request_that_times_out_is_retried(fake: FakeBinance):
    config = binance_config(fake, ccxt_config={**fake.ccxt_urls(), "timeout": 300})
    ex = CcxtExchange(config, retry_delay=0.01)
    try:
        await ex.load_markets()
        fake.stall(TICKER, 0.8)  # longer than ccxt's 300 ms timeout
        ticker = await ex.fetch_ticker("BTC/USDT")
        assert ticker.last > 0
        assert len(fake.calls(TICKER)) == 2
    finally:
        await ex.close()


async def test_exhausted_retries_raise_a_temporary_error(fake: FakeBinance, exchange: CcxtExchange):
    fake.fail(TICKER, 502, "<html>Bad Gateway</html>", times=10)
    with pytest.raises(TemporaryExchangeError, match="BTC/USDT ticker"):
        await exchange.fetch_ticker("BTC/USDT")
    assert len(fake.calls(TICKER)) == 4


async def test_a_refused_request_is_not_retried(fake: FakeBinance, exchange: CcxtExchange):
    fake.fail(TICKER, 400, {"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(ExchangeError) as caught:
        await exchange.fetch_ticker("BTC/USDT")
    assert not isinstance(caught.value, TemporaryExchangeError)
    assert len(fake.calls(TICKER)) == 1


async def test_requests_are_paced_by_the_rate_limit(fake: FakeBinance):
    rate_limit_ms = 100
    ex = CcxtExchange(
        binance_config(fake, ccxt_config={**fake.ccxt_urls(), "rateLimit": rate_limit_ms})
    )
    try:
        await ex.load_markets()
        cost = ex._api.api["public"]["get"]["ticker/24hr"]["cost"]  # ccxt's weight: 0.4
        started = time.monotonic()
        for _ in range(10):
            await ex.fetch_ticker("BTC/USDT")
        elapsed = time.monotonic() - started
    finally:
        await ex.close()
    # ccxt's leaky bucket lets one request through at once; each next one waits its cost
    assert elapsed >= 9 * cost * rate_limit_ms / 1000 * 0.95


async def test_ticker_has_bid_below_ask(exchange: CcxtExchange):
    ticker = await exchange.fetch_ticker("SOL/USDT")
    assert 0 < ticker.bid < ticker.last < ticker.ask


# --- orders -----------------------------------------------------------------------------
async def test_orders_are_rounded_to_the_market_precision(
    fake: FakeBinance, exchange: CcxtExchange
):
    order = await exchange.create_order("BTC/USDT", "buy", 0.0012345678, 60_000.123456)
    sent = fake.orders[int(order.id)]
    assert sent["origQty"] == "0.00123"  # step 0.00001, rounded down
    assert sent["price"] == "60000.12"  # tick 0.01
    assert order.status == "closed" and order.filled == pytest.approx(0.00123)
    again = await exchange.fetch_order("BTC/USDT", order.id)
    assert again == order


async def test_orders_outside_the_limits_are_refused_before_sending(
    fake: FakeBinance, exchange: CcxtExchange
):
    with pytest.raises(InvalidOrderError, match="below the market minimum 5"):
        await exchange.create_order("BTC/USDT", "buy", 0.00005, 60_000)  # 3 USDT
    with pytest.raises(InvalidOrderError, match="amount"):
        await exchange.create_order("ETH/USDT", "buy", 0.00004, 3000)  # below one step
    assert fake.calls(ORDER, "POST") == []


async def test_exchange_refusals_map_to_invalid_order(fake: FakeBinance, exchange: CcxtExchange):
    fake.balances["USDT"] = 10.0
    with pytest.raises(InvalidOrderError, match="insufficient balance"):
        await exchange.create_order("BTC/USDT", "buy", 0.001, 60_000)
    assert await exchange.free_balance("USDT") == pytest.approx(10.0)


async def test_order_creation_is_never_retried(fake: FakeBinance, exchange: CcxtExchange):
    fake.fail(ORDER, 503, "<html>Service Unavailable</html>")
    with pytest.raises(TemporaryExchangeError):
        await exchange.create_order("BTC/USDT", "buy", 0.001, 60_000)
    assert len(fake.calls(ORDER, "POST")) == 1


async def test_cancel_returns_the_final_fill(fake: FakeBinance, exchange: CcxtExchange):
    fake.fill_mode = "partial"
    order = await exchange.create_order("ETH/USDT", "buy", 0.5, 3000)
    assert order.status == "open" and order.filled == pytest.approx(0.25)
    final = await exchange.cancel_order("ETH/USDT", order.id)
    assert final.status == "canceled" and final.filled == pytest.approx(0.25)
    # cancelling again (already final) still reports the state instead of failing
    assert (await exchange.cancel_order("ETH/USDT", order.id)).filled == pytest.approx(0.25)


async def test_a_wrong_key_is_an_authentication_error(fake: FakeBinance):
    ex = CcxtExchange(binance_config(fake, key="wrong-key-123456"), retry_delay=0.01)
    try:
        # with keys, ccxt's binance loads currencies through a signed endpoint
        with pytest.raises(ExchangeAuthenticationError, match=r"exchange\.key"):
            await ex.load_markets()
        assert len(fake.calls("/sapi/v1/capital/config/getall")) == 1  # not retried
    finally:
        await ex.close()


# --- construction -----------------------------------------------------------------------
def test_unknown_exchange_names_suggest_the_closest_id():
    with pytest.raises(ConfigError, match='did you mean "binance"'):
        create_exchange(ExchangeConfig(name="binanse"))


def test_live_trading_names_the_missing_credential():
    # kucoin also signs with a passphrase (exchange.password)
    with pytest.raises(ConfigError, match=r"exchange\.password"):
        create_exchange(ExchangeConfig(name="kucoin", key="k" * 12, secret="s" * 12), live=True)
    # dry-run needs no keys at all
    ex = create_exchange(ExchangeConfig(name="kucoin"))
    assert ex.name == "kucoin" and isinstance(ex, CcxtExchange)


async def test_ccxt_config_reaches_ccxt_and_async_config_wins(fake: FakeBinance):
    config = binance_config(
        fake,
        ccxt_config={**fake.ccxt_urls(), "timeout": 1234, "options": {"recvWindow": 7000}},
        ccxt_async_config={"timeout": 4321},
    )
    ex = CcxtExchange(config)
    try:
        assert ex._api.timeout == 4321
        assert ex._api.options["recvWindow"] == 7000
        assert ex._api.options["defaultType"] == "spot"
    finally:
        await ex.close()


def test_an_exchange_without_candles_is_refused_at_start():
    # bitflyer's ccxt class has no fetchOHLCV: candlecast could not run a strategy on it
    with pytest.raises(ConfigError, match="fetchOHLCV"):
        create_exchange(ExchangeConfig(name="bitflyer"))


async def test_the_suite_cannot_reach_a_real_exchange():
    # without the look-alike's URLs ccxt would call api.binance.com: the suite's
    # loopback guard (tests/conftest.py) makes that a failed lookup, never a connection
    # (checked directly too: a sandbox without network would also fail the lookup)
    with pytest.raises(OSError, match="only loopback is allowed"):
        socket.getaddrinfo("api.binance.com", 443)
    ex = CcxtExchange(ExchangeConfig(name="binance"), retry_delay=0.001)
    try:
        with pytest.raises(TemporaryExchangeError, match="loading markets"):
            await ex.load_markets()
    finally:
        await ex.close()
