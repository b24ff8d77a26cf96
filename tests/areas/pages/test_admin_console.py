"""The admin console's server side: page shells carry no data, panels answer admins only, and
each panel shows what the catalog, booking and reports services hold. What a person does with
the console in a browser is in tests/in_browser/test_browser_pages.py."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from tests.api import book
from tests.factories import create_hall, insert_movie
from tests.html_pages import Page

PANELS = [
    "/admin/panels/showtimes",
    "/admin/panels/movies",
    "/admin/panels/theaters",
    "/admin/panels/reports",
    "/admin/panels/users",
]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    "path", ["/admin/showtimes", "/admin/movies", "/admin/theaters", "/admin/reports"]
)
async def test_admin_pages_are_shells_that_name_their_panel(client, db, path):
    await create_hall(db, rows=1, seats_per_row=2)  # data exists, and the shell shows none
    response = await client.get(path)
    assert response.status == 200
    html = await response.text()
    assert "Movie " not in html
    (section,) = Page(html).find_all("section", **{"data-admin": True})
    assert section["data-panel-url"] == path.replace("/admin/", "/admin/panels/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert not Page(html).inline_code


async def test_admin_goes_to_the_showtimes(client):
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/admin/showtimes"


@pytest.mark.parametrize("path", PANELS)
async def test_panels_refuse_anyone_but_an_admin(client, user, path):
    anonymous = await client.get(path)
    assert anonymous.status == 401
    assert (await anonymous.json())["error"]["code"] == "unauthorized"
    not_admin = await client.get(path, headers=user.headers)
    assert not_admin.status == 403
    assert (await not_admin.json())["error"]["code"] == "forbidden"


@pytest.mark.parametrize("path", PANELS)
async def test_panels_answer_an_admin_with_html_that_is_not_cached(client, admin, path):
    response = await client.get(path, headers=admin.headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert not Page(await response.text()).inline_code


async def test_the_movies_panel_marks_duplicate_titles(client, admin, db):
    for _ in range(2):
        await insert_movie(db, "Heat", 170)
    await insert_movie(db, "Alien", 117)
    html = await (await client.get("/admin/panels/movies", headers=admin.headers)).text()
    rows = re.findall(r"<tr data-movie-id=.*?</tr>", html, re.S)
    marked = {
        re.search(r"data-movie-title>([^<]+)<", row).group(1): "Duplicate title" in row
        for row in rows
    }  # type: ignore[union-attr]
    assert marked == {"Alien": False, "Heat": True}
    assert all("/poster" in row for row in rows)  # each row can take a poster upload


async def test_the_theater_panel_draws_the_layout(client, admin, db):
    hall = await create_hall(db, rows=3, seats_per_row=4)
    await db.execute("UPDATE seats SET seat_type = 'vip' WHERE id = $1", hall.seats["C4"])
    html = await (
        await client.get(f"/admin/panels/theaters/{hall.theater_id}", headers=admin.headers)
    ).text()
    page = Page(html)
    seats = page.find_all("span", **{"data-seat-label": True})
    assert sorted(seat["data-seat-label"] or "" for seat in seats) == sorted(hall.seats)
    assert page.find_all("span", **{"data-seat-label": "C4"})[0]["class"] == "seat seat--vip"
    assert "12 seats in 3 rows" in text_of(html)
    missing = await client.get(f"/admin/panels/theaters/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status == 404


async def test_the_bookings_panel_lists_who_booked_what(client, admin, user, db):
    hall = await create_hall(db, rows=2, seats_per_row=4, price="8.00")
    ticket = (await book(client, user, hall.showtime_id, hall.ids("B2", "B3")))["ticket_code"]
    html = await (
        await client.get(
            f"/admin/panels/showtimes/{hall.showtime_id}/bookings", headers=admin.headers
        )
    ).text()
    text = text_of(html)
    assert user.email in text and "B2, B3" in text and ticket in text
    assert "16.00 EUR" in text
    assert "1 confirmed booking, 2 seats sold, 16.00 EUR" in text
    sold = Page(html).find_all("span", **{"data-status": "sold", "data-seat-label": True})
    assert sorted(seat["data-seat-label"] or "" for seat in sold) == ["B2", "B3"]


async def test_the_reports_panel_shows_tables_and_csv_links(client, admin, db):
    hall = await create_hall(db, rows=1, seats_per_row=2, starts_in=dt.timedelta(days=1))
    start = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", hall.showtime_id)
    day = start.date().isoformat()
    html = await (
        await client.get(
            f"/admin/panels/reports?start_date={day}&end_date={day}&group_by=movie",
            headers=admin.headers,
        )
    ).text()
    page = Page(html)
    assert {table["data-report"] for table in page.find_all("table", **{"data-report": True})} == {
        "revenue",
        "popular-movies",
        "capacity",
    }
    links = {link["href"] for link in page.find_all("a", **{"data-csv": True})}
    assert (
        f"/api/v1/admin/reports/revenue?start_date={day}&amp;end_date={day}&amp;group_by=movie".replace(
            "&amp;", "&"
        )
        in links
    )
    assert "Revenue by movie" in text_of(html)
    bad = await client.get("/admin/panels/reports?start_date=yesterday", headers=admin.headers)
    assert bad.status == 422
    backwards = await client.get(
        "/admin/panels/reports?start_date=2026-02-01&end_date=2026-01-01", headers=admin.headers
    )
    assert (await backwards.json())["error"]["code"] == "invalid_date_range"


async def test_the_console_is_not_in_the_api_docs(client):
    spec = await (await client.get("/api/docs/swagger.json")).json()
    assert not [path for path in spec["paths"] if path.startswith("/admin")]
