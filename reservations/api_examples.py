"""The error examples of the API docs: each operation's documented errors show its own codes.

Every error answer has one shape, so the spec's schema alone would show the same made-up body
everywhere. Here each operation names the codes it can answer per status (the first one is the
example Swagger UI shows, all of them are listed in the description), and each code's message
is the one the code really sends: it is read from the `ApiError` subclass with that code.
`tests/contract/test_api_docs.py` checks that every code named here is a real one.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError

SEAT = "5b0e2c1a-8d9f-4e3b-a1c2-3d4e5f6a7b8c"

# Statuses every operation shares, and their codes (an operation's own list comes first).
COMMON_CODES: dict[int, list[str]] = {
    400: ["invalid_json"],
    401: ["unauthorized"],
    403: ["forbidden"],
    404: ["not_found"],
    409: ["conflict"],
    413: ["payload_too_large"],
    415: ["unsupported_media_type"],
    422: ["validation_error"],
    429: ["rate_limited"],
    503: ["database_unavailable", "busy"],
}

# Messages of codes whose class builds its message at run time, or that have no class.
MESSAGES: dict[str, str] = {
    "invalid_json": "The body is not valid JSON.",
    "validation_error": "Some fields are invalid.",
    "too_many_seats": "One person can hold at most 10 seats of a showtime.",
    "forbidden": "This needs an admin account.",
    "rate_limited": "Too many attempts; try again later.",
}

DETAILS: dict[str, dict[str, Any]] = {
    "invalid_json": {"reason": "Expecting value: line 1 column 1 (char 0)"},
    "validation_error": {
        "location": "json",
        "fields": {"name": ["Missing data for required field."]},
    },
    "rate_limited": {"retry_after_seconds": 30},
    "seat_unavailable": {"unavailable_seat_ids": [SEAT]},
    "seats_not_held": {"seat_ids": [SEAT]},
    "hold_expired": {"seat_ids": [SEAT]},
    "unknown_seats": {"seat_ids": [SEAT]},
    "too_many_seats": {"max_seats_per_hold": 10, "requested_total": 12},
    "not_enough_seats": {"requested_count": 4, "available_count": 2},
    "would_strand_seat": {"stranded_seat_ids": [SEAT]},
    "email_taken": {"email": "ann@example.com"},
    "theater_name_taken": {"name": "Hall 1"},
    "theater_in_use": {"theater_id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"},
    "showtime_overlap": {
        "theater_id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        "conflicting_showtime_id": "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b",
        "conflicting_movie_title": "Heat",
        "conflicting_start_time": "2026-12-10T19:00:00+00:00",
        "conflicting_end_time": "2026-12-10T21:50:00+00:00",
        "conflicting_busy_until": "2026-12-10T22:05:00+00:00",
        "conflicting_local_start": "2026-12-10T20:00",
        "conflicting_local_end": "2026-12-10T22:50",
        "cinema_tz": "Europe/Berlin",
    },
    "invalid_date_range": {
        "location": "query",
        "fields": {"end_date": ["Must not be before start_date."]},
        "start_date": "2026-12-31",
        "end_date": "2026-12-01",
    },
    "image_too_large": {"max_pixels": 40000000},
    "ticket_forged": {"reason": "bad_signature"},
    "already_admitted": {
        "admitted_at": "2026-12-01T18:42:10+00:00",
        "device": "door-2",
        "seat_ids": [SEAT],
        "remaining_seat_ids": [],
        "admissions": [
            {
                "checkin_id": "0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "admitted_at": "2026-12-01T18:42:10+00:00",
                "device": "door-2",
                "seat_ids": [SEAT],
            }
        ],
    },
    "checkin_not_open": {
        "opens_at": "2026-12-01T18:00:00+00:00",
        "start_time": "2026-12-01T19:00:00+00:00",
    },
    "wrong_showtime": {
        "showtime_id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        "start_time": "2026-12-01T21:30:00+00:00",
    },
    "showtime_ended": {"end_time": "2026-12-01T21:10:00+00:00"},
    "reservation_cancelled": {"cancelled_at": "2026-11-30T10:00:00+00:00"},
    "seats_not_on_ticket": {"seat_ids": [SEAT]},
    "unsupported_image": {"detected_format": "GIF"},
}

# What each operation can answer beyond the common codes, by status (first: the example).
OPERATION_CODES: dict[tuple[str, str], dict[int, list[str]]] = {
    ("POST", "/api/v1/auth/register"): {
        409: ["email_taken"],
        422: ["validation_error", "password_too_long"],
    },
    ("POST", "/api/v1/auth/login"): {401: ["invalid_credentials"]},
    ("POST", "/api/v1/auth/password-reset/confirm"): {
        422: ["token_invalid", "validation_error"],
    },
    ("POST", "/api/v1/auth/verify-email"): {422: ["token_invalid", "validation_error"]},
    ("POST", "/api/v1/admin/emails/{id}/retry"): {
        404: ["email_not_found"],
        409: ["email_not_failed"],
    },
    ("GET", "/api/v1/admin/emails/{id}"): {404: ["email_not_found"]},
    ("POST", "/api/v1/admin/users/{id}/promote"): {404: ["not_found"]},
    ("GET", "/api/v1/movies/{id}"): {404: ["movie_not_found"]},
    ("PUT", "/api/v1/movies/{id}"): {404: ["movie_not_found"], 409: ["conflict"]},
    ("DELETE", "/api/v1/movies/{id}"): {404: ["movie_not_found"], 409: ["movie_has_reservations"]},
    ("GET", "/api/v1/movies/{id}/showtimes"): {404: ["movie_not_found"]},
    ("POST", "/api/v1/movies/{id}/poster"): {
        404: ["movie_not_found"],
        413: ["payload_too_large"],
        415: ["unsupported_image", "unsupported_media_type"],
        422: ["image_too_large", "invalid_image", "validation_error"],
        400: ["bad_request"],
    },
    ("GET", "/posters/{name}"): {404: ["not_found"]},
    ("POST", "/api/v1/theaters"): {409: ["theater_name_taken"]},
    ("GET", "/api/v1/theaters/{id}"): {404: ["theater_not_found"]},
    ("PUT", "/api/v1/theaters/{id}"): {404: ["theater_not_found"], 409: ["theater_name_taken"]},
    ("DELETE", "/api/v1/theaters/{id}"): {404: ["theater_not_found"], 409: ["theater_in_use"]},
    ("POST", "/api/v1/admin/users/{id}/revoke-sessions"): {404: ["not_found"]},
    ("POST", "/api/v1/showtimes"): {
        404: ["movie_not_found", "theater_not_found"],
        409: ["showtime_overlap"],
        422: ["start_in_past", "validation_error"],
    },
    ("GET", "/api/v1/showtimes/{id}"): {404: ["showtime_not_found"]},
    ("PUT", "/api/v1/showtimes/{id}"): {
        404: ["showtime_not_found"],
        409: ["showtime_has_reservations", "showtime_overlap"],
        422: ["start_in_past", "validation_error"],
    },
    ("DELETE", "/api/v1/showtimes/{id}"): {404: ["showtime_not_found"]},
    ("POST", "/api/v1/showtimes/{id}/lock-seats"): {
        403: ["email_not_verified"],
        409: ["seat_unavailable", "showtime_started", "would_strand_seat"],
        422: ["too_many_seats", "unknown_seats", "validation_error"],
    },
    ("DELETE", "/api/v1/showtimes/{id}/lock-seats"): {
        409: ["would_strand_seat"],
        422: ["unknown_seats", "validation_error"],
    },
    ("POST", "/api/v1/showtimes/{id}/best-available"): {
        403: ["email_not_verified"],
        409: ["not_enough_seats", "showtime_started"],
        422: ["too_many_seats", "validation_error"],
    },
    ("GET", "/api/v1/showtimes/{id}/stranded-seats"): {422: ["unknown_seats", "validation_error"]},
    ("POST", "/api/v1/reservations"): {
        400: ["invalid_json", "bad_request"],
        409: [
            "seats_not_held",
            "hold_expired",
            "seat_unavailable",
            "showtime_started",
            "request_in_flight",
            "would_strand_seat",
        ],
        422: ["validation_error", "idempotency_key_reused"],
    },
    ("DELETE", "/api/v1/reservations/{id}"): {409: ["showtime_started"]},
    ("GET", "/ws/showtimes/{id}"): {400: ["bad_request"], 403: ["forbidden"]},
    ("POST", "/api/v1/admin/users/{id}/role"): {404: ["not_found"]},
    ("POST", "/api/v1/checkins"): {
        404: ["ticket_unknown"],
        409: [
            "already_admitted",
            "reservation_cancelled",
            "wrong_showtime",
            "checkin_not_open",
            "showtime_ended",
        ],
        422: ["ticket_forged", "seats_not_on_ticket", "nonce_reused", "validation_error"],
    },
    ("DELETE", "/api/v1/checkins/{id}"): {404: ["checkin_not_found"]},
    ("GET", "/api/v1/showtimes/{id}/checkins"): {404: ["showtime_not_found"]},
    ("GET", "/api/v1/showtimes/{id}/tickets"): {404: ["showtime_not_found"]},
    ("GET", "/api/v1/admin/reports/capacity"): {422: ["invalid_date_range", "validation_error"]},
    ("GET", "/api/v1/admin/reports/revenue"): {422: ["invalid_date_range", "validation_error"]},
    ("GET", "/api/v1/admin/reports/popular-movies"): {
        422: ["invalid_date_range", "validation_error"]
    },
}


def _subclasses(cls: type[ApiError]) -> list[type[ApiError]]:
    found: list[type[ApiError]] = []
    pending = [cls]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found


def known_codes() -> dict[str, tuple[int, str]]:
    """code -> (status, message) of every ApiError subclass imported so far (the first wins)."""
    codes: dict[str, tuple[int, str]] = {}
    classes: list[type[ApiError]] = [ApiError, *_subclasses(ApiError)]
    for cls in classes:
        codes.setdefault(cls.code, (cls.status, cls.message))
    return codes


def _body_field(apispec: dict[str, Any]) -> tuple[str, str] | None:
    """(location, name) of the first field of the operation's body or query schema."""
    for entry in apispec.get("schemas", []):
        schema = entry.get("schema")
        names = list(getattr(schema, "fields", None) or getattr(schema, "_declared_fields", {}))
        if names:
            location = "json" if entry.get("location") == "json" else "query"
            return location, names[0]
    return None


