"""The seat page on a phone (issue 29 item 6): a 390x844 touch screen in Debian's Chromium,
judged by element geometry, never by eye. Feedback shows where the eye is, the row letters never
cover a seat's number, and the legend leaves the hall's first row on the first screen."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.browser import expect_status, register, seat
from tests.factories import create_drawn_hall, create_hall, hold_for_someone_else

pytestmark = pytest.mark.browser

# tests.browser has skipped this module if Chromium is not there.
from playwright.async_api import Browser, BrowserContext, Page, expect  # noqa: E402

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SCREEN_HEIGHT = 844


async def signed_in_phone(browser: Browser, base: str) -> BrowserContext:
    """A phone whose localStorage holds a fresh user's session, as the login page leaves it."""
    email = f"phone-{uuid.uuid4().hex[:8]}@example.com"
    token = await register(base, email)
    context = await browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    stored = {"token": token, "email": email, "expiresAt": (time.time() + 3000) * 1000}
    await context.add_init_script(
        f"localStorage.setItem('reservations.session', {json.dumps(json.dumps(stored))})"
    )
    return context


async def open_seat_page(context: BrowserContext, base: str, showtime_id: Any) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/showtimes/{showtime_id}")
    await expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    return page


async def on_screen(page: Page, text: str) -> None:
    """Some element saying `text` is visible and lies wholly inside the screen."""
    said = page.locator("[data-messages]", has_text=text)
    await expect(said).to_be_visible()
    box = await said.bounding_box()
    assert box is not None
    assert 0 <= box["y"] and box["y"] + box["height"] <= SCREEN_HEIGHT, box
    assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["viewport"]["width"], box


async def test_on_a_phone_feedback_appears_where_the_eye_is(browser, start_site, db):
    base = await start_site(hold_ttl_seconds=3)
    hall = await create_hall(db, rows=10, seats_per_row=14, price="10.00")
    await hold_for_someone_else(db, hall, ["H7"])
    context = await signed_in_phone(browser, base)
    page = await open_seat_page(context, base, hall.showtime_id)

    # A tap on a seat someone else holds: the answer is on the screen the finger is on.
    await seat(page, hall, "H7").scroll_into_view_if_needed()
    await seat(page, hall, "H7").tap(force=True)
    await on_screen(page, "held by someone else")

    # A hold of three seconds runs out while the person looks at the hall.
    await seat(page, hall, "H9").tap()
    await expect_status(page, hall, "H9", "held", mine=True)
    await seat(page, hall, "H9").scroll_into_view_if_needed()
    await on_screen(page, "Less than a minute left")
    # The toast sits above the booking bar (countdown and Confirm), never over it.
    toast = await page.locator("[data-messages]").bounding_box()
    bar = await page.locator("[data-booking-bar]").bounding_box()
    assert toast and bar and toast["y"] + toast["height"] <= bar["y"], (toast, bar)
    await expect_status(page, hall, "H9", "available", within_ms=6000)
    await on_screen(page, "hold expired")
    await context.close()


ROW_LETTERS_AND_SEATS = """
(scroller) => {
  const clip = scroller.getBoundingClientRect();
  const area = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left))
    * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const letters = [...document.querySelectorAll(".row-label")].map((l) => l.getBoundingClientRect());
  const problems = [];
  let whole = 0;
  for (const button of document.querySelectorAll("button.seat[data-seat-id]")) {
    const box = button.getBoundingClientRect();
    const shown = {
      left: Math.max(box.left, clip.left), right: Math.min(box.right, clip.right),
      top: Math.max(box.top, clip.top), bottom: Math.min(box.bottom, clip.bottom),
    };
    if (shown.right <= shown.left || shown.bottom <= shown.top) continue; // scrolled away
    const label = button.dataset.label;
    for (const letter of letters) {
      if (area(shown, letter) > 0) problems.push(`${label} is under a row letter`);
    }
    if (box.left < clip.left || box.right > clip.right) continue; // cut by the scroller's edge
    whole += 1;
    // Every corner of the number's text is the seat itself, not something drawn over it.
    const range = document.createRange();
    range.selectNodeContents(button);
    const text = range.getBoundingClientRect();
    for (const [x, y] of [[text.left + 1, text.top + 1], [text.right - 1, text.top + 1],
                          [text.left + 1, text.bottom - 1], [text.right - 1, text.bottom - 1]]) {
      const hit = document.elementFromPoint(x, y);
      if (!hit || !button.contains(hit)) {
        problems.push(`${label}'s number is covered at ${Math.round(x)},${Math.round(y)}`);
        break;
      }
    }
  }
  return { problems, whole };
}
"""


