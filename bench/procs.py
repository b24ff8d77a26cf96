"""The processes of a benchmark: the server under test and the load-generator workers.

How to run `reservations serve` as a process (its command, a free port, its workers, killing
its whole tree) is written here once; tests/servers.py uses the same pieces."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

from reservations.server import LISTEN_BACKLOG

ROOT = Path(__file__).resolve().parent.parent


# `reservations serve` of the checkout a process starts in (its working directory).
SERVE = (sys.executable, "-m", "reservations", "serve")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant (workers of `serve --workers N`); [] once it is gone."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def listening_pids(pid: int, port: int, *, workers_only: bool = False) -> set[int]:
    """The pids of the process tree (only its children with `workers_only`) listening on
    `port`."""
    tree = process_tree(pid)
    listening = set()
    for process in tree[1:] if workers_only else tree:
        with contextlib.suppress(psutil.Error):  # a killed one, before the parent reaped it
            connections = process.net_connections(kind="tcp")
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
                listening.add(process.pid)
    return listening


def kill_tree(pid: int) -> None:
    """SIGKILL the process and all its descendants, whatever state they are in."""
    for process in reversed(process_tree(pid)):
        with contextlib.suppress(psutil.Error):
            process.kill()


class Server:
    """`python -m reservations serve --port P --workers N` as a subprocess, of the checkout at
    `root` (this one, or another revision's worktree: bench/before.py)."""

    def __init__(self, env: dict[str, str], workers: int, log_dir: Path, root: Path = ROOT) -> None:
        self.env = env
        self.workers = workers
        self.root = root
        self.port = free_port()
        self.log_path = log_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 60.0) -> None:
        env = {**os.environ, **self.env}
        env.pop("PYTHONSTARTUP", None)
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: ASYNC220 - a start, not a wait
            [
                *SERVE,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=env,
            cwd=self.root,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited; see {self.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not get ready; see {self.log_path}")
                try:
                    async with session.get(f"{self.base_url}/readyz") as response:
                        ready = response.status == 200
                except aiohttp.ClientError:
                    ready = False
                if ready and len(self.listening_pids()) >= self.workers:
                    return
                await asyncio.sleep(0.2)

    def processes(self) -> list[psutil.Process]:
        return [] if self.process is None else process_tree(self.process.pid)

    def listening_pids(self) -> set[int]:
        return set() if self.process is None else listening_pids(self.process.pid, self.port)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its workers have used so far."""
        return cpu_seconds(self.processes())

    def rss(self) -> int:
        """Resident memory of the server and its workers, in bytes."""
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def stop(self) -> None:
        if self.process is None:
            return
        processes = self.processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                pass
        for process in processes:
            with contextlib.suppress(psutil.Error):
                if process.is_running():
                    process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.process = None
        self.log.close()


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class BareServer:
    """`python -m bench.bare` in `workers` processes sharing one port (SO_REUSEPORT), each
    answering every GET with `answer` ({"status", "body_base64", "headers"}) from memory."""

    def __init__(self, answer: dict[str, Any], workers: int, log_dir: Path) -> None:
        self.workers = workers
        self.port = free_port()
        self.log_path = log_dir / f"bare-{self.port}.log"
        handle, path = tempfile.mkstemp(prefix="bench-bare-", suffix=".json")
        with os.fdopen(handle, "wb") as answer_file:
            answer_file.write(orjson.dumps({**answer, "backlog": LISTEN_BACKLOG}))
        self.answer_path = Path(path)
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return cpu_seconds([psutil.Process(process.pid) for process in self.processes])

    async def start(self, within: float = 30.0) -> None:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONSTARTUP"}
        self.log = self.log_path.open("wb")
        for _ in range(self.workers):
            self.processes.append(
                subprocess.Popen(  # noqa: ASYNC220 - a start, not a wait
                    [sys.executable, "-m", "bench.bare", str(self.port), str(self.answer_path)],
                    env=env,
                    cwd=ROOT,
                    stdout=self.log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + within
        while True:
            if any(process.poll() is not None for process in self.processes):
                raise RuntimeError(f"a bare server exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare servers did not get ready; see {self.log_path}")
            if self.listening() >= self.workers:
                return
            await asyncio.sleep(0.2)

    def listening(self) -> int:
        count = 0
        for process in self.processes:
            with contextlib.suppress(psutil.Error):
                for conn in psutil.Process(process.pid).net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN and conn.laddr.port == self.port:
                        count += 1
                        break
        return count

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes = []
        self.log.close()
        self.answer_path.unlink(missing_ok=True)


class Worker:
    """One `python -m bench.worker` process (see bench/worker.py for the line protocol)."""

    def __init__(self, spec: dict[str, Any], log_dir: Path) -> None:
        self.spec = spec
        self.log_dir = log_dir
        self.process: asyncio.subprocess.Process | None = None
        self.ready_event: dict[str, Any] = {}

    async def launch(self) -> None:
        handle, path = tempfile.mkstemp(prefix=f"bench-{self.spec['kind']}-", suffix=".json")
        with os.fdopen(handle, "wb") as spec_file:
            spec_file.write(orjson.dumps(self.spec))
        self.spec_path = Path(path)
        self.log = (self.log_dir / f"worker-{self.spec['kind']}.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.worker",
            path,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log,
            limit=256 * 1024 * 1024,
        )

    async def _event(self, within: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"worker {self.spec['kind']} ended early; see {self.log.name}")
        return dict(orjson.loads(line))

    async def ready(self, within: float = 120.0) -> dict[str, Any]:
        self.ready_event = await self._event(within)
        assert self.ready_event["event"] == "ready", self.ready_event
        return self.ready_event

    def send(self, **command: Any) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(command) + b"\n")

    async def result(self, within: float) -> dict[str, Any]:
        try:
            event = await self._event(within)
            assert event["event"] == "result", event
            return event
        finally:
            await self.close()

    async def close(self) -> None:
        if self.process is not None:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.stdin.close()  # type: ignore[union-attr]
                try:
                    await asyncio.wait_for(self.process.wait(), 10)
                except TimeoutError:
                    self.process.kill()
                    await self.process.wait()
            self.process = None
            self.log.close()
            self.spec_path.unlink(missing_ok=True)


async def run_together(
    specs: list[dict[str, Any]], log_dir: Path, within: float, delay: float = 0.5
) -> list[dict[str, Any]]:
    """Launch workers, wait until every one is ready, start them at one moment, collect."""
    workers = [Worker(spec, log_dir) for spec in specs]
    try:
        for worker in workers:
            await worker.launch()
        for worker in workers:
            await worker.ready()
        start_at = time.monotonic() + delay
        for worker in workers:
            worker.send(start=start_at)
        return list(await asyncio.gather(*(worker.result(within) for worker in workers)))
    finally:
        for worker in workers:
            await worker.close()
