"""Posters: streaming upload with a size limit, checked by decoding, stored and served."""

from __future__ import annotations

import uuid

import pytest

from tests.api import (
    API,
    create_movie,
    create_showtime,
    create_theater,
    in_future,
    poster_form,
    upload,
)
from tests.images import image_bytes, png_declaring, stored_files


@pytest.mark.parametrize(
    ("image_format", "content_type", "extension"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
async def test_uploaded_poster_is_stored_and_served(
    client, admin, settings, image_format, content_type, extension
):
    movie = await create_movie(client, admin)
    data = image_bytes(image_format)
    response = await upload(client, admin, movie["id"], data, filename="../../etc/passwd")
    assert response.status == 200, await response.text()
    changed = await response.json()
    assert changed["id"] == movie["id"]
    url = changed["poster_url"]
    assert url.startswith("/posters/") and url.endswith(f".{extension}")
    assert stored_files(settings) == [url.removeprefix("/posters/")]
    assert (await (await client.get(f"{API}/movies/{movie['id']}")).json())["poster_url"] == url

    served = await client.get(url)
    assert served.status == 200
    assert await served.read() == data
    assert served.headers["Content-Type"] == content_type
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_replacing_a_poster_removes_the_old_file_and_deleting_the_movie_the_last(
    client, admin, settings
):
    movie = await create_movie(client, admin)
    first = await (await upload(client, admin, movie["id"], image_bytes("PNG"))).json()
    second = await (await upload(client, admin, movie["id"], image_bytes("JPEG"))).json()
    assert first["poster_url"] != second["poster_url"]
    assert stored_files(settings) == [second["poster_url"].removeprefix("/posters/")]
    assert (await client.get(first["poster_url"])).status == 404

    assert (await client.delete(f"{API}/movies/{movie['id']}", headers=admin.headers)).status == 204
    assert stored_files(settings) == []
    assert (await client.get(second["poster_url"])).status == 404


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"this is plain text, not an image\n" * 10, "poster.png"),
        (b"", "poster.png"),
        (image_bytes("GIF"), "poster.gif"),
        (image_bytes("BMP"), "poster.png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "poster.svg"),
    ],
    ids=["text-named-png", "empty", "gif", "bmp", "svg"],
)
async def test_files_that_are_not_jpeg_png_or_webp_are_415(client, admin, settings, data, filename):
    movie = await create_movie(client, admin)
    response = await upload(client, admin, movie["id"], data, filename=filename)
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_image"
    assert stored_files(settings) == []
    assert (await (await client.get(f"{API}/movies/{movie['id']}")).json())["poster_url"] is None


async def test_a_damaged_image_is_422(client, admin, settings):
    movie = await create_movie(client, admin)
    truncated = image_bytes("PNG", size=(200, 200), noise=True)[:5000]
    response = await upload(client, admin, movie["id"], truncated)
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "invalid_image"
    assert stored_files(settings) == []


async def test_a_decompression_bomb_is_refused_before_decoding(client, admin, settings):
    movie = await create_movie(client, admin)
    response = await upload(client, admin, movie["id"], png_declaring(100_000, 100_000))
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "image_too_large"
    assert stored_files(settings) == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "size", [(40, 30), (60, 60)], ids=["past-the-limit", "past-twice-the-limit"]
)
async def test_the_pixel_limit_is_the_configured_one(
    aiohttp_client, make_settings, database, admin, size
):
    from reservations.app import create_app

    client = await aiohttp_client(create_app(make_settings(max_poster_pixels=1000), database))
    movie = await create_movie(client, admin)
    response = await upload(client, admin, movie["id"], image_bytes("PNG", size=size))
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "image_too_large"
    small = await upload(client, admin, movie["id"], image_bytes("PNG", size=(20, 20)))
    assert small.status == 200


async def test_an_app_s_pixel_limit_stays_with_its_uploads(make_settings, database, tmp_path):
    """The limit is the app's, not the process's: a tiny one does not reach other images the
    process makes (the seed's posters, drawn with their titles)."""
    from reservations.app import create_app
    from reservations.seed import draw_poster

    create_app(make_settings(max_poster_pixels=1000), database)
    draw_poster("A title long enough", ["Drama"], (10, 20, 30), tmp_path / "poster.png")
    assert (tmp_path / "poster.png").stat().st_size > 0


