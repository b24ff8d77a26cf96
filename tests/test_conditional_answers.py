"""The seat map on the wire: compressed once per version, and answered 304 while unchanged."""

from __future__ import annotations

import asyncio
import gzip
import re
from typing import Any

import aiohttp
import brotli
import orjson

from reservations import representations
from reservations.app import create_app
from reservations.booking.changes import HELD, SOLD
from reservations.context import SEAT_MAPS
from tests.api import API, book, hold_seats, in_future, release
from tests.api import create_showtime as api_create_showtime
from tests.factories import book_directly, create_hall, create_user, hold_directly
from tests.live_map import change_seats
from tests.statements import listening, named, pool_statements

KIB = 1024


async def get_raw(client: Any, path: str, headers: dict[str, str] | None = None) -> Any:
    """GET `path` as it comes over the wire: the response (read) and its undecoded body."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(client.make_url(path), headers=headers or {}) as response:
            body = await response.read()
            return response, body


def seats_path(showtime_id: Any) -> str:
    return f"{API}/showtimes/{showtime_id}/seats"


def decoded(response: Any, body: bytes) -> bytes:
    coding = response.headers.get("Content-Encoding")
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "br":
        return brotli.decompress(body)
    assert coding is None, coding
    return body


async def etag_of(client: Any, showtime_id: Any, headers: dict[str, str] | None = None) -> str:
    response, _ = await get_raw(client, seats_path(showtime_id), headers)
    assert response.status == 200
    return response.headers["ETag"]


# -- compressed once per version -------------------------------------------------------------


async def test_each_coding_decodes_to_exactly_the_uncompressed_answer(client, db, user):
    hall = await create_hall(db, rows=3, seats_per_row=8)
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1", "A2"))
    await listening(client)
    path = seats_path(hall.showtime_id)
    plain, plain_body = await get_raw(client, path, {"Accept-Encoding": "identity"})
    assert plain.status == 200 and "Content-Encoding" not in plain.headers
    assert orjson.loads(plain_body)["available_seats"] == 22
    for accept, coding in [
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("*", "br"),
        ("gzip;q=0, br;q=0", None),
        ("deflate", None),
        ("", None),
    ]:
        response, body = await get_raw(client, path, {"Accept-Encoding": accept})
        assert response.status == 200
        assert response.headers.get("Content-Encoding") == coding, accept
        assert response.headers["Vary"] == "Accept-Encoding"
        assert response.headers["ETag"] == plain.headers["ETag"]
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert decoded(response, body) == plain_body, accept


async def test_a_map_is_compressed_once_per_version_never_per_request(client, db, monkeypatch):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    await listening(client)
    made: list[str] = []
    for coding, encode in list(representations.ENCODERS.items()):

        def counted(body: bytes, coding: str = coding, encode: Any = encode) -> bytes:
            made.append(coding)
            return encode(body)

        monkeypatch.setitem(representations.ENCODERS, coding, counted)
    path = seats_path(hall.showtime_id)
    for _ in range(10):
        for accept in ("gzip", "br", "identity"):
            response, _ = await get_raw(client, path, {"Accept-Encoding": accept})
            assert response.status == 200
    assert sorted(made) == ["br", "gzip"]
    # A new version: compressed once more, per coding asked for.
    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], SOLD)])
    for _ in range(20):
        response, body = await get_raw(client, path, {"Accept-Encoding": "gzip"})
        if orjson.loads(gzip.decompress(body))["available_seats"] == 9:
            break
        await asyncio.sleep(0.02)
    for _ in range(10):
        await get_raw(client, path, {"Accept-Encoding": "gzip"})
    assert sorted(made) == ["br", "gzip", "gzip"]


async def test_a_300_seat_map_is_at_most_8_kib_on_the_wire(client, db, user):
    hall = await create_hall(db, rows=15, seats_per_row=20)
    labels = list(hall.seats)
    await book_directly(db, user.id, hall.showtime_id, [hall.seats[label] for label in labels[::3]])
    other = await create_user(db, email="other@example.com")
    await hold_directly(db, other, hall.showtime_id, [hall.seats[label] for label in labels[1::6]])
    path = seats_path(hall.showtime_id)
    plain, plain_body = await get_raw(client, path, {"Accept-Encoding": "identity"})
    assert len(orjson.loads(plain_body)["seats"]) == 300
    browser, body = await get_raw(client, path, {"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert browser.headers["Content-Encoding"] == "br"
    assert len(body) <= 8 * KIB, f"{len(body)} bytes (uncompressed {len(plain_body)})"
    print(f"300 seats: {len(plain_body)} bytes, br {len(body)}", end=", ")
    zipped, zipped_body = await get_raw(client, path, {"Accept-Encoding": "gzip"})
    assert len(zipped_body) <= 8 * KIB, f"gzip: {len(zipped_body)} bytes"
    print(f"gzip {len(zipped_body)}")


# -- conditional ----------------------------------------------------------------------------


async def test_if_none_match_with_the_current_tag_answers_304_without_a_query(client, db):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    await listening(client)
    path = seats_path(hall.showtime_id)
    first, _ = await get_raw(client, path, {"Accept-Encoding": "gzip"})
    etag = first.headers["ETag"]
    assert re.fullmatch(r'W/"0-[A-Za-z0-9_-]+"', etag), etag
    assert first.headers["Cache-Control"] == "no-cache"
    with pool_statements(client.app) as statements:
        for sent in (etag, f'"other", {etag}', "*", etag.removeprefix("W/")):
            response, body = await get_raw(client, path, {"If-None-Match": sent})
            assert response.status == 304, sent
            assert body == b""
            assert response.headers["ETag"] == etag
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["Vary"] == "Accept-Encoding"
        await asyncio.sleep(0)
    assert named(statements) == []
    response, _ = await get_raw(client, path, {"If-None-Match": 'W/"0-somethingelse"'})
    assert response.status == 200


async def test_the_etag_changes_with_every_seat_change_and_a_stale_one_gets_the_new_map(
    client, db, user, make_account
):
    hall = await create_hall(db, rows=1, seats_per_row=6)
    await listening(client)
    path = seats_path(hall.showtime_id)
    a1, a2, a3 = hall.ids("A1", "A2", "A3")
    seen = [await etag_of(client, hall.showtime_id)]

    async def check_changed(expected: dict[str, str]) -> None:
        """The stale tag gets 200 with the new map (within the NOTIFY delay for a change made
        elsewhere), and its tag is one never seen before."""
        for _ in range(50):
            response, body = await get_raw(client, path, {"If-None-Match": seen[-1]})
            if response.status == 200:
                break
            assert response.status == 304
            await asyncio.sleep(0.02)
        assert response.status == 200
        seats = {
            seat["id"]: seat["status"] for seat in orjson.loads(decoded(response, body))["seats"]
        }
        assert {seat: seats[seat] for seat in expected} == expected
        assert response.headers["ETag"] not in seen
        seen.append(response.headers["ETag"])

    assert (await hold_seats(client, user, hall.showtime_id, [a1])).status == 201
    await check_changed({a1: "held"})
    other = await make_account()
    await book(client, other, hall.showtime_id, [a2])
    await check_changed({a2: "sold"})
    assert (await release(client, user, hall.showtime_id)).status == 204
    await check_changed({a1: "available"})
    # Made straight in the database (as another instance would): heard through NOTIFY.
    await hold_directly(
        db, await create_user(db, email="elsewhere@example.com"), hall.showtime_id, [a3]
    )
    await check_changed({a3: "held"})
    await change_seats(db, hall.showtime_id, [(hall.seats["A4"], HELD)])  # a new version only
    await check_changed({a3: "held"})
    # A new price (no new version) changes it too.
    await db.execute(
        "UPDATE showtimes SET price = 20, updated_at = now() WHERE id = $1", hall.showtime_id
    )
    await check_changed({a3: "held"})


async def test_a_change_made_on_another_instance_changes_the_etag(
    aiohttp_client, make_settings, database, db, user
):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    first = await aiohttp_client(create_app(make_settings(), database))
    second = await aiohttp_client(create_app(make_settings(), database))
    await listening(first)
    await listening(second)
    tag = await etag_of(first, hall.showtime_id)
    assert await etag_of(second, hall.showtime_id) == tag  # the same map, the same tag
    assert (await hold_seats(second, user, hall.showtime_id, hall.ids("A1"))).status == 201
    path = seats_path(hall.showtime_id)
    for _ in range(50):
        response, _ = await get_raw(first, path, {"If-None-Match": tag})
        if response.status == 200:
            break
        await asyncio.sleep(0.02)
    assert response.status == 200
    assert response.headers["ETag"] != tag
    assert response.headers["ETag"] == await etag_of(second, hall.showtime_id)


async def test_a_personal_map_never_answers_another_callers_tag_with_304(
    client, db, user, make_account
):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    await listening(client)
    other = await make_account()
    path = seats_path(hall.showtime_id)
    # Neither holds anything: their maps are the same bytes, yet each tag is its caller's.
    mine = await etag_of(client, hall.showtime_id, user.headers)
    theirs = await etag_of(client, hall.showtime_id, other.headers)
    public = await etag_of(client, hall.showtime_id)
    assert len({mine, theirs, public}) == 3
    response, _ = await get_raw(client, path, {**other.headers, "If-None-Match": mine})
    assert response.status == 200
    response, _ = await get_raw(client, path, {**user.headers, "If-None-Match": public})
    assert response.status == 200
    response, _ = await get_raw(client, path, {"If-None-Match": mine})
    assert response.status == 200
    # The caller's own tag: 304, private, and (once its map has been read) with no query.
    await etag_of(client, hall.showtime_id, user.headers)
    with pool_statements(client.app) as statements:
        response, body = await get_raw(client, path, {**user.headers, "If-None-Match": mine})
        await asyncio.sleep(0)
    assert response.status == 304 and body == b""
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert named(statements) == []
    # Its hold changes its map and its tag.
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    response, body = await get_raw(client, path, {**user.headers, "If-None-Match": mine})
    assert response.status == 200
    assert orjson.loads(decoded(response, body))["seats"][0]["held_by_me"] is True


async def test_the_cache_of_personal_tags_follows_the_cached_map(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await listening(client)
    mine = await etag_of(client, hall.showtime_id, user.headers)
    cache = client.app[SEAT_MAPS]
    assert cache.personal_tag(hall.showtime_id, user.id) == mine.removeprefix("W/").strip('"')
    await change_seats(db, hall.showtime_id, [(hall.seats["A2"], SOLD)])
    for _ in range(50):
        if cache.personal_tag(hall.showtime_id, user.id) is None:
            break
        await asyncio.sleep(0.02)
    assert cache.personal_tag(hall.showtime_id, user.id) is None


# -- the listings: GET /showtimes and the programme page ---------------------------------------


async def until_changed(client: Any, path: str, etag: str) -> tuple[Any, bytes]:
    """GET `path` with If-None-Match `etag` until it is no longer 304 (a NOTIFY's delay)."""
    for _ in range(50):
        response, body = await get_raw(
            client, path, {"If-None-Match": etag, "Accept-Encoding": "gzip"}
        )
        if response.status != 304:
            return response, decoded(response, body)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} still 304 for {etag}")


