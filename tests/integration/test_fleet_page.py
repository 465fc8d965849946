"""The /fleet page in a real headless Chromium (Debian's chromium + chromium-driver through
Selenium): log in, see a producer's pairs and its consumer, see the chart follow a broadcast
within 2 s, and see the producer from the consumer's page. Screenshots are kept as test
artifacts (``$CANDLECAST_ARTIFACTS``, default ``test-artifacts/``).

``make test`` installs the browser (``make browser``); where it cannot, this module skips
and says why."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import (
    PAIRS,
    PASSWORD,
    USER,
    advance,
    consumer_config,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "headless Chromium not installed: `make browser` installs Debian's chromium and "
        "chromium-driver (needs root and the package registry)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.anyio

ARTIFACTS = Path(os.environ.get("CANDLECAST_ARTIFACTS", "test-artifacts"))


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    """Drive the browser off the event loop, which serves the bots the page talks to."""
    return await asyncio.to_thread(fn, *args)


async def until(browser, condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait for ``condition`` (checked in the browser's thread); return the seconds it took."""
    start = time.monotonic()
    while not await call(condition):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not seen within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def texts(browser, css: str) -> list[str]:
    """The text of every element matching ``css``, read in one step (the page re-renders
    its tables every 2 s, so element handles go stale)."""
    script = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)"
    result: list[str] = browser.execute_script(script, css)
    return result


async def log_in(browser, port: int) -> None:
    await call(browser.get, f"http://127.0.0.1:{port}/fleet")

    def fill() -> None:
        browser.find_element(By.ID, "username").send_keys(USER)
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login-button").click()

    await call(fill)


async def test_fleet_page_shows_producer_consumer_and_a_live_chart(tmp_path: Path, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await log_in(browser, producer.api_port)
            await until(
                browser,
                lambda: set(PAIRS) <= {t.split("\t")[0] for t in texts(browser, "#pairs tbody tr")},
                10,
                "the producer's pairs",
            )
            await until(
                browser,
                lambda: any(
                    "json" in t or "binary" in t for t in texts(browser, "#consumers tbody tr")
                ),
                10,
                "the consumer connected to the producer",
            )

            def chart(attr: str) -> str:
                return texts(browser, "#chart") and browser.execute_script(
                    "return document.getElementById('chart').getAttribute(arguments[0]) || ''",
                    f"data-{attr}",
                )

            await until(browser, lambda: chart("last-candle") != "", 10, "the first chart")
            pair = await call(chart, "pair")
            before = int(await call(chart, "last-candle"))
            await until(
                browser,
                lambda: "live" in "".join(texts(browser, "#ws-state")),
                10,
                "the websocket",
            )
            await advance(producer, clock)  # a new candle, broadcast to every subscriber
            took = await until(
                browser,
                lambda: chart("last-candle") not in ("", str(before)),
                2.0,
                f"the chart of {pair} following the broadcast",
            )
            assert int(await call(chart, "last-candle")) == before + 60_000, took
            await call(browser.save_screenshot, str(ARTIFACTS / "fleet-producer.png"))

            await call(browser.execute_script, "sessionStorage.clear()")
            await log_in(browser, consumer.api_port)
            await until(
                browser,
                lambda: any(
                    "default: connected" in t for t in texts(browser, "#producers .producer h3")
                ),
                10,
                "the consumer's producer",
            )
            await until(
                browser,
                lambda: (
                    set(PAIRS)
                    <= {t.split("\t")[0] for t in texts(browser, "#producers .producer tbody tr")}
                ),
                10,
                "the consumer's copies of the producer's pairs",
            )
            await call(browser.save_screenshot, str(ARTIFACTS / "fleet-consumer.png"))
