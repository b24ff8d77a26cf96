"""Web pages: what each page shows, that no page carries inline script or style, the 404 and
bad-query pages, and the ticket QR code endpoint."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ElementTree
from zoneinfo import ZoneInfo

import pytest

from reservations.app import create_app
from tests.api import book
from tests.factories import create_hall, create_showtime
from tests.html_pages import Page


async def page(client, path: str, status: int = 200) -> tuple[str, Page]:
    response = await client.get(path)
    text = await response.text()
    assert response.status == status, text[:500]
    assert response.content_type == "text/html"
    return text, Page(text)


def day_of(hall_start: dt.datetime) -> str:
    return hall_start.date().isoformat()


async def add_genre(db, movie_id: uuid.UUID, name: str) -> None:
    genre_id = await db.fetchval(
        "INSERT INTO genres (name) VALUES ($1) ON CONFLICT (lower(name)) DO UPDATE "
        "SET name = genres.name RETURNING id",
        name,
    )
    await db.execute(
        "INSERT INTO movie_genres (movie_id, genre_id) VALUES ($1, $2)", movie_id, genre_id
    )


async def start_of(db, showtime_id: uuid.UUID) -> dt.datetime:
    return await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", showtime_id)


# ---- the programme ------------------------------------------------------------------------


async def test_programme_shows_the_days_movies_with_posters_and_showtime_links(client, db):
    hall = await create_hall(db, rows=2, seats_per_row=4)
    await add_genre(db, hall.movie_id, "Drama")
    await db.execute("UPDATE movies SET poster_file = 'abc123.png' WHERE id = $1", hall.movie_id)
    title = await db.fetchval("SELECT title FROM movies WHERE id = $1", hall.movie_id)
    start = await start_of(db, hall.showtime_id)

    text, html = await page(client, f"/?date={day_of(start)}")

    assert title in text
    assert html.find_all("a", href=f"/showtimes/{hall.showtime_id}")
    assert html.find_all("img", alt=f"Poster of {title}")[0]["src"].endswith("abc123.png")
    assert start.strftime("%H:%M") in text
    assert "8 free" in text
    assert html.find_all("option", value="Drama")
    days = html.find_all("a", **{"aria-current": "date"})
    assert days and days[0]["href"] == f"/?date={day_of(start)}"
    assert len(re.findall(r'href="/\?date=', text)) == 7


async def test_programme_days_and_times_are_the_cinemas(
    aiohttp_client, make_settings, database, db
):
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: most showtimes fall on another day there
    client = await aiohttp_client(create_app(make_settings(cinema_tz=zone), database))
    hall = await create_hall(db, rows=1, seats_per_row=2)
    local_start = (await start_of(db, hall.showtime_id)).astimezone(zone)

    text, html = await page(client, f"/?date={local_start.date().isoformat()}")

    assert html.find_all("a", href=f"/showtimes/{hall.showtime_id}")
    assert local_start.strftime("%H:%M") in text
    assert "Pacific/Kiritimati" in text
    _, other_day = await page(client, f"/?date={(local_start + dt.timedelta(days=1)).date()}")
    assert not other_day.find_all("a", href=f"/showtimes/{hall.showtime_id}")


async def test_programme_filters_by_genre_in_any_case(client, db):
    drama = await create_hall(db, rows=1, seats_per_row=2)
    comedy = await create_hall(db, rows=1, seats_per_row=2)
    await add_genre(db, drama.movie_id, "Drama")
    await add_genre(db, comedy.movie_id, "Comedy")
    start = await start_of(db, drama.showtime_id)
    comedy_start = await start_of(db, comedy.showtime_id)
    assert day_of(start) == day_of(comedy_start)

    _, html = await page(client, f"/?date={day_of(start)}&genre=dRAMA")

    assert html.find_all("a", href=f"/showtimes/{drama.showtime_id}")
    assert not html.find_all("a", href=f"/showtimes/{comedy.showtime_id}")
    assert html.find_all("option", value="Drama", selected=True)


async def test_programme_of_a_day_without_showtimes_says_so(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    start = await start_of(db, hall.showtime_id)
    other_day = (start + dt.timedelta(days=2)).date().isoformat()

    text, html = await page(client, f"/?date={other_day}")

    assert "Nothing is showing" in text
    assert not html.find_all("a", href=f"/showtimes/{hall.showtime_id}")


async def test_unknown_genre_is_a_friendly_notice(client, db):
    await create_hall(db, rows=1, seats_per_row=2)
    text, _ = await page(client, "/?genre=Opera")
    assert "We have no genre called “Opera”" in text


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("date=tomorrow", "Dates look like"),
        ("date=2026-02-30", "no such day"),
        ("date=1999-01-01", "next 7 days"),
        ("date=2026-1-1", "Dates look like"),
        ("genre=" + "x" * 51, "not a genre"),
        ("genre=%00drama", "not a genre"),
    ],
)
async def test_bad_programme_query_is_a_friendly_page_not_a_500(client, query, words):
    text, html = await page(client, f"/?{query}", status=400)
    assert words in text
    assert html.find_all("a", href="/")


# ---- the seat map page --------------------------------------------------------------------


async def test_showtime_page_draws_the_hall_with_statuses_types_and_prices(client, db, user):
    hall = await create_hall(db, rows=3, seats_per_row=6, price="10.00")
    # An aisle after seat 3 of every row, a premium seat and an accessible one.
    for shift in (100, -99):  # two steps: (row, column) stays unique after each statement
        await db.execute(
            "UPDATE seats SET column_index = column_index + $2"
            " WHERE theater_id = $1 AND seat_number > 3",
            hall.theater_id,
            shift,
        )
    await db.execute("UPDATE seats SET seat_type = 'premium' WHERE id = $1", hall.seats["C2"])
    await db.execute("UPDATE seats SET seat_type = 'accessible' WHERE id = $1", hall.seats["A1"])
    await book(client, user, hall.showtime_id, hall.ids("B1"))
    held = await client.post(
        f"/api/v1/showtimes/{hall.showtime_id}/lock-seats",
        json={"seat_ids": hall.ids("B2")},
        headers=user.headers,
    )
    assert held.status == 201

    text, html = await page(client, f"/showtimes/{hall.showtime_id}")

    # Prices carry the cinema's currency (CURRENCY, EUR by default).
    assert (
        html.seat(hall.seats["C2"])["aria-label"] == "Row C, seat 2, premium, 12.50 EUR, available"
    )
    assert (
        html.seat(hall.seats["A1"])["aria-label"]
        == "Row A, seat 1, accessible, 10.00 EUR, available"
    )
    sold, taken = html.seat(hall.seats["B1"]), html.seat(hall.seats["B2"])
    assert sold["data-status"] == "sold" and sold["aria-label"].endswith("10.00 EUR, sold")
    assert taken["data-status"] == "held" and taken["aria-label"].endswith("held by someone else")
    assert sold["aria-disabled"] == "true"
    assert html.seat(hall.seats["C2"]).get("aria-disabled") is None
    # Seats are real buttons (focusable), one per seat, rows from the screen backwards.
    seat_buttons = [
        attrs for tag, attrs in html.elements if tag == "button" and attrs.get("data-seat-id")
    ]
    assert len(seat_buttons) == 18
    assert all(attrs.get("type") == "button" and "tabindex" not in attrs for attrs in seat_buttons)
    assert (
        text.index('aria-label="Row A"')
        < text.index('aria-label="Row B"')
        < text.index('aria-label="Row C"')
    )
    assert text.index("Screen") < text.index('aria-label="Row A"')
    # The aisle: a gap between seats 3 and 4 of each row.
    row_a = text[text.index('aria-label="Row A"') : text.index('aria-label="Row B"')]
    assert re.search(r'data-number="3".*?</button>\s*<span class="gap"', row_a, re.S)
    # Legend: statuses in words, the hall's seat types with their prices.
    for words in ("Available", "Held by someone else", "Held by you", "Sold"):
        assert words in text
    legend = {
        attrs["data-seat-type"] for attrs in html.find_all("li") if attrs.get("data-seat-type")
    }
    assert legend == {"regular", "premium", "accessible"}
    assert "12.50" in text
    assert "16 of 18 seats available" in re.sub(r"<[^>]+>", "", text)
    # Where the script tells what happens, for screen readers too.
    assert html.find_all("div", **{"data-messages": True, "aria-live": "polite"})


async def test_showtime_page_offers_best_seats_when_the_endpoint_exists(client, db, app):
    hall = await create_hall(db, rows=2, seats_per_row=4)
    _, html = await page(client, f"/showtimes/{hall.showtime_id}")
    exists = any(
        resource.canonical == "/api/v1/showtimes/{id}/best-available"
        for resource in app.router.resources()
    )
    assert bool(html.find_all("form", **{"data-best-seats": True})) == exists


async def test_started_showtime_page_says_booking_is_closed(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=3, starts_in=dt.timedelta(days=3))
    started = await create_showtime(db, hall, starts_in=dt.timedelta(minutes=-10))
    text, html = await page(client, f"/showtimes/{started}")
    assert "already started" in text
    assert html.find_all("section", **{"data-started": "true"})


@pytest.mark.parametrize(
    "path", ["/showtimes/not-a-uuid", "/showtimes/6c1f8a52-9d3e-4b7a-8f21-3a5e0c9d7b14"]
)
async def test_unknown_showtime_is_a_404_page(client, path):
    text, html = await page(client, path, status=404)
    assert "Not found" in text
    assert html.find_all("a", href="/")


async def test_cancelled_showtime_is_a_404_page(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await db.execute("UPDATE showtimes SET cancelled_at = now() WHERE id = $1", hall.showtime_id)
    text, _ = await page(client, f"/showtimes/{hall.showtime_id}", status=404)
    assert "cancelled" in text


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("path", ["/no-such-page", "/showtimes", "/my/nothing/here"])
async def test_an_unknown_address_is_an_html_404_page_for_browsers(client, path):
    response = await client.get(path, headers={"Accept": BROWSER_ACCEPT})
    text = await response.text()
    assert response.status == 404
    assert response.content_type == "text/html"
    assert "There is no page at this address" in text
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert Page(text).find_all("a", href="/")


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/api/v1/no-such-thing", BROWSER_ACCEPT),  # the API is JSON, whoever asks
        ("/no-such-page", "application/json"),
        ("/no-such-page", "*/*"),
    ],
)
async def test_an_unknown_address_stays_json_for_api_clients(client, path, accept):
    response = await client.get(path, headers={"Accept": accept})
    assert response.status == 404
    assert response.content_type == "application/json"
    assert (await response.json())["error"]["code"] == "not_found"


async def test_pages_show_prices_in_the_currency_setting(
    aiohttp_client, make_settings, database, db
):
    client = await aiohttp_client(create_app(make_settings(currency="GBP"), database))
    hall = await create_hall(db, rows=1, seats_per_row=2, price="9.50")
    text, html = await page(client, f"/showtimes/{hall.showtime_id}")
    assert (
        html.seat(hall.seats["A1"])["aria-label"] == "Row A, seat 1, regular, 9.50 GBP, available"
    )
    assert "9.50 GBP" in re.sub(r"<[^>]+>", "", text)  # the legend
    assert html.find_all("section", **{"data-currency": "GBP"})
    assert html.find_all("body", **{"data-currency": "GBP"})


def test_the_currency_setting_is_an_iso_code():
    from reservations.settings import Settings, SettingsError

    assert Settings.from_env({"CURRENCY": "usd"}).currency == "USD"
    assert Settings.from_env({}).currency == "EUR"
    for bad in ("EURO", "€", "U$D", "12"):
        with pytest.raises(SettingsError, match="CURRENCY"):
            Settings.from_env({"CURRENCY": bad})


async def test_the_ticket_page_is_a_printable_shell_for_the_owner(client):
    reservation_id = uuid.uuid4()
    text, html = await page(client, f"/my/reservations/{reservation_id}/ticket")
    (section,) = html.find_all("section", **{"data-ticket": True})
    assert section["data-reservation-id"] == str(reservation_id)
    assert any(
        (attrs.get("src") or "").startswith("/static/ticket.js")
        for attrs in html.find_all("script")
    )
    assert not html.inline_code
    text, _ = await page(client, "/my/reservations/not-an-id/ticket", status=404)
    assert "no reservation" in text


# ---- the account pages --------------------------------------------------------------------


async def test_login_and_register_pages_have_their_forms(client):
    _, login = await page(client, "/login")
    assert login.find_all("form", id="login-form")
    assert login.find_all("input", name="email") and login.find_all("input", name="password")
    _, register = await page(client, "/register")
    assert register.find_all("form", id="register-form")
    assert register.find_all("input", name="password", autocomplete="new-password")


async def test_forms_posted_without_javascript_explain_instead_of_failing(client):
    response = await client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status == 200
    assert "needs JavaScript" in await response.text()


async def test_my_reservations_is_a_shell_for_the_script(client):
    _, html = await page(client, "/my/reservations")
    assert html.find_all("section", **{"data-my-reservations": True})
    assert html.find_all("template", id="reservation-template")
    scripts = html.find_all("script")
    assert scripts and all(attrs.get("src") for attrs in scripts)


# ---- no inline script or style, and the CSP that forbids it --------------------------------


async def test_no_page_carries_inline_script_or_style(client, db):
    hall = await create_hall(db, rows=2, seats_per_row=3)
    start = await start_of(db, hall.showtime_id)
    paths = [
        "/",
        f"/?date={day_of(start)}",
        f"/showtimes/{hall.showtime_id}",
        "/login",
        "/register",
        "/my/reservations",
        "/scan",
        f"/showtimes/{uuid.uuid4()}",
        "/?date=nonsense",
    ]
    scripts_seen = set()
    for path in paths:
        response = await client.get(path)
        assert response.content_type == "text/html", path
        html = Page(await response.text())
        assert html.inline_code == [], path
        for tag, attrs in html.elements:
            handlers = [name for name in attrs if name.startswith("on")]
            assert handlers == [], f"{path}: <{tag}> has {handlers}"
            assert "style" not in attrs, f"{path}: <{tag}> has a style attribute"
            assert tag != "style", path
            if tag == "script":
                assert attrs.get("src", "").startswith("/static/"), f"{path}: {attrs}"
                scripts_seen.add(attrs["src"])
            if tag == "a":
                assert not (attrs.get("href") or "").lower().startswith("javascript:"), path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
    # Every script the pages name is really served, as JavaScript.
    for src in scripts_seen:
        served = await client.get(src)
        assert served.status == 200, src
        assert served.content_type in ("application/javascript", "text/javascript"), src
    assert {src.split("?")[0] for src in scripts_seen} >= {
        "/static/app.js",
        "/static/seatmap.js",
        "/static/auth.js",
        "/static/reservations.js",
    }


async def test_stylesheet_is_served_and_named_by_its_content(client):
    _, html = await page(client, "/login")
    (link,) = html.find_all("link", rel="stylesheet")
    assert re.fullmatch(r"/static/style\.css\?v=[0-9a-f]{12}", link["href"])
    served = await client.get(link["href"])
    assert served.status == 200 and served.content_type == "text/css"


# ---- the ticket's QR code -----------------------------------------------------------------


async def test_ticket_svg_is_a_qr_code_of_the_ticket_for_its_owner(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A2"))

    response = await client.get(
        f"/api/v1/reservations/{reservation['id']}/ticket.svg", headers=user.headers
    )

    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    svg = ElementTree.fromstring(await response.read())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert (
        svg.findtext("{http://www.w3.org/2000/svg}title") == f"Ticket {reservation['ticket_code']}"
    )
    path = svg.find(".//{http://www.w3.org/2000/svg}path[@class='qrline']")
    assert path is not None and len(path.get("d", "")) > 100  # the modules, drawn


async def test_ticket_svg_differs_per_ticket(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    first = await book(client, user, hall.showtime_id, hall.ids("A1"))
    second = await book(client, user, hall.showtime_id, hall.ids("A3"))
    drawn = []
    for reservation in (first, second):
        response = await client.get(
            f"/api/v1/reservations/{reservation['id']}/ticket.svg", headers=user.headers
        )
        drawn.append(await response.read())
    assert drawn[0] != drawn[1]


async def test_ticket_svg_is_404_for_another_user_and_401_without_a_token(
    client, db, user, make_account, admin
):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    stranger = await make_account()
    path = f"/api/v1/reservations/{reservation['id']}/ticket.svg"

    other = await client.get(path, headers=stranger.headers)
    assert other.status == 404
    assert (await other.json())["error"]["code"] == "reservation_not_found"
    anonymous = await client.get(path)
    assert anonymous.status == 401
    as_admin = await client.get(path, headers=admin.headers)
    assert as_admin.status == 200
    missing = await client.get(
        f"/api/v1/reservations/{uuid.uuid4()}/ticket.svg", headers=user.headers
    )
    assert missing.status == 404


async def test_ticket_svg_is_in_the_api_docs(client):
    spec = await (await client.get("/api/docs/swagger.json")).json()
    assert "/api/v1/reservations/{id}/ticket.svg" in spec["paths"]
