"""Errors a handler raises, and FastAPI's body format that three of the APIs answer them in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mockserver.contracts.validate import Violation

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


SHOWN = 80  # characters of a refused value echoed in a message


def shown_value(value: Any) -> str:
    """A value for an error message, cut short: a refused body may be a megabyte."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input, as pydantic 2 describes it: where (`loc`: ("body", "audio_id")),
    what (`msg`), which kind (`type`), the offending input, and the error's context."""

    loc: tuple[str | int, ...]
    msg: str
    type: str
    value: Any = None
    ctx: dict[str, Any] | None = None

    @classmethod
    def of(cls, violation: Violation) -> FieldError:
        return cls(violation.loc, violation.message, violation.kind, violation.value, violation.ctx)

    def fastapi(self) -> dict[str, Any]:
        """The item FastAPI writes in a 422's `detail` list: type, loc, msg, input, [ctx]."""
        item = {"type": self.type, "loc": list(self.loc), "msg": self.msg, "input": self.value}
        if self.ctx is not None:
            item["ctx"] = self.ctx
        return item

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
    """FastAPI's shapes: `{"detail": "..."}`, and for 422
    `{"detail": [{"type", "loc", "msg", "input", "ctx"?}]}`."""
    if error.errors:
        body: Any = [e.fastapi() for e in error.errors]
    else:
        body = error.detail
    return JSONResponse({"detail": body}, error.status, headers=error.headers)
