"""Logging: readable lines by default, one JSON object per line with LOG_FORMAT=json; either
way a record is one line, whatever a client put in the path."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import sys
import time

import orjson
from aiohttp import web

from .context import REQUEST_ID
from .settings import Settings

_EXTRA_FIELDS = ("request_id", "route", "status", "duration_ms", "user_id")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# A request id made here: 64 random bits per process, then a counter (32 hex digits in all).
# Unique across processes and instances, and a tenth of the cost of 16 random bytes a request.
_PROCESS_PREFIX = secrets.token_hex(8)
_REQUEST_COUNTER = itertools.count()
access_log = logging.getLogger("reservations.access")


def request_id_of(request: web.Request) -> str:
    """The client's X-Request-ID when it is a sensible one, else a new one."""
    incoming = request.headers.get("X-Request-ID", "")
    if incoming and _REQUEST_ID.match(incoming):
        return incoming
    return f"{_PROCESS_PREFIX}{next(_REQUEST_COUNTER):016x}"


def log_access(request: web.Request, status: int, started: float) -> None:
    """The access log line of an answered request (`started`: its time.perf_counter())."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    user = request.get("current_user")
    access_log.info(
        "%s %s %s %.1fms",
        request.method,
        request.path,
        status,
        (time.perf_counter() - started) * 1000,
        extra={
            "request_id": request.get(REQUEST_ID),
            "route": request.match_info.route.resource.canonical
            if request.match_info.route.resource
            else None,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "user_id": str(user["id"]) if user else None,
        },
    )


# Control characters (CR, LF and the rest of C0 and C1) and Unicode's line and paragraph
# separators: a request path may carry any of them (`%0A`), and written as they are they would
# start a forged line of the log.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` on one line: each control character written as its escape (`\\n`, `\\x1b`)."""
    return _CONTROLS.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


class TextFormatter(logging.Formatter):
    """Readable lines, one per record: the message's control characters escaped (a traceback
    still follows on lines of its own)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # aiohttp's own access log would duplicate ours.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # pgserver narrates every pg_ctl call at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