async def test_a_poster_over_the_byte_limit_is_413_and_leaves_nothing(
    aiohttp_client, make_settings, database, admin
):
    from reservations.app import create_app

    settings = make_settings(max_poster_bytes=20_000)
    client = await aiohttp_client(create_app(settings, database))
    movie = await create_movie(client, admin)
    big = image_bytes("PNG", size=(100, 100), noise=True)
    assert len(big) > 20_000

    declared = await upload(client, admin, movie["id"], big + b"\0" * 40_000)  # Content-Length
    assert declared.status == 413
    assert (await declared.json())["error"]["code"] == "payload_too_large"

    async def stream():
        # Chunked: no Content-Length, so only counting while reading can stop it.
        boundary = b"--poster-boundary"
        yield (
            boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        )
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]
        yield b"\r\n" + boundary + b"--\r\n"

    streamed = await client.post(
        f"{API}/movies/{movie['id']}/poster",
        data=stream(),
        headers={**admin.headers, "Content-Type": "multipart/form-data; boundary=poster-boundary"},
    )
    assert streamed.status == 413
    assert stored_files(settings) == []
    assert (await (await client.get(f"{API}/movies/{movie['id']}")).json())["poster_url"] is None


async def test_a_poster_larger_than_a_json_body_may_be_is_accepted(client, admin, settings):
    """The general body limit (MAX_BODY_BYTES, 1 MiB) does not cap posters: MAX_POSTER_BYTES does."""
    movie = await create_movie(client, admin)
    data = image_bytes("PNG", size=(900, 600), noise=True)
    assert settings.max_body_bytes < len(data) < settings.max_poster_bytes
    response = await upload(client, admin, movie["id"], data)
    assert response.status == 200
    served = await client.get((await response.json())["poster_url"])
    assert await served.read() == data


async def test_bad_upload_requests(client, admin, user):
    movie = await create_movie(client, admin)
    path = f"{API}/movies/{movie['id']}/poster"
    as_json = await client.post(path, json={"file": "x"}, headers=admin.headers)
    assert as_json.status == 415
    raw = await client.post(
        path, data=image_bytes(), headers={**admin.headers, "Content-Type": "image/png"}
    )
    assert raw.status == 415
    no_boundary = await client.post(
        path, data=b"x", headers={**admin.headers, "Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status == 400
    assert (await no_boundary.json())["error"]["code"] == "invalid_multipart"
    no_file = await upload(client, admin, movie["id"], image_bytes(), field="image")
    assert no_file.status == 422
    assert "file" in (await no_file.json())["error"]["details"]["fields"]
    unknown = await upload(client, admin, uuid.uuid4(), image_bytes())
    assert unknown.status == 404
    assert (await client.post(path, data=poster_form(image_bytes()))).status == 401
    assert (
        await client.post(path, data=poster_form(image_bytes()), headers=user.headers)
    ).status == 403


async def test_a_part_with_unreadable_headers_is_a_bad_request(client, admin):
    """Found by schemathesis: a part header aiohttp cannot parse was a 500."""
    movie = await create_movie(client, admin)
    body = (
        b'--b\r\nContent-Disposition: form-data; name="\xc3\xaa\x06"\r\n\r\nx\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n--b--\r\n'
    )
    response = await client.post(
        f"{API}/movies/{movie['id']}/poster",
        data=body,
        headers={**admin.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_multipart"


@pytest.mark.parametrize(
    "name",
    [
        "nothing.png",
        "0123456789abcdef0123456789abcdef.gif",
        "0123456789ABCDEF0123456789ABCDEF.png",
        "0123456789abcdef0123456789abcdef.png",  # well formed, but no such file
        "..%2F..%2Fpyproject.toml",
        ".upload-abc.part",
    ],
)
async def test_unknown_poster_names_are_404(client, name):
    response = await client.get(f"/posters/{name}")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_poster_survives_showtimes_and_shows_in_listings(client, admin):
    movie = await create_movie(client, admin, genres=["Animation"])
    url = (await (await upload(client, admin, movie["id"], image_bytes())).json())["poster_url"]
    theater = await create_theater(client, admin)
    await create_showtime(client, admin, movie, theater, in_future(days=1))
    listed = await (await client.get(f"{API}/movies?genre=animation")).json()
    assert [item["poster_url"] for item in listed["movies"]] == [url]
