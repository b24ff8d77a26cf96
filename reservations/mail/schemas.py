"""Outbox schemas for the admin API: they validate queries and document the answers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..api import PageFields, PageQuery
from .outbox import KINDS, STATUSES


class EmailListQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    to = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Part of the recipient's address, any case"},
    )
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))


class EmailSchema(Schema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    to = fields.String(required=True, metadata={"example": "ann@example.com"})
    subject = fields.String(
        required=True, allow_none=True, metadata={"description": "null until it is written"}
    )
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    attempts = fields.Integer(required=True, metadata={"description": "Delivery attempts made"})
    last_error = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    sent_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "When sent or captured"}
    )


class EmailListSchema(PageFields):
    emails = fields.List(fields.Nested(EmailSchema), required=True)


class AttemptSchema(Schema):
    attempt = fields.Integer(required=True)
    started_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    outcome = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(
            ["sent", "captured", "temporary_failure", "permanent_failure", "unknown"]
        ),
        metadata={"description": "null while under way"},
    )
    smtp_code = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)


class EmailDetailSchema(EmailSchema):
    text = fields.String(required=True, allow_none=True, metadata={"description": "Plain part"})
    html = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "HTML part as the recipient sees it (inline images as data:)"},
    )
    delivery_attempts = fields.List(fields.Nested(AttemptSchema), required=True)
