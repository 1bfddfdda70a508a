"""Errors a handler raises, and FastAPI's body format that three of the APIs answer them in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
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
# what a 422 echoes of a refused input (pydantic's `input`): a string up to ECHOED_TEXT
# characters, a list or an object up to ECHOED_ITEMS items, ECHOED_BUDGET in all (each
# character of a string and each other value counting one)
ECHOED_TEXT, ECHOED_ITEMS, ECHOED_BUDGET = 1_000, 100, 10_000
CUT = "..."  # ends a string, a list or an object echoed in part


def shown_value(value: Any) -> str:
    """A value for an error message, cut short: a refused body may be a megabyte."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


def repeated(values: Sequence[str]) -> str:
    """How a refusal names a header or parameter given these `values` (two or more): "twice
    ('a' and 'b')", "3 times ('a', 'b', ...)", the first two alone shown (a client may
    repeat one a thousand times)."""
    first, second = (shown_value(value) for value in values[:2])
    if len(values) == 2:
        return f"twice ({first} and {second})"
    return f"{len(values)} times ({first}, {second}, ...)"


def echoed(value: Any) -> Any:
    """`value` as a 422 echoes it: whole if small, else cut (a string ends in "...", a list
    gets a last item "...", an object a last key "..."). FastAPI echoes the whole input, but
    a 90 MB text part made a 185 MB answer that held up every other client."""
    return _Echo(ECHOED_BUDGET).cut(value)


class _Echo:
    """Cuts an input to what is `left` of its budget, depth first."""

    __slots__ = ("left",)

    def __init__(self, budget: int) -> None:
        self.left = budget

    def cut(self, value: Any) -> Any:
        if self.left <= 0:
            return CUT
        if isinstance(value, str):
            kept = value[: min(ECHOED_TEXT, self.left)]
            self.left -= len(kept) + 1
            return value if len(kept) == len(value) else kept + CUT
        self.left -= 1
        if isinstance(value, dict):
            entries = {
                self.cut(str(name)): self.cut(item) for name, item in self._some(value.items())
            }
            return entries if len(entries) == len(value) else {**entries, CUT: CUT}
        if isinstance(value, list | tuple):
            items = [self.cut(item) for item in self._some(value)]
            return items if len(items) == len(value) else [*items, CUT]
        return value

    def _some(self, values: Iterable[Any]) -> Iterator[Any]:
        """The first of `values`, while the budget lasts (each is cut as it is taken)."""
        for value in islice(values, ECHOED_ITEMS):
            if self.left <= 0:
                return
            yield value


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
        """The item FastAPI writes in a 422's `detail` list: type, loc, msg, input, [ctx]; the
        input cut short where it is long (`echoed`)."""
        item = {
            "type": self.type,
            "loc": list(self.loc),
            "msg": self.msg,
            "input": echoed(self.value),
        }
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
