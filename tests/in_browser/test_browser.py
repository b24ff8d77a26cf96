"""The seat-selection page in a real browser (Debian's Chromium driven by Playwright).

Two people, each in their own browser context (own localStorage, own WebSocket), watch one
showtime on a real listening server: what one does appears on the other's page within two
seconds; holds expire and leave on both pages; the booking shows on /my/reservations. The
seat map is kept as screenshots in tests/artifacts/ (desktop and phone width).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
from typing import Any

import aiohttp
import pytest

from tests.browser import ARTIFACTS, LIVE, PASSWORD, expect_status, log_in, register, seat
from tests.factories import Hall, create_hall
from tests.live_map import eventually

pytestmark = pytest.mark.browser

# tests.browser has skipped this module if Chromium is not there.
from playwright.async_api import WebSocketRoute, expect  # noqa: E402


async def hall_for_screenshots(db: Any) -> Hall:
    """8 rows of 12: aisles after seats 3 and 9, a walkway behind row D, premium rows E-F,
    VIP row H, two wheelchair spaces in row A."""
    hall = await create_hall(db, rows=8, seats_per_row=12, price="10.00")
    moves = [
        ("column_index", "seat_number > 3"),
        ("column_index", "seat_number > 9"),
        ("row_index", "row_label > 'D'"),
    ]
    for column, where in moves:
        for shift in (100, -99):  # two steps: (row, column) stays unique after each statement
            await db.execute(
                f"UPDATE seats SET {column} = {column} + $2 WHERE theater_id = $1 AND {where}",
                hall.theater_id,
                shift,
            )
    await db.execute(
        "UPDATE seats SET seat_type = CASE WHEN row_label IN ('E', 'F') THEN 'premium'"
        " WHEN row_label = 'H' THEN 'vip' ELSE 'accessible' END"
        " WHERE theater_id = $1 AND (row_label IN ('E', 'F', 'H') OR id = ANY($2::uuid[]))",
        hall.theater_id,
        [hall.seats["A1"], hall.seats["A12"]],
    )
    return hall


async def test_two_people_see_each_others_holds_and_sales_live(browser, start_site, db):
    base = await start_site()
    hall = await hall_for_screenshots(db)
    path = f"/showtimes/{hall.showtime_id}"
    alice_email, bob_email = (
        f"alice-{uuid.uuid4().hex[:6]}@example.com",
        f"bob-{uuid.uuid4().hex[:6]}@example.com",
    )
    await register(base, alice_email)
    await register(base, bob_email)
    alice_context = await browser.new_context(viewport={"width": 1280, "height": 900})
    bob_context = await browser.new_context(viewport={"width": 1280, "height": 900})

    # A wrong password is refused in words, and nothing is stored.
    wrong = await bob_context.new_page()
    await wrong.goto(f"{base}/login")
    await wrong.get_by_label("Email").fill(bob_email)
    await wrong.get_by_label("Password").fill("not the password")
    await wrong.get_by_role("button", name="Log in").click()
    await expect(wrong.locator("[data-form-status]")).to_contain_text("do not match")
    assert await wrong.evaluate("localStorage.length") == 0
    await wrong.close()

    alice = await log_in(alice_context, base, alice_email, path)
    bob = await log_in(bob_context, base, bob_email, path)
    await expect(alice.locator("[data-user-email]")).to_have_text(alice_email)

    # Alice picks C6: held for her at once, and Bob sees it held within two seconds.
    await alice.get_by_role(
        "button", name=re.compile(r"^Row C, seat 6, regular, 10\.00 EUR, available$")
    ).click()
    await expect_status(alice, hall, "C6", "held", mine=True)
    await expect(seat(alice, hall, "C6")).to_have_attribute("aria-pressed", "true")
    await expect_status(bob, hall, "C6", "held")
    await expect(seat(bob, hall, "C6")).to_have_attribute(
        "aria-label", "Row C, seat 6, regular, 10.00 EUR, held by someone else"
    )
    await expect(alice.locator("[data-countdown]")).to_contain_text(
        re.compile(r"held for (9|10):\d\d")
    )
    await expect(alice.locator("[data-selection-list]")).to_contain_text("C6 · 10.00 EUR")

    # Bob cannot have it, and is told so in words. (The seat is aria-disabled, which
    # Playwright treats as not clickable; a person can still click it.)
    await seat(bob, hall, "C6").click(force=True)
    await expect(bob.locator("[data-messages]")).to_contain_text("held by someone else")

    # Clicking her own seat again releases it.
    await seat(alice, hall, "C6").click()
    await expect_status(alice, hall, "C6", "available")
    await expect_status(bob, hall, "C6", "available")

    # Seats are buttons in the keyboard's reach: Alice takes C6 and C7 by keyboard.
    await seat(alice, hall, "C6").focus()
    await alice.keyboard.press("Enter")
    await expect_status(alice, hall, "C6", "held", mine=True)
    await alice.keyboard.press("ArrowRight")  # arrows move between seats as they sit
    await expect(seat(alice, hall, "C7")).to_be_focused()
    await alice.keyboard.press("ArrowDown")
    await expect(seat(alice, hall, "D7")).to_be_focused()
    await alice.keyboard.press("ArrowUp")
    await alice.keyboard.press("Space")
    await expect_status(alice, hall, "C7", "held", mine=True)
    await expect_status(bob, hall, "C7", "held")

    # She confirms: booked, with a ticket code; Bob sees both sold.
    confirm = alice.get_by_role("button", name=re.compile(r"^Confirm 2 seats · 20\.00 EUR$"))
    await confirm.click()
    await expect(alice.locator("[data-booked]")).to_be_visible()
    ticket_code = (await alice.locator("[data-ticket-code]").text_content() or "").strip()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", ticket_code)
    await expect_status(bob, hall, "C6", "sold")
    await expect_status(bob, hall, "C7", "sold")
    await expect(seat(bob, hall, "C7")).to_have_attribute(
        "aria-label", "Row C, seat 7, regular, 10.00 EUR, sold"
    )

    # Leaving the page keeps a held seat: the hold is Alice's, not the tab's (issue 29).
    await seat(alice, hall, "D5").click()
    await expect_status(bob, hall, "D5", "held")
    await alice.goto(f"{base}/my/reservations")
    await asyncio.sleep(0.5)
    await expect_status(bob, hall, "D5", "held")

    # The booking is on Alice's reservations page, with its code and QR code.
    card = alice.locator(".reservation-card", has_text=ticket_code)
    await expect(card).to_be_visible()
    await expect(card).to_contain_text("C6, C7")
    await expect(card).to_contain_text("20.00 EUR")
    await expect(
        card.get_by_role("button", name=re.compile("^Cancel the reservation"))
    ).to_be_visible()
    qr = card.locator("img[data-field=qr]")
    await expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    await expect(qr).to_have_attribute("alt", f"QR code of ticket {ticket_code}")
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")

    ARTIFACTS.mkdir(exist_ok=True)
    await alice.screenshot(path=str(ARTIFACTS / "my-reservations.png"), full_page=True)
    start = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", hall.showtime_id)
    await alice.goto(f"{base}/?date={start.date().isoformat()}")
    await expect(alice.locator(f'a[href="{path}"]')).to_be_visible()
    await alice.screenshot(path=str(ARTIFACTS / "programme.png"), full_page=True)

    # For the pictures: Alice holds F6 (Bob sees it held), Bob holds E8 and E9 himself.
    await alice.goto(f"{base}{path}")
    await seat(alice, hall, "F6").click()
    await expect_status(bob, hall, "F6", "held")
    await seat(bob, hall, "E8").click()
    await expect_status(bob, hall, "E8", "held", mine=True)
    await seat(bob, hall, "E9").click()
    await expect_status(bob, hall, "E9", "held", mine=True)
    await expect_status(alice, hall, "E9", "held")
    await bob.screenshot(path=str(ARTIFACTS / "seatmap.png"), full_page=True)

    # At phone width: no sideways scrolling of the page itself, the hall scrolls inside its
    # panel, and the booking controls come below the hall.
    phone = await browser.new_context(
        viewport={"width": 360, "height": 780}, is_mobile=True, has_touch=True
    )
    await phone.add_init_script(
        "localStorage.setItem('reservations.session', "
        + json.dumps(await bob.evaluate("localStorage.getItem('reservations.session')"))
        + ")"
    )
    small = await phone.new_page()
    await small.goto(f"{base}{path}")
    await expect(small.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    await expect_status(small, hall, "E8", "held", mine=True)
    assert await small.evaluate("document.documentElement.scrollWidth") <= 360
    assert await small.locator(".hall-scroll").evaluate(
        "hall => hall.scrollWidth > hall.clientWidth"
    )
    hall_box = await small.locator(".hall-panel").bounding_box()
    panel_box = await small.locator(".booking-panel").bounding_box()
    assert hall_box and panel_box and panel_box["y"] >= hall_box["y"] + hall_box["height"]
    await small.screenshot(path=str(ARTIFACTS / "seatmap-phone.png"), full_page=True)
    await phone.close()
    await alice_context.close()
    await bob_context.close()


async def test_an_expired_hold_frees_the_seat_on_both_pages(browser, start_site, db):
    base = await start_site(hold_ttl_seconds=2, sweep_interval_seconds=1)
    hall = await create_hall(db, rows=3, seats_per_row=6)
    path = f"/showtimes/{hall.showtime_id}"
    emails = [f"{name}-{uuid.uuid4().hex[:6]}@example.com" for name in ("ann", "ben")]
    await register(base, emails[1])
    ben = await log_in(await browser.new_context(), base, emails[1], path)

    # Someone not logged in is told, in words, how to pick seats.
    anonymous = await (await browser.new_context()).new_page()
    await anonymous.goto(f"{base}{path}")
    await expect(anonymous.locator("[data-connection]")).to_have_attribute(
        "data-connection", "live"
    )
    await seat(anonymous, hall, "B3").click()
    await expect(anonymous.locator("[data-messages]")).to_contain_text("Log in to pick seats")
    await expect(anonymous.locator("[data-login-hint]")).to_be_visible()
    await expect_status(anonymous, hall, "B3", "available")

    # Ann registers through the register page, which logs her in and brings her back.
    ann = await (await browser.new_context()).new_page()
    await ann.goto(f"{base}/register?next={path}")
    await ann.get_by_label("First name").fill("Ann")
    await ann.get_by_label("Email").fill(emails[0])
    await ann.get_by_label("Password").fill(PASSWORD)
    await ann.get_by_role("button", name="Create account").click()
    await ann.wait_for_url(f"{base}{path}")
    await expect(ann.locator("[data-user-email]")).to_have_text(emails[0])
    await expect(ann.locator("[data-connection]")).to_have_attribute("data-connection", "live")

    await seat(ann, hall, "B3").click()
    await expect_status(ann, hall, "B3", "held", mine=True)
    await expect_status(ben, hall, "B3", "held")
    # Two seconds of hold: the last-minute warning at once, then the seat is free for both.
    await expect(ann.locator("[data-countdown]")).to_have_attribute("data-warning", "true")
    freed_within = 2000 + LIVE  # the hold's two seconds, then the usual two
    await expect_status(ann, hall, "B3", "available", within_ms=freed_within)
    await expect_status(ben, hall, "B3", "available", within_ms=freed_within)
    await expect(ann.locator("[data-messages]")).to_contain_text("hold expired")
    await expect(ann.locator('[data-action="confirm"]')).to_be_disabled()

    # Ben can now take it.
    await seat(ben, hall, "B3").click()
    await expect_status(ben, hall, "B3", "held", mine=True)
    await expect_status(ann, hall, "B3", "held")
    await expect_status(anonymous, hall, "B3", "held")


async def test_the_page_resyncs_after_a_lost_message_and_reconnects_after_a_drop(
    browser, start_site, db
):
    base = await start_site()
    hall = await create_hall(db, rows=2, seats_per_row=6)
    path = f"/showtimes/{hall.showtime_id}"
    emails = [f"{name}-{uuid.uuid4().hex[:6]}@example.com" for name in ("cat", "dan")]
    cat_token = None
    for email in emails:
        token = await register(base, email)
        cat_token = cat_token or token

    # Dan's WebSocket goes through a proxy in the test that can lose a message or cut the line.
    sockets: list[WebSocketRoute] = []
    sent_by_page: list[str] = []
    snapshots_to_page = 0
    swallow_next_change = asyncio.Event()

    def proxy(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()
        sockets.append(page_side)

        def from_server(message: str | bytes) -> None:
            nonlocal snapshots_to_page
            if swallow_next_change.is_set() and '"type":"seats"' in str(message):
                swallow_next_change.clear()
                return
            snapshots_to_page += '"type":"snapshot"' in str(message)
            page_side.send(message)

        def from_page(message: str | bytes) -> None:
            sent_by_page.append(str(message))
            server_side.send(message)

        server_side.on_message(from_server)
        page_side.on_message(from_page)

    dan_context = await browser.new_context()
    await dan_context.route_web_socket(re.compile(r"/ws/showtimes/"), proxy)
    dan = await log_in(dan_context, base, emails[1], path)
    assert len(sockets) == 1

    async def hold_as_cat(*labels: str) -> None:
        async with aiohttp.ClientSession() as session:
            answer = await session.post(
                f"{base}/api/v1/showtimes/{hall.showtime_id}/lock-seats",
                json={"seat_ids": hall.ids(*labels)},
                headers={"Authorization": f"Bearer {cat_token}"},
            )
            assert answer.status == 201, await answer.text()

    async def lose_the_change_of(*labels: str) -> None:
        swallow_next_change.set()
        await hold_as_cat(*labels)
        for _ in range(200):  # up to 10 s: a loaded machine (four test workers) is slow
            if not swallow_next_change.is_set():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the change never reached the proxy")

    # Cat takes A2 and Dan's page never hears of it: Dan picks it, the service says it was
    # just taken, and the page says so in words and shows it held.
    await lose_the_change_of("A2")
    await expect(seat(dan, hall, "A2")).to_have_attribute("data-status", "available")
    await seat(dan, hall, "A2").click()
    await expect(dan.locator("[data-messages]")).to_contain_text(
        "Row A, seat 2 was just taken by someone else"
    )
    await expect_status(dan, hall, "A2", "held")
    # The page asked for a snapshot after that refusal: once it has come (the connection's
    # first and this one), a change lost from now on cannot be in it.
    assert {"type": "resync"} in [json.loads(message) for message in sent_by_page]
    await eventually(lambda: snapshots_to_page >= 2, within=10)

    # One change is lost on the way: the next one shows a gap in versions, so the page asks
    # for a fresh snapshot and ends up right about both seats.
    sent_by_page.clear()
    await lose_the_change_of("A3")
    await expect(seat(dan, hall, "A3")).to_have_attribute("data-status", "available")
    await hold_as_cat("A5")
    await expect_status(dan, hall, "A5", "held")
    await expect_status(dan, hall, "A3", "held")
    assert [json.loads(message) for message in sent_by_page] == [{"type": "resync"}]

    # The line drops: the page says so, reconnects by itself, and catches up on what
    # happened meanwhile.
    await sockets[0].close(code=1012, reason="test drop")
    await expect(dan.locator("[data-connection]")).not_to_have_attribute(
        "data-connection", "live", timeout=LIVE
    )
    await hold_as_cat("B5")
    await expect(dan.locator("[data-connection]")).to_have_attribute(
        "data-connection", "live", timeout=5000
    )
    assert len(sockets) == 2
    await expect_status(dan, hall, "B5", "held")
    await dan_context.close()


async def test_best_seats_and_the_stranded_seat_warning(browser, start_site, db):
    base = await start_site()
    hall = await create_hall(db, rows=3, seats_per_row=8, starts_in=dt.timedelta(days=2))
    path = f"/showtimes/{hall.showtime_id}"
    email = f"eve-{uuid.uuid4().hex[:6]}@example.com"
    await register(base, email)
    eve = await log_in(await browser.new_context(), base, email, path)

    # Best 3 seats: held at once, side by side in one row.
    await eve.get_by_label("Seats", exact=True).fill("3")
    await eve.get_by_role("button", name="Hold the best seats").click()
    mine = eve.locator('button.seat[data-mine="true"]')
    await expect(mine).to_have_count(3)
    rows = {await button.get_attribute("data-row") for button in await mine.all()}
    assert len(rows) == 1
    await expect(eve.locator("[data-messages]")).to_contain_text("We picked")
    await eve.get_by_role("button", name="Release my seats").click()
    await expect(mine).to_have_count(0)

    # A2 alone strands A1 between the wall and her seat: warned before she confirms.
    await seat(eve, hall, "A2").click()
    await expect_status(eve, hall, "A2", "held", mine=True)
    warning = eve.locator("[data-stranded-warning]")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("A1")
    # Taking A1 too leaves nothing stranded.
    await seat(eve, hall, "A1").click()
    await expect_status(eve, hall, "A1", "held", mine=True)
    await expect(warning).to_be_hidden()
    # Letting A1 go again strands it again: the page asks and warns once more.
    await seat(eve, hall, "A1").click()
    await expect_status(eve, hall, "A1", "available")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("A1")


async def test_a_showtime_cancelled_while_people_watch_says_so_on_every_page(
    browser, start_site, db
):
    """Issue 29 item 2: the live feed's `cancelled` message, not a map that stays clickable."""
    base = await start_site()
    hall = await create_hall(db, rows=2, seats_per_row=6, price="10.00")
    path = f"/showtimes/{hall.showtime_id}"
    alice_email, admin_email = (
        f"alice-{uuid.uuid4().hex[:6]}@example.com",
        f"boss-{uuid.uuid4().hex[:6]}@example.com",
    )
    await register(base, alice_email)
    await register(base, admin_email)
    await db.execute("UPDATE users SET role = 'admin' WHERE lower(email) = lower($1)", admin_email)
    alice = await log_in(await browser.new_context(), base, alice_email, path)
    anyone = await (await browser.new_context()).new_page()
    await anyone.goto(f"{base}{path}")
    await expect(anyone.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    await seat(alice, hall, "A3").click()
    await expect_status(alice, hall, "A3", "held", mine=True)
    await expect_status(anyone, hall, "A3", "held")

    async with aiohttp.ClientSession() as session:
        login = await session.post(
            f"{base}/api/v1/auth/login", json={"email": admin_email, "password": PASSWORD}
        )
        token = (await login.json())["access_token"]
        cancelled = await session.delete(
            f"{base}/api/v1/showtimes/{hall.showtime_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert cancelled.status == 204

    for page in (alice, anyone):
        notice = page.locator("[data-cancelled-notice]")
        await expect(notice).to_be_visible(timeout=LIVE)
        await expect(notice).to_contain_text("cancelled this showtime")
        await expect(notice.get_by_role("link", name="See what else is on")).to_have_attribute(
            "href", re.compile(r"^/\?date=")
        )
        await expect(seat(page, hall, "A1")).to_have_attribute("aria-disabled", "true")
        await expect(page.locator("[data-best-seats]")).to_be_hidden()
        await expect(page.locator("[data-connection]")).to_contain_text("cancelled")
        await seat(page, hall, "A1").click(force=True)
        await expect(page.locator("[data-messages]")).to_contain_text("was cancelled")
    await expect(alice.locator("[data-countdown]")).to_be_hidden()


async def test_a_hold_belongs_to_the_person_not_the_tab(browser, start_site, db):
    """Issue 29 item 1: reloading, leaving or closing one tab keeps the hold; every tab of the
    holder shows the same seats and the same countdown from the live feed."""
    base = await start_site()
    hall = await create_hall(db, rows=2, seats_per_row=6, price="10.00")
    path = f"/showtimes/{hall.showtime_id}"
    email = f"carol-{uuid.uuid4().hex[:6]}@example.com"
    await register(base, email)
    context = await browser.new_context()
    first = await log_in(context, base, email, path)
    second = await context.new_page()
    await second.goto(f"{base}{path}")
    await expect(second.locator("[data-connection]")).to_have_attribute("data-connection", "live")

    await seat(first, hall, "B3").click()
    await expect_status(first, hall, "B3", "held", mine=True)
    # The other tab shows it as hers, with a countdown, not as someone else's.
    await expect_status(second, hall, "B3", "held", mine=True)
    await expect(second.locator("[data-countdown]")).to_contain_text(
        re.compile(r"held for (9|10):\d\d")
    )

    # Closing the second tab and reloading the first keep the hold, and show the time left.
    await second.close()
    await first.reload()
    await expect(first.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    await expect_status(first, hall, "B3", "held", mine=True)
    await expect(first.locator("[data-countdown]")).to_contain_text(
        re.compile(r"held for (9|10):\d\d")
    )
    # Leaving for another page and coming back: still held.
    await first.goto(f"{base}/my/reservations")
    await first.go_back()
    await expect_status(first, hall, "B3", "held", mine=True)
    held = await db.fetchval(
        "SELECT count(*) FROM seat_claims WHERE seat_id = $1 AND hold_id IS NOT NULL",
        hall.seats["B3"],
    )
    assert held == 1
