"""Errors a handler raises, and FastAPI's body format that three of the APIs answer them in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

REASONS = {
    400: ("bad_request", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    402: ("insufficient_credits", "Payment Required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not Found"),
    405: ("method_not_allowed", "Method Not Allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload Too Large"),
    415: ("unsupported_media_type", "Unsupported Media Type"),
    422: ("validation_failed", "Unprocessable Entity"),
    429: ("rate_limited", "Too Many Requests"),
    500: ("internal_error", "Internal Server Error"),
    502: ("bad_gateway", "Bad Gateway"),
    503: ("service_unavailable", "Service Unavailable"),
    504: ("gateway_timeout", "Gateway Timeout"),
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: where (`loc`, FastAPI style: ("body", "audio_id")), what, which kind."""

    loc: tuple[str | int, ...]
    msg: str
    type: str
    value: Any = None

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.loc[1:]) or str(self.loc[0])


class ApiError(Exception):
    """Raised anywhere in a handler; rendered in the API's own error format."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.code = code or REASONS.get(status, ("error", ""))[0]
        self.headers = headers or {}


def invalid(*errors: FieldError) -> ApiError:
    """A 422 naming each field and its problem."""
    detail = "; ".join(f"{e.field}: {e.msg}" for e in errors)
    return ApiError(422, detail, errors=list(errors))


def fastapi_error(request: Request, error: ApiError) -> Response:
    """FastAPI's shapes: `{"detail": "..."}`, and for 422 `{"detail": [{loc, msg, type}]}`."""
    if error.errors:
        body: Any = [{"loc": list(e.loc), "msg": e.msg, "type": e.type} for e in error.errors]
    else:
        body = error.detail
    return JSONResponse({"detail": body}, error.status, headers=error.headers)
