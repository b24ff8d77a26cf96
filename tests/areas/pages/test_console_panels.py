"""The console's panels that manage (issue 29 item 4): showtimes filtered and paged, one movie or
showtime to edit, a theater to rename or delete, users paged and logged out, and a showtime's
bookings found by ticket code and downloaded as a guest list. What a person does with them in
Chromium is in tests/in_browser/test_browser_console.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid

import pytest

from tests.api import book
from tests.factories import create_hall, create_showtime, insert_movie, insert_showtime
from tests.html_pages import Page


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def panel(client, admin, path: str, status: int = 200) -> str:
    response = await client.get(path, headers=admin.headers)
    assert response.status == status, await response.text()
    return await response.text()


def listed_showtimes(html: str) -> list[str]:
    return [
        row["data-showtime-id"] or ""
        for row in Page(html).find_all("tr", **{"data-showtime-id": True})
    ]


# ---- showtimes: filtered, a page at a time ---------------------------------------------------


async def test_showtimes_are_listed_a_page_at_a_time(client, admin, db):
    hall = await create_hall(db, rows=1, seats_per_row=2, duration_minutes=60)
    for day in range(2, 31):  # 30 showtimes in all
        await create_showtime(db, hall, dt.timedelta(days=day), 60)
    first = await panel(client, admin, "/admin/panels/showtimes")
    assert len(listed_showtimes(first)) == 25
    assert "1 to 25 of 30 showtimes" in text_of(first)
    (following,) = Page(first).find_all("a", rel="next")
    assert following["href"] == "/admin/showtimes?page=2"
    second = await panel(client, admin, "/admin/panels/showtimes?page=2")
    assert len(listed_showtimes(second)) == 5
    assert "26 to 30 of 30" in text_of(second)
    assert not set(listed_showtimes(first)) & set(listed_showtimes(second))


async def test_showtimes_are_filtered_by_day_movie_and_theater(client, admin, db):
    hall = await create_hall(db, rows=1, seats_per_row=2, starts_in=dt.timedelta(days=3))
    other = await create_hall(db, rows=1, seats_per_row=2, starts_in=dt.timedelta(days=5))
    start = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", hall.showtime_id)
    day = start.astimezone(dt.UTC).date().isoformat()  # the tests' cinema is in UTC

    by_day = await panel(client, admin, f"/admin/panels/showtimes?date={day}")
    assert listed_showtimes(by_day) == [str(hall.showtime_id)]
    by_movie = await panel(client, admin, f"/admin/panels/showtimes?movie_id={other.movie_id}")
    assert listed_showtimes(by_movie) == [str(other.showtime_id)]
    by_theater = await panel(
        client, admin, f"/admin/panels/showtimes?theater_id={hall.theater_id}&movie_id="
    )
    assert listed_showtimes(by_theater) == [str(hall.showtime_id)]
    nothing = await panel(
        client, admin, f"/admin/panels/showtimes?date={day}&theater_id={other.theater_id}"
    )
    assert listed_showtimes(nothing) == []
    assert "No showtime matching the filters" in text_of(nothing)
    # The filter form shows what is chosen.
    selected = Page(by_movie).find_all("option", value=str(other.movie_id))
    assert "selected" in selected[-1]


@pytest.mark.parametrize(
    ("query", "field"),
    [("date=tomorrow", "date"), ("movie_id=42", "movie_id"), ("page=0", "page")],
)
async def test_a_bad_showtime_filter_is_a_422_naming_it(client, admin, query, field):
    response = await client.get(f"/admin/panels/showtimes?{query}", headers=admin.headers)
    assert response.status == 422
    assert field in (await response.json())["error"]["details"]["fields"]


# ---- one movie, one showtime, one theater ----------------------------------------------------


async def test_the_movie_panel_has_every_field_to_edit_and_its_poster(client, admin, db):
    movie_id = await insert_movie(db, "Heat", 170)
    html = await panel(client, admin, f"/admin/panels/movies/{movie_id}")
    page = Page(html)
    (form,) = page.find_all("form", **{"data-movie-form": True})
    assert form["data-api"] == f"/api/v1/movies/{movie_id}" and form["data-method"] == "PUT"
    names = {field["name"] for tag in ("input", "textarea") for field in page.find_all(tag)}
    assert {"title", "duration_minutes", "genres", "release_date", "description"} <= names
    (poster,) = page.find_all("input", type="file")
    assert poster["data-poster"] == f"/api/v1/movies/{movie_id}/poster"
    assert not page.find_all("input", maxlength=True)  # nothing is cut as it is typed
    listed = await panel(client, admin, "/admin/panels/movies")
    assert Page(listed).find_all("a", href=f"/admin/movies/{movie_id}")
    assert (
        await client.get(f"/admin/panels/movies/{uuid.uuid4()}", headers=admin.headers)
    ).status == 404


async def test_the_showtime_panel_moves_and_reprices_until_it_is_booked(client, admin, user, db):
    hall = await create_hall(db, rows=1, seats_per_row=4, price="9.50")
    html = await panel(client, admin, f"/admin/panels/showtimes/{hall.showtime_id}")
    page = Page(html)
    (form,) = page.find_all("form", **{"data-showtime-form": True})
    assert form["data-method"] == "PUT"
    (start,) = page.find_all("input", name="start_time")
    stored = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", hall.showtime_id)
    assert start["value"] == stored.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    (price,) = page.find_all("input", name="price")
    assert price["value"] == "9.50" and "pattern" not in price
    await book(client, user, hall.showtime_id, hall.ids("A1"))
    booked = await panel(client, admin, f"/admin/panels/showtimes/{hall.showtime_id}")
    assert not Page(booked).find_all("input", name="start_time")
    assert "1 confirmed booking, so it cannot be moved" in text_of(booked)


async def test_the_theater_panel_offers_delete_only_to_a_theater_never_used(client, admin, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    used = await panel(client, admin, f"/admin/panels/theaters/{hall.theater_id}")
    assert Page(used).find_all("form", **{"data-api": f"/api/v1/theaters/{hall.theater_id}"})
    assert not Page(used).find_all("button", **{"data-api-delete": True})
    assert "1 showtime took place or are planned here" in text_of(used)
    await db.execute("DELETE FROM showtimes WHERE id = $1", hall.showtime_id)
    unused = await panel(client, admin, f"/admin/panels/theaters/{hall.theater_id}")
    (delete,) = Page(unused).find_all("button", **{"data-api-delete": True})
    assert delete["data-api-delete"] == f"/api/v1/theaters/{hall.theater_id}"
    assert delete["data-done-href"] == "/admin/theaters"


async def test_the_console_names_accessible_seats_as_the_public_does(client, admin, db):
    hall = await create_hall(db, rows=1, seats_per_row=2, seat_type="accessible")
    layout = await panel(client, admin, f"/admin/panels/theaters/{hall.theater_id}")
    assert "2 wheelchair space" in text_of(layout)
    (seat, _) = Page(layout).find_all("span", **{"data-seat-label": True})
    assert seat["aria-label"] == "A1, Wheelchair space"
    theaters = Page(await panel(client, admin, "/admin/panels/theaters"))
    assert [option for option in theaters.find_all("option", value="accessible")]
    html = await panel(client, admin, "/admin/panels/theaters")
    assert '<option value="accessible">Wheelchair space</option>' in html


# ---- users ----------------------------------------------------------------------------------


async def test_users_are_listed_a_page_at_a_time_each_with_log_out_everywhere(
    client, admin, make_account
):
    for number in range(55):
        await make_account("user", f"guest-{number:02d}@example.com")
    first = await panel(client, admin, "/admin/panels/users?q=guest-")
    rows = Page(first).find_all("tr", **{"data-user-id": True})
    assert len(rows) == 50
    assert "55 users found, 1 to 50 shown" in text_of(first)
    (following,) = Page(first).find_all("a", rel="next")
    assert following["href"] == "/admin/users?q=guest-&page=2"
    second = await panel(client, admin, "/admin/panels/users?q=guest-&page=2")
    assert len(Page(second).find_all("tr", **{"data-user-id": True})) == 5
    buttons = Page(second).find_all("button", **{"data-api-action": True})
    assert all(button["data-api-action"].endswith("/revoke-sessions") for button in buttons)


async def test_an_email_search_longer_than_an_email_is_refused_not_cut(client, admin):
    response = await client.get("/admin/panels/users?q=" + "a" * 255, headers=admin.headers)
    assert response.status == 422
    assert (await response.json())["error"]["details"]["fields"]["q"] == [
        "An email has at most 254 characters."
    ]


# ---- bookings: search, print, CSV ------------------------------------------------------------


async def test_bookings_are_found_by_a_piece_of_the_ticket_code(client, admin, make_account, db):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    ann, bob = await make_account("user"), await make_account("user")
    anns = await book(client, ann, hall.showtime_id, hall.ids("A1"))
    await book(client, bob, hall.showtime_id, hall.ids("A3", "A4"))
    piece = anns["ticket_code"].replace("-", "")[2:9].lower()
    html = await panel(
        client, admin, f"/admin/panels/showtimes/{hall.showtime_id}/bookings?q={piece}"
    )
    table = html[html.index("data-bookings") :]
    assert ann.email in table and bob.email not in table
    # The totals stay those of the whole showtime.
    assert "2 confirmed bookings, 3 seats sold" in text_of(html)
    (download,) = Page(html).find_all("a", **{"data-csv": True})
    assert download["href"] == f"/admin/panels/showtimes/{hall.showtime_id}/guests.csv?q={piece}"
    assert Page(html).find_all("button", **{"data-print": True})
    none = await panel(client, admin, f"/admin/panels/showtimes/{hall.showtime_id}/bookings?q=zzzz")
    assert "No booking has a ticket code containing “zzzz”" in text_of(none)


async def test_the_guest_list_downloads_as_csv_for_admins_only(client, admin, make_account, db):
    hall = await create_hall(db, rows=1, seats_per_row=4, price="8.00")
    guest = await make_account("user", "=cmd@example.com")  # a formula, if a sheet ran it
    booked = await book(client, guest, hall.showtime_id, hall.ids("A2", "A3"))
    path = f"/admin/panels/showtimes/{hall.showtime_id}/guests.csv"
    response = await client.get(path, headers=admin.headers)
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="guests-')
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert rows == [
        {
            "ticket_code": booked["ticket_code"],
            "status": "confirmed",
            "email": "'=cmd@example.com",
            "name": "",
            "seats": "A2, A3",
            "seat_count": "2",
            "total_price": "16.00",
            "booked_at": rows[0]["booked_at"],
            "cancelled_at": "",
        }
    ]
    assert (await client.get(path)).status == 401
    assert (await client.get(path, headers=guest.headers)).status == 403


async def test_a_past_showtime_is_listed_with_past_ones_only(client, admin, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    past = await insert_showtime(
        db, hall.movie_id, hall.theater_id, start, start + dt.timedelta(hours=2), "10.00"
    )
    upcoming = await panel(client, admin, "/admin/panels/showtimes")
    assert str(past) not in listed_showtimes(upcoming)
    everything = await panel(client, admin, "/admin/panels/showtimes?include_past=true")
    assert str(past) in listed_showtimes(everything)


async def test_an_outbox_search_longer_than_an_address_is_refused_not_cut(client, admin):
    response = await client.get("/admin/panels/emails?to=" + "a" * 255, headers=admin.headers)
    assert response.status == 422
    assert (await response.json())["error"]["details"]["fields"]["to"] == [
        "Use at most 254 characters."
    ]
