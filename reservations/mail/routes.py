"""The outbox's admin routes: thin handlers that parse, call outbox.py and answer."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema

from ..accounts.access import admin_only
from ..api import error_responses, json_response, page_of, path_uuid, uuid_path
from ..context import POOL
from . import outbox
from .render import Renderer
from .schemas import EmailDetailSchema, EmailListQuery, EmailListSchema, EmailSchema

routes = web.RouteTableDef()
RENDERER = web.AppKey("mail_renderer", Renderer)


@routes.get("/api/v1/admin/emails")
@docs(
    tags=["admin"],
    summary="The outbox, newest first",
    description="Every email the service wrote: filters status, to (part of the address) and "
    "kind. Without SMTP_URL emails are `captured`: read them here or in the admin console.",
)
@admin_only
@querystring_schema(EmailListQuery)
@response_schema(EmailListSchema, 200, description="One page of emails")
@error_responses(401, 403, 422)
async def list_emails(request: web.Request) -> web.Response:
    query = request["querystring"]
    items, total = await outbox.list_emails(
        request.app[POOL],
        status=query["status"],
        to=query["to"],
        kind=query["kind"],
        page=query["page"],
        page_size=query["page_size"],
    )
    return json_response(page_of("emails", items, total, query["page"], query["page_size"]))


@routes.get("/api/v1/admin/emails/{id}")
@docs(
    tags=["admin"],
    summary="One email as its recipient sees it, with its attempts",
    description="`text` and `html` as delivered; a queued email is written now, as it would be "
    "sent. A sent reset or verification email is kept without its token.",
)
@admin_only
@uuid_path("The email")
@response_schema(EmailDetailSchema, 200, description="The email")
@error_responses(401, 403, 404)
async def get_email(request: web.Request) -> web.Response:
    return json_response(
        await outbox.get_email(request.app[POOL], request.app[RENDERER], path_uuid(request))
    )


@routes.post("/api/v1/admin/emails/{id}/retry")
@docs(
    tags=["admin"],
    summary="Queue a failed email again",
    description="It is sent at once, with MAIL_MAX_ATTEMPTS attempts more. 409 email_not_failed "
    "for an email that is not failed (sent, captured or still queued).",
)
@admin_only
@uuid_path("The email")
@response_schema(EmailSchema, 200, description="The email, queued again")
@error_responses(401, 403, 404, 409)
async def retry_email(request: web.Request) -> web.Response:
    return json_response(await outbox.retry_email(request.app[POOL], path_uuid(request)))


def setup(app: web.Application, renderer: Renderer) -> None:
    app[RENDERER] = renderer
    app.router.add_routes(routes)
