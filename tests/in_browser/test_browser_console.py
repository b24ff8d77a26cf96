"""The admin console that manages, in Debian's Chromium (issue 29 items 4 to 7): movies and
showtimes edited, theaters renamed and deleted, users found and logged out, showtimes filtered
and paged, a showtime's guest list found, printed and downloaded; form errors said in words in
the page's banner; "Log out" whole on a phone."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect  # noqa: E402

from tests.browser import ARTIFACTS, register
from tests.factories import create_hall, create_showtime
from tests.images import image_bytes

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


async def console(browser: Browser, base: str, db: Any, **options: Any) -> tuple[Page, str]:
    """A page of a new browser context signed in as a new admin (as the login page leaves
    it); the admin's token."""
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    token = await register(base, email)
    await db.execute("UPDATE users SET role = 'admin' WHERE lower(email) = lower($1)", email)
    context = await browser.new_context(**(options or DESKTOP))
    context.set_default_timeout(10_000)
    stored = {
        "token": token,
        "email": email,
        "role": "admin",
        "expiresAt": (time.time() + 3000) * 1000,
    }
    await context.add_init_script(
        f"localStorage.setItem('reservations.session', {json.dumps(json.dumps(stored))})"
    )
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page, token


async def call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        answer = await session.request(
            method, f"{base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        data = await answer.json() if answer.status != 204 else None
        return answer.status, data


def banner(page: Page) -> Any:
    return page.locator("[data-messages]")


# ---- item 4: what the console manages ---------------------------------------------------------


async def test_an_admin_edits_every_field_of_a_movie_and_its_poster_in_one_form(
    browser, start_site, db
):
    base = await start_site()
    page, token = await console(browser, base, db)
    _, movie = await call(
        base,
        "POST",
        "/api/v1/movies",
        token,
        {
            "title": "Haet",
            "genres": ["Crime"],
            "duration_minutes": 100,
            "release_date": "1995-01-01",
        },
    )
    await page.goto(f"{base}/admin/movies")
    await page.get_by_role("link", name="Edit Haet").click()
    await page.wait_for_url(f"{base}/admin/movies/{movie['id']}")
    form = page.locator("form[data-movie-form]")
    await form.get_by_label("Title").fill("Heat")
    await form.get_by_label("Duration (minutes)").fill("170")
    await form.get_by_label("Genres").fill("Crime, Drama, Thriller")
    await form.get_by_label("Release date").fill("1995-12-15")
    await form.get_by_label("Description").fill("A thief and a detective.")
    await form.get_by_label("New poster").set_input_files(
        {"name": "heat.png", "mimeType": "image/png", "buffer": image_bytes(size=(60, 90))}
    )
    await form.get_by_role("button", name="Save movie").click()
    await expect(banner(page)).to_have_text("Haet is saved.")
    _, saved = await call(base, "GET", f"/api/v1/movies/{movie['id']}", token)
    assert saved["title"] == "Heat"
    assert saved["duration_minutes"] == 170
    assert saved["genres"] == ["Crime", "Drama", "Thriller"]
    assert saved["release_date"] == "1995-12-15"
    assert saved["description"] == "A thief and a detective."
    assert saved["poster_url"]
    await expect(page.locator("form[data-movie-form] img.poster--thumb")).to_be_visible()

    # Emptied optional fields are emptied, not kept.
    form = page.locator("form[data-movie-form]")
    await form.get_by_label("Release date").fill("")
    await form.get_by_label("Description").fill("")
    await form.get_by_role("button", name="Save movie").click()
    await expect(banner(page)).to_have_text("Heat is saved.")
    _, cleared = await call(base, "GET", f"/api/v1/movies/{movie['id']}", token)
    assert cleared["release_date"] is None and cleared["description"] == ""
    await page.context.close()


async def test_an_admin_moves_a_showtime_and_types_its_price_with_a_comma(browser, start_site, db):
    base = await start_site()
    page, _ = await console(browser, base, db)
    hall = await create_hall(db, rows=1, seats_per_row=2, starts_in=dt.timedelta(days=2))
    await page.goto(f"{base}/admin/showtimes")
    await (
        page.locator(f'tr[data-showtime-id="{hall.showtime_id}"]')
        .get_by_role("link", name="Edit")
        .click()
    )
    form = page.locator("form[data-showtime-form]")
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date()
    await form.get_by_label(re.compile("^Starts")).fill(f"{day.isoformat()}T21:15")
    await form.get_by_label(re.compile("^Price")).fill("12,50")
    await form.get_by_role("button", name="Save showtime").click()
    await expect(banner(page)).to_have_text("The showtime is saved.")
    row = await db.fetchrow(
        "SELECT start_time, price FROM showtimes WHERE id = $1", hall.showtime_id
    )
    assert row["start_time"] == dt.datetime.combine(day, dt.time(21, 15), tzinfo=dt.UTC)
    assert str(row["price"]) == "12.50"
    await page.context.close()


async def test_an_admin_renames_a_theater_and_deletes_one_added_by_mistake(browser, start_site, db):
    base = await start_site()
    page, token = await console(browser, base, db)
    hall = await create_hall(db, rows=1, seats_per_row=2)
    _, typo = await call(
        base,
        "POST",
        "/api/v1/theaters",
        token,
        {"name": "Stduio 2", "rows": [{"label": "A", "seats": 3}]},
    )
    await page.goto(f"{base}/admin/theaters/{hall.theater_id}")
    await expect(page.get_by_role("button", name="Delete theater")).to_have_count(0)
    await page.get_by_role("textbox", name=re.compile("^Name")).fill("Big Hall")
    await page.get_by_role("button", name="Rename").click()
    await expect(banner(page)).to_have_text("The theater is renamed.")
    await expect(page.locator("[data-panel] h2").first).to_have_text("Big Hall")

    await page.goto(f"{base}/admin/theaters/{typo['id']}")
    await page.get_by_role("button", name="Delete theater").click()
    await page.wait_for_url(f"{base}/admin/theaters")
    await expect(page.locator("tr[data-theater-id]")).to_have_count(1)
    await expect(page.locator("tr[data-theater-id]")).to_contain_text("Big Hall")
    await page.context.close()


async def test_an_admin_finds_a_user_sets_the_role_and_logs_them_out(browser, start_site, db):
    base = await start_site()
    page, _ = await console(browser, base, db)
    email = f"usha-{uuid.uuid4().hex[:6]}@example.com"
    their_token = await register(base, email)
    await page.goto(f"{base}/admin/users")
    await page.get_by_label("Email contains").fill("usha-")
    await page.get_by_role("button", name="Search").click()
    row = page.locator("tr[data-user-id]")
    await expect(row).to_have_count(1)
    await row.get_by_label(f"Role of {email}").select_option("usher")
    await row.get_by_role("button", name="Set role").click()
    await expect(banner(page)).to_have_text(f"{email} has a new role.")
    assert (await call(base, "GET", "/api/v1/auth/me", their_token))[1]["role"] == "usher"
    await (
        page.locator("tr[data-user-id]")
        .get_by_role("button", name=f"Log {email} out everywhere")
        .click()
    )
    await expect(banner(page)).to_have_text(f"{email} is logged out everywhere.")
    assert (await call(base, "GET", "/api/v1/auth/me", their_token))[0] == 401
    await page.context.close()


async def test_an_admin_filters_showtimes_and_pages_through_them(browser, start_site, db):
    base = await start_site()
    page, _ = await console(browser, base, db)
    hall = await create_hall(db, rows=1, seats_per_row=2, duration_minutes=60)
    for day in range(2, 30):
        await create_showtime(db, hall, dt.timedelta(days=day), 60)
    other = await create_hall(db, rows=1, seats_per_row=2, starts_in=dt.timedelta(days=4))
    movie = await db.fetchval("SELECT title FROM movies WHERE id = $1", other.movie_id)
    await page.goto(f"{base}/admin/showtimes")
    rows = page.locator("tr[data-showtime-id]")
    await expect(rows).to_have_count(25)
    await expect(page.locator("[data-showtimes-summary]")).to_have_text("1 to 25 of 30 showtimes.")
    await page.get_by_role("link", name="Next →").click()
    await expect(rows).to_have_count(5)
    filters = page.locator("form[data-showtime-filters]")
    await filters.get_by_label("Title").select_option(label=movie)
    await filters.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows).to_have_attribute("data-showtime-id", str(other.showtime_id))
    start = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", other.showtime_id)
    filters = page.locator("form[data-showtime-filters]")
    await filters.get_by_label("Title").select_option(label="Any")
    await filters.get_by_label("Day").fill(start.date().isoformat())
    await filters.get_by_label("Auditorium").select_option(
        label=await db.fetchval("SELECT name FROM theaters WHERE id = $1", hall.theater_id)
    )
    await filters.get_by_role("button", name="Filter").click()
    await expect(page.locator("[data-showtimes-summary]")).to_contain_text("1 to 1 of 1 showtime")
    assert await rows.get_attribute("data-showtime-id") != str(other.showtime_id)
    await page.context.close()


