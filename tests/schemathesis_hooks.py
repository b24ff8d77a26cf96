"""Checks for the schemathesis run of tests/contract/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

Five of schemathesis's checks hold the service to expectations that the contract overrides in
a few named places: schema-valid requests must not be refused (`positive_data_acceptance`),
schema-violating ones must not be accepted (`negative_data_rejection`), a resource must be
gone after a successful DELETE (`use_after_free`), a resource just created must not answer 404
(`ensure_resource_availability`; a 404 may name a row the body refers to), and every answer
must carry a documented Content-Type (`content_type_conformance`; a 304 has none). Some rules of
the contract cannot be written in Swagger 2.0's JSON Schema, and two DELETEs cancel rather than
delete. The run replaces those five checks with these wrappers: each runs the built-in check
and lets through only the answers named below, which the contract gives on purpose and the
spec's descriptions state. Any other disagreement still fails, so a marshmallow rule that the
documented schema does not show, or a deleted movie that still answers, is still caught.
"""

from __future__ import annotations

import fnmatch
import os
import uuid
from collections.abc import Iterator
from typing import Any

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import (
    EnsureResourceAvailability,
    RejectedPositiveData,
    UseAfterFree,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    positive_data_acceptance,
    use_after_free,
)

from reservations.api import NUL_MESSAGE

# Schema-valid requests answered 422 `validation_error`, for fields whose rule JSON Schema cannot
# state; field paths as in `details.fields`, list indexes and keys as `*`.
UNSTATABLE_RULES: dict[str, tuple[str, ...]] = {
    # 8 to 72 bytes of UTF-8 (bcrypt's limit), where JSON Schema counts characters.
    "POST /api/v1/auth/register": ("password",),
    "POST /api/v1/auth/password-reset/confirm": ("password",),
    "POST /api/v1/theaters": (
        "rows",  # row labels unique in any case
        "rows.*.aisles_after",  # aisles after a seat of that row (1 to seats - 1)
        "rows.*.seat_types",  # keys are seat numbers of that row
        "rows.*.seat_types.*.key",  # Swagger 2.0 has no propertyNames
        "row_types",  # keys are labels of the rows given
        "row_types.*.key",  # 1 to 5 characters: Swagger 2.0 has no propertyNames
    ),
    # seat_type and accessible exclude each other (a rule across two fields).
    "POST /api/v1/showtimes/{id}/best-available": ("seat_type",),
    # Rules across fields (issue 25): tickets name seats of seat_ids; a percent or an amount
    # off, not both; a code is one voucher (no count or prefix); valid_until after valid_from;
    # a percent off or a fixed price, not both.
    # Percents and multipliers are decimal strings (like money) whose bounds JSON Schema cannot
    # state for a string.
    "POST /api/v1/reservations": ("tickets", "tickets.*.key"),  # keys are seat ids
    "POST /api/v1/admin/vouchers": ("discount_percent", "discount_amount", "code", "valid_until"),
    "POST /api/v1/ticket-types": ("fixed_price", "discount_percent"),
    "PUT /api/v1/ticket-types/{id}": ("fixed_price", "discount_percent"),
    "PUT /api/v1/seat-types/{name}": ("price_multiplier", "surcharge"),
    # From 0.01 to MAX_TICKET_PRICE, a setting: the spec's pattern is the money format only.
    "POST /api/v1/showtimes": ("price",),
    "PUT /api/v1/showtimes/{id}": ("price",),
    # A price card's price becomes showtimes' prices: the same range.
    "POST /api/v1/admin/price-cards": ("price",),
    "PUT /api/v1/admin/price-cards/{id}": ("price",),
}
# Text with a NUL character is refused whatever the field (NUL_MESSAGE): PostgreSQL cannot store
# it. The spec's description says so; a pattern per field could not, beside the others.
POSTER_UPLOAD = "POST /api/v1/movies/{id}/poster"
# DELETEs that cancel: the showtime or reservation stays readable, with its cancellation shown
# (API.md: "never deleted", "records ... stay readable").
CANCELLATIONS = ("DELETE /api/v1/showtimes/{id}", "DELETE /api/v1/reservations/{id}")
# The run's own admin (tests/contract/test_schemathesis.py sets it), whom these operations must
# not demote or log out: the rest of the run would be 403s or 401s. The stateful phase infers
# the id from GET /api/v1/auth/me and the coverage phase found it too; in one such run 6,095 of
# 9,869 requests were 401s and 27 operations were never reached.
RUN_ADMIN_ID = os.environ.get("SCHEMATHESIS_ADMIN_ID", "")
ENDING_THE_RUN = ("/api/v1/admin/users/{id}/role", "/api/v1/admin/users/{id}/revoke-sessions")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Point a change of the run's own admin at nobody (a 404) instead."""
    if (
        RUN_ADMIN_ID
        and case.operation.path in ENDING_THE_RUN
        and str(case.path_parameters.get("id", "")).lower() == RUN_ADMIN_ID.lower()
    ):
        case.path_parameters["id"] = str(uuid.uuid4())


