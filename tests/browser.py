"""Debian's Chromium driven by Playwright, for the tests of what a person does on the pages:
where Chromium is, accounts made over HTTP, logging in through the login page, and the seat
buttons of the seat map. The `browser` and `start_site` fixtures are in tests/conftest.py.

Importing this module skips the importing test module where Chromium is not installed.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.factories import Hall
from tests.servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.async_api import (  # noqa: E402 - once Chromium is known to be there
    Browser,
    BrowserContext,
    Page,
    async_playwright,
    expect,
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LIVE = 2000  # ms: what one person does shows on the other's page within two seconds
PASSWORD = "correct horse battery"


@contextlib.contextmanager
def shared_chromium(profile: Path) -> Iterator[str]:
    """One headless Chromium for a whole test session (each test connects to it and works in
    contexts of its own: cookies and storage are per context): its DevTools address. Starting
    Chromium costs about a second; connecting to a running one a third of that."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless=new",
            f"--remote-debugging-port={port}",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile}",
            *CHROMIUM_ARGS,
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/json/version", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Chromium did not start its DevTools endpoint") from None
                time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def chromium(endpoint: str | None = None) -> AsyncIterator[Browser]:
    """The session's Chromium at `endpoint` (shared_chromium), or one of its own; the contexts a
    test made in it are closed when it is done."""
    async with async_playwright() as playwright:
        if endpoint:
            browser = await playwright.chromium.connect_over_cdp(endpoint)
        else:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
        try:
            yield browser
        finally:
            for context in browser.contexts:
                if endpoint and context is browser.contexts[0]:
                    continue  # the default context of the shared browser stays
                await context.close()
            await browser.close()


async def register(base: str, email: str) -> str:
    """A real account (the login form checks the password); its access token."""
    async with aiohttp.ClientSession() as session:
        created = await session.post(
            f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert created.status == 201, await created.text()
        login = await session.post(
            f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        token: str = (await login.json())["access_token"]
        return token


async def submit_login(context: BrowserContext, base: str, email: str, next_param: str) -> Page:
    """Fill in and send the login page opened with ?next=`next_param`; the page."""
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await page.goto(f"{base}/login?next={next_param}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    return page


async def log_in(context: BrowserContext, base: str, email: str, next_path: str) -> Page:
    """Log in through the login page (the token lands in localStorage) and go on to next."""
    page = await submit_login(context, base, email, next_path)
    await page.wait_for_url(f"{base}{next_path}")
    await expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    return page


def seat(page: Page, hall: Hall, label: str) -> Any:
    return page.locator(f'button[data-seat-id="{hall.seats[label]}"]')


async def expect_status(
    page: Page, hall: Hall, label: str, status: str, mine: bool = False, within_ms: int = LIVE
) -> None:
    button = seat(page, hall, label)
    await expect(button).to_have_attribute("data-status", status, timeout=within_ms)
    await expect(button).to_have_attribute(
        "data-mine", "true" if mine else "false", timeout=within_ms
    )