# Rows A to D of 14 seats; of 20 (a wide hall: smaller seats); and of 16 with an aisle and a
# cross walkway between rows B and D.
HALLS = {
    "14 seats": "\n".join(["." * 14] * 4),
    "20 seats": "\n".join(["." * 20] * 4),
    "walkway and aisle": "\n".join(
        ["." * 8 + " " + "." * 8] * 2 + [""] + ["." * 8 + " " + "." * 8] * 2
    ),
}


@pytest.mark.parametrize("picture", HALLS.values(), ids=HALLS.keys())
async def test_on_a_phone_row_letters_never_cover_seat_numbers(browser, start_site, db, picture):
    base = await start_site()
    hall = await create_drawn_hall(db, picture)
    context = await signed_in_phone(browser, base)
    page = await open_seat_page(context, base, hall.showtime_id)
    scroller = page.locator(".hall-scroll")
    await scroller.scroll_into_view_if_needed()
    widest = await scroller.evaluate("hall => hall.scrollWidth - hall.clientWidth")
    assert widest > 0, "the hall fits the phone: nothing scrolls under the row letters"
    for left in sorted({0, 13, 37, widest // 3, widest // 2, widest - 21, widest}):
        await scroller.evaluate("(hall, left) => { hall.scrollLeft = left; }", left)
        found = await scroller.evaluate(ROW_LETTERS_AND_SEATS)
        assert found["problems"] == [], (left, found["problems"])
        assert found["whole"] >= 4, (left, found)
    # The letters still say which row a seat is in, on both sides, level with their row.
    letters = page.locator(".row-label")
    assert await letters.count() == 2 * 4
    for letter in await letters.all():
        await expect(letter).to_be_visible()
        text = (await letter.text_content() or "").strip()
        row = await page.locator(f'.hall-row[aria-label="Row {text}"]').bounding_box()
        box = await letter.bounding_box()
        assert row and box
        assert abs((row["y"] + row["height"] / 2) - (box["y"] + box["height"] / 2)) <= 2, text
    await context.close()


async def test_on_a_phone_the_legend_leaves_the_first_row_on_the_first_screen(
    browser, start_site, db
):
    base = await start_site()
    hall = await create_hall(db, rows=6, seats_per_row=12, price="10.00")
    for row, seat_type in (("D", "accessible"), ("E", "vip"), ("F", "premium")):
        await db.execute(
            "UPDATE seats SET seat_type = $2 WHERE theater_id = $1 AND row_label = $3",
            hall.theater_id,
            seat_type,
            row,
        )
    context = await signed_in_phone(browser, base)
    page = await open_seat_page(context, base, hall.showtime_id)
    assert await page.evaluate("scrollY") == 0
    # Closed, the legend is one line (open, it took 264 px of the 844), and the hall's first
    # row is on the first screen.
    legend_box = await page.locator(".legend").bounding_box()
    assert legend_box and legend_box["height"] <= 60, legend_box
    first_row = await seat(page, hall, "A1").bounding_box()
    assert first_row and first_row["y"] + first_row["height"] <= SCREEN_HEIGHT, first_row

    # The legend is one tap away and says what each look and each seat type means.
    legend = page.locator(".legend")
    await expect(legend.get_by_text("Held by someone else")).to_be_hidden()
    await legend.get_by_text("What the seats mean").tap()
    await expect(legend.get_by_text("Held by someone else")).to_be_visible()
    await expect(legend.locator('[data-seat-type="premium"]')).to_be_visible()
    await context.close()
