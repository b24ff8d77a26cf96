"""Scenario login: Logins at the configured bcrypt cost against bare bcrypt, and the seat map's p99 during the
login storm.

The seat map is judged over the storm's measured phase, after its warm-up, as the logins are: at
the storm's first instant its 16 clients connect and send at once (a closed loop starts in step),
which holds up the seat maps of the next 50 ms or so. Its p99 from that first instant is in the
notes."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..load import percentile
from ..procs import run_together
from ..report import Row, fmt

if TYPE_CHECKING:
    from ..suite import Suite

# Seat-map requests per second read by viewers during the login storm (an open loop): everyday
# traffic next to the storm, not a second load test.
LOGIN_STORM_MAP_RATE = 100.0


async def run(suite: Suite, run: int) -> None:
    import bcrypt

    options = suite.options
    password = "bench-password-1"
    if not suite.login_users:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(options.bcrypt_rounds)).decode()
        suite.login_hash = hashed
        prefix = f"login{uuid.uuid4().hex[:6]}"
        await suite.data.users(16, prefix, hashed)
        suite.login_users = [f"{prefix}-{n}@bench.example.com" for n in range(1, 17)]
    showtime_id = await suite.map_showtime()
    map_rate = LOGIN_STORM_MAP_RATE
    server = await suite.server()

    def map_spec(settle: float = 0.0) -> dict[str, Any]:
        return suite.http_spec(
            server,
            "http_seatmap",
            showtime_id=str(showtime_id),
            mode="open",
            connections=16,
            rate=map_rate,
            duration=options.duration,
            settle=settle,
        )

    try:
        (normal,) = await run_together([map_spec()], suite.log_dir, within=300)
        storm_results = await run_together(
            [
                suite.http_spec(
                    server,
                    "http_login",
                    emails=suite.login_users,
                    password=password,
                    mode="closed",
                    connections=16,
                    duration=options.duration,
                    warmup=options.warmup,
                ),
                map_spec(settle=options.warmup),
            ],
            suite.log_dir,
            within=300,
        )
    finally:
        server.stop()
    bare = await suite.run_phase(
        [
            {
                "kind": "bcrypt",
                "hash": suite.login_hash,
                "password": password,
                "threads": 2,
                "service_priority": True,
                "duration": options.duration,
                "warmup": options.warmup,
            }
        ]
    )
    normal = suite.merge([normal])
    storm = suite.merge([storm_results[0]])
    during = suite.merge([storm_results[1]])
    settled_p99 = percentile(storm_results[1]["settled_ms"], 99)
    suite.add(
        Row(
            f"login storm, bcrypt cost {options.bcrypt_rounds}",
            storm["throughput"],
            "logins/s",
            storm["p50"],
            storm["p99"],
            bare["throughput"],
            "checks/s bare bcrypt",
            storm["throughput"] / bare["throughput"],
            ">= 0.85x bare bcrypt, 2 threads",
            ("min", 0.85),
            notes=["p50/p99 of logins: closed loop, 16 clients"] + suite.error_note("storm", storm),
        )
    )
    suite.add(
        Row(
            "seat map during the login storm",
            during["throughput"],
            "req/s",
            during["p50"],
            settled_p99,
            normal["p99"],
            "ms normal p99",
            settled_p99 / normal["p99"],
            "p99 <= 2x normal",
            ("max", 2.0),
            notes=[
                f"open loop {map_rate:,.0f} req/s; normal p50 {fmt(normal['p50'])} ms; "
                f"p99 after the storm's {options.warmup:g} s warm-up (as the logins'); from its "
                f"first instant {fmt(during['p99'])} ms ({during['p99'] / normal['p99']:.2f}x)"
            ]
            + suite.error_note("during", during)
            + suite.error_note("normal", normal),
        )
    )