async def test_the_showtime_listing_is_compressed_and_304_while_unchanged(
    aiohttp_client, make_settings, database, client, db, user, admin
):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    await listening(client)
    path = f"{API}/showtimes?page_size=50"
    first, body = await get_raw(client, path, {"Accept-Encoding": "gzip"})
    assert first.headers["Content-Encoding"] == "gzip"
    assert first.headers["Cache-Control"] == "no-cache"
    listed = orjson.loads(gzip.decompress(body))
    assert [item["available_seats"] for item in listed["showtimes"]] == [10]
    etag = first.headers["ETag"]
    with pool_statements(client.app) as statements:
        response, body = await get_raw(client, path, {"If-None-Match": etag})
        await asyncio.sleep(0)
    assert response.status == 304 and body == b""
    assert named(statements) == []
    # A hold of this instance: at once.
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    response, body = await get_raw(client, path, {"If-None-Match": etag})
    assert response.status == 200
    assert orjson.loads(decoded(response, body))["showtimes"][0]["available_seats"] == 9
    etag = response.headers["ETag"]
    # A sale made elsewhere (straight in the database): within the NOTIFY delay.
    await book_directly(db, admin.id, hall.showtime_id, hall.ids("B1"))
    response, body = await until_changed(client, path, etag)
    assert orjson.loads(body)["showtimes"][0]["available_seats"] == 8
    etag = response.headers["ETag"]
    # A showtime added through another instance: its NOTIFY reaches this one.
    other = await aiohttp_client(create_app(make_settings(), database))
    movie = {"id": str(hall.movie_id)}
    theater = {"id": str(hall.theater_id)}
    await api_create_showtime(other, admin, movie, theater, in_future(days=3))
    response, body = await until_changed(client, path, etag)
    assert len(orjson.loads(body)["showtimes"]) == 2


