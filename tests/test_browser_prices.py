"""The seat page's ticket types and voucher in a real browser: after choosing seats, a stepper
makes them "2 adults, 1 child", a voucher comes off, and the total shown is the total charged,
on the ticket and in the revenue report."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import aiohttp
import pytest

from tests.browser import expect_status, log_in, register, seat
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
