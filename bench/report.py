"""The results table: a row per scenario and run, medians, and bench/RESULTS.md."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .suite import Suite


RESULTS_PATH = Path(__file__).with_name("RESULTS.md")
# The section `python -m bench.mail` writes, which a run of `python -m bench` keeps.
OUTBOX_SECTION = "## Email outbox (python -m bench.mail)"


@dataclass
class Row:
    """One line of the results table, for one run."""

    scenario: str
    throughput: float
    unit: str
    p50: float = math.nan
    p99: float = math.nan
    baseline: float = math.nan
    baseline_unit: str = ""
    ratio: float = math.nan
    target: str = ""
    # How the median ratio is judged: ("min", 0.5) means ratio >= 0.5; ("max", 2.0) ratio <= 2;
    # ("none", 0) not judged (shown for comparison).
    rule: tuple[str, float] = ("min", 0.0)
    judged: str = "ratio"  # or "p99", "throughput": the figure the rule applies to
    notes: list[str] = field(default_factory=list)


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def median(values: list[float]) -> float:
    present = [value for value in values if not math.isnan(value)]
    return statistics.median(present) if present else math.nan


def machine() -> dict[str, str]:
    import aiohttp as aiohttp_module
    import asyncpg as asyncpg_module
    import orjson
    import psutil

    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:  # pragma: no cover
        uvloop_version = "not installed"
    return {
        "nproc": str(os.cpu_count()),
        "CPU": model,
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "aiohttp / asyncpg / orjson / uvloop": (
            f"{aiohttp_module.__version__} / {asyncpg_module.__version__} / "
            f"{orjson.__version__} / {uvloop_version}"
        ),
    }


def write_results(suite: Suite, path: Path) -> None:
    from .scenarios import SCENARIOS, login  # the scenarios make Rows of this module

    options = suite.options
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench{' --quick' if options.quick else ''}"
        f"{' --only ' + ','.join(options.only) if set(options.only) != set(SCENARIOS) else ''}` on "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')} in {suite.seconds / 60:.1f} min. "
        f"Each figure is the median of {options.runs} run(s); ratio = service / baseline, "
        "both measured in the same run. p50/p99 in ms from an open (fixed-rate) loop at half the "
        "measured maximum unless the notes say otherwise.",
        "",
        "| scenario | throughput | p50 ms | p99 ms | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details = []
    for name in suite.order:
        rows = suite.rows[name]
        first = rows[0]
        throughput = median([row.throughput for row in rows])
        p50 = median([row.p50 for row in rows])
        p99 = median([row.p99 for row in rows])
        baseline = median([row.baseline for row in rows])
        ratio = median([row.ratio for row in rows])
        judged = {"ratio": ratio, "p99": p99, "throughput": throughput}[first.judged]
        kind, bound = first.rule
        if kind == "none":
            met = "-"
        elif math.isnan(judged):
            met = "?"
        elif kind == "min":
            met = "yes" if judged >= bound else "**no**"
        else:
            met = (
                "yes"
                if judged < bound or (first.judged == "ratio" and judged <= bound)
                else "**no**"
            )
        lines.append(
            f"| {name} | {fmt(throughput)} {first.unit} | {fmt(p50)} | {fmt(p99)} | "
            f"{fmt(baseline)} {first.baseline_unit if not math.isnan(baseline) else ''} | "
            f"{fmt(ratio, 2) + 'x' if not math.isnan(ratio) else '-'} | {first.target} | {met} |"
        )
        details.append(f"- **{name}**")
        for index, row in enumerate(rows, 1):
            figures = (
                f"{fmt(row.throughput)} {row.unit}, p50 {fmt(row.p50)}, p99 {fmt(row.p99)}, "
                f"baseline {fmt(row.baseline)}, ratio {fmt(row.ratio, 2)}"
            )
            note = f"; {'; '.join(row.notes)}" if row.notes else ""
            details.append(f"  - run {index}: {figures}{note}")
    info = machine()
    info["PostgreSQL"] = (
        f"{suite.pg_version} ({'DATABASE_URL' if suite.embedded is None else 'embedded pgserver'}; "
        + ", ".join(f"{key}={value}" for key, value in suite.pg_settings.items())
        + ")"
    )
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [
        "",
        "## Settings",
        "",
        f"- server: `python -m reservations serve --workers {options.workers}`, "
        + ", ".join(
            f"{key}={value}"
            for key, value in suite.server_env().items()
            if key not in ("DATABASE_URL", "JWT_SECRET", "DATA_DIR")
        ),
        f"- runs {options.runs}; measured phases {options.duration:g}s (closed loops after "
        f"{options.warmup:g}s warm-up); hot phases book {options.hot_bookings:,} pairs each "
        f"(clients {', '.join(map(str, options.hot_clients))}); spread books "
        f"{options.spread_bookings:,} pairs with {options.spread_clients} clients; live viewers "
        f"{', '.join(f'{v:,}' for v in options.viewers)} for {options.live_seconds:g}s at "
        f"{options.change_rate:g} changes/s; {options.expired_holds:,} expired holds; "
        f"load-generator processes {options.load_processes}; baselines in "
        f"{options.workers} process(es)",
        "- baselines (the physics, not our own code): seat map = a bare aiohttp server "
        f"(bench/bare.py; uvloop, no access log, no middleware) in {options.workers} process(es) "
        "sharing the port with SO_REUSEPORT, answering every GET with the status, body and "
        "headers of the service's anonymous seat map as the same request got it (plain, gzip, "
        "or the 304 of a revalidation; fetched from the service once) held in memory, driven "
        "by the same load generator with the same 64 connections, which reads bodies as sent "
        "(no decompression); the notes also give the seat "
        "map's query + orjson over plain asyncpg, no HTTP (the earlier baseline); hot = "
        "PL/pgSQL, each booking as two transactions of one PL/pgSQL call each (bound "
        "parameters, plans cached per connection, temporary functions; db_book_plpgsql), with "
        "the service's own SQL called through its Python and no HTTP (db_book_service: SQL "
        "cost) and the simple-query scripts below in the notes; spread = raw SQL, each booking "
        "as two transactions of one call each (one multi-statement "
        "simple-query message over plain asyncpg, no HTTP, no service code): hold = advisory "
        "lock on the showtime (hashtextextended(id, 727)), holds row upsert, seat_claims rows, "
        "showtimes.version + 1, pg_notify('seat_changes') with the held seats, commit; book = the "
        "same lock, reservations row priced as showtime price x seat type multiplier, its "
        "reservation_seats, the claims turned to the reservation, the emptied hold deleted, "
        "version + 1, pg_notify with the sold seats, commit; same clients, users and pool size "
        "per process as the service phase, with the same no-double-booking check afterwards; "
        "login = bcrypt.checkpw on 2 threads at the priority of the service's hashing processes "
        "(SCHED_IDLE), nothing else running; "
        f"seat map during the storm: an open loop at {login.LOGIN_STORM_MAP_RATE:g} req/s",
        "",
        "## Every run",
        "",
        *details,
        "",
    ]
    kept = read_section(path, OUTBOX_SECTION)
    path.write_text("\n".join(lines + (["", *kept, ""] if kept else [])))


def _section_bounds(lines: list[str], title: str) -> tuple[int, int] | None:
    """Where the section `title` (a `## ` heading) starts and ends among `lines`."""
    if title not in lines:
        return None
    start = lines.index(title)
    end = next(
        (index for index in range(start + 1, len(lines)) if lines[index].startswith("## ")),
        len(lines),
    )
    return start, end


def read_section(path: Path, title: str) -> list[str]:
    """The lines of the section `title` of the file, heading included."""
    lines = path.read_text().splitlines() if path.exists() else []
    bounds = _section_bounds(lines, title)
    return lines[bounds[0] : bounds[1]] if bounds else []


def write_section(path: Path, title: str, body: list[str]) -> None:
    """Put the section `title` with `body` in the file, in place of its old one or at the end."""
    lines = path.read_text().splitlines() if path.exists() else []
    section = [title, "", *body, ""]
    bounds = _section_bounds(lines, title)
    if bounds:
        lines[bounds[0] : bounds[1]] = section
    else:
        lines += ["", *section]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
