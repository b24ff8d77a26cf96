"""Report routes for admins: thin handlers that parse, call the service and answer."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema

from ..accounts.access import admin_only
from ..api import error_responses
from ..context import POOL, SETTINGS
from . import service
from .export import CSV_TYPE, JSON_TYPE, report_response
from .schemas import (
    CapacityQuery,
    CapacityReport,
    PopularMoviesQuery,
    PopularMoviesReport,
    RevenueQuery,
    RevenueReport,
    VoucherQuery,
    VoucherReport,
)

routes = web.RouteTableDef()

_CSV_NOTE = (
    " With `Accept: text/csv` the answer is instead a CSV attachment of the rows (a header line, "
    "then one line per row; cells starting with = + - @ get a leading single quote)."
)


def _period(request: web.Request) -> service.Period:
    data = request["querystring"]
    return service.Period.resolve(
        data.get("start_date"), data.get("end_date"), request.app[SETTINGS].cinema_tz
    )


@routes.get("/api/v1/admin/reports/capacity")
@docs(
    tags=["admin"],
    summary="Seats sold per showtime over a period of local days",
    description="Each showtime of the period that is not cancelled, earliest first, with its "
    "theater's seats and the seats of its confirmed reservations, then the totals." + _CSV_NOTE,
    produces=[JSON_TYPE, CSV_TYPE],
)
@admin_only
@querystring_schema(CapacityQuery)
@response_schema(CapacityReport, 200, description="The report (JSON), or its rows as CSV")
@error_responses(401, 403, 422)
async def capacity(request: web.Request) -> web.Response:
    period = _period(request)
    data = request["querystring"]
    report = await service.capacity(
        request.app[POOL], period, movie_id=data.get("movie_id"), theater_id=data.get("theater_id")
    )
    return report_response(
        request,
        report,
        report["rows"],
        service.CAPACITY_COLUMNS,
        f"capacity-{period.start_date}-to-{period.end_date}.csv",
    )


@routes.get("/api/v1/admin/reports/revenue")
@docs(
    tags=["admin"],
    summary="Tickets and revenue by day, movie or theater over a period of local days",
    description="Counts the seats of confirmed reservations of the showtimes of the period that "
    "are not cancelled; revenue is the sum of their seat prices, as booked, less the discounts "
    "of vouchers (what was charged). A row for every day, movie or theater with such a "
    "showtime, even when it sold nothing; by ticket_type, a row per ticket type sold." + _CSV_NOTE,
    produces=[JSON_TYPE, CSV_TYPE],
)
@admin_only
@querystring_schema(RevenueQuery)
@response_schema(RevenueReport, 200, description="The report (JSON), or its rows as CSV")
@error_responses(401, 403, 422)
async def revenue(request: web.Request) -> web.Response:
    period = _period(request)
    group_by = request["querystring"]["group_by"]
    report = await service.revenue(request.app[POOL], period, group_by)
    return report_response(
        request,
        report,
        report["rows"],
        service.REVENUE_COLUMNS,
        f"revenue-by-{group_by}-{period.start_date}-to-{period.end_date}.csv",
    )


@routes.get("/api/v1/admin/reports/popular-movies")
@docs(
    tags=["admin"],
    summary="The movies that sold the most tickets over a period of local days",
    description="Movies with showtimes of the period that are not cancelled, by tickets sold "
    "(seats of confirmed reservations), then revenue; occupancy over all those showtimes."
    + _CSV_NOTE,
    produces=[JSON_TYPE, CSV_TYPE],
)
@admin_only
@querystring_schema(PopularMoviesQuery)
@response_schema(PopularMoviesReport, 200, description="The report (JSON), or its rows as CSV")
@error_responses(401, 403, 422)
async def popular_movies(request: web.Request) -> web.Response:
    period = _period(request)
    report = await service.popular_movies(
        request.app[POOL], period, request["querystring"]["limit"]
    )
    return report_response(
        request,
        report,
        report["movies"],
        service.POPULAR_MOVIE_COLUMNS,
        f"popular-movies-{period.start_date}-to-{period.end_date}.csv",
    )


@routes.get("/api/v1/admin/reports/vouchers")
@docs(
    tags=["admin"],
    summary="Voucher redemptions and the discount given over a period of local days",
    description="Each voucher used by confirmed reservations of the period's showtimes that "
    "are not cancelled: its redemptions, their tickets, the discount given and the revenue "
    "after it; most discount first, then the totals." + _CSV_NOTE,
    produces=[JSON_TYPE, CSV_TYPE],
)
@admin_only
@querystring_schema(VoucherQuery)
@response_schema(VoucherReport, 200, description="The report (JSON), or its rows as CSV")
@error_responses(401, 403, 422)
async def vouchers(request: web.Request) -> web.Response:
    period = _period(request)
    report = await service.vouchers(request.app[POOL], period)
    return report_response(
        request,
        report,
        report["rows"],
        service.VOUCHER_COLUMNS,
        f"vouchers-{period.start_date}-to-{period.end_date}.csv",
    )


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
