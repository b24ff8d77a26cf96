"""Schemathesis against a live server: every operation of /api/docs/swagger.json, requests
generated from the spec, every answer checked against it (status, media type, headers, body).

The server is `python -m reservations serve` on a fresh database with the demo data and one
booking, so that ids resolve; schemathesis runs as the admin. How it runs: tests/schemathesis.toml
(settings) and tests/schemathesis_hooks.py (the two checks that know the contract's 422s).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from reservations.accounts.tokens import issue_token
from reservations.seed import ADMIN_EMAIL, seed
from tests.factories import TEST_JWT_SECRET
from tests.servers import ROOT, free_port, kill_tree, start_server

ST = Path(sys.executable).with_name("st")
CONFIG = ROOT / "tests" / "schemathesis.toml"
# Test cases per operation and phase: 50 keep `make test` within its time (about 4,500
# requests, a minute); SCHEMATHESIS_MAX_EXAMPLES=100 or more for a deeper run before a release.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "50"))
RUN_TIMEOUT_SECONDS = 420
# The run in three parts, each against a server of its own, which pytest-xdist runs side by side:
# in one, the run was the suite's longest test (two to three minutes on a loaded 2-core machine),
# and `make test` could end no sooner. Fuzzing, the longest phase, is split by method.
PARTS = {
    "examples, coverage and stateful": ["--phases", "examples,coverage,stateful"],
    "fuzzing reads": ["--phases", "fuzzing", "--include-method", "GET"],
    "fuzzing changes": ["--phases", "fuzzing", "--exclude-method", "GET"],
}


async def _book_something(base: str, token: str) -> None:
    """One confirmed reservation (and so a sold seat) for the admin, through the API."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base, headers=headers) as session:
        async with session.get("/api/v1/showtimes", params={"page_size": "1"}) as response:
            showtime_id = (await response.json())["showtimes"][0]["id"]
        async with session.get(f"/api/v1/showtimes/{showtime_id}/seats") as response:
            seats = [s["id"] for s in (await response.json())["seats"] if s["is_available"]][:2]
        lock = {"seat_ids": seats}
        async with session.post(f"/api/v1/showtimes/{showtime_id}/lock-seats", json=lock) as held:
            assert held.status == 201, await held.text()
        booking = {"showtime_id": showtime_id, "seat_ids": seats}
        async with session.post("/api/v1/reservations", json=booking) as booked:
            assert booked.status == 201, await booked.text()


@pytest.mark.parametrize("part", PARTS)
async def test_schemathesis_finds_nothing_against_the_live_service(
    part, database, settings, db, tmp_path
):
    assert ST.exists(), f"schemathesis is not installed: {ST.parent}/pip install -e '.[docs]'"
    await seed(database, settings)
    admin_id: uuid.UUID = await db.fetchval("SELECT id FROM users WHERE email = $1", ADMIN_EMAIL)
    token = issue_token(admin_id, TEST_JWT_SECRET, 3600)
    server_log = tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = await start_server(
        database,
        port,
        env={
            "DATA_DIR": str(settings.data_dir),
            "POSTER_DIR": str(settings.poster_dir),
        },
        log=server_log,
    )
    try:
        await _book_something(base, token)
        run = await asyncio.create_subprocess_exec(
            str(ST),
            "--config-file",
            str(CONFIG),
            "run",
            f"{base}/api/docs/swagger.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            # Replaced by the checks of tests/schemathesis_hooks.py, which run them.
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection,use_after_free,content_type_conformance,"
            "ensure_resource_availability",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--request-timeout",
            "10",
            "--wait-for-schema",
            "10",
            "--no-color",
            *PARTS[part],
            cwd=tmp_path,  # its cache stays out of the checkout
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
                "SCHEMATHESIS_ADMIN_ID": str(admin_id),
                "PYTHONPATH": str(ROOT),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(run.communicate(), RUN_TIMEOUT_SECONDS)
    finally:
        kill_tree(server)
    report = output.decode(errors="replace")
    server_errors = server_log.read_text(errors="replace")
    print(report)
    assert run.returncode == 0, f"schemathesis failed:\n{report}\nserver log:\n{server_errors}"
    assert "Tested: " in report and "API Operations:" in report, report
    # The run's token must work to the end: a run that demoted or logged out its own admin
    # tested most operations with 401s or 403s alone (tests/schemathesis_hooks.py).
    assert "Authentication failed" not in report, report
    # Every 500 is already a failure above; this also catches one behind a 101 or a stream.
    assert "unhandled error" not in server_errors, server_errors
