"""Operations: metrics, request ids, security headers, CORS."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp

from reservations.app import create_app
from tests.conftest import TEST_JWT_SECRET


async def test_metrics_count_requests_by_route_and_status(client):
    await client.get("/healthz")
    await client.get("/api/v1/auth/me")  # 401
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/api/v1/auth/me",status="401"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'db_pool_connections{state="max"} 10.0' in text
    assert "db_pool_acquire_seconds_count" in text


async def test_request_id_is_echoed_or_made(client):
    made = await client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123-def-456"})
    assert echoed.headers["X-Request-ID"] == "abc-123-def-456"
    refused = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert refused.headers["X-Request-ID"] != "bad id\twith junk"


async def test_security_headers(client):
    response = await client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    docs = await client.get("/api/docs")
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["Content-Security-Policy"]


async def test_cors_is_closed_by_default(client):
    response = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_cors_allows_configured_origins(aiohttp_client, make_settings, database):
    client = await aiohttp_client(
        create_app(make_settings(allowed_origins=("https://tickets.example",)), database)
    )
    preflight = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://tickets.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://tickets.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    response = await client.get("/healthz", headers={"Origin": "https://tickets.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://tickets.example"
    other = await client.get("/healthz", headers={"Origin": "https://other.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _start_server(database: str, port: int, *extra: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "JWT_SECRET": TEST_JWT_SECRET,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reservations", "serve", *extra, env=env
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not come up")


def _kill_tree(process: asyncio.subprocess.Process) -> None:
    import psutil

    if process.returncode is not None:
        return
    try:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
    except psutil.NoSuchProcess:
        pass
    process.kill()


async def _stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), timeout=25)


async def test_serve_exits_cleanly_on_sigterm(database):
    """`reservations serve` answers, then on SIGTERM stops accepting, finishes and exits 0."""
    process = await _start_server(database, _free_port())
    try:
        assert await _stop(process) == 0
    finally:
        _kill_tree(process)


async def test_workers_share_one_port(database):
    """`--workers 2` runs two processes on one port; both answer, and both stop on SIGTERM."""
    port = _free_port()
    process = await _start_server(database, port, "--workers", "2")
    try:
        import psutil

        def listening_workers() -> list[int]:
            return [
                child.pid
                for child in psutil.Process(process.pid).children()
                if any(
                    conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
                    for conn in child.net_connections(kind="tcp")
                )
            ]

        # The first worker answered /readyz; give the second the same time to bind.
        for _ in range(100):
            listening = listening_workers()
            if len(listening) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(listening) == 2, "both workers must listen on the one port"
        async with aiohttp.ClientSession() as session:
            for _ in range(20):
                async with session.get(
                    f"http://127.0.0.1:{port}/api/v1/auth/me", headers={"Connection": "close"}
                ) as response:
                    assert response.status == 401
        assert await _stop(process) == 0
    finally:
        _kill_tree(process)
