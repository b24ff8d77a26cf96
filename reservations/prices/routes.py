"""Prices routes: thin handlers that parse, call the rules and answer."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from ..accounts.access import admin_only, current_user, maybe_user, optional_user, user_only
from ..api import error_responses, json_response, no_content, page_of, path_uuid, uuid_path
from ..catalog.showtimes import check_price
from ..context import POOL, SEAT_MAPS, SETTINGS
from ..errors import Forbidden
from ..reports.export import CSV_TYPE, JSON_TYPE, report_response
from . import price_cards, ticket_types, vouchers
from .schemas import (
    PriceCardCreateRequest,
    PriceCardListSchema,
    PriceCardSchema,
    PriceCardUpdateRequest,
    SeatTypeSchema,
    SeatTypeUpdateRequest,
    ShowtimePricesSchema,
    TicketTypeCreateRequest,
    TicketTypeListQuery,
    TicketTypeListSchema,
    TicketTypeSchema,
    TicketTypeUpdateRequest,
    VoucherCheckRequest,
    VoucherCheckSchema,
    VoucherCreatedSchema,
    VoucherCreateRequest,
    VoucherListQuery,
    VoucherPageSchema,
)

routes = web.RouteTableDef()

_PRICE_RULE = (
    "A seat's price for a ticket type: the type's fixed_price if set, else (the showtime's price "
    "times the seat type's price_multiplier, plus its surcharge) times (100 - discount_percent) "
    "/ 100, rounded half up to the cent."
)


# ---- ticket types --------------------------------------------------------------------------


@routes.get("/api/v1/ticket-types")
@docs(
    tags=["prices"],
    summary="The ticket types on sale",
    description="Adult (the default), child, senior, student and any an admin added. "
    + _PRICE_RULE
    + " include_inactive=true (admins only, else 403) also lists those no longer sold.",
)
@optional_user
@querystring_schema(TicketTypeListQuery)
@response_schema(TicketTypeListSchema, 200, description="The ticket types, in their order")
@error_responses(403, 422)
async def list_ticket_types(request: web.Request) -> web.Response:
    include_inactive = request["querystring"]["include_inactive"]
    user = maybe_user(request)
    if include_inactive and (user is None or user["role"] != "admin"):
        raise Forbidden("Only admins see the ticket types no longer sold.")
    items = await ticket_types.list_ticket_types(request.app[POOL], include_inactive)
    return json_response({"ticket_types": items})


@routes.post("/api/v1/ticket-types")
@docs(
    tags=["prices"],
    summary="Add a ticket type",
    description="A percent off (discount_percent) or a fixed price (fixed_price), not both; "
    "neither: the full price. 409 ticket_type_code_taken.",
)
@admin_only
@request_schema(TicketTypeCreateRequest, required=True)
@response_schema(TicketTypeSchema, 201, description="The new ticket type")
@error_responses(400, 401, 403, 409, 413, 415, 422)
async def create_ticket_type(request: web.Request) -> web.Response:
    item = await ticket_types.create_ticket_type(request.app[POOL], **request["data"])
    request.app[SEAT_MAPS].prices_changed()
    return json_response(item, status=201)


@routes.put("/api/v1/ticket-types/{id}")
@docs(
    tags=["prices"],
    summary="Change a ticket type: fields present are replaced",
    description="Applies to bookings made from now on; reservations already made keep their "
    "ticket types and prices. The code never changes. Giving discount_percent clears "
    "fixed_price and the other way round. The default type cannot be deactivated (409).",
)
@admin_only
@uuid_path("The ticket type")
@request_schema(TicketTypeUpdateRequest)
@response_schema(TicketTypeSchema, 200, description="The ticket type as it is now")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
async def update_ticket_type(request: web.Request) -> web.Response:
    item = await ticket_types.update_ticket_type(
        request.app[POOL], path_uuid(request), request["data"]
    )
    request.app[SEAT_MAPS].prices_changed()
    return json_response(item)


@routes.delete("/api/v1/ticket-types/{id}")
@docs(
    tags=["prices"],
    summary="Stop selling a ticket type",
    description="Deactivates it: past reservations keep it. The default type cannot be removed "
    "(409 default_ticket_type).",
    responses={"204": {"description": "Deactivated"}},
)
@admin_only
@uuid_path("The ticket type")
@error_responses(401, 403, 404, 409)
async def delete_ticket_type(request: web.Request) -> web.Response:
    await ticket_types.deactivate_ticket_type(request.app[POOL], path_uuid(request))
    request.app[SEAT_MAPS].prices_changed()
    return no_content()


# ---- seat types and a showtime's prices ------------------------------------------------------


@routes.put("/api/v1/seat-types/{name}")
@docs(
    tags=["prices"],
    summary="Price a seat type: its multiplier and surcharge",
    description="Fields present are replaced. Applies to bookings made from now on (and the "
    "seat maps and holds shown from now on); reservations keep their prices. " + _PRICE_RULE,
    parameters=[
        {
            "in": "path",
            "name": "name",
            "type": "string",
            "required": True,
            "description": "regular, premium, vip or accessible",
        }
    ],
)
@admin_only
@request_schema(SeatTypeUpdateRequest)
@response_schema(SeatTypeSchema, 200, description="The seat type as it is now")
@error_responses(400, 401, 403, 404, 413, 415, 422)
async def update_seat_type(request: web.Request) -> web.Response:
    data = request["data"]
    item = await ticket_types.update_seat_type(
        request.app[POOL],
        request.match_info["name"],
        data.get("price_multiplier"),
        data.get("surcharge"),
    )
    request.app[SEAT_MAPS].prices_changed()
    return json_response(item)


@routes.get("/api/v1/showtimes/{id}/prices")
@docs(
    tags=["prices"],
    summary="What every ticket type costs on every seat type of a showtime",
    description="Every active (ticket type, seat type) pair, priced as a booking made now "
    "would be. " + _PRICE_RULE,
)
@uuid_path("The showtime")
@response_schema(ShowtimePricesSchema, 200, description="The prices")
@error_responses(404)
async def showtime_prices(request: web.Request) -> web.Response:
    prices = await ticket_types.showtime_prices(
        request.app[POOL], path_uuid(request), request.app[SETTINGS].currency
    )
    return json_response(prices)


# ---- price cards ---------------------------------------------------------------------------


@routes.get("/api/v1/admin/price-cards")
@docs(
    tags=["prices"],
    summary="The price cards",
    description="A showtime created without a price takes the price of the card matching its "
    "local start (weekday and time in CINEMA_TZ, daylight saving included): the theater's own "
    "cards before general ones, then the narrowest time range, then the newest.",
)
@admin_only
@response_schema(PriceCardListSchema, 200, description="Every price card")
@error_responses(401, 403)
async def list_price_cards(request: web.Request) -> web.Response:
    return json_response({"price_cards": await price_cards.list_price_cards(request.app[POOL])})


@routes.post("/api/v1/admin/price-cards")
@docs(tags=["prices"], summary="Add a price card")
@admin_only
@request_schema(PriceCardCreateRequest, required=True)
@response_schema(PriceCardSchema, 201, description="The new price card")
@error_responses(400, 401, 403, 404, 413, 415, 422)
async def create_price_card(request: web.Request) -> web.Response:
    check_price(request["data"]["price"], request.app[SETTINGS])  # it becomes showtimes' price
    card = await price_cards.create_price_card(request.app[POOL], request["data"])
    return json_response(card, status=201)


@routes.put("/api/v1/admin/price-cards/{id}")
@docs(
    tags=["prices"],
    summary="Change a price card: fields present are replaced",
    description="Showtimes already made keep their prices.",
)
@admin_only
@uuid_path("The price card")
@request_schema(PriceCardUpdateRequest)
@response_schema(PriceCardSchema, 200, description="The price card as it is now")
@error_responses(400, 401, 403, 404, 413, 415, 422)
async def update_price_card(request: web.Request) -> web.Response:
    if request["data"].get("price") is not None:
        check_price(request["data"]["price"], request.app[SETTINGS])
    card = await price_cards.update_price_card(
        request.app[POOL], path_uuid(request), request["data"]
    )
    return json_response(card)


@routes.delete("/api/v1/admin/price-cards/{id}")
@docs(
    tags=["prices"],
    summary="Remove a price card",
    responses={"204": {"description": "Removed"}},
)
@admin_only
@uuid_path("The price card")
@error_responses(401, 403, 404)
async def delete_price_card(request: web.Request) -> web.Response:
    await price_cards.delete_price_card(request.app[POOL], path_uuid(request))
    return no_content()


# ---- vouchers ------------------------------------------------------------------------------


@routes.get("/api/v1/admin/vouchers")
@docs(
    tags=["prices"],
    summary="Vouchers, newest first",
    description="`q`: part of a code; `batch_id`: every voucher of one batch. With `Accept: "
    "text/csv` the answer is a CSV attachment of the vouchers (to print or mail the codes of "
    "a batch).",
    produces=[JSON_TYPE, CSV_TYPE],
)
@admin_only
@querystring_schema(VoucherListQuery)
@response_schema(VoucherPageSchema, 200, description="One page of vouchers")
@error_responses(401, 403, 422)
async def list_vouchers(request: web.Request) -> web.Response:
    query = request["querystring"]
    if query.get("batch_id") is not None:
        items = await vouchers.vouchers_of_batch(request.app[POOL], query["batch_id"])
        total = len(items)
        name = f"vouchers-{query['batch_id']}.csv"
    else:
        items, total = await vouchers.list_vouchers(
            request.app[POOL], query.get("q"), query["page"], query["page_size"]
        )
        name = "vouchers.csv"
    answer = page_of("vouchers", items, total, query["page"], query["page_size"])
    return report_response(request, answer, items, vouchers.CSV_COLUMNS, name)


@routes.post("/api/v1/admin/vouchers")
@docs(
    tags=["prices"],
    summary="Make a voucher, or a batch of them",
    description="With `code`, that one voucher (409 voucher_code_taken); without it, `count` "
    "random codes (default 1), each `prefix-` then 12 symbols of an alphabet without 0/O, "
    "1/I/L (about 59 bits). A percent or an amount off the subtotal (never below zero), at "
    "most max_redemptions confirmed reservations (cancelling gives one back), optionally only "
    "from valid_from until valid_until and for one movie or showtime.",
)
@admin_only
@request_schema(VoucherCreateRequest)
@response_schema(VoucherCreatedSchema, 201, description="The new vouchers")
@error_responses(400, 401, 403, 409, 413, 415, 422)
async def create_vouchers(request: web.Request) -> web.Response:
    made = await vouchers.create_vouchers(request.app[POOL], request["data"])
    return json_response({"vouchers": made}, status=201)


@routes.delete("/api/v1/admin/vouchers/{id}")
@docs(
    tags=["prices"],
    summary="Disable a voucher",
    description="It is refused from now on (voucher_invalid); its redemptions stay on record.",
    responses={"204": {"description": "Disabled"}},
)
@admin_only
@uuid_path("The voucher")
@error_responses(401, 403, 404)
async def disable_voucher(request: web.Request) -> web.Response:
    await vouchers.disable_voucher(request.app[POOL], path_uuid(request))
    return no_content()


@routes.post("/api/v1/vouchers/check")
@docs(
    tags=["prices"],
    summary="Check a voucher before booking",
    description="What a booking of this showtime with this code would meet now, redeeming "
    "nothing: 200 with its discount and remaining redemptions, or the refusal a booking would "
    "get (422 voucher_invalid, 409 voucher_exhausted). Failed checks are rate limited per "
    "user (VOUCHER_CHECK_MAX_FAILURES per VOUCHER_CHECK_WINDOW_SECONDS; 429 with "
    "Retry-After).",
)
@user_only
@request_schema(VoucherCheckRequest, required=True)
@response_schema(VoucherCheckSchema, 200, description="The voucher would be accepted")
@error_responses(400, 401, 404, 409, 413, 415, 422, 429)
async def check_voucher(request: web.Request) -> web.Response:
    data = request["data"]
    result = await vouchers.check_voucher(
        request.app[POOL],
        request.app[SETTINGS],
        current_user(request)["id"],
        data["code"],
        data["showtime_id"],
    )
    return json_response(result)


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
