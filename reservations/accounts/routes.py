"""Account routes: thin handlers that parse, call the service and answer."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from ..api import error_responses, json_response, page_of, path_uuid, uuid_path
from ..context import PASSWORDS, POOL, SETTINGS, USERS
from . import service
from .access import admin_only, current_user, user_only
from .schemas import (
    LoginRequest,
    RegisterRequest,
    RoleRequest,
    TokenSchema,
    UserListQuery,
    UserPageSchema,
    UserSchema,
)

routes = web.RouteTableDef()
DEVICE_COOKIE = "device_token"


@routes.post("/api/v1/auth/register")
@docs(tags=["auth"], summary="Create an account (always with role user)")
@request_schema(RegisterRequest, required=True)
@response_schema(UserSchema, 201, description="The new user")
@error_responses(400, 409, 413, 415, 422, 429)
async def register(request: web.Request) -> web.Response:
    data = request["data"]
    user = await service.register(
        request.app[POOL],
        request.app[PASSWORDS],
        email=data["email"],
        password=data["password"],
        first_name=data["first_name"],
        last_name=data["last_name"],
        settings=request.app[SETTINGS],
        address=request.remote,
    )
    return json_response(user, status=201)


@routes.post("/api/v1/auth/login")
@docs(tags=["auth"], summary="Exchange email and password for a bearer token")
@request_schema(LoginRequest, required=True)
@response_schema(TokenSchema, 200, description="A bearer token")
@error_responses(400, 401, 413, 415, 422, 429)
async def login(request: web.Request) -> web.Response:
    data = request["data"]
    settings = request.app[SETTINGS]
    token = await service.login(
        request.app[POOL],
        request.app[PASSWORDS],
        settings,
        email=data["email"],
        password=data["password"],
        address=request.remote,
        device_token=data["device_token"] or request.cookies.get(DEVICE_COOKIE),
    )
    response = json_response(token)
    # Browsers keep it where scripts cannot read it, and send it to the login alone.
    response.set_cookie(
        DEVICE_COOKIE,
        token["device_token"],
        max_age=settings.login_device_ttl_days * service.DAY_SECONDS,
        path="/api/v1/auth/login",
        httponly=True,
        secure=request.secure,
        samesite="Strict",
    )
    return response


@routes.get("/api/v1/auth/me")
@docs(tags=["auth"], summary="The caller's account")
@user_only
@response_schema(UserSchema, 200, description="The caller")
@error_responses(401)
async def me(request: web.Request) -> web.Response:
    return json_response(service.user_view(current_user(request)))


@routes.post("/api/v1/admin/users/{id}/promote")
@docs(tags=["admin"], summary="Make a user an admin")
@admin_only
@uuid_path("The user")
@response_schema(UserSchema, 200, description="The user, now an admin")
@error_responses(401, 403, 404)
async def promote(request: web.Request) -> web.Response:
    return json_response(
        await service.promote(request.app[POOL], path_uuid(request), request.app[USERS])
    )


@routes.post("/api/v1/admin/users/{id}/role")
@docs(
    tags=["admin"],
    summary="Give a user a role: user, usher (checks tickets in) or admin",
    description="Takes effect on the user's very next request, with the token they have. "
    "An admin may take their own admin role away; another admin can give it back.",
)
@admin_only
@uuid_path("The user")
@request_schema(RoleRequest, required=True)
@response_schema(UserSchema, 200, description="The user with the new role")
@error_responses(400, 401, 403, 404, 413, 415, 422)
async def set_role(request: web.Request) -> web.Response:
    return json_response(
        await service.set_role(
            request.app[POOL], path_uuid(request), request["data"]["role"], request.app[USERS]
        )
    )


@routes.get("/api/v1/admin/users")
@docs(tags=["admin"], summary="Users by email, to find one (q) or list a role's members")
@admin_only
@querystring_schema(UserListQuery)
@response_schema(UserPageSchema, 200, description="A page of users, by email")
@error_responses(401, 403, 422)
async def list_users(request: web.Request) -> web.Response:
    query = request["querystring"]
    users, total = await service.list_users(
        request.app[POOL], query.get("q"), query.get("role"), query["page"], query["page_size"]
    )
    return json_response(page_of("users", users, total, query["page"], query["page_size"]))


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