def example(
    code: str, status: int, apispec: dict[str, Any], known: dict[str, tuple[int, str]]
) -> dict:
    _, class_message = known.get(code, (status, ""))
    message = MESSAGES.get(code) or class_message
    details = dict(DETAILS.get(code, {}))
    if code == "validation_error":
        field = _body_field(apispec)
        if field is not None:
            location, name = field
            details = {
                "location": location,
                "fields": {
                    name: [
                        "Missing data for required field."
                        if location == "json"
                        else "Not a valid value."
                    ]
                },
            }
            if location == "query":
                message = "Some parameters are invalid."
    return {"error": {"code": code, "message": message, "details": details}}


def annotate(method: str, path: str, apispec: dict[str, Any]) -> None:
    """Give each error answer of one operation its own example and list its codes."""
    own = OPERATION_CODES.get((method.upper(), path), {})
    known = known_codes()
    for key, answer in list(apispec.get("responses", {}).items()):
        status = int(key)
        if status < 400:
            continue
        codes = own.get(status) or COMMON_CODES.get(status) or []
        if not codes:
            continue
        answer = dict(answer)
        answer["examples"] = {"application/json": example(codes[0], status, apispec, known)}
        listed = ", ".join(f"`{code}`" for code in codes)
        answer["description"] = f"{answer.get('description', '')}: {listed}".lstrip(": ")
        apispec["responses"][key] = answer
