"""Abuse resistance in a real browser (issue 19): the page after logging in stays on this site,
the live map opens with a ticket instead of the access token, and a booking answered 503 is
retried with the same Idempotency-Key. Chromium at /usr/bin/chromium, as tests/in_browser/test_browser.py.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import expect_status, log_in, register, seat, submit_login
from tests.factories import create_hall

pytestmark = pytest.mark.browser

# tests.browser has skipped this module if Chromium is not there.
from playwright.async_api import Route, expect  # noqa: E402

# value -> what safeNext must make of it ("/" when it refuses)
NEXT_VALUES = {
    "/showtimes/1?x=2#top": "/showtimes/1?x=2#top",
    "/my/reservations": "/my/reservations",
    "/\t/evil.example": "/",  # what ?next=/%09/evil.example decodes to: the tab is dropped
    "/\n/evil.example": "/",
    "/\r\n/evil.example/x": "/",
    "//evil.example": "/",
    "/\\evil.example": "/",
    "/\\/evil.example": "/",
    "/.//evil.example": "/",  # parses to the path //evil.example: protocol-relative
    "https://evil.example/": "/",
    "javascript:alert(1)": "/",
    " /evil": "/",
    "": "/",
}


async def test_safe_next_accepts_only_paths_of_this_origin(browser, start_site):
    base = await start_site()
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{base}/login")
    results = await page.evaluate(
        """async (values) => {
            const { safeNext } = await import("/static/app.js");
            return values.map((value) => safeNext(value));
        }""",
        list(NEXT_VALUES),
    )
    assert dict(zip(NEXT_VALUES, results, strict=True)) == NEXT_VALUES


async def test_logging_in_with_a_tab_smuggled_next_stays_on_the_site(browser, start_site):
    base = await start_site()
    email = f"nina-{uuid.uuid4().hex[:6]}@example.com"
    await register(base, email)
    page = await submit_login(await browser.new_context(), base, email, "/%09/evil.example")
    await page.wait_for_url(f"{base}/")
    assert urlsplit(page.url).netloc == urlsplit(base).netloc


async def test_the_page_opens_the_live_map_with_a_ticket_not_the_token(browser, start_site, db):
    base = await start_site()
    hall = await create_hall(db, rows=2, seats_per_row=6)
    path = f"/showtimes/{hall.showtime_id}"
    email = f"tom-{uuid.uuid4().hex[:6]}@example.com"
    token = await register(base, email)
    context = await browser.new_context()
    sockets: list[str] = []
    context.on("page", lambda page: page.on("websocket", lambda ws: sockets.append(ws.url)))
    page = await log_in(context, base, email, path)
    await seat(page, hall, "A3").click()
    await expect_status(page, hall, "A3", "held", mine=True)
    # A second tab learns which seats are its own from the live map's snapshot alone.
    other = await context.new_page()
    await other.goto(f"{base}{path}")
    await expect(other.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    await expect_status(other, hall, "A3", "held", mine=True)

    stored = await page.evaluate("JSON.parse(localStorage.getItem('reservations.session')).token")
    assert sockets
    for url in sockets:
        assert stored not in url and token not in url
        assert "token=" not in url
    assert any("ticket" in parse_qs(urlsplit(url).query) for url in sockets)


async def test_a_booking_answered_503_is_retried_with_the_same_key(browser, start_site, db):
    base = await start_site()
    hall = await create_hall(db, rows=2, seats_per_row=6)
    path = f"/showtimes/{hall.showtime_id}"
    email = f"uma-{uuid.uuid4().hex[:6]}@example.com"
    await register(base, email)
    context = await browser.new_context()
    page = await log_in(context, base, email, path)
    keys: list[str] = []

    async def busy_once(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            await route.fulfill(
                status=503,
                headers={"Retry-After": "1"},
                json={"error": {"code": "busy", "message": "busy", "details": {}}},
            )
        else:
            await route.continue_()

    await page.route(re.compile(r".*/api/v1/reservations$"), busy_once)
    await seat(page, hall, "B2").click()
    await expect_status(page, hall, "B2", "held", mine=True)
    confirm = page.get_by_role("button", name=re.compile(r"^Confirm 1 seat"))
    await confirm.click()
    await expect(page.locator("[data-messages]")).to_contain_text("you will not be booked twice")
    await confirm.click()
    await expect(page.locator("[data-booked]")).to_be_visible()
    assert len(keys) == 2
    assert keys[0] and keys[0] == keys[1]


async def test_the_api_docs_render_in_a_browser_under_their_policy(browser, start_site):
    """The vendored Swagger UI runs under /api/docs' Content-Security-Policy: the spec's title
    and an operation show, and the browser reports no blocked script or error."""
    base = await start_site()
    page = await (await browser.new_context()).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    await page.goto(f"{base}/api/docs")
    await page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "Reservations API" in await page.inner_text(".swagger-ui .info .title")
    assert await page.locator(".opblock-summary-path", has_text="/api/v1/auth/login").count()
    assert not problems, problems
