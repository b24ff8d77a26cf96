"""Check-in routes: thin handlers for the scanners at the door and the admins."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from ..accounts.access import admin_only, current_user, usher_only
from ..api import error_responses, json_response, no_content, path_uuid, uuid_path
from ..context import POOL, SETTINGS, TICKET_SIGNER
from . import service
from .schemas import (
    BatchRequest,
    BatchResponse,
    CheckinRequest,
    CheckinSchema,
    KeysResponse,
    ShowtimeCheckinsResponse,
    ShowtimeTicketsResponse,
)

routes = web.RouteTableDef()

REFUSALS_TEXT = (
    "Refusals: 404 ticket_unknown, 422 ticket_forged (details.reason: malformed, unknown_key "
    "or bad_signature), 409 already_admitted (details: admitted_at, device, seat_ids, "
    "remaining_seat_ids, admissions), 409 reservation_cancelled, 409 wrong_showtime, 409 "
    "checkin_not_open (details.opens_at; CHECKIN_OPENS_MINUTES before the start), 409 "
    "showtime_ended, 422 seats_not_on_ticket, 422 nonce_reused."
)


def _scan(data: dict[str, Any]) -> service.Scan:
    return service.Scan(
        code=data["code"],
        nonce=data["nonce"],
        showtime_id=data["showtime_id"],
        seat_ids=data["seat_ids"],
        device=data["device"],
        scanned_at=data.get("scanned_at"),
    )


@routes.post("/api/v1/checkins")
@docs(
    tags=["checkin"],
    summary="Admit a ticket's seats at the door (ushers and admins)",
    description="Each seat of a reservation is admitted at most once under any concurrency; "
    "the database enforces it. Without seat_ids every seat not admitted yet is admitted. "
    + REFUSALS_TEXT,
)
@usher_only
@request_schema(CheckinRequest, required=True)
@response_schema(CheckinSchema, 201, description="Admitted")
@response_schema(CheckinSchema, 200, description="The nonce was seen before: the first result")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
async def check_in(request: web.Request) -> web.Response:
    checkin, created = await service.check_in(
        request.app[POOL],
        request.app[TICKET_SIGNER],
        _scan(request["data"]),
        current_user(request)["id"],
        request.app[SETTINGS].checkin_opens_minutes,
    )
    return json_response(checkin, status=201 if created else 200)


@routes.post("/api/v1/checkins/batch")
@docs(
    tags=["checkin"],
    summary="Upload scans made offline (ushers and admins)",
    description="Each scan is admitted or refused on its own, the earliest scan first; nothing "
    "is admitted twice. A scan whose seats another scan admitted first is a `conflict` with "
    "that admission in error.details. " + REFUSALS_TEXT,
)
@usher_only
@request_schema(BatchRequest, required=True)
@response_schema(BatchResponse, 200, description="One result per scan")
@error_responses(400, 401, 403, 413, 415, 422)
async def check_in_batch(request: web.Request) -> web.Response:
    results = await service.check_in_batch(
        request.app[POOL],
        request.app[TICKET_SIGNER],
        [_scan(scan) for scan in request["data"]["scans"]],
        current_user(request)["id"],
        request.app[SETTINGS].checkin_opens_minutes,
    )
    return json_response({"results": results})


@routes.get("/api/v1/checkins/keys")
@docs(
    tags=["checkin"],
    summary="The public keys that verify ticket codes offline (ushers and admins)",
    description="A code `<kid>.<ticket code>.<signature>` verifies when the Ed25519 signature "
    "(base64url) of the bytes `<kid>.<ticket code>` checks with the key of that kid.",
)
@usher_only
@response_schema(KeysResponse, 200, description="The keys")
@error_responses(401, 403)
async def keys(request: web.Request) -> web.Response:
    return json_response({"keys": request.app[TICKET_SIGNER].public_keys()})


# The id is a UUID in the route itself: /checkins/batch and /checkins/keys are other resources,
# and a 405 there must not offer this one's DELETE.
@routes.delete("/api/v1/checkins/{id:[0-9a-fA-F-]{32,36}}")
@docs(
    tags=["checkin"],
    summary="Undo a mistaken admission (admins)",
    description="The check-in stays on record with undone_at; its seats may be admitted again. "
    "Undoing again changes nothing.",
    responses={"204": {"description": "Undone"}},
)
@admin_only
@uuid_path("The check-in")
@error_responses(401, 403, 404)
async def undo(request: web.Request) -> web.Response:
    await service.undo(request.app[POOL], path_uuid(request), current_user(request)["id"])
    return no_content()


@routes.get("/api/v1/showtimes/{id}/checkins")
@docs(
    tags=["checkin"],
    summary="A showtime's admissions (ushers and admins)",
    description="Every check-in, undone ones too, in the order they were admitted; seats sold "
    "and admitted (no-shows: sold_seats - admitted_seats).",
)
@usher_only
@uuid_path("The showtime")
@response_schema(ShowtimeCheckinsResponse, 200, description="The admissions")
@error_responses(401, 403, 404)
async def showtime_checkins(request: web.Request) -> web.Response:
    return json_response(await service.showtime_checkins(request.app[POOL], path_uuid(request)))


@routes.get("/api/v1/showtimes/{id}/tickets")
@docs(
    tags=["checkin"],
    summary="A showtime's tickets, for a scanner to answer offline (ushers and admins)",
    description="Every reservation of the showtime (cancelled ones too, to refuse them) with "
    "its seats and the seats already admitted.",
)
@usher_only
@uuid_path("The showtime")
@response_schema(ShowtimeTicketsResponse, 200, description="The tickets")
@error_responses(401, 403, 404)
async def showtime_tickets(request: web.Request) -> web.Response:
    return json_response(
        await service.showtime_tickets(
            request.app[POOL],
            request.app[TICKET_SIGNER],
            path_uuid(request),
            request.app[SETTINGS].checkin_opens_minutes,
        )
    )


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
