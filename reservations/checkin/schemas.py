"""Check-in schemas: they validate the scanners' requests and document the answers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..api import RequestSchema
from ..booking.schemas import SeatIdList
from ..catalog.schemas import YEAR_PATTERN, Timestamp, TrimmedString
from .codes import MAX_CODE_LENGTH
from .service import MAX_BATCH_SCANS

MAX_SEAT_IDS = 100
CODE_EXAMPLE = "3f9a1c.K7QX-2M9P-R4TD.<86 characters of signature>"


class _ScanFields(RequestSchema):
    code = TrimmedString(
        required=True,
        validate=validate.Length(min=1, max=MAX_CODE_LENGTH),
        metadata={
            "example": CODE_EXAMPLE,
            "description": "What the ticket's QR code holds (`<kid>.<ticket code>.<Ed25519 "
            "signature, base64url>`, a reservation's `qr_payload`), or the bare ticket code "
            "typed in at the door.",
        },
    )
    nonce = TrimmedString(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "The scanner's own name for this scan, new for each (a UUID): a "
            "retry with the same nonce answers the first result and admits nothing more.",
        },
    )
    showtime_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={"description": "The showtime at this door: another's ticket is refused."},
    )
    seat_ids = SeatIdList(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_SEAT_IDS),
        metadata={
            "description": "Admit only these seats of the ticket (all or none of them); "
            "absent: every seat not admitted yet."
        },
    )
    device = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "Which scanner, as the usher named it (shown on conflicts)."},
    )


class CheckinRequest(_ScanFields):
    pass


class BatchScan(_ScanFields):
    scanned_at = Timestamp(
        required=True,
        metadata={
            "example": "2026-12-01T18:42:10+00:00",
            "pattern": YEAR_PATTERN,
            "description": "When the scan was made offline, with an offset (years 1900 to "
            "2999; a time after the upload counts as the upload's). It decides whether the door "
            "was open; the earliest scan of a seat is admitted, the later ones are conflicts.",
        },
    )


class BatchRequest(RequestSchema):
    scans = fields.List(
        fields.Nested(BatchScan),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_SCANS),
    )


class CheckinSchema(Schema):
    id = fields.UUID(required=True)
    reservation_id = fields.UUID(required=True)
    showtime_id = fields.UUID(required=True)
    seat_ids = fields.List(fields.UUID(), required=True, metadata={"description": "In hall order"})
    seat_labels = fields.List(
        fields.String(), required=True, metadata={"description": "Of seat_ids, e.g. A12"}
    )
    ticket_code = fields.String(required=True, metadata={"example": "K7QX-2M9P-R4TD"})
    device = fields.String(required=True)
    admitted_at = fields.DateTime(
        required=True, metadata={"description": "When the scan was made (offline ones too)"}
    )
    recorded_at = fields.DateTime(required=True, metadata={"description": "When the server got it"})
    undone_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "Set once an admin undid it"}
    )


class ShowtimeCheckinSchema(CheckinSchema):
    admitted_by = fields.String(
        required=True, allow_none=True, metadata={"description": "The usher's email"}
    )
    undone_by = fields.String(required=True, allow_none=True)


class ScanErrorSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class BatchResultSchema(Schema):
    nonce = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["admitted", "duplicate", "conflict", "refused"]),
        metadata={
            "description": "admitted; duplicate (the nonce was uploaded before: its check-in); "
            "conflict (another scan admitted these seats first: error.details names it); "
            "refused (any other refusal, in error)"
        },
    )
    checkin = fields.Nested(CheckinSchema)
    error = fields.Nested(ScanErrorSchema)


class BatchResponse(Schema):
    results = fields.List(
        fields.Nested(BatchResultSchema),
        required=True,
        metadata={"description": "One per scan, in the order of the request"},
    )


class KeySchema(Schema):
    kid = fields.String(required=True, metadata={"example": "3f9a1c"})
    algorithm = fields.String(required=True, metadata={"example": "Ed25519"})
    public_key = fields.String(
        required=True, metadata={"description": "The raw 32-byte public key, base64url"}
    )
    active = fields.Boolean(required=True, metadata={"description": "The key that signs now"})


class KeysResponse(Schema):
    keys = fields.List(fields.Nested(KeySchema), required=True)


class ShowtimeCheckinsResponse(Schema):
    showtime_id = fields.UUID(required=True)
    sold_seats = fields.Integer(required=True)
    admitted_seats = fields.Integer(required=True)
    checkins = fields.List(fields.Nested(ShowtimeCheckinSchema), required=True)


class DoorTicketSchema(Schema):
    reservation_id = fields.UUID(required=True)
    ticket_code = fields.String(required=True)
    qr_payload = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["confirmed", "cancelled"]))
    seat_ids = fields.List(fields.UUID(), required=True)
    seat_labels = fields.List(fields.String(), required=True)
    admitted_seat_ids = fields.List(fields.UUID(), required=True)


class ShowtimeTicketsResponse(Schema):
    showtime_id = fields.UUID(required=True)
    start_time = fields.DateTime(required=True)
    end_time = fields.DateTime(required=True)
    opens_at = fields.DateTime(
        required=True, metadata={"description": "CHECKIN_OPENS_MINUTES before the start"}
    )
    cancelled = fields.Boolean(required=True)
    sold_seats = fields.Integer(required=True)
    admitted_seats = fields.Integer(required=True)
    tickets = fields.List(fields.Nested(DoorTicketSchema), required=True)