async def test_an_admin_finds_a_ticket_prints_and_downloads_the_guest_list(browser, start_site, db):
    base = await start_site()
    page, _ = await console(browser, base, db)
    hall = await create_hall(db, rows=1, seats_per_row=4, price="8.00")
    tickets = []
    for label in ("A1", "A3"):
        email = f"guest-{uuid.uuid4().hex[:6]}@example.com"
        guest = await register(base, email)
        await call(
            base,
            "POST",
            f"/api/v1/showtimes/{hall.showtime_id}/lock-seats",
            guest,
            {"seat_ids": hall.ids(label)},
        )
        status, booked = await call(
            base,
            "POST",
            "/api/v1/reservations",
            guest,
            {"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids(label)},
        )
        assert status == 201
        tickets.append((email, booked["ticket_code"]))
    await page.goto(f"{base}/admin/showtimes/{hall.showtime_id}/bookings")
    table = page.locator("table[data-bookings]")
    await expect(table.locator("tbody tr")).to_have_count(2)
    await page.get_by_label("Ticket code").fill(tickets[1][1][:9].lower())
    await page.get_by_role("button", name="Find").click()
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table).to_contain_text(tickets[1][0])

    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Download guest list (CSV)").click()
    download = await waiting.value
    assert download.suggested_filename.startswith("guests-")
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    assert text.splitlines()[0].startswith("ticket_code,status,email")
    assert tickets[1][1] in text and tickets[0][1] not in text

    await page.get_by_role("link", name="Show every booking").click()
    await expect(table.locator("tbody tr")).to_have_count(2)
    await page.emulate_media(media="print")
    await expect(table).to_be_visible()
    await expect(page.locator(".admin-nav")).to_be_hidden()
    await expect(page.locator(".admin-hall")).to_be_hidden()
    await expect(page.get_by_role("button", name="Print guest list")).to_be_hidden()
    await page.screenshot(path=str(ARTIFACTS / "admin-guest-list-print.png"), full_page=True)
    await page.context.close()


