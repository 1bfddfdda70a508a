"""Neural Draft's error bodies: RFC 7807 problem details, as its errors page shows them.

`type` is `https://api.neuraldraft.io/errors/<code>`, `instance` the request id (also the
`X-Request-Id` header), and a 422 adds `errors`: a map of field name to its messages.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mockserver.errors import REASONS, ApiError, FieldError
from mockserver.request import ApiRequest

TYPE_BASE = "https://api.neuraldraft.io/errors/"
OUT_OF_CREDITS, INSUFFICIENT_CREDITS = "out_of_credits", "insufficient_credits"
CREDITS_CODES = (OUT_OF_CREDITS, INSUFFICIENT_CREDITS)  # the two versions of the errors page
# a premium video asked by a project below the Build plan (the videos and pricing pages)
PLAN_REQUIRED = "plan_required"
# titles in the docs' words where they show one ("Validation failed", "Too many requests")
TITLES = {
    "bad_request": "Bad request",
    "unauthorized": "Unauthorized",
    OUT_OF_CREDITS: "Out of credits",
    INSUFFICIENT_CREDITS: "Insufficient credits",
    PLAN_REQUIRED: "Plan required",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "conflict": "Conflict",
    "idempotency_conflict": "Idempotency conflict",
    "payload_too_large": "Payload too large",
    "validation_failed": "Validation failed",
    "rate_limited": "Too many requests",
    "internal_error": "Internal server error",
    "service_unavailable": "Service unavailable",
}


def field_errors(errors: list[FieldError]) -> dict[str, list[str]]:
    """`{"topic": ["Field required"], ...}`: each field once, its messages in order."""
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.field, []).append(error.msg)
    return found


def problem(request: Request, error: ApiError) -> Response:
    """The problem+json answer for `error` (its `errors` only on a 422)."""
    code = error.code
    title = TITLES.get(code) or REASONS.get(error.status, ("", "Error"))[1]
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": error.status,
        "code": code,
        "detail": error.detail,
        "instance": info.id if (info := ApiRequest.of(request.scope)) is not None else "",
    }
    if error.status == 422 and error.errors:
        body["errors"] = field_errors(error.errors)
    return JSONResponse(
        body, error.status, headers=error.headers, media_type="application/problem+json"
    )
