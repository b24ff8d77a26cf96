"""The seat page's ticket types and voucher in a real browser: after choosing seats, a stepper
makes them "2 adults, 1 child", a voucher comes off, and the total shown is the total charged,
on the ticket and in the revenue report."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid

import aiohttp
import pytest

from tests.browser import ARTIFACTS, PASSWORD, expect_status, log_in, register, seat
from tests.factories import create_account, create_hall

pytestmark = pytest.mark.browser

from playwright.async_api import expect  # noqa: E402


async def test_two_adults_and_a_child_with_a_voucher_cost_the_same_everywhere(
    browser, start_site, db
):
    base = await start_site()
    hall = await create_hall(db, rows=2, seats_per_row=5, price="10.00")
    await db.execute(
        "INSERT INTO vouchers (code, discount_percent, max_redemptions) VALUES ('NEWS10', 10, 5)"
    )
    path = f"/showtimes/{hall.showtime_id}"
    email = f"carla-{uuid.uuid4().hex[:6]}@example.com"
    await register(base, email)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await log_in(context, base, email, path)

    for label in ("A2", "A3", "A4"):
        await seat(page, hall, label).click()
        await expect_status(page, hall, label, "held", mine=True)
    tickets = page.locator("[data-tickets]")
    await expect(tickets).to_be_visible()
    await expect(page.locator("[data-tickets-summary]")).to_have_text("3 adults")
    await expect(page.locator("[data-selection-total]")).to_contain_text("total 30.00 EUR")

    # By keyboard: one child ticket instead of an adult one.
    await page.locator('[data-ticket-add="child"]').focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("[data-tickets-summary]")).to_have_text("2 adults, 1 child")
    await expect(page.locator('[data-ticket-count="child"]')).to_have_text("1")
    await expect(page.locator("[data-selection-list]")).to_contain_text("A4 · 7.00 EUR · Child")
    await expect(page.locator("[data-selection-total]")).to_contain_text("total 27.00 EUR")

    await page.get_by_label("Voucher code").fill("news10")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("[data-voucher-status]")).to_contain_text("NEWS10 applied")
    await expect(page.locator("[data-selection-total]")).to_contain_text(
        "total 24.30 EUR (27.00 EUR less 2.70 EUR voucher)"
    )

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "seatmap-tickets.png"), full_page=True)
    # On a phone the stepper and the voucher fit the width; the page does not scroll sideways.
    await page.set_viewport_size({"width": 360, "height": 780})
    await expect(page.locator('[data-ticket-add="child"]')).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(ARTIFACTS / "seatmap-tickets-phone.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})

    await page.get_by_role("button", name=re.compile(r"^Confirm 3 seats · 24\.30 EUR$")).click()
    await expect(page.locator("[data-booked]")).to_be_visible()
    code = (await page.locator("[data-ticket-code]").text_content() or "").strip()
    reservation = await db.fetchrow(
        "SELECT id, total_price, discount FROM reservations WHERE ticket_code = $1", code
    )
    assert str(reservation["total_price"]) == "24.30"
    assert str(reservation["discount"]) == "2.70"

    await page.goto(f"{base}/my/reservations/{reservation['id']}/ticket")
    await expect(page.locator('[data-field="total"]')).to_have_text("24.30 EUR")
    lines = await page.locator('[data-field="seat-lines"] tr').all_inner_texts()
    assert sorted(" ".join(line.split()) for line in lines) == [
        "A2 Adult 10.00 EUR",
        "A3 Adult 10.00 EUR",
        "A4 Child 7.00 EUR",
    ], lines
    await expect(page.locator('[data-field="discount"]')).to_have_text("−2.70 EUR")

    admin = await create_account(db, "admin")
    today = dt.date.today()
    async with aiohttp.ClientSession() as session:
        answer = await session.get(
            f"{base}/api/v1/admin/reports/revenue",
            params={
                "start_date": str(today - dt.timedelta(days=1)),
                "end_date": str(today + dt.timedelta(days=3)),
                "group_by": "ticket_type",
            },
            headers=admin.headers,
        )
        report = await answer.json()
    assert report["total_revenue"] == "24.30"
    by_type = {row["key"]: (row["tickets"], row["revenue"]) for row in report["rows"]}
    assert by_type == {"adult": (2, "18.00"), "child": (1, "6.30")}
    await context.close()


async def test_an_admin_prices_seats_adds_a_card_and_makes_a_batch_in_the_console(
    browser, start_site, db
):
    base = await start_site()
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    await register(base, email)
    await db.execute("UPDATE users SET role = 'admin' WHERE lower(email) = lower($1)", email)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"{base}/login?next=/admin/prices")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base}/admin/prices")
    panel = page.locator("[data-panel]")

    async def slow_panel(route):
        # A slow server: the news of a change must not come before the panel is drawn anew,
        # or the next form, filled as soon as the news shows, is replaced while it is filled.
        await asyncio.sleep(0.4)
        await route.continue_()

    await page.route(re.compile(r".*/admin/panels/.*"), slow_panel)

    # Premium seats: the showtime's price plus 2.00, a price a cinema would print.
    row = panel.locator('tr[data-seat-type="premium"]')
    await row.get_by_label("Multiplier for premium").fill("1.00")
    await row.get_by_label("Surcharge for premium").fill("2.00")
    await row.get_by_role("button", name="Save").click()
    await expect(page.locator("[data-messages]")).to_have_text("The premium seats are repriced.")
    await expect(panel.locator('tr[data-seat-type="premium"]')).to_contain_text("+ 2.00 EUR")

    # Senior tickets off sale, and on sale again.
    senior = panel.locator('tr[data-ticket-type="senior"]')
    await senior.get_by_role("button", name="Stop selling").click()
    await expect(page.locator("[data-messages]")).to_have_text("Senior is no longer sold.")
    await senior.get_by_role("button", name="Sell again").click()
    await expect(page.locator("[data-messages]")).to_have_text("Senior is on sale again.")
    assert await db.fetchval("SELECT active FROM ticket_types WHERE code = 'senior'")

    # A weekday matinee card.
    card = panel.locator("form", has=page.get_by_role("button", name="Add price card"))
    await card.get_by_label("Name").fill("Matinee")
    await page.wait_for_timeout(600)  # a person's pace: longer than the slow panel takes
    for day in ("Mon", "Tue", "Wed"):
        await card.get_by_label(day).check()
    await card.get_by_label("From").fill("10:00")
    await card.get_by_label("Until").fill("17:00")
    await card.get_by_label("Price (EUR)").fill("7.50")
    await card.get_by_role("button", name="Add price card").click()
    await expect(page.locator("[data-messages]")).to_have_text("The price card is added.")
    await expect(panel.locator("tr[data-price-card]")).to_contain_text("Mon, Tue, Wed")
    stored = await db.fetchrow("SELECT weekdays, price FROM price_cards")
    assert list(stored["weekdays"]) == [1, 2, 3] and str(stored["price"]) == "7.50"

    # A batch of five codes, then its CSV.
    await page.get_by_role("link", name="Vouchers").click()
    await page.wait_for_url(f"{base}/admin/vouchers")
    form = panel.locator("form", has=page.get_by_role("button", name="Make vouchers"))
    await form.get_by_label("How many random codes").fill("5")
    await form.get_by_label("Prefix").fill("NEWS")
    await form.get_by_label("Percent off").fill("10")
    await form.get_by_role("button", name="Make vouchers").click()
    await expect(page.locator("[data-messages]")).to_contain_text("The vouchers are made")
    await expect(panel.locator("tr[data-voucher]")).to_have_count(5)
    async with page.expect_download() as download_info:
        await panel.get_by_role("link", name="Download CSV").click()
    download = await download_info.value
    lines = (await download.path()).read_text().splitlines()
    assert lines[0].startswith("code,discount_percent")
    assert len(lines) == 6 and all(line.startswith("NEWS-") for line in lines[1:])
    await context.close()
