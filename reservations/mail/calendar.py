"""The booking's .ics attachment (RFC 5545): one event in the cinema's time zone.

The event's times carry the zone's IANA name (TZID), with a VTIMEZONE giving the offset in
force on the day, so a calendar shows the local time the cinema printed whatever zone the
reader's phone is in.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        piece = char.encode()
        if len(current) + len(piece) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += piece
    parts.append(current.decode())
    return "\r\n ".join(parts)


def _offset(delta: dt.timedelta | None) -> str:
    seconds = int((delta or dt.timedelta()).total_seconds())
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}{seconds % 3600 // 60:02d}"


def event(
    *,
    uid: str,
    summary: str,
    location: str,
    description: str,
    start: dt.datetime,
    end: dt.datetime,
    zone: ZoneInfo,
    url: str,
    stamp: dt.datetime,
) -> bytes:
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    offset = _offset(local_start.utcoffset())
    name = str(zone.key)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//reservations//tickets//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VTIMEZONE",
        f"TZID:{name}",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        f"TZOFFSETFROM:{offset}",
        f"TZOFFSETTO:{offset}",
        f"TZNAME:{local_start.tzname() or name}",
        "END:STANDARD",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
        f"DTSTART;TZID={name}:{local_start:%Y%m%dT%H%M%S}",
        f"DTEND;TZID={name}:{local_end:%Y%m%dT%H%M%S}",
        f"SUMMARY:{_escape(summary)}",
        f"LOCATION:{_escape(location)}",
        f"DESCRIPTION:{_escape(description)}",
        f"URL:{url}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode()