async def test_the_programme_page_is_compressed_and_304_while_unchanged(client, db, user, admin):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    await listening(client)
    start = await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", hall.showtime_id)
    path = f"/?date={start.date().isoformat()}"
    first, body = await get_raw(client, path, {"Accept-Encoding": "br", "Accept": "text/html"})
    assert first.status == 200
    assert first.headers["Content-Encoding"] == "br"
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Content-Security-Policy" in first.headers
    page = brotli.decompress(body).decode()
    assert str(hall.showtime_id) in page
    plain, plain_body = await get_raw(client, path, {"Accept-Encoding": "identity"})
    assert plain_body.decode() == page
    etag = first.headers["ETag"]
    with pool_statements(client.app) as statements:
        response, body = await get_raw(client, path, {"If-None-Match": etag})
        await asyncio.sleep(0)
    assert response.status == 304 and body == b""
    assert named(statements) == []
    # Seats sold elsewhere change the seats left it shows; a movie renamed through the API too.
    await book_directly(db, user.id, hall.showtime_id, hall.ids("A1", "A2"))
    response, _ = await until_changed(client, path, etag)
    etag = response.headers["ETag"]
    renamed = await client.put(
        f"{API}/movies/{hall.movie_id}", json={"title": "Renamed"}, headers=admin.headers
    )
    assert renamed.status == 200, await renamed.text()
    response, body = await get_raw(client, path, {"If-None-Match": etag})
    assert response.status == 200
    assert "Renamed" in decoded(response, body).decode()