# ---- item 5: errors in words, in the page's banner -------------------------------------------


async def test_form_errors_name_the_field_and_the_limit_in_the_banner(browser, start_site, db):
    base = await start_site()
    page, _ = await console(browser, base, db)
    await page.goto(f"{base}/admin/theaters")
    panel = page.locator("[data-panel]")
    await panel.get_by_label("Name").fill("Studio 5")
    await panel.get_by_label("Rows", exact=True).fill("3")
    await panel.get_by_label("Seats per row").fill("4")
    await panel.get_by_label(re.compile("^Aisles after")).fill("20")
    await panel.get_by_role("button", name="Add theater").click()
    await expect(banner(page)).to_contain_text(
        "Rows A, B, C aisles after: Aisles go after a seat number from 1 to 3."
    )
    await expect(banner(page)).not_to_contain_text("[object Object]")

    await panel.get_by_label(re.compile("^Aisles after")).fill("2")
    await panel.get_by_label(re.compile("^Rows of another type")).fill("Z=vip")
    await panel.get_by_role("button", name="Add theater").click()
    await expect(banner(page)).to_contain_text("No row is labelled Z; the rows are A, B, C.")
    await expect(panel.locator("tbody tr[data-theater-id]")).to_have_count(0)

    # The public name of a seat type works too.
    await panel.get_by_label(re.compile("^Rows of another type")).fill("A=Wheelchair space")
    await panel.get_by_role("button", name="Add theater").click()
    await expect(banner(page)).to_have_text("The theater is added.")
    theater_id = await page.locator("tr[data-theater-id]").get_attribute("data-theater-id")
    types = await db.fetch(
        "SELECT DISTINCT seat_type FROM seats WHERE theater_id = $1 AND row_label = 'A'",
        uuid.UUID(theater_id),
    )
    assert [row["seat_type"] for row in types] == ["accessible"]

    # A field the browser checks (empty, required) is said in the banner, replacing the news.
    await panel.get_by_label("Name").fill("")
    await panel.get_by_role("button", name="Add theater").click()
    await expect(banner(page)).to_contain_text("Please check the form. Name:")
    await expect(banner(page)).not_to_contain_text("is added")
    await expect(panel.get_by_label("Name")).to_be_focused()

    # Movies: a year out of range, text past its limit (kept whole, never cut).
    await page.goto(f"{base}/admin/movies")
    form = page.locator("form[data-duplicate-check]")
    long_title = "T" * 205
    await form.get_by_label("Title").fill(long_title)
    await form.get_by_label("Duration (minutes)").fill("100")
    await form.get_by_label("Release date").fill("1800-05-01")
    await form.get_by_role("button", name="Add movie").click()
    await expect(banner(page)).to_contain_text("Title: Use 1 to 200 characters.")
    await expect(banner(page)).to_contain_text("Release date: Use a year from 1900 to 2999.")
    assert await form.get_by_label("Title").input_value() == long_title

    # Showtimes: a price out of range, said with its limits; "12,50" is 12.50.
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await page.goto(f"{base}/admin/showtimes/{hall.showtime_id}")
    price = page.get_by_label(re.compile("^Price"))
    await price.fill("0")
    await page.get_by_role("button", name="Save showtime").click()
    await expect(banner(page)).to_contain_text("Price (EUR): A ticket costs from 0.01 to 1000.00")
    await price.fill("1000,01")
    await page.get_by_role("button", name="Save showtime").click()
    await expect(banner(page)).to_contain_text("A ticket costs from 0.01 to 1000.00")
    await page.context.close()


