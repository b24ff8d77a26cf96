"""The smaller promises of the public pages (issue 29 item 7), in Debian's Chromium: best seats
of "Any" type say when they cost more, the last-minute warning matches its clock, password
sizes are counted as the check counts them, a fourth showtime held is refused naming the three,
and the programme shows prices."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import uuid
from typing import Any

import aiohttp
import pytest

from tests.browser import expect_status, register, seat
from tests.factories import create_account, create_drawn_hall, create_hall

pytestmark = pytest.mark.browser

# tests.browser has skipped this module if Chromium is not there.
from playwright.async_api import Browser, BrowserContext, Page, expect  # noqa: E402


async def signed_in(browser: Browser, base: str) -> tuple[BrowserContext, str]:
    """A browser context holding a fresh user's session, as the login page leaves it; and the
    user's access token."""
    email = f"small-{uuid.uuid4().hex[:8]}@example.com"
    token = await register(base, email)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    stored = {"token": token, "email": email, "expiresAt": (time.time() + 3000) * 1000}
    await context.add_init_script(
        f"localStorage.setItem('reservations.session', {json.dumps(json.dumps(stored))})"
    )
    return context, token


async def seat_page(context: BrowserContext, base: str, showtime_id: Any) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/showtimes/{showtime_id}")
    await expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    return page


async def test_best_seats_of_any_type_say_that_premium_seats_cost_more(browser, start_site, db):
    base = await start_site()
    # The best row (60% back) is premium; the front row is regular.
    hall = await create_drawn_hall(
        db,
        """
........
pppppppp
pppppppp
........
""",
    )
    context, _ = await signed_in(browser, base)
    page = await seat_page(context, base, hall.showtime_id)
    premium = await seat(page, hall, "C4").get_attribute("data-price")
    regular = await seat(page, hall, "A4").get_attribute("data-price")
    assert premium == "12.50" and regular == "10.00"
    form = page.locator("[data-best-seats]")
    await form.get_by_label("Seats").fill("2")
    await form.get_by_label("Type").select_option(label="Any")
    await form.get_by_role("button", name="Hold the best seats").click()
    messages = page.locator("[data-messages]")
    await expect(messages).to_contain_text("We picked 2 seats")
    await expect(messages).to_contain_text(
        re.compile(
            r"C\d and C\d are premium seats: 12\.50 EUR each, 2\.50 EUR more than the "
            r"10\.00 EUR seats\."
        )
    )
    # Asked for premium seats by name, they are not explained again.
    await form.get_by_label("Type").select_option(label="Premium")
    await form.get_by_role("button", name="Hold the best seats").click()
    await expect(messages).to_contain_text("Added 2 seats")
    await expect(messages).not_to_contain_text("more than")
    await context.close()


RECORD_COUNTDOWN = """
() => {
  window.countdownTexts = [];
  const watched = document.querySelector("[data-countdown]");
  new MutationObserver(() => window.countdownTexts.push(watched.textContent))
    .observe(watched, { childList: true, characterData: true, subtree: true });
}
"""


async def test_less_than_a_minute_is_said_only_of_less_than_a_minute(browser, start_site, db):
    base = await start_site(hold_ttl_seconds=61)
    hall = await create_hall(db, rows=2, seats_per_row=6)
    context, _ = await signed_in(browser, base)
    page = await seat_page(context, base, hall.showtime_id)
    await page.evaluate(RECORD_COUNTDOWN)
    await seat(page, hall, "B3").click()
    await expect_status(page, hall, "B3", "held", mine=True)
    countdown = page.locator("[data-countdown]")
    await expect(countdown).to_have_text(re.compile(r"0:5\d"), timeout=5000)
    texts: list[str] = await page.evaluate("window.countdownTexts")
    clocks = [re.search(r"\d+:\d\d", text) for text in texts]
    shown = [(text, match.group()) for text, match in zip(texts, clocks, strict=True) if match]
    assert any(clock == "1:00" for _, clock in shown), texts  # the clock did pass 1:00
    for text, clock in shown:
        # Each text's words match its clock: a warning only below 1:00.
        assert text.startswith("Less than a minute left") == (clock < "1:00"), text
    await expect(countdown).to_have_attribute("data-warning", "true")
    await context.close()


