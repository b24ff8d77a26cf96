"""Account routes: thin handlers that parse, call the service and answer."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from ..api import error_responses, json_response, page_of, path_uuid, uuid_path
from ..context import PASSWORDS, POOL, SETTINGS, USERS
from . import email_tokens, service
from .access import admin_only, current_user, user_only
from .schemas import (
    AcceptedSchema,
    LoginRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    RegisterRequest,
    RoleRequest,
    TokenSchema,
    UserListQuery,
    UserPageSchema,
    UserSchema,
    VerifyEmailRequest,
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


@routes.post("/api/v1/admin/users/{id}/revoke-sessions")
@docs(
    tags=["admin"],
    summary="Log a user out everywhere: every token issued to them so far stops working",
    description="For a lost phone or a shared computer. The user's next request with an old "
    "token answers 401 (other instances within the NOTIFY delay of their cache of users) and "
    "their live seat-map sockets close; they can log in again at once. Revoking your own "
    "sessions logs you out too.",
)
@admin_only
@uuid_path("The user")
@response_schema(UserSchema, 200, description="The user")
@error_responses(401, 403, 404)
async def revoke_sessions(request: web.Request) -> web.Response:
    return json_response(
        await service.revoke_sessions(request.app[POOL], path_uuid(request), request.app[USERS])
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


@routes.post("/api/v1/auth/password-reset")
@docs(
    tags=["auth"],
    summary="Email a link to choose a new password",
    description="Answers 202 `{}` whatever the email, with the same body and about the same "
    "time, so it tells nobody whether an account exists; when one does, it gets a link valid "
    "for PASSWORD_RESET_TTL_SECONDS (default 3600) that works once. Rate limited per email "
    "(PASSWORD_RESET_MAX_PER_EMAIL) and per client address (PASSWORD_RESET_MAX_PER_ADDRESS) "
    "in PASSWORD_RESET_WINDOW_SECONDS: 429 rate_limited.",
)
@request_schema(PasswordResetRequest, required=True)
@response_schema(AcceptedSchema, 202, description="Taken; an email follows if the account exists")
@error_responses(400, 413, 415, 422, 429)
async def password_reset(request: web.Request) -> web.Response:
    await email_tokens.request_password_reset(
        request.app[POOL], request.app[SETTINGS], request["data"]["email"], request.remote
    )
    return json_response({}, status=202)


@routes.post("/api/v1/auth/password-reset/confirm")
@docs(
    tags=["auth"],
    summary="Choose a new password with the token of a reset email",
    description="The token works once and only until it expires. Setting the password spends "
    "every other reset token of the account and revokes every access token issued before "
    "(log in again). 422 token_invalid for a token that is unknown, used or expired.",
)
@request_schema(PasswordResetConfirm, required=True)
@response_schema(UserSchema, 200, description="The account, with its new password")
@error_responses(400, 413, 415, 422)
async def password_reset_confirm(request: web.Request) -> web.Response:
    data = request["data"]
    user = await email_tokens.reset_password(
        request.app[POOL],
        request.app[PASSWORDS],
        request.app[USERS],
        data["token"],
        data["password"],
    )
    return json_response(service.user_view(user))


@routes.post("/api/v1/auth/verify-email")
@docs(
    tags=["auth"],
    summary="Confirm an email address with the token of a verification email",
    description="Registration emails a link; following it proves the address. 422 "
    "token_invalid for a token that is unknown, used or expired, or when the account's "
    "address changed since.",
)
@request_schema(VerifyEmailRequest, required=True)
@response_schema(UserSchema, 200, description="The account, with email_verified true")
@error_responses(400, 413, 415, 422)
async def verify_email(request: web.Request) -> web.Response:
    user = await email_tokens.verify_email(
        request.app[POOL], request.app[USERS], request["data"]["token"]
    )
    return json_response(service.user_view(user))


@routes.post("/api/v1/auth/verify-email/resend")
@docs(
    tags=["auth"],
    summary="Email the caller a new verification link",
    description="202 `{}`; nothing is sent when the address is verified already. At most "
    "VERIFY_EMAIL_RESEND_MAX per VERIFY_EMAIL_RESEND_WINDOW_SECONDS: 429 rate_limited.",
)
@user_only
@response_schema(AcceptedSchema, 202, description="Taken; the email follows")
@error_responses(401, 429)
async def verify_email_resend(request: web.Request) -> web.Response:
    await email_tokens.resend_verification(
        request.app[POOL], request.app[SETTINGS], current_user(request)
    )
    return json_response({}, status=202)


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