# ---- item 6: the phone -----------------------------------------------------------------------


CLIPPED = """(element) => {
  const box = element.getBoundingClientRect();
  const clippers = [];
  for (let node = element.parentElement; node; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (style.overflowX !== "visible" || style.overflowY !== "visible") {
      const outer = node.getBoundingClientRect();
      const outside = box.left < outer.left - 0.5 || box.right > outer.right + 0.5
        || box.top < outer.top - 0.5 || box.bottom > outer.bottom + 0.5;
      if (outside) {
        clippers.push(node.className || node.tagName);
      }
    }
  }
  return {
    box: { left: box.left, right: box.right, top: box.top, bottom: box.bottom },
    viewport: { width: window.innerWidth, height: window.innerHeight },
    scrollWidth: element.scrollWidth,
    clientWidth: element.clientWidth,
    clippers,
  };
}"""


@pytest.mark.parametrize("section", ["showtimes", "users"])
async def test_log_out_is_whole_on_a_phone(browser, start_site, db, section):
    base = await start_site()
    page, _ = await console(browser, base, db, **PHONE)
    await page.goto(f"{base}/admin/{section}")
    await expect(page.locator("[data-panel] table").first).to_be_visible()
    log_out = page.get_by_role("button", name="Log out")
    await expect(log_out).to_be_visible()
    geometry = await log_out.evaluate(CLIPPED)
    await page.screenshot(path=str(ARTIFACTS / f"admin-phone-{section}.png"))
    box, viewport = geometry["box"], geometry["viewport"]
    assert 0 <= box["left"] and box["right"] <= viewport["width"], geometry
    assert 0 <= box["top"] and box["bottom"] <= viewport["height"], geometry
    assert geometry["scrollWidth"] <= geometry["clientWidth"], geometry
    assert not geometry["clippers"], geometry
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.context.close()


# ---- item 7: the overlap names the other showtime -------------------------------------------


async def test_the_overlap_message_names_the_other_showtime(browser, start_site, db):
    base = await start_site()
    page, _ = await console(browser, base, db)
    hall = await create_hall(db, rows=1, seats_per_row=2, starts_in=dt.timedelta(days=2))
    other = await create_showtime(db, hall, dt.timedelta(days=4))
    first = await db.fetchrow(
        "SELECT s.start_time, s.end_time, m.title FROM showtimes s JOIN movies m ON m.id = s.movie_id"
        " WHERE s.id = $1",
        hall.showtime_id,
    )
    await page.goto(f"{base}/admin/showtimes/{other}")
    moved = first["start_time"] + dt.timedelta(minutes=30)
    await page.get_by_label(re.compile("^Starts")).fill(moved.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Save showtime").click()
    await expect(banner(page)).to_contain_text(f"“{first['title']}” plays from")
    await expect(banner(page)).to_contain_text(
        f"{first['start_time']:%H:%M} to {first['end_time']:%H:%M}"
    )
    await expect(banner(page)).to_contain_text(str(hall.showtime_id))
    await page.context.close()
