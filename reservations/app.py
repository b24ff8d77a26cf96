"""The application factory: routes, middlewares, cleanup contexts and the API docs."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web
from aiohttp_apispec import AiohttpApiSpec, docs, response_schema
from marshmallow import Schema, fields

from . import accounts, api_examples, booking, catalog, checkin, live, mail, metrics, reports
from . import web as web_pages
from .accounts.access import auth_middleware
from .accounts.passwords import PasswordHasher
from .accounts.user_cache import UserCache
from .api import error_responses, json_response
from .booking.fast_path import seat_map_fast_path
from .checkin.codes import SigningKeyError, TicketSigner, signer_for
from .context import DSN, METRICS, PASSWORDS, POOL, REQUEST_ID, SETTINGS, TICKET_SIGNER, USERS
from .db import QUERIES, create_pool, is_connection_fault
from .errors import DatabaseUnavailable, make_error_middleware
from .logs import log_access, request_id_of
from .paths import STATIC_DIR, TEMPLATES_DIR
from .prices import routes as prices_routes
from .proxies import make_trusted_proxy_middleware
from .security import security_middleware
from .settings import Settings, SettingsError
from .validation import validation_middleware

database_log = logging.getLogger(__name__)
# A process that started without the database checks it again this often.
DATABASE_RETRY_SECONDS = 1.0

# aiohttp refuses a longer request line itself, with a text/plain 400 that no middleware sees.
# Its default (8190 bytes) is less than a query that breaks a documented bound can take (101+
# repeated seat_ids), which then never got the documented 422; 32 KiB leaves room for those.
MAX_REQUEST_LINE_BYTES = 32 * 1024
# Swagger UI for /api/docs: npm's swagger-ui-dist, vendored with its licence (README there).
SWAGGER_UI_VERSION = "5.36.0"
SWAGGER_UI_DIR = STATIC_DIR / "swagger-ui"
DOCS_STATIC_PATH = "/api/docs/static"
MONEY_EXAMPLE = "12.50"  # every money field of the schemas shows this example


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request[REQUEST_ID] = request_id_of(request)
    started = time.perf_counter()
    response = await handler(request)
    if not response.prepared:
        response.headers["X-Request-ID"] = request[REQUEST_ID]
    log_access(request, response.status, started)
    return response


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


@docs(tags=["service"], summary="The process is up")
@response_schema(HealthSchema, 200)
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@docs(tags=["service"], summary="The database answers")
@response_schema(HealthSchema, 200)
@error_responses()
async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1", timeout=2)
    except (TimeoutError, OSError, Exception) as exc:  # noqa: BLE001 - any fault is "not ready"
        raise DatabaseUnavailable(
            f"The database is not reachable ({type(exc).__name__})."
        ) from None
    return json_response({"status": "ready"})


# The Swagger dicts built in this process, by currency and routes (ApiSpec._register).
_BUILT_SPECS: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}


class ApiSpec(AiohttpApiSpec):
    """aiohttp-apispec, registering copies of each handler's docs so that several apps in one
    process (the tests) each get a complete spec. The HEAD routes that aiohttp adds beside
    every GET are left out: HEAD is implied by HTTP and answers like the GET, without a body."""

    def _register_route(self, route: Any, method: str, view: Any) -> None:
        apispec = getattr(view, "__apispec__", None)
        if apispec is None or method == "head":
            return
        copy = dict(apispec)
        copy["schemas"] = list(apispec.get("schemas", []))
        copy["parameters"] = list(apispec.get("parameters", []))
        copy["responses"] = dict(apispec.get("responses", {}))
        if route.resource is not None:
            api_examples.annotate(method, route.resource.canonical, copy)

        class View:
            __apispec__ = copy

        super()._register_route(route, method, View)

    currency = "EUR"

    def _register(self, app: web.Application) -> None:
        """Build the spec once per process for each set of routes and currency: building it
        takes tens of milliseconds, paid at every start of an app (each test starts one)."""
        routes = tuple(
            (route.method, route.resource.canonical)
            for route in app.router.routes()
            if route.resource is not None
        )
        key = (self.currency, routes)
        built = _BUILT_SPECS.get(key)
        if built is None:
            super()._register(app)
            _BUILT_SPECS[key] = app["swagger_dict"]
        else:
            app["swagger_dict"] = built

    def swagger_dict(self) -> dict[str, Any]:
        """The spec, with the currency in the description of every money field."""
        spec: dict[str, Any] = super().swagger_dict()
        for definition in spec.get("definitions", {}).values():
            for field in definition.get("properties", {}).values():
                if field.get("example") == MONEY_EXAMPLE and field.get("type") == "string":
                    described = field.get("description", "").rstrip(".")
                    field["description"] = (
                        f"{described}; in {self.currency} (the CURRENCY setting)".lstrip("; ")
                    )
        return spec


def _setup_docs(app: web.Application) -> None:
    spec = ApiSpec(
        url="/api/docs/swagger.json",
        app=app,
        swagger_path=None,  # its bundled Swagger UI is 3.16.0 (2018): ours is served below
        title="Reservations API",
        version="1",
        info={
            "description": "Movie seat reservations. Errors always have the shape "
            '`{"error": {"code", "message", "details"}}`: 422 `validation_error` when a body or '
            "query breaks its schema (`details.fields` names the fields), other codes for the "
            "rules of the service (each operation lists its own). Unknown fields of a body or "
            "query are ignored; text with a NUL character (U+0000) is refused (422), as "
            "PostgreSQL cannot store it. Each operation's error answers list the codes it can "
            "give, with an example of the first.\n\n"
            "**Calling the routes that need a token** (the padlocks):\n"
            "1. Open `POST /api/v1/auth/login`, press *Try it out*, enter your email and "
            "password (an admin's for the admin routes: see the README for the demo admin "
            "that `make run` seeds) and press *Execute*.\n"
            "2. Copy `access_token` from the answer (it lasts `expires_in` seconds).\n"
            "3. Press *Authorize* (top right), enter `Bearer ` followed by the token, e.g. "
            "`Bearer eyJhbGciOi...`, and press *Authorize*, then *Close*.\n\n"
            "Every request made from this page then carries the token. No account yet? "
            "`POST /api/v1/auth/register` makes one (a moviegoer's; an admin promotes others "
            "with `POST /api/v1/admin/users/{id}/promote`). Prices are decimal strings in the "
            f"cinema's currency, {app[SETTINGS].currency} (the `CURRENCY` setting, ISO 4217)."
        },
        consumes=["application/json"],  # bodies; the poster upload says multipart itself
        securityDefinitions={
            "bearerAuth": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "The word `Bearer`, a space, then the `access_token` that "
                "POST /api/v1/auth/login answers: `Bearer eyJhbGciOi...`",
            }
        },
    )
    spec.currency = app[SETTINGS].currency
    app.router.add_static(DOCS_STATIC_PATH, SWAGGER_UI_DIR, name="swagger.static")
    app.router.add_get("/api/docs", api_docs_page, name="swagger.docs")


@aiohttp_jinja2.template("api_docs.html")
async def api_docs_page(request: web.Request) -> dict[str, Any]:
    """Swagger UI (SWAGGER_UI_VERSION, vendored from npm's swagger-ui-dist) on the spec."""
    return {"static": DOCS_STATIC_PATH, "spec_url": "/api/docs/swagger.json"}


async def _check_time_zone(pool: asyncpg.Pool, settings: Settings) -> None:
    """SQL converts dates with CINEMA_TZ: PostgreSQL must know the zone as well as Python."""
    async with pool.acquire() as conn:
        known = await conn.fetchval(QUERIES.time_zone_is_known, str(settings.cinema_tz))
    if not known:
        raise SettingsError(f"CINEMA_TZ {settings.cinema_tz} is unknown to this PostgreSQL server")


def _unreachable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (it may be later)."""
    return is_connection_fault(exc) or isinstance(
        exc,
        OSError
        | TimeoutError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.TooManyConnectionsError,
    )


async def _check_time_zone_once_reachable(pool: asyncpg.Pool, settings: Settings) -> None:
    """The zone check of a process that started without the database: tried until the database
    answers; a zone it does not know stops the process, as at a normal start."""
    while True:
        await asyncio.sleep(DATABASE_RETRY_SECONDS)
        try:
            await _check_time_zone(pool, settings)
        except SettingsError as exc:
            database_log.critical("%s: stopping", exc)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        except Exception as exc:  # noqa: BLE001 - away still: try again
            if not _unreachable(exc):
                database_log.warning("checking CINEMA_TZ failed: %r; trying again", exc)
            continue
        database_log.info("the database answers")
        return


def _database_context(
    settings: Settings, dsn: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def database(app: web.Application) -> AsyncIterator[None]:
        waits = app[METRICS].pool_waits.observe
        checking = None
        try:
            pool = await create_pool(dsn, settings, on_acquire_wait=waits)
        except Exception as exc:
            if not _unreachable(exc):
                raise
            # Serve anyway: requests answer 503 (Retry-After) and /readyz 503 until the
            # database is back, when the pool connects on demand; no worker dies of it.
            database_log.warning("the database is not reachable (%r); serving 503 until it is", exc)
            pool = await create_pool(dsn, settings, on_acquire_wait=waits, connect_now=False)
            checking = asyncio.create_task(_check_time_zone_once_reachable(pool, settings))
        app[POOL] = pool
        try:
            if checking is None:
                await _check_time_zone(pool, settings)
            yield
        finally:
            if checking is not None:
                checking.cancel()
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    return database


async def _passwords_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    hasher = PasswordHasher(settings.bcrypt_rounds, processes=settings.hashing_processes or 2)
    app[PASSWORDS] = hasher
    await hasher.start()
    yield


def ticket_signer(settings: Settings) -> TicketSigner:
    """The keys of TICKET_SIGNING_KEYS, or those generated under DATA_DIR; a bad value is a
    SettingsError naming the variable."""
    try:
        return signer_for(settings.ticket_signing_keys, settings.data_dir)
    except SigningKeyError as exc:
        source = "TICKET_SIGNING_KEYS" if settings.ticket_signing_keys else "the key file"
        raise SettingsError(f"{source}: {exc}") from None


def create_app(settings: Settings, dsn: str) -> web.Application:
    """An application serving `settings` on the database at `dsn` (already migrated)."""
    middlewares = [
        seat_map_fast_path,  # the cached anonymous seat map, answered ahead of the rest
        request_id_middleware,
        security_middleware,
        metrics.make_metrics_middleware(),
        make_error_middleware(REQUEST_ID),
        auth_middleware,
        validation_middleware,
    ]
    if settings.trusted_proxies:
        # First, so that everything after it sees the client's address in request.remote.
        middlewares.insert(0, make_trusted_proxy_middleware(settings.trusted_proxies))
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        handler_args={"max_line_size": MAX_REQUEST_LINE_BYTES},
        middlewares=middlewares,
    )
    app[SETTINGS] = settings
    app[DSN] = dsn
    app[USERS] = UserCache()  # kept right by the live listener (live/listener.py)
    app[TICKET_SIGNER] = ticket_signer(settings)
    metrics.setup(app)
    app.cleanup_ctx.append(_database_context(settings, dsn))
    app.cleanup_ctx.append(_passwords_context)

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    if Path(STATIC_DIR).exists():
        app.router.add_static("/static", STATIC_DIR, name="static")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    accounts.setup(app)
    catalog.setup(app)
    booking.setup(app)
    mail.setup(app)
    live.setup(app)
    reports.setup(app)
    checkin.setup(app)
    prices_routes.setup(app)
    web_pages.setup(app)
    _setup_docs(app)
    return app
