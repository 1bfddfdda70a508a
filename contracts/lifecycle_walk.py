"""Walking lifecycles under schemathesis: move the mock's clock between the steps of a run so
that polling links reach every state, and count the transitions seen per API.

`LifecycleWalk.after_call` is a schemathesis `after_call` hook. After each answer of a status
operation that a contract's `x-lifecycle` describes, it records the state the job showed and,
while the job runs, moves the mock's virtual clock on by the kind's usual duration over
`POLLS_PER_LIFECYCLE` (`POST /__mock__/clock/advance`), so the next poll of the same job, in a
stateful run that follows the contract's links, sees it further along.
`mockserver.contracts.schemathesis_hooks` registers one walk globally (`SCHEMATHESIS_HOOKS`);
its `advance` may be set to move the clock another way than over HTTP.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from mockserver import apis
from mockserver.contracts.document import load
from mockserver.contracts.lifecycle import Lifecycle, lifecycles_of

POLLS_PER_LIFECYCLE = 1  # a running job's usual duration is crossed in this many polls
URL_ENV = "MOCKSERVER_URL"  # the mock's root, when not the origin of the calls
# a clock move answers once the webhook deliveries that fell due are made (Neural Draft's:
# each waits up to 30 s for its receiver), and a run creates many endpoints: httpx's default
# 5 s cut such moves short, each a hook error of the run
ADVANCE_TIMEOUT_SECONDS = 300.0


def advance_clock(root: str, seconds: float) -> None:
    """Move the clock of the mock at `root` on by `seconds` through its admin API; an error
    if the admin API refuses (a token it needs, say): a walk that cannot move the clock
    would only seem to run."""
    answer = httpx.post(
        f"{root.rstrip('/')}/__mock__/clock/advance",
        json={"seconds": seconds},
        timeout=ADVANCE_TIMEOUT_SECONDS,
    )
    answer.raise_for_status()


def _by_title() -> dict[str, str]:
    return {load(api).document["info"]["title"]: api for api in apis.names()}


@dataclass
class LifecycleWalk:
    """Moves the clock while jobs run; remembers what each job showed."""

    advance: Callable[[float], None] | None = None  # default: the admin API over HTTP
    seen: dict[str, dict[str, set[tuple[str, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )  # api -> kind -> transitions
    states: dict[str, dict[str, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )  # api -> kind -> states shown
    _last: dict[tuple[str, str, str], str] = field(default_factory=dict)
    _titles: dict[str, str] = field(default_factory=_by_title)

    def after_call(self, context: Any, case: Any, response: Any) -> None:
        """schemathesis `after_call` hook."""
        api = self._titles.get(str(case.operation.schema.raw_schema.get("info", {}).get("title")))
        if api is None or not 200 <= response.status_code < 300:
            return
        found = load(api).operation(case.method, case.formatted_path)
        if found is None:
            return
        operation, params = found
        for cycle in lifecycles_of(api).values():
            if cycle.operation == operation.id and cycle.id_parameter in params:
                self._observe(cycle, params[cycle.id_parameter], response)
                return
        self._created(api, operation, response)

    def _created(self, api: str, operation: Any, response: Any) -> None:
        """A create whose links lead to a status operation: its job starts in the initial
        state, and the clock moves on before the first poll."""
        contract = load(api)
        for status, spec in operation.spec.get("responses", {}).items():
            if str(status) != str(response.status_code):
                continue
            for link in contract.resolve(spec).get("links", {}).values():
                link = contract.resolve(link)
                for cycle in lifecycles_of(api).values():
                    if cycle.operation != link.get("operationId"):
                        continue
                    job = _pointed(response, link.get("parameters", {}).get(cycle.id_parameter))
                    if job is not None:
                        self._last[(api, cycle.operation, job)] = cycle.initial[0]
                        self._advance(cycle.usual_seconds / POLLS_PER_LIFECYCLE, response)
                        return

    def _observe(self, cycle: Lifecycle, job: str, response: Any) -> None:
        try:
            body = json.loads(response.content)
        except ValueError:
            return
        kind = _kind_of(cycle, body)
        state = kind.state_of(body)
        if state is None or state not in kind.states:
            return
        self.states[kind.api][kind.kind].add(state)
        key = (kind.api, kind.operation, job)
        before = self._last.get(key)
        if before is not None and before != state:
            self.seen[kind.api][kind.kind].add((before, state))
        self._last[key] = state
        if not kind.states[state].terminal:
            self._advance(kind.usual_seconds / POLLS_PER_LIFECYCLE, response)

    def _advance(self, seconds: float, response: Any) -> None:
        if self.advance is not None:
            self.advance(seconds)
            return
        advance_clock(os.environ.get(URL_ENV) or _origin(str(response.request.url)), seconds)

    def coverage(self) -> dict[str, dict[str, dict[str, list[list[str]]]]]:
        """Per API and kind: the transitions covered and those the run never showed."""
        report: dict[str, dict[str, dict[str, list[list[str]]]]] = {}
        for api in apis.names():
            for name, cycle in lifecycles_of(api).items():
                covered = self.seen[api][name]
                report.setdefault(api, {})[name] = {
                    "covered": sorted(map(list, covered)),
                    "missed": sorted(map(list, cycle.transitions() - covered)),
                }
        return report

    def summary(self) -> str:
        """One line per API polled: transitions covered of those its lifecycles allow, then
        those never seen, each named with its kind where the API has several (a transition
        one kind showed may be missing from another), and the kinds no poll showed at all."""
        lines = []
        for api, kinds in self.coverage().items():
            if not any(self.states[api].values()):
                continue
            covered = sum(len(k["covered"]) for k in kinds.values())
            total = covered + sum(len(k["missed"]) for k in kinds.values())
            named = len(kinds) > 1
            missed = [
                f"{kind} {a}->{b}" if named else f"{a}->{b}"
                for kind, found in kinds.items()
                if self.states[api][kind]
                for a, b in found["missed"]
            ]
            unpolled = [kind for kind in kinds if not self.states[api][kind]]
            lines.append(
                f"{api}: {covered} of {total} lifecycle transitions covered"
                + (f"; never seen: {', '.join(missed)}" if missed else "")
                + (f"; no poll showed: {', '.join(unpolled)}" if unpolled else "")
            )
        return "\n".join(lines)


def _kind_of(cycle: Lifecycle, body: dict[str, Any]) -> Lifecycle:
    """The lifecycle of the kind the answer names (Neural Analog's `object_type`, Neural
    Draft's `type`), else the one the operation was matched to."""
    kinds = lifecycles_of(cycle.api)
    for value in (body.get("object_type"), body.get("type")):
        if isinstance(value, str) and value in kinds and kinds[value].operation == cycle.operation:
            return kinds[value]
    return cycle


def _pointed(response: Any, expression: Any) -> str | None:
    """The value a link's `$response.body#/...` names in the answer."""
    if not isinstance(expression, str) or not expression.startswith("$response.body#/"):
        return None
    try:
        value: Any = json.loads(response.content)
    except ValueError:
        return None
    for token in expression.removeprefix("$response.body#/").split("/"):
        value = value.get(token) if isinstance(value, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
