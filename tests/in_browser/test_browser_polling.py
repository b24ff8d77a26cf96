"""The seat page without its live connection: it polls the REST seat map with If-None-Match."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest

from tests.browser import expect_status, register, submit_login
from tests.factories import create_hall, create_user, hold_directly

pytestmark = pytest.mark.browser

# tests.browser has skipped this module if Chromium is not there.
from playwright.async_api import WebSocketRoute  # noqa: E402


async def test_without_the_live_map_the_page_polls_the_map_with_its_etag(browser, start_site, db):
    base = await start_site()
    hall = await create_hall(db, rows=1, seats_per_row=4)
    email = f"poll-{uuid.uuid4().hex[:6]}@example.com"
    await register(base, email)
    context = await browser.new_context()

    async def refuse(page_side: WebSocketRoute) -> None:
        await page_side.close(code=1011, reason="no live map in this test")

    await context.route_web_socket(re.compile(r"/ws/showtimes/"), refuse)
    polls: list[Any] = []  # the page's GETs of the REST seat map, as answered

    def record(response: Any) -> None:
        if re.search(r"/api/v1/showtimes/[^/]+/seats$", response.url):
            polls.append(response)

    context.on("response", record)
    path = f"/showtimes/{hall.showtime_id}"
    page = await submit_login(context, base, email, path)
    await page.wait_for_url(f"{base}{path}")
    for _ in range(150):
        if len(polls) >= 2:
            break
        await asyncio.sleep(0.1)
    assert len(polls) >= 2, "the page did not poll the seat map"
    first, second = polls[0], polls[1]
    assert first.status == 200
    etag = await first.header_value("etag")
    assert etag and await second.request.header_value("if-none-match") == etag
    assert second.status == 304
    # A seat held elsewhere shows at the next poll, which gets the new map (200).
    other = await create_user(db, email=f"other-{uuid.uuid4().hex[:6]}@example.com")
    await hold_directly(db, other, hall.showtime_id, hall.ids("A2"))
    await expect_status(page, hall, "A2", "held", within_ms=8000)
    assert any(poll.status == 200 for poll in polls[2:])
    await context.close()
