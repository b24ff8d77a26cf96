"""Account schemas: they validate requests and document them in the API docs."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates

from ..api import NOT_BLANK_PATTERN, PageFields, PageQuery, RequestSchema
from .access import ROLES
from .passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES


class _TrimmedEmail(RequestSchema):
    @pre_load
    def trim_email(self, data: object, **kwargs: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            return {**data, "email": data["email"].strip()}
        return data


def _check_password_length(value: str) -> None:
    size = len(value.encode())
    if size < MIN_PASSWORD_BYTES:
        raise ValidationError(f"Passwords need at least {MIN_PASSWORD_BYTES} bytes.")
    if size > MAX_PASSWORD_BYTES:
        raise ValidationError(
            f"Passwords can be at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit); "
            f"this one has {size}."
        )


def _password_field() -> fields.String:
    return fields.String(
        required=True,
        validate=[
            # Characters never outnumber bytes: at least 8 characters are at least 8 bytes.
            validate.Length(
                min=MIN_PASSWORD_BYTES,
                error=f"Passwords need at least {MIN_PASSWORD_BYTES} bytes.",
            ),
            validate.Length(
                max=MAX_PASSWORD_BYTES,
                error=f"Passwords can be at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit).",
            ),
        ],
        metadata={"description": f"{MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes (UTF-8)"},
    )


class RegisterRequest(_TrimmedEmail):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(
        required=True,
        # Characters never outnumber bytes: a cheap bound before the byte count below.
        validate=validate.Length(
            max=MAX_PASSWORD_BYTES,
            error=f"Passwords can be at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit).",
        ),
        metadata={"description": f"{MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes (UTF-8)"},
    )
    first_name = fields.String(load_default="", validate=validate.Length(max=100))
    last_name = fields.String(load_default="", validate=validate.Length(max=100))

    @validates("password")
    def password_length(self, value: str, **kwargs: object) -> None:
        size = len(value.encode())
        if size < MIN_PASSWORD_BYTES:
            raise ValidationError(f"Passwords need at least {MIN_PASSWORD_BYTES} bytes.")
        if size > MAX_PASSWORD_BYTES:
            raise ValidationError(
                f"Passwords can be at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit); "
                f"this one has {size}."
            )


class LoginRequest(_TrimmedEmail):
    email = fields.String(
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"pattern": NOT_BLANK_PATTERN},  # trimmed, like the email of register
    )
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    device_token = fields.String(
        load_default=None,
        validate=validate.Length(max=2048),
        metadata={
            "description": "The `device_token` of an earlier login of this account on this "
            "device (browsers send it as a cookie): its owner gets in past the email's "
            "ceiling of failed logins that others' guesses filled."
        },
    )


class UserSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    role = fields.String(
        required=True,
        validate=validate.OneOf(ROLES),
        metadata={"description": "user; usher (checks tickets in at the door); admin"},
    )
    email_verified = fields.Boolean(
        required=True,
        metadata={"description": "The owner followed the link of a verification (or reset) email"},
    )
    created_at = fields.DateTime(required=True)


class RoleRequest(RequestSchema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class UserListQuery(PageQuery):
    q = fields.String(
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Part of the email, in any case"},
    )
    role = fields.String(validate=validate.OneOf(ROLES))


class UserPageSchema(PageFields):
    users = fields.List(fields.Nested(UserSchema), required=True)


class PasswordResetRequest(_TrimmedEmail):
    email = fields.String(
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"pattern": NOT_BLANK_PATTERN, "example": "ann@example.com"},
    )


class PasswordResetConfirm(RequestSchema):
    token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The token of the link in the reset email"},
    )
    password = _password_field()

    @validates("password")
    def password_length(self, value: str, **kwargs: object) -> None:
        _check_password_length(value)


class VerifyEmailRequest(RequestSchema):
    token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The token of the link in the verification email"},
    )


class AcceptedSchema(Schema):
    """An empty object: the request is taken; what follows arrives by email."""


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})
    device_token = fields.String(
        required=True,
        metadata={
            "description": "Proof that this device logged into this account: send it with "
            "later logins (`device_token`; also set as an HttpOnly cookie). It authorises "
            "nothing else."
        },
    )
