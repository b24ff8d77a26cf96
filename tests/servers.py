"""`reservations serve` as a real process on a test's database: start it, wait for /readyz,
stop it (SIGTERM), kill it (SIGKILL, with its workers), or run it to its exit.

The tests that need a real process (several workers, signals, a restart, raw sockets,
schemathesis) use these; every other test runs the app in process through pytest-aiohttp.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import psutil

from bench.procs import ROOT as ROOT
from bench.procs import SERVE, listening_pids
from bench.procs import free_port as free_port
from bench.procs import kill_tree as kill_process_tree
from tests.factories import TEST_JWT_SECRET


def serve_environment(database: str, port: int, **changes: str) -> dict[str, str]:
    """The environment of a `reservations serve` on `database` and `port`; `changes` on top."""
    return {
        **os.environ,
        "DATABASE_URL": database,
        "JWT_SECRET": TEST_JWT_SECRET,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        # Not the default (all 20 open in each worker): several servers at once would take
        # most of the test database's 100 connections.
        "DB_POOL_MIN_SIZE": "2",
        # The cost of the tests' own accounts: each worker hashes a decoy as it starts, a
        # quarter of a CPU-second at the default 12, and the suite starts dozens of workers.
        "BCRYPT_ROUNDS": "4",
        **changes,
    }


async def start_server(
    database: str,
    port: int,
    *args: str,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    within: float = 20.0,
    up_when: str = "/readyz",
) -> asyncio.subprocess.Process:
    """`reservations serve *args` on `port`, once its `up_when` (/readyz) answers 200. `env`
    changes the environment; `log` takes its output (a file only the owner reads)."""
    environment = serve_environment(database, port, **(env or {}))
    output = None if log is None else os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        process = await asyncio.create_subprocess_exec(
            *SERVE,
            *args,
            env=environment,
            stdout=output,
            stderr=None if output is None else subprocess.STDOUT,
        )
    finally:
        if output is not None:
            os.close(output)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline and process.returncode is None:
            try:
                async with session.get(f"http://127.0.0.1:{port}{up_when}") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    kill_tree(process)
    said = "" if log is None else ":\n" + read_log(log)
    raise AssertionError("the server did not come up" + said)


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")


async def run_serve(env: Mapping[str, str], *args: str, within: float) -> tuple[int, bytes, bytes]:
    """`reservations serve *args` in `env`, expected to exit by itself: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        *SERVE,
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), within)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode is not None
    return process.returncode, stdout, stderr


async def stop(process: asyncio.subprocess.Process) -> int:
    """SIGTERM, and the exit code once it has finished what it was doing."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), timeout=25)


async def kill_hard(process: asyncio.subprocess.Process) -> None:
    """SIGKILL: the process gets no chance to finish anything."""
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(process.wait(), timeout=10)


def listening_workers(process: asyncio.subprocess.Process, port: int) -> set[int]:
    """The pids of the worker processes of `serve --workers N` that listen on `port`."""
    return listening_pids(process.pid, port, workers_only=True)


async def workers_listening(
    process: asyncio.subprocess.Process,
    port: int,
    count: int,
    within: float = 20.0,
    gone: int | None = None,
) -> set[int]:
    """Wait until `count` workers listen on `port` (and worker `gone`, killed, is no longer
    among them: its socket outlives the kill by a moment); their pids."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(listening := listening_workers(process, port)) != count or gone in listening:
        assert loop.time() < deadline, f"{sorted(listening)} listen, not {count} without {gone}"
        await asyncio.sleep(0.1)
    return listening


def hashing_processes_of(worker: int) -> list[int]:
    """The pids of a worker's password-hashing processes (reservations/accounts/passwords.py)."""
    return [
        child.pid
        for child in psutil.Process(worker).children()
        if "spawn_main" in " ".join(child.cmdline())
    ]


async def gone_within(pids: list[int], seconds: float) -> list[int]:
    """Wait until none of `pids` runs (a zombie has stopped); those still running after
    `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        alive = [pid for pid in pids if _running(pid)]
        if not alive or loop.time() >= deadline:
            return alive
        await asyncio.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def statuses_on_new_connections(port: int, path: str, count: int) -> list[int]:
    """GET `path` `count` times, each on a new connection (so the kernel may pick any worker
    listening on the port): the statuses."""
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.get(
                f"http://127.0.0.1:{port}{path}", headers={"Connection": "close"}
            ) as response:
                statuses.append(response.status)
    return statuses


def kill_tree(process: asyncio.subprocess.Process) -> None:
    """Kill the process and its workers, whatever state a failed test left them in."""
    if process.returncode is None:
        kill_process_tree(process.pid)