@schemathesis.check
def documented_requests_are_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, knowing that 422 is also the contract's answer to well-formed
    requests that break a rule of the service ("422 well-formed but invalid" in API.md): a
    showtime in the past, seats of another theater, more seats than a hold may have, a report
    ending before it starts. Those answers carry their own error code; `validation_error` is
    the schema's refusal and must only ever name a rule JSON Schema cannot state."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _is_contract_answer(case.operation.label, response):
            return None
        raise


@schemathesis.check
def undocumented_requests_are_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """negative_data_rejection, knowing that the poster upload ignores form fields other than
    `file`, as every body ignores unknown fields (RequestSchema): Swagger 2.0 lists form fields
    one by one and has no way to say that others are allowed."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        body = case.body
        if (
            case.operation.label == POSTER_UPLOAD
            and isinstance(body, dict)
            and "file" in body
            and len(body) > 1
        ):
            return None
        raise


@schemathesis.check
def deleted_resources_are_gone(ctx: Any, response: Any, case: Any) -> bool | None:
    """use_after_free, knowing that cancelling a showtime or a reservation keeps its record."""
    try:
        return use_after_free(ctx, response, case)
    except UseAfterFree as failure:
        if failure.operation in CANCELLATIONS:
            return None
        raise


@schemathesis.check
def created_resources_are_found(ctx: Any, response: Any, case: Any) -> bool | None:
    """ensure_resource_availability, knowing that a 404 can name a row the body refers to
    (`theater_not_found` with `details.theater_id` when a price card is moved to a theater that
    does not exist), which is not the resource just created at the path."""
    try:
        return ensure_resource_availability(ctx, response, case)
    except EnsureResourceAvailability:
        if _names_a_body_reference(case, response):
            return None
        raise


def _names_a_body_reference(case: Any, response: Any) -> bool:
    details = (_error_of(response) or {}).get("details")
    body = case.body if isinstance(case.body, dict) else {}
    return isinstance(details, dict) and any(
        key in body and details[key] == body[key] for key in details
    )


def _error_of(response: Any) -> dict[str, Any] | None:
    """The `error` object of an answer in the error shape; None for any other answer."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return error if isinstance(error, dict) else None


@schemathesis.check
def documented_content_types(ctx: Any, response: Any, case: Any) -> bool | None:
    """content_type_conformance, knowing that a 304 (a conditional GET whose validator still
    matches: the seat map, the showtime listing) has no body and so no Content-Type
    (RFC 9110 15.4.5)."""
    if response.status_code == 304:
        return None
    return content_type_conformance(ctx, response, case)


def _is_contract_answer(operation: str, response: Any) -> bool:
    error = _error_of(response)
    if error is None:
        return False
    if response.status_code == 415:
        return error.get("code") == "unsupported_image"  # a file that is no image
    if response.status_code != 422:
        return False
    if error.get("code") != "validation_error":
        return True
    fields = error.get("details", {}).get("fields")
    if not isinstance(fields, dict) or not fields:
        return False
    unstatable = UNSTATABLE_RULES.get(operation, ())
    return all(
        all(message == NUL_MESSAGE for message in messages)
        or any(fnmatch.fnmatchcase(path, rule) for rule in unstatable)
        for path, messages in _leaves(fields)
    )


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """(path, messages) for each field of marshmallow's nested error messages."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, f"{path}.")
        else:
            yield path, value if isinstance(value, list) else [value]
