"""Scenario seatmap: GET the seat map of a 300-seat hall with 64 connections, plain, gzip
and as a 304, each against bare aiohttp serving the same answer from memory; and the bytes on
the wire."""

from __future__ import annotations

import base64
import math
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp

from ..procs import BareServer
from ..report import Row

if TYPE_CHECKING:
    from ..suite import Suite


# Headers of the service's answer that belong to one connection or one moment, not to the
# answer: the bare server makes its own.
OWN_HEADERS = frozenset(
    ("date", "server", "content-length", "connection", "keep-alive", "transfer-encoding")
)


async def fetch_answer(
    suite: Suite, url: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The status, body (as sent: compressed or not) and headers of one anonymous GET."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(url, headers=headers or {}) as response:
            body = await response.read()
            if response.status not in (200, 304):
                raise RuntimeError(f"GET {url} answered {response.status}")
            kept = {
                str(key): value  # keys are multidict's istr, which orjson refuses
                for key, value in response.headers.items()
                if key.lower() not in OWN_HEADERS
            }
    return {
        "status": response.status,
        "body_base64": base64.b64encode(body).decode(),
        "headers": kept,
        "size": len(body),
    }


def seatmap_specs(
    suite: Suite, base_url: str, showtime_id: uuid.UUID, **spec: Any
) -> list[dict[str, Any]]:
    """The seat-map load (64 connections, closed loop unless `spec` says otherwise) against
    `base_url`, split over the load-generator processes."""
    processes = suite.options.load_processes
    return [
        {
            "kind": "http_seatmap",
            "base_url": base_url,
            "showtime_id": str(showtime_id),
            "mode": "closed",
            "connections": share,
            "duration": suite.options.duration,
            "warmup": suite.options.warmup,
            **spec,
        }
        for share in suite.split(64, processes)
    ]


# The seat map as phones get it: (row name, request headers of the load, target, minimum).
SEATMAP_VARIANTS = (
    (
        "seat map, 300 seats, 64 connections",
        {"Accept-Encoding": "identity"},
        ">= 0.35x bare aiohttp, same bytes from memory",
        0.35,
    ),
    (
        "seat map, gzip, 300 seats, 64 connections",
        {"Accept-Encoding": "gzip"},
        ">= 0.8x bare aiohttp, same gzip bytes from memory",
        0.8,
    ),
    (
        "seat map revalidation (304), 64 connections",
        {"Accept-Encoding": "gzip", "If-None-Match": "(the current ETag)"},
        ">= 0.8x bare aiohttp answering the same 304",
        0.8,
    ),
)


def cpu_per_answer(entry: dict[str, Any]) -> tuple[float, float, float]:
    """Server and bare CPU microseconds per answer of the closed phases, and bare/server.
    The closed loop's warm-up is in the CPU time but not in the count: both alike."""
    service = entry["cpu"] / max(entry["closed"]["completed"], 1) * 1e6
    bare = entry["bare_cpu"] / max(entry["baseline"]["completed"], 1) * 1e6
    return service, bare, bare / service if service else math.nan


async def run(suite: Suite, run: int) -> None:
    options = suite.options
    showtime_id = await suite.map_showtime()
    await suite.ensure_analyzed()
    path = f"/api/v1/showtimes/{showtime_id}/seats"
    server = await suite.server()
    measured: list[dict[str, Any]] = []
    try:
        url = server.base_url + path
        sizes = {
            coding: (await fetch_answer(suite, url, {"Accept-Encoding": coding}))["size"]
            for coding in ("identity", "gzip", "br")
        }
        etag = next(
            value
            for key, value in (await fetch_answer(suite, url))["headers"].items()
            if key.lower() == "etag"
        )
        processes = options.load_processes
        for _name, headers, _target, _minimum in SEATMAP_VARIANTS:
            sent = dict(headers)
            if "If-None-Match" in sent:
                sent["If-None-Match"] = etag
            load = {
                "accept_encoding": sent["Accept-Encoding"],
                "if_none_match": sent.get("If-None-Match"),
                "expect": 304 if "If-None-Match" in sent else 200,
            }
            cpu_before = server.cpu_seconds()
            closed = await suite.run_phase(
                seatmap_specs(suite, server.base_url, showtime_id, **load)
            )
            cpu = server.cpu_seconds() - cpu_before
            rate = closed["throughput"] / 2
            latency = await suite.run_phase(
                seatmap_specs(
                    suite, server.base_url, showtime_id, mode="open", rate=rate / processes, **load
                )
            )
            answer = await fetch_answer(suite, url, sent)
            entry = {
                "load": load,
                "closed": closed,
                "latency": latency,
                "rate": rate,
                "answer": answer,
                "cpu": cpu,
            }
            measured.append(entry)
            # Its baseline right after (the machine's load drifts): the same status, bytes
            # and headers served from memory by bare aiohttp in as many processes as the
            # server has workers (the server idles meanwhile), same load and connections.
            bare = BareServer(answer, options.workers, suite.log_dir)
            try:
                await bare.start()
                served = await fetch_answer(suite, bare.base_url + path, sent)
                cpu_before = bare.cpu_seconds()
                entry["baseline"] = await suite.run_phase(
                    seatmap_specs(suite, bare.base_url, showtime_id, **load)
                )
                entry["bare_cpu"] = bare.cpu_seconds() - cpu_before
            finally:
                bare.stop()
            entry["same"] = served["body_base64"] == answer["body_base64"]
    finally:
        server.stop()
    # Kept for comparison with earlier runs: the seat map's query + orjson, no HTTP.
    database = await suite.run_phase(
        [
            {
                "kind": "db_seatmap",
                "dsn": suite.dsn,
                "showtime_id": str(showtime_id),
                "connections": share,
                "pool_size": options.pool_size,
                "duration": options.duration,
                "warmup": options.warmup,
            }
            for share in suite.split(64, options.workers)
        ]
    )
    suite.maxima["seatmap"] = measured[0]["closed"]["throughput"]
    for (name, _headers, target, minimum), entry in zip(SEATMAP_VARIANTS, measured, strict=True):
        closed, latency, baseline = entry["closed"], entry["latency"], entry["baseline"]
        answer = entry["answer"]
        notes = [] if entry["same"] else ["BARE SERVER ANSWERED OTHER BYTES"]
        notes += [
            f"{answer['status']}, {answer['size']:,} bytes"
            + (
                f" {answer['headers']['Content-Encoding']}"
                if "Content-Encoding" in answer["headers"]
                else ""
            ),
            f"latency at {entry['rate']:,.0f} req/s",
            # CPU per answer does not depend on what else the shared machine runs.
            "server CPU per answer {:.0f} us, bare {:.0f} us ({:.2f}x as efficient)".format(
                *cpu_per_answer(entry)
            ),
        ]
        if entry is measured[0]:
            notes.append(
                f"asyncpg query + orjson, no HTTP: {database['throughput']:,.0f} req/s "
                f"({closed['throughput'] / database['throughput']:.2f}x)"
            )
            notes += suite.error_note("asyncpg+orjson", database)
        suite.add(
            Row(
                name,
                closed["throughput"],
                "req/s",
                latency["p50"],
                latency["p99"],
                baseline["throughput"],
                "req/s bare aiohttp",
                closed["throughput"] / baseline["throughput"],
                target,
                ("min", minimum),
                notes=notes
                + suite.error_note("max", closed)
                + suite.error_note("latency", latency)
                + suite.error_note("bare", baseline),
            )
        )
    suite.add(
        Row(
            "seat map on the wire, 300 seats (100 sold, 30 held)",
            sizes["br"],
            "bytes br",
            target="<= 8 KiB (8,192 bytes) with Brotli",
            rule=("max", 8193),
            judged="throughput",
            notes=[
                f"identity {sizes['identity']:,} bytes, gzip {sizes['gzip']:,}, "
                f"br {sizes['br']:,}; a 304 has no body"
            ],
        )
    )
