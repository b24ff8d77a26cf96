"""Reports as JSON or, for `Accept: text/csv`, as a CSV file of their rows.

CSV files are opened in spreadsheets, which run a cell starting with = + - @ (or a tab or carriage
return) as a formula; titles and names come from admins' input, so such cells get a leading
single quote (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from ..api import json_response

CSV_TYPE = "text/csv"
JSON_TYPE = "application/json"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _accepted(header: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q-values, in the order given."""
    ranges = []
    for part in header.split(","):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        if not media_type:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media_type.lower(), quality))
    return ranges


def wants_csv(request: web.Request) -> bool:
    """CSV when the client names text/csv and prefers it to JSON (equal q: the first listed)."""
    best: tuple[float, int] | None = None
    chosen = JSON_TYPE
    for position, (media_type, quality) in enumerate(_accepted(request.headers.get("Accept", ""))):
        if media_type not in (CSV_TYPE, JSON_TYPE) or quality <= 0:
            continue
        rank = (quality, -position)
        if best is None or rank > best:
            best, chosen = rank, media_type
    return chosen == CSV_TYPE


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_body(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([csv_cell(row[column]) for column in columns] for row in rows)
    return buffer.getvalue().encode()


def report_response(
    request: web.Request,
    report: dict[str, Any],
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    filename: str,
) -> web.Response:
    """The report as JSON, or its rows as the CSV attachment `filename`."""
    if not wants_csv(request):
        return json_response(report, headers={"Vary": "Accept"})
    return web.Response(
        body=csv_body(rows, columns),
        content_type=CSV_TYPE,
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Vary": "Accept",
        },
    )
