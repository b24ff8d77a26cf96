"""What a first-time moviegoer and an admin meet, in Debian's Chromium (Playwright): the seat map
on a 360x740 touch screen, with the keyboard only, best seats, your own bookings, messages that
go when they stop being true, the ticket page and the admin console (issue 20)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.browser import ARTIFACTS, LIVE, PASSWORD, expect_status, register, seat
from tests.factories import create_hall
from tests.images import image_bytes

pytestmark = pytest.mark.browser

# tests.browser has skipped this module if Chromium is not there.
from playwright.async_api import Browser, BrowserContext, Page, expect  # noqa: E402

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


async def signed_in(browser: Browser, token: str, email: str, **options: Any) -> BrowserContext:
    """A browser context whose localStorage holds the session the login page would store."""
    context = await browser.new_context(**options)
    context.set_default_timeout(10_000)
    stored = {"token": token, "email": email, "expiresAt": (time.time() + 3000) * 1000}
    await context.add_init_script(
        f"localStorage.setItem('reservations.session', {json.dumps(json.dumps(stored))})"
    )
    return context


async def api(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as session:
        answer = await session.request(
            method, f"{base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status < 300, await answer.text()
        return await answer.json() if answer.status != 204 else None


async def live(page: Page) -> None:
    await expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")


# ---- the seat map on a phone -----------------------------------------------------------------


async def test_on_a_phone_seats_are_touch_targets_and_confirm_is_always_at_hand(
    browser, start_site, db
):
    base = await start_site()
    hall = await create_hall(db, rows=8, seats_per_row=14, price="10.00")
    email = f"pia-{uuid.uuid4().hex[:6]}@example.com"
    token = await register(base, email)
    context = await signed_in(browser, token, email, **PHONE)
    page = await context.new_page()
    await page.goto(f"{base}/showtimes/{hall.showtime_id}")
    await live(page)

    # The signed-in header is one short line, and the page itself never scrolls sideways.
    header = await page.locator(".site-header").bounding_box()
    assert header and header["height"] <= 64, header
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    # Seats are 44 px touch targets; pinch-zoom stays allowed.
    box = await seat(page, hall, "D7").bounding_box()
    assert box and box["width"] >= 44 and box["height"] >= 44, box
    viewport = await page.locator('meta[name="viewport"]').get_attribute("content")
    assert "user-scalable=no" not in (viewport or "") and "maximum-scale" not in (viewport or "")
    # The row letters stay in view wherever the hall is scrolled (beside it, never over it:
    # tests/in_browser/test_browser_phone.py).
    scroller = page.locator(".hall-scroll")
    for left in (0, 10_000):
        await scroller.evaluate("(hall, left) => { hall.scrollLeft = left; }", left)
        frame = await page.locator(".hall-frame").bounding_box()
        letters = await page.locator('.row-label[data-row="D"]').all()
        assert len(letters) == 2
        for label in letters:
            letter = await label.bounding_box()
            assert frame and letter
            assert (
                frame["x"] - 1 <= letter["x"]
                and letter["x"] + letter["width"] <= frame["x"] + frame["width"] + 1
                and letter["x"] + letter["width"] <= 360
            )

    # A tap holds a seat; the bar with the countdown and Confirm sits at the bottom of the screen
    # while the hall is in view.
    await seat(page, hall, "D7").tap()
    await expect_status(page, hall, "D7", "held", mine=True)
    bar = page.locator("[data-booking-bar]")
    await expect(bar).to_be_visible()
    await expect(bar.locator("[data-bar-countdown]")).to_have_text(
        re.compile(r"^Held (9|10):\d\d$")
    )
    confirm = bar.get_by_role("button", name="Confirm 1 seat · 10.00 EUR")
    await seat(page, hall, "D7").scroll_into_view_if_needed()
    bar_box = await bar.bounding_box()
    assert bar_box and bar_box["y"] + bar_box["height"] <= 740 + 1 and bar_box["y"] >= 740 - 120
    assert await confirm.evaluate("button => button.getBoundingClientRect().top < innerHeight")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "seatmap-phone-bar.png"))
    await confirm.tap()
    await expect(page.locator("[data-booked]")).to_be_visible()
    await expect(bar).to_be_hidden()
    code = page.locator("[data-ticket-code]")
    assert await code.evaluate("code => getComputedStyle(code).whiteSpace") == "nowrap"

    # The day strip is one line that scrolls, and fades at its edge to say so.
    start = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", hall.showtime_id)
    await page.goto(f"{base}/?date={start.date().isoformat()}")
    strip = page.locator(".day-tabs ul")
    tops = {
        round((await tab.bounding_box() or {"y": 0})["y"])
        for tab in await strip.locator("li").all()
    }
    assert len(tops) == 1, tops
    assert await strip.evaluate("strip => strip.scrollWidth > strip.clientWidth")
    assert "gradient" in await strip.evaluate(
        "strip => getComputedStyle(strip).maskImage || getComputedStyle(strip).webkitMaskImage"
    )
    await context.close()


# ---- the keyboard --------------------------------------------------------------------------


async def test_the_hall_is_one_tab_stop_moved_with_arrow_keys(browser, start_site, db):
    base = await start_site()
    hall = await create_hall(db, rows=6, seats_per_row=10)
    email = f"kai-{uuid.uuid4().hex[:6]}@example.com"
    token = await register(base, email)
    page = await (await signed_in(browser, token, email, **DESKTOP)).new_page()
    await page.goto(f"{base}/showtimes/{hall.showtime_id}")
    await live(page)

    async def focused() -> str:
        return await page.evaluate(
            "document.activeElement.dataset.label || document.activeElement.name"
            " || document.activeElement.textContent.trim()"
        )

    # From the link above the map: a skip link, then one seat, then straight on to Best seats.
    await page.get_by_role("link", name="← Back to what's on").focus()
    await page.keyboard.press("Tab")
    assert await focused() == "Skip the hall to your booking"
    await page.keyboard.press("Tab")
    assert await focused() == "A1"
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    assert await focused() == "B3"
    await page.keyboard.press("Enter")
    await expect_status(page, hall, "B3", "held", mine=True)
    await page.keyboard.press("End")
    assert await focused() == "B10"
    await page.keyboard.press("Home")
    assert await focused() == "B1"
    await page.keyboard.press("Space")
    await expect_status(page, hall, "B1", "held", mine=True)

    # Tab leaves the hall at once and reaches Confirm in a few steps (besides the ticket
    # steppers and the voucher field on the way, issue 25); Shift+Tab comes back to the seat
    # last visited.
    presses = ticket_controls = 0
    while await focused() != "Confirm 2 seats · 20.00 EUR":
        await page.keyboard.press("Tab")
        presses += 1
        ticket_controls += await page.evaluate(
            "document.activeElement.closest('[data-tickets], [data-voucher]') !== null"
        )
        assert presses - ticket_controls <= 6, await focused()
    assert await page.locator("button.seat[tabindex='0']").count() == 1
    for _ in range(presses):
        await page.keyboard.press("Shift+Tab")
    assert await focused() == "B1"
    await page.keyboard.press("Enter")  # B1 is released again
    await expect_status(page, hall, "B1", "available")

    # The skip link goes to the booking panel without crossing the hall.
    await page.get_by_role("link", name="← Back to what's on").focus()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    assert await focused() == "count"  # the first field of Best seats


# ---- best seats, stale messages, your own seats, the ticket -----------------------------------


async def test_best_seats_your_seats_and_messages_that_stay_true(browser, start_site, db):
    base = await start_site()
    hall = await create_hall(db, rows=2, seats_per_row=3, starts_in=dt.timedelta(days=2))
    path = f"/showtimes/{hall.showtime_id}"
    lock = f"/api/v1/showtimes/{hall.showtime_id}/lock-seats"
    bob = await register(base, f"bob-{uuid.uuid4().hex[:6]}@example.com")
    email = f"eve-{uuid.uuid4().hex[:6]}@example.com"
    eve_token = await register(base, email)
    eve = await (await signed_in(browser, eve_token, email, **DESKTOP)).new_page()
    await eve.goto(f"{base}{path}")
    await live(eve)
    messages = eve.locator("[data-messages]")

    # "Held by someone else" is said while it is true, and goes when the seat changes.
    await api(base, "POST", lock, bob, {"seat_ids": hall.ids("A2", "B2")})
    await expect_status(eve, hall, "A2", "held")
    await seat(eve, hall, "A2").click(force=True)
    await expect(messages).to_contain_text("Row A, seat 2 is held by someone else")
    await api(base, "DELETE", lock, bob, {"seat_ids": hall.ids("A2")})
    await expect_status(eve, hall, "A2", "available")
    await expect(messages).to_have_text("", timeout=LIVE)
    await api(base, "POST", lock, bob, {"seat_ids": hall.ids("A2")})
    await expect_status(eve, hall, "A2", "held")

    # Eve holds A1; Best seats says it adds, and then lists only the new seats, split over rows.
    await seat(eve, hall, "A1").click()
    await expect_status(eve, hall, "A1", "held", mine=True)
    await expect(eve.locator("[data-best-seats-mode]")).to_have_text(
        "Adds to the 1 seat you hold; they stay yours."
    )
    await eve.get_by_label("Seats", exact=True).fill("3")
    await eve.get_by_role("button", name="Hold the best seats").click()
    await expect(eve.locator('button.seat[data-mine="true"]')).to_have_count(4)
    await expect(messages).to_have_text(
        "Added 3 seats (A3, B1, B3) to the 1 you already held; 4 held in all. "
        "They are split across rows A and B, not all together. Your seats are now in rows A and B."
    )

    # Booked: said once (the booked panel has the code), and the seats are marked as hers.
    await eve.get_by_role("button", name="Confirm 4 seats · 40.00 EUR").click()
    await expect(eve.locator("[data-booked]")).to_be_visible()
    code = (await eve.locator("[data-ticket-code]").text_content() or "").strip()
    assert (await eve.locator(".booking-panel").inner_text()).count(code) == 1
    note = eve.locator("[data-booked-note]")
    await expect(note).to_contain_text(
        "You already have 4 seats for this showtime (A1, A3, B1, B3)."
    )
    await expect(eve.locator('button.seat[data-yours="true"]')).to_have_count(4)

    # Coming back later, from her reservations: the same, and the others' sales stay "sold".
    await api(base, "DELETE", lock, bob, {"seat_ids": hall.ids("A2", "B2")})
    await eve.reload()
    await live(eve)
    await expect(note).to_contain_text("You already have 4 seats for this showtime")
    await expect(seat(eve, hall, "B3")).to_have_attribute(
        "aria-label", "Row B, seat 3, regular, 10.00 EUR, booked by you"
    )
    await expect(seat(eve, hall, "A2")).to_have_attribute("data-yours", "false")
    await seat(eve, hall, "B3").click(force=True)
    await expect(messages).to_contain_text("already yours")

    # The ticket: from her reservations, a page with a large QR code and the showtime's details,
    # printed without the site's header.
    await eve.goto(f"{base}/my/reservations")
    await eve.get_by_role("link", name=re.compile("^Show the ticket for")).click()
    await eve.wait_for_url(re.compile(r"/my/reservations/[0-9a-f-]+/ticket$"))
    ticket = eve.locator("[data-ticket]")
    await expect(ticket.locator(".ticket-code")).to_have_text(code)
    await expect(ticket).to_contain_text("A1, A3, B1, B3")
    await expect(ticket).to_contain_text("40.00 EUR")
    qr = ticket.locator("img[data-field=qr]")
    await expect(qr).to_be_visible()
    qr_box = await qr.bounding_box()
    assert qr_box and qr_box["width"] >= 250
    await eve.screenshot(path=str(ARTIFACTS / "ticket.png"), full_page=True)
    await eve.emulate_media(media="print")
    await expect(eve.locator(".site-header")).to_be_hidden()
    await expect(qr).to_be_visible()


# ---- the admin console ---------------------------------------------------------------------


async def test_an_admin_runs_the_cinema_from_the_console(browser, start_site, db):
    cinema = ZoneInfo("Europe/Berlin")  # times typed in the console are the cinema's
    base = await start_site(cinema_tz=cinema)
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    token = await register(base, email)
    await db.execute("UPDATE users SET role = 'admin' WHERE lower(email) = lower($1)", email)
    context = await browser.new_context(**DESKTOP)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())

    # Not logged in: the console says what to do and shows no data.
    await page.goto(f"{base}/admin/movies")
    await expect(page.get_by_role("link", name="Log in with an admin account")).to_be_visible()
    await page.get_by_role("link", name="Log in with an admin account").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base}/admin/movies")
    panel = page.locator("[data-panel]")
    # Signed in as an admin, the site's navigation leads here.
    await expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")
    ).to_be_visible()

    # Movies: add one; the same title again is warned about and needs a second press.
    form = panel.locator("form[data-duplicate-check]")
    await form.get_by_label("Title").fill("Heat")
    await form.get_by_label("Duration (minutes)").fill("170")
    await form.get_by_label("Genres").fill("Crime, Drama")
    await form.get_by_role("button", name="Add movie").click()
    await expect(page.locator("[data-messages]")).to_have_text("The movie is added.")
    await expect(panel.locator("[data-movie-title]")).to_have_text(["Heat"])
    form = panel.locator("form[data-duplicate-check]")
    await form.get_by_label("Title").fill("heat")
    await expect(form.locator("[data-duplicate-warning]")).to_contain_text("already exists")
    await form.get_by_label("Duration (minutes)").fill("100")
    await form.get_by_role("button", name="Add movie").click()
    await expect(page.locator("[data-messages]")).to_contain_text("press “Add movie” again")
    await expect(panel.locator("[data-movie-title]")).to_have_count(1)
    await form.get_by_role("button", name="Add movie").click()
    await expect(panel.locator("[data-movie-title]")).to_have_count(2)
    await expect(panel.locator(".badge", has_text="Duplicate title")).to_have_count(2)

    # A poster, uploaded from the row.
    # Exactly "Heat" (has_text="Heat" would match "heat" too, and both sort alike).
    title = page.locator("[data-movie-title]", has_text=re.compile(r"^Heat$"))
    row = panel.locator("tr", has=title).first
    await row.get_by_label(re.compile("^Poster for")).set_input_files(
        {"name": "heat.png", "mimeType": "image/png", "buffer": image_bytes(size=(60, 90))}
    )
    await row.get_by_role("button", name="Upload poster").click()
    await expect(page.locator("[data-messages]")).to_contain_text("poster of Heat is uploaded")
    poster = panel.locator("img.poster--thumb").first
    await expect(poster).to_be_visible()
    assert await poster.evaluate("image => image.complete && image.naturalWidth === 60")
    await page.screenshot(path=str(ARTIFACTS / "admin-movies.png"), full_page=True)

    # A theater, and its layout drawn with the aisle.
    await page.get_by_role("navigation", name="Admin").get_by_role("link", name="Theaters").click()
    await panel.get_by_label("Name").fill("Studio 9")
    await panel.get_by_label("Rows", exact=True).fill("3")
    await panel.get_by_label("Seats per row").fill("4")
    await panel.get_by_label(re.compile("^Aisles after")).fill("2")
    await panel.get_by_label(re.compile("^Rows of another type")).fill("C=vip")
    await panel.get_by_role("button", name="Add theater").click()
    await expect(page.locator("[data-messages]")).to_have_text("The theater is added.")
    await panel.get_by_role("link", name="See the layout of Studio 9").click()
    await expect(panel.locator("span.seat[data-seat-label]")).to_have_count(12)
    await expect(panel.locator(".hall-row .gap")).to_have_count(3)
    await expect(panel.locator("span.seat--vip")).to_have_count(4)
    await expect(panel).to_contain_text("12 seats in 3 rows")
    await page.screenshot(path=str(ARTIFACTS / "admin-theater.png"), full_page=True)

    # A showtime tomorrow at 20:00 cinema time; a moviegoer books; the bookings show it.
    await page.get_by_role("link", name="Showtimes").first.click()
    tomorrow = (dt.datetime.now(cinema) + dt.timedelta(days=1)).date()
    await panel.get_by_label("Movie").select_option(label="Heat (170 min)")
    await panel.get_by_label("Theater").select_option(label="Studio 9 (12 seats)")
    await panel.get_by_label(re.compile("^Starts")).fill(f"{tomorrow.isoformat()}T20:00")
    await panel.get_by_label(re.compile("^Price")).fill("9.50")
    await panel.get_by_role("button", name="Add showtime").click()
    await expect(page.locator("[data-messages]")).to_have_text("The showtime is added.")
    listed = panel.locator("tr[data-showtime-id]")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text("9.50 EUR")
    await expect(listed).to_contain_text("20:00")
    showtime_id = await listed.get_attribute("data-showtime-id")
    start = await db.fetchval(
        "SELECT start_time FROM showtimes WHERE id = $1", uuid.UUID(showtime_id)
    )
    assert start == dt.datetime(tomorrow.year, tomorrow.month, tomorrow.day, 20, tzinfo=cinema)
    guest_email = f"gus-{uuid.uuid4().hex[:6]}@example.com"
    guest = await register(base, guest_email)
    seats = await db.fetch(
        "SELECT id FROM seats WHERE theater_id = (SELECT theater_id FROM showtimes WHERE id = $1)"
        " AND row_label = 'B' AND seat_number IN (1, 2)",
        uuid.UUID(showtime_id),
    )
    seat_ids = [str(row["id"]) for row in seats]
    await api(
        base, "POST", f"/api/v1/showtimes/{showtime_id}/lock-seats", guest, {"seat_ids": seat_ids}
    )
    booked = await api(
        base,
        "POST",
        "/api/v1/reservations",
        guest,
        {"showtime_id": showtime_id, "seat_ids": seat_ids},
    )
    await listed.get_by_role("link", name="Bookings").click()
    bookings = panel.locator("table[data-bookings]")
    await expect(bookings).to_contain_text(guest_email)
    await expect(bookings).to_contain_text("B1, B2")
    await expect(bookings).to_contain_text(booked["ticket_code"])
    await expect(panel.locator('span.seat[data-seat-label][data-status="sold"]')).to_have_count(2)

    # Reports: tables, and a CSV download.
    await page.goto(
        f"{base}/admin/reports?start_date={tomorrow}&end_date={tomorrow}&group_by=movie"
    )
    revenue = panel.locator('table[data-report="revenue"]')
    await expect(revenue).to_contain_text("Heat")
    await expect(revenue.locator("tfoot")).to_contain_text("19.00")
    revenue_section = panel.locator("section", has=page.locator('table[data-report="revenue"]'))
    async with page.expect_download() as waiting:
        await revenue_section.get_by_role("link", name="Download CSV").click()
    download = await waiting.value
    assert download.suggested_filename.endswith(".csv")
    csv_text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    assert csv_text.splitlines()[0] == "key,id,tickets,revenue"
    assert "Heat" in csv_text
    await page.screenshot(path=str(ARTIFACTS / "admin-reports.png"), full_page=True)

    # A moviegoer is refused, and sees no admin data.
    other = await (await signed_in(browser, guest, guest_email, **DESKTOP)).new_page()
    await other.goto(f"{base}/admin/showtimes")
    await expect(other.locator("[data-messages]")).to_contain_text("not an admin")
    await expect(other.locator("[data-panel] table")).to_have_count(0)
    await expect(other.get_by_role("link", name="Admin", exact=True)).to_be_hidden()

    # Cancelling a showtime (after saying yes to the question) takes it off the list.
    await page.goto(f"{base}/admin/showtimes")
    await panel.locator("tr[data-showtime-id]").get_by_role("button", name="Cancel").click()
    await expect(page.locator("[data-messages]")).to_have_text("The showtime is cancelled.")
    await expect(page.locator("[data-messages]")).to_be_focused()
    await expect(panel.locator("tr[data-showtime-id]")).to_have_count(0)

    # On a phone the console's tables scroll inside their box; the page itself does not.
    phone = await (await signed_in(browser, token, email, **PHONE)).new_page()
    for section in ("showtimes", "movies", "reports"):
        await phone.goto(f"{base}/admin/{section}")
        await expect(phone.locator("[data-panel] table").first).to_be_visible()
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 360, section
    await context.close()