async def test_the_fast_path_answers_as_the_middleware_chain_does(
    aiohttp_client, make_settings, database, db
):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    client = await aiohttp_client(
        create_app(make_settings(allowed_origins=("https://tickets.example",)), database)
    )
    await listening(client)
    cache = client.app[SEAT_MAPS]
    path = seats_path(hall.showtime_id)
    sent = {"Accept-Encoding": "gzip", "Origin": "https://tickets.example"}
    through_chain, chain_body = await get_raw(client, path, sent)  # a miss: the handler's
    hits = cache.hits
    fast, fast_body = await get_raw(client, path, sent)
    assert cache.hits == hits + 1  # served from the cache, ahead of the chain
    assert fast_body == chain_body

    def comparable(response: Any) -> dict[str, str]:
        return {
            key: value
            for key, value in response.headers.items()
            if key not in ("Date", "X-Request-ID")
        }

    assert comparable(fast) == comparable(through_chain)
    assert fast.headers["Access-Control-Allow-Origin"] == "https://tickets.example"
    assert re.fullmatch(r"[0-9a-f]{32}", fast.headers["X-Request-ID"])
    mine, _ = await get_raw(client, path, {"X-Request-ID": "my-request-1234"})
    assert mine.headers["X-Request-ID"] == "my-request-1234"
    metrics = await (await client.get("/metrics")).text()
    assert re.search(r'route="/api/v1/showtimes/\{id\}/seats",status="200"\} [3-9]', metrics)
