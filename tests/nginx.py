"""nginx, the Debian package, in front of `reservations serve` instances, as docs/deploy.md
deploys it: deploy/nginx/reservations.conf used verbatim, only its @...@ placeholders (the
instances' addresses and the listening address) filled in. nginx runs in the foreground with
its own prefix, logs and temporary files under a test's directory."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path

from tests.servers import ROOT, kill_tree

SITE_CONFIG = ROOT / "deploy" / "nginx" / "reservations.conf"
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(path, os.X_OK)), None
)
PLACEHOLDERS = ("@INSTANCE_1@", "@INSTANCE_2@", "@LISTEN@")


def site_config(values: Mapping[str, str], source: Path = SITE_CONFIG) -> str:
    """The site config with each placeholder replaced by `values[placeholder]`, nothing else."""
    text = source.read_text()
    assert set(values) == set(PLACEHOLDERS), "fill in exactly the documented placeholders"
    for placeholder, value in values.items():
        assert placeholder in text, f"{placeholder} is missing from {source}"
        text = text.replace(placeholder, value)
    return text


def main_config(prefix: Path, site: Path) -> str:
    """What a distribution's /etc/nginx/nginx.conf provides around the site config: one worker
    (so that round robin alternates predictably), logs and temporary files under `prefix`."""
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    return f"""
worker_processes 1;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


def write_configs(prefix: Path, instances: tuple[str, str], listen: str, site_source: Path) -> Path:
    """The site config filled in and the main config around it, under `prefix`: the latter."""
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "reservations.conf"
    values = {"@INSTANCE_1@": instances[0], "@INSTANCE_2@": instances[1], "@LISTEN@": listen}
    site.write_text(site_config(values, site_source))
    config = prefix / "nginx.conf"
    config.write_text(main_config(prefix, site))
    return config


def error_log(prefix: Path) -> str:
    log = prefix / "error.log"
    return log.read_text(errors="replace") if log.exists() else ""


async def start_nginx(
    prefix: Path, instances: tuple[str, str], listen: str, site_source: Path = SITE_CONFIG
) -> asyncio.subprocess.Process:
    """nginx in the foreground on `listen` ("127.0.0.1:port") in front of `instances`, once it
    accepts connections. As root its worker runs as root too: the test's directories are the
    root user's own, which the distribution's `www-data` could not read."""
    assert NGINX is not None
    config = write_configs(prefix, instances, listen, site_source)
    globals_ = f"daemon off; pid {prefix}/nginx.pid;" + (" user root;" if os.geteuid() == 0 else "")
    process = await asyncio.create_subprocess_exec(
        NGINX,
        "-p", str(prefix),
        "-e", str(prefix / "error.log"),
        "-c", str(config),
        "-g", globals_,
    )  # fmt: skip
    host, port = listen.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while process.returncode is None and loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return process
    await stop_nginx(process)
    raise AssertionError("nginx did not start:\n" + error_log(prefix))


async def stop_nginx(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (nginx's fast shutdown: open connections are closed, not waited for); SIGKILL
    to it and its worker if it has not exited in 5 s."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=5)
    except TimeoutError:
        kill_tree(process)
        await process.wait()
