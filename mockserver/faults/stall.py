"""Stalls: the jobs of a create that a `stall` fault fires on never finish.

The middleware cannot stall a job by itself: the handler makes it, from the scenario the
request chose (header, queue, key, magic input, default) and the API checked (a word it does
not know is a 400, a 402 word refuses the create, a queued scenario is used up by the create
that stores its job). Putting `stalled` in the request's place would skip all that. So the
middleware leaves the request as it is and puts an offer in its scope; the handler's planning
(`Ctx.plan`) asks it once the scenario passed the API's checks, and plans the job `stalled`.
The rules fire (and count toward `times`) on that first ask: a create refused earlier uses
none.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

from mockserver.engine.scenarios import SHARED_OPTIONS, STALLED, Scenario

OFFER = "mockserver.stall"  # in `scope["state"]`: the request's StallOffer


class StallOffer:
    """Whether the jobs of one request stall: decided by `fire` on the first ask, so the
    jobs one request makes (a NeuroLinker request's documents) stall together."""

    def __init__(self, fire: Callable[[], bool]) -> None:
        self._fire = fire
        self._stalls: bool | None = None

    def stalls(self) -> bool:
        if self._stalls is None:
            self._stalls = self._fire()
        return self._stalls


def offer_stall(scope: Scope, fire: Callable[[], bool]) -> None:
    """Let the request's jobs stall if `fire()` says so when the first is planned."""
    scope.setdefault("state", {})[OFFER] = StallOffer(fire)


def stalls(scope: Scope) -> bool:
    """Whether the jobs this request creates stall (a `stall` fault fires on the first ask)."""
    offer = scope.get("state", {}).get(OFFER)
    return offer is not None and offer.stalls()


def stalled(scenario: Scenario) -> Scenario:
    """`scenario` as a stall: its timing options (`after=`, `mode=`) kept, the ones of its
    outcome (`reason=`, `failing=`) dropped, as a stall never reaches an outcome."""
    options = {name: value for name, value in scenario.options.items() if name in SHARED_OPTIONS}
    return Scenario(STALLED, options, scenario.source)
