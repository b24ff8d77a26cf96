"""Booking routes: thin handlers that parse, call the service and answer."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from .. import representations
from ..accounts.access import current_user, maybe_user, optional_user, user_only
from ..accounts.email_tokens import require_verified_email
from ..api import error_responses, json_response, no_content, page_of, path_uuid, uuid_path
from ..context import METRICS, POOL, SEAT_CHANGE_QUEUES, SEAT_MAPS, SETTINGS, TICKET_SIGNER
from ..prices import guessing
from ..prices.errors import VoucherInvalid
from . import holds, reservations, seat_map
from .schemas import (
    BestAvailableRequest,
    HoldSchema,
    LockSeatsRequest,
    ReleaseSeatsRequest,
    ReservationListQuery,
    ReservationPageSchema,
    ReservationRequest,
    ReservationSchema,
    SeatMapSchema,
    StrandedSeatsQuery,
    StrandedSeatsSchema,
)

routes = web.RouteTableDef()

IDEMPOTENCY_KEY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "type": "string",
    "required": False,
    "minLength": 1,
    "maxLength": reservations.MAX_IDEMPOTENCY_KEY_LENGTH,
    # Printable ASCII, and not only spaces (HTTP trims them off a header value).
    "pattern": r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$",
    "description": "Any 1 to 255 printable ASCII characters, unique per booking attempt and kept "
    "at least 24 hours per user. A retry with the same key and body returns the first "
    "reservation (200) and books nothing more; the same key with another body is a 422; while "
    "the first request is still running, 409 request_in_flight.",
}


@routes.get("/api/v1/showtimes/{id}/seats")
@docs(
    tags=["booking"],
    summary="The seat map of a showtime",
    description="Each seat is available, held or sold; a hold past its expiry counts as "
    "available at once. With a token, seats the caller holds carry held_by_me. Conditional and "
    "compressed: the answer carries a weak ETag that changes with every change of the map "
    "(its version, a price, an expiring hold) and, for a map with held_by_me, with the caller; "
    "Cache-Control no-cache (private with a token). Send the ETag back in If-None-Match: while "
    "the map is unchanged the answer is 304 with no body. With Accept-Encoding br or gzip the "
    "body comes compressed (Content-Encoding, Vary: Accept-Encoding).",
    parameters=[representations.IF_NONE_MATCH_HEADER],
    responses={304: representations.NOT_MODIFIED_DOC},
)
@optional_user
@uuid_path("The showtime")
@response_schema(SeatMapSchema, 200, description="The seat map")
@error_responses(404)
async def get_seat_map(request: web.Request) -> web.Response:
    user = maybe_user(request)
    showtime_id = path_uuid(request)
    cache = request.app[SEAT_MAPS]
    if user is None:
        answer = await seat_map.seat_map_answer(request.app[POOL], cache, showtime_id, None)
        return representations.answer(request, answer)
    # A map with held_by_me is the caller's own: never kept by a shared cache.
    cache_control, vary = representations.PRIVATE_NO_CACHE, "Accept-Encoding, Authorization"
    tag = cache.personal_tag(showtime_id, user["id"])
    if tag is not None and representations.matches(request, (tag,)):
        return representations.not_modified(f'W/"{tag}"', cache_control, vary)
    answer = await seat_map.seat_map_answer(request.app[POOL], cache, showtime_id, user["id"])
    return representations.answer(request, answer, cache_control, vary)


@routes.post("/api/v1/showtimes/{id}/lock-seats")
@docs(
    tags=["booking"],
    summary="Hold seats for a limited time",
    description="All of the seats or none. Holding again adds seats to the caller's hold for "
    "this showtime and renews its expiry. The single-seat gap rule (SINGLE_SEAT_GAP_RULE) "
    "judges the caller's whole hold: under warn (the default) the hold lists the single empty "
    "seats it strands in stranded_seat_ids; under enforce such a request is refused. Errors: "
    "409 seat_unavailable (details.unavailable_seat_ids), 409 would_strand_seat "
    "(details.stranded_seat_ids), 409 showtime_started, 422 unknown_seats (details.seat_ids: "
    "not in this showtime's theater), 422 too_many_seats, 403 email_not_verified (with "
    "REQUIRE_VERIFIED_EMAIL=true, for a user whose address is not verified), 409 "
    "user_seat_limit (the caller's held plus booked seats of the showtime would pass "
    "MAX_SEATS_PER_USER_PER_SHOWTIME), 409 too_many_showtimes_held (seats of "
    "MAX_SHOWTIMES_HELD_PER_USER other showtimes are held already; details.max_showtimes_held, "
    "details.held_showtimes: [{showtime_id, movie_title, start_time, hold_expires_at}], earliest "
    "show first).",
)
@user_only
@uuid_path("The showtime")
@request_schema(LockSeatsRequest, required=True)
@response_schema(HoldSchema, 201, description="The caller's hold, with every seat in it")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
async def lock_seats(request: web.Request) -> web.Response:
    require_verified_email(request.app[SETTINGS], current_user(request))
    hold, added = await holds.hold_seats(
        request.app[POOL],
        request.app[SETTINGS],
        current_user(request)["id"],
        path_uuid(request),
        request["data"]["seat_ids"],
        request.app[SEAT_MAPS],
        request.app[SEAT_CHANGE_QUEUES],
    )
    request.app[METRICS].holds.inc()
    request.app[METRICS].held_seats.inc(added)
    return json_response(hold, status=201)


@routes.post("/api/v1/showtimes/{id}/best-available")
@docs(
    tags=["booking"],
    summary="Hold the best available seats",
    description="Picks the best `count` free seats and holds them at once, like lock-seats "
    "(adds to the caller's hold, renews it, same cap). Best means side by side in one row when "
    "possible, else split over as few pieces as possible in one row or adjacent rows; as close "
    "to the hall's centre line and the ideal row (about 60% of the way back) as possible; never "
    "leaving a single empty seat stranded. Two people asking at once get different seats. "
    "Filters: seat_type, accessible. Errors: 409 not_enough_seats (details.requested_count, "
    "details.available_count: free seats matching the filter), 409 showtime_started, 422 "
    "too_many_seats, 409 too_many_showtimes_held (details.held_showtimes names them, as for "
    "lock-seats), 403 email_not_verified (REQUIRE_VERIFIED_EMAIL).",
)
@user_only
@uuid_path("The showtime")
@request_schema(BestAvailableRequest, required=True)
@response_schema(HoldSchema, 201, description="The caller's hold, with every seat in it")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
async def best_available(request: web.Request) -> web.Response:
    require_verified_email(request.app[SETTINGS], current_user(request))
    data = request["data"]
    hold, added = await holds.hold_best_seats(
        request.app[POOL],
        request.app[SETTINGS],
        current_user(request)["id"],
        path_uuid(request),
        data["count"],
        data["seat_type"],
        data["accessible"],
        request.app[SEAT_MAPS],
        request.app[SEAT_CHANGE_QUEUES],
    )
    request.app[METRICS].holds.inc()
    request.app[METRICS].held_seats.inc(added)
    return json_response(hold, status=201)


@routes.get("/api/v1/showtimes/{id}/stranded-seats")
@docs(
    tags=["booking"],
    summary="Would these seats strand a single empty seat?",
    description="Judges the selection lock-seats would judge (the caller's hold, with a token, "
    "plus seat_ids) without holding anything, so that the seat-selection page can warn before "
    "the person holds or confirms. Errors: 422 unknown_seats.",
)
@optional_user
@uuid_path("The showtime")
@querystring_schema(StrandedSeatsQuery)
@response_schema(StrandedSeatsSchema, 200, description="The stranded seats, if any")
@error_responses(404, 422)
async def stranded_seats(request: web.Request) -> web.Response:
    user = maybe_user(request)
    result = await holds.check_stranded_seats(
        request.app[POOL],
        request.app[SETTINGS],
        path_uuid(request),
        user["id"] if user else None,
        request["querystring"]["seat_ids"],
    )
    return json_response(result)


@routes.delete("/api/v1/showtimes/{id}/lock-seats")
@docs(
    tags=["booking"],
    summary="Release held seats",
    description="Releases the listed seats of the caller's hold on this showtime, or all of "
    "them without a body. Seats the caller does not hold are ignored. With "
    "SINGLE_SEAT_GAP_RULE=enforce, releasing some of the seats so that the rest would strand "
    "a single empty seat is refused: 409 would_strand_seat (details.stranded_seat_ids); "
    "releasing the whole hold always succeeds.",
    responses={"204": {"description": "Released"}},
)
@user_only
@uuid_path("The showtime")
@request_schema(ReleaseSeatsRequest)
@error_responses(400, 401, 404, 409, 413, 415, 422)
async def release_seats(request: web.Request) -> web.Response:
    await holds.release_seats(
        request.app[POOL],
        current_user(request)["id"],
        path_uuid(request),
        request["data"]["seat_ids"],
        request.app[SEAT_MAPS],
        request.app[SETTINGS].single_seat_gap_rule,
        request.app[SEAT_CHANGE_QUEUES],
    )
    return no_content()


@routes.post("/api/v1/reservations")
@docs(
    tags=["booking"],
    summary="Book held seats",
    description="Turns the caller's live hold on every listed seat into a confirmed "
    "reservation; prices are fixed now, by the service: each seat at the price of its ticket "
    "type (`tickets`, seat id to code; seats not named are the default type), less the "
    "voucher's discount (`voucher_code`). Errors: 409 hold_expired, 409 seats_not_held "
    "(details.seat_ids), 409 showtime_started, 409 request_in_flight, 409 price_changed, 409 "
    "voucher_exhausted, 422 unknown_ticket_type (details.codes), 422 voucher_invalid, 422 "
    "idempotency_key_reused, 400 invalid_idempotency_key, 429 rate_limited (too many wrong "
    "voucher codes, counted with POST /vouchers/check's), 409 would_strand_seat (with "
    "SINGLE_SEAT_GAP_RULE=enforce, booking part of a hold when those seats alone would strand "
    "a single empty seat; details.stranded_seat_ids).",
    parameters=[IDEMPOTENCY_KEY_HEADER],
)
@user_only
@request_schema(ReservationRequest, required=True)
@response_schema(ReservationSchema, 201, description="The new reservation")
@response_schema(
    ReservationSchema, 200, description="A retry with the same Idempotency-Key: the first booking"
)
@error_responses(400, 401, 404, 409, 413, 415, 422, 429)
async def create_reservation(request: web.Request) -> web.Response:
    key = reservations.check_idempotency_key(request.headers.get("Idempotency-Key"))
    data = request["data"]
    pool, settings, user_id = request.app[POOL], request.app[SETTINGS], current_user(request)["id"]
    try:
        reservation, created = await reservations.reserve(
            pool,
            user_id,
            data["showtime_id"],
            data["seat_ids"],
            key,
            data.get("expected_total"),
            request.app[SEAT_MAPS],
            data["tickets"],
            data["voucher_code"],
            settings.single_seat_gap_rule,
            request.app[SEAT_CHANGE_QUEUES],
            guessing.booking_check(settings, user_id) if data["voucher_code"] else None,
        )
    except VoucherInvalid:
        await guessing.note_wrong_code(pool, settings, user_id)
        raise
    if created:
        request.app[METRICS].reservations.inc()
    return json_response(_with_qr_payload(request, reservation), status=201 if created else 200)


@routes.get("/api/v1/reservations")
@docs(
    tags=["booking"],
    summary="The caller's reservations",
    description="Upcoming ones first (soonest first); with include_past=true also those whose "
    "show has started, after them, most recent first. Cancelled ones are listed too.",
)
@user_only
@querystring_schema(ReservationListQuery)
@response_schema(ReservationPageSchema, 200, description="A page of reservations")
@error_responses(401, 422)
async def list_reservations(request: web.Request) -> web.Response:
    query = request["querystring"]
    page, total = await reservations.list_reservations(
        request.app[POOL],
        current_user(request)["id"],
        query["include_past"],
        query["page"],
        query["page_size"],
    )
    page = [_with_qr_payload(request, reservation) for reservation in page]
    return json_response(page_of("reservations", page, total, query["page"], query["page_size"]))


@routes.get("/api/v1/reservations/{id}")
@docs(tags=["booking"], summary="One reservation (its owner or an admin)")
@user_only
@uuid_path("The reservation")
@response_schema(ReservationSchema, 200, description="The reservation")
@error_responses(401, 404)
async def get_reservation(request: web.Request) -> web.Response:
    reservation = await reservations.get_reservation(
        request.app[POOL], current_user(request), path_uuid(request)
    )
    return json_response(_with_qr_payload(request, reservation))


@routes.delete("/api/v1/reservations/{id}")
@docs(
    tags=["booking"],
    summary="Cancel a reservation (its owner or an admin)",
    description="Before the show starts: status cancelled, the record stays, the seats are free "
    "at once. Cancelling a cancelled reservation returns it unchanged. 409 showtime_started once "
    "the show has started.",
)
@user_only
@uuid_path("The reservation")
@response_schema(ReservationSchema, 200, description="The cancelled reservation")
@error_responses(401, 404, 409)
async def cancel_reservation(request: web.Request) -> web.Response:
    reservation, reason = await reservations.cancel_reservation(
        request.app[POOL], current_user(request), path_uuid(request), request.app[SEAT_MAPS]
    )
    if reason is not None:
        request.app[METRICS].cancellations.labels(reason).inc()
    return json_response(_with_qr_payload(request, reservation))


def _with_qr_payload(request: web.Request, reservation: dict[str, Any]) -> dict[str, Any]:
    """The reservation with what its ticket's QR code holds: its ticket code signed
    (checkin/codes.py), for its owner or an admin, who are the only ones it is answered to."""
    return {
        **reservation,
        "qr_payload": request.app[TICKET_SIGNER].qr_payload(reservation["ticket_code"]),
    }


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