async def test_password_sizes_are_counted_in_bytes_as_the_check_counts(browser, start_site):
    base = await start_site()
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    page = await context.new_page()

    await page.goto(f"{base}/register")
    label = page.locator('label[for="register-password"]')
    await expect(label).to_contain_text("72 bytes")
    await expect(label).not_to_contain_text("characters")
    password = page.get_by_label("Password")
    await password.fill("é" * 37)  # 37 characters, 74 bytes
    await expect(page.locator("#register-password-size")).to_contain_text("74 of 72 bytes used.")
    await password.fill("é" * 36)  # 72 bytes: registers
    await page.get_by_label("Email").fill(f"bytes-{uuid.uuid4().hex[:8]}@example.com")
    await expect(page.locator("#register-password-size")).to_contain_text("72 of 72 bytes used.")
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_url(f"{base}/")

    # Four two-byte letters are the 8 bytes the reset page needs: the browser does not refuse
    # them as 4 characters, and the service answers (here: the link is unknown).
    await page.goto(f"{base}/reset-password?token=not-a-real-token")
    await expect(page.locator('label[for="reset-password"]')).to_contain_text("8 to 72 bytes")
    await page.get_by_label("New password").fill("éééé")
    await page.get_by_label("The same again").fill("éééé")
    await page.get_by_role("button", name="Set the password").click()
    await expect(page.get_by_text("This link is unknown")).to_be_visible()
    await context.close()


async def test_a_fourth_showtime_held_is_refused_naming_the_three(browser, start_site, db):
    base = await start_site()
    halls = [
        await create_hall(db, rows=1, seats_per_row=4, starts_in=dt.timedelta(days=1 + n))
        for n in range(4)
    ]
    titles = [
        await db.fetchval("SELECT title FROM movies WHERE id = $1", hall.movie_id) for hall in halls
    ]
    context, token = await signed_in(browser, base)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as client:
        for hall in halls[:3]:
            held = await client.post(
                f"{base}/api/v1/showtimes/{hall.showtime_id}/lock-seats",
                json={"seat_ids": hall.ids("A2")},
            )
            assert held.status == 201, await held.text()
    page = await seat_page(context, base, halls[3].showtime_id)
    await seat(page, halls[3], "A2").click()
    messages = page.locator("[data-messages]")
    await expect(messages).to_contain_text("at most 3 showtimes at once")
    for title in titles[:3]:
        await expect(messages).to_contain_text(title)
    await expect_status(page, halls[3], "A2", "available")
    await context.close()


async def test_the_programme_shows_each_showtimes_lowest_price(browser, start_site, db):
    base = await start_site()
    cheap = await create_hall(db, rows=1, seats_per_row=4, price="9.50")
    premium_only = await create_hall(
        db, rows=1, seats_per_row=4, price="10.00", seat_type="premium"
    )
    start = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", cheap.showtime_id)
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await page.goto(f"{base}/?date={start.date().isoformat()}")
    cheap_link = page.locator(f'a[href="/showtimes/{cheap.showtime_id}"]')
    await expect(cheap_link).to_contain_text("from 9.50 EUR")
    await expect(cheap_link).to_have_attribute("aria-label", re.compile(r"from 9\.50 EUR"))
    # A hall of premium seats only starts at the premium price (10.00 x 1.25).
    premium_link = page.locator(f'a[href="/showtimes/{premium_only.showtime_id}"]')
    await expect(premium_link).to_contain_text("from 12.50 EUR")
    # Repriced through the API, the programme says the new price.
    admin = await create_account(db, "admin")
    async with aiohttp.ClientSession(headers=admin.headers) as client:
        repriced = await client.put(
            f"{base}/api/v1/seat-types/premium",
            json={"price_multiplier": "1.00", "surcharge": "3.00"},
        )
        assert repriced.status == 200, await repriced.text()
    # The kept programme page is dropped when this instance hears the showtimes' NOTIFY, a
    # moment after the answer: reload until then (a few seconds at most on a busy machine).
    for _ in range(50):
        await page.reload()
        if "from 13.00 EUR" in await page.content():
            break
        await asyncio.sleep(0.1)
    await expect(premium_link).to_contain_text("from 13.00 EUR")
    await expect(cheap_link).to_contain_text("from 9.50 EUR")
    await context.close()
