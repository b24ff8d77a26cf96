"""Behind a reverse proxy the per-address limits key on the real client: X-Forwarded-For is
believed from the peers in TRUSTED_PROXIES only, read from the right; with none configured it
is ignored. The test client connects from 127.0.0.1, which plays the proxy when trusted."""

from __future__ import annotations

import ipaddress

import aiohttp
import pytest

from reservations.app import create_app
from reservations.proxies import client_address
from reservations.settings import Settings, SettingsError
from tests.factories import create_hall

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:1::/48"))
LOCAL_PROXY = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("198.51.100.9", ["203.0.113.7"], "198.51.100.9"),
        # A trusted proxy names its client.
        ("10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        # What the client wrote itself, to the left of its proxy's entry, is ignored.
        ("10.0.0.2", ["1.2.3.4, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["1.2.3.4", "203.0.113.7"], "203.0.113.7"),
        # Through two trusted proxies.
        ("10.0.0.2", ["1.2.3.4, 203.0.113.7, 10.0.0.5"], "203.0.113.7"),
        # A client inside the proxies' own network.
        ("10.0.0.2", ["10.0.0.9"], "10.0.0.9"),
        # Junk ends the walk at the last trusted hop before it.
        ("10.0.0.2", ["203.0.113.7, unknown"], "10.0.0.2"),
        ("10.0.0.2", ["junk, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", [""], "10.0.0.2"),
        # Ports, brackets, IPv6 and a dual-stack socket's IPv4 peer.
        ("::ffff:10.0.0.2", ["203.0.113.7:5100"], "203.0.113.7"),
        ("2001:db8:1::2", ["[2001:db8:9::1]:443"], "2001:db8:9::1"),
        ("2001:db8:2::2", ["203.0.113.7"], "2001:db8:2::2"),
    ],
)
def test_the_client_address_is_read_from_trusted_proxies_only(peer, forwarded_for, client):
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_trusted_proxies_setting():
    settings = Settings.from_env({"TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16 ,2001:db8::/32"})
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        Settings.from_env({"TRUSTED_PROXIES": "10.0.0.1, proxy.example"})


async def _fail_login(client, email: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": "wrong password"},
        headers=headers,
    )
    return response.status


async def test_without_trusted_proxies_a_spoofed_header_does_not_dodge_the_login_limit(
    aiohttp_client, make_settings, database
):
    """LOGIN_MAX_FAILURES_PER_ADDRESS (5 here) failures per address, whatever the emails."""
    client = await aiohttp_client(
        create_app(make_settings(login_max_failures_per_address=5), database)
    )
    for index in range(5):
        assert await _fail_login(client, f"u{index}@example.com", f"203.0.113.{index}") == 401
    assert await _fail_login(client, "another@example.com", "198.51.100.1") == 429


async def test_behind_a_trusted_proxy_the_login_limit_keys_on_the_client(
    aiohttp_client, make_settings, database
):
    settings = make_settings(trusted_proxies=LOCAL_PROXY, login_max_failures_per_address=5)
    client = await aiohttp_client(create_app(settings, database))
    # Five customers behind the one proxy fail once each: none is blocked for the others.
    for index in range(5):
        assert await _fail_login(client, f"u{index}@example.com", f"203.0.113.{index}") == 401
    assert await _fail_login(client, "v0@example.com", "203.0.113.99") == 401
    # One customer failing five times is blocked, whatever it writes left of its proxy's entry.
    for index in range(5):
        forwarded = f"10.9.9.{index}, 198.51.100.5"
        assert await _fail_login(client, f"w{index}@example.com", forwarded) == 401
    assert await _fail_login(client, "x@example.com", "1.1.1.1, 198.51.100.5") == 429
    assert await _fail_login(client, "y@example.com", "198.51.100.6") == 401


async def _watch(client, showtime_id, forwarded_for: str) -> int:
    try:
        ws = await client.ws_connect(
            f"/ws/showtimes/{showtime_id}", headers={"X-Forwarded-For": forwarded_for}
        )
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    await ws.receive_json(timeout=5)  # the snapshot
    return 101


async def test_viewers_per_address_key_on_the_client_behind_a_trusted_proxy(
    aiohttp_client, make_settings, database, db
):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    client = await aiohttp_client(
        create_app(make_settings(max_viewers_per_address=2, trusted_proxies=LOCAL_PROXY), database)
    )
    assert [await _watch(client, hall.showtime_id, f"203.0.113.{i}") for i in range(3)] == [101] * 3
    same = [await _watch(client, hall.showtime_id, "198.51.100.5") for _ in range(3)]
    assert same == [101, 101, 429]


async def test_viewers_per_address_ignore_the_header_without_trusted_proxies(
    aiohttp_client, make_settings, database, db
):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    client = await aiohttp_client(create_app(make_settings(max_viewers_per_address=2), database))
    spoofed = [await _watch(client, hall.showtime_id, f"203.0.113.{i}") for i in range(3)]
    assert spoofed == [101, 101, 429]
