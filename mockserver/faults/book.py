"""The fault book: the server's rules, and per rule and tenant what each has done."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from mockserver.engine.ids import unit_draw
from mockserver.engine.scenarios import Scenario
from mockserver.faults.rules import RATE_LIMIT, FaultError, FaultRule, scenario_rule
from mockserver.stores import MemoryStore, StateStore, key, lasting_key, view

MEMO_SIZE = 1024  # scenario texts whose fault rule is kept parsed
MAX_RULES = 1000  # rules held at once: every request of an API is matched against each


class FaultBook:
    """The server's fault rules, and per rule and tenant how often each fired.

    Everything lives in the state store, so the workers sharing one apply the same rules and
    count each firing once. The rules are one value, replaced whole by each change: absent, they
    are the configured ones (each process reads those from its own config); once the admin API
    changed them, the list it left. Every ID comes from one counter in the store: a configured
    rule takes the ID the store gave its content first (`_numbered`), so processes with one
    config agree on IDs and processes with different ones never give one ID to two rules; a
    rule added at run time takes the next. A reset keeps the counter (a lasting key), so no ID
    is given twice in a server's life.

    A tally (one rule, one API, one tenant) is a counter under the tenant's key (a scenario's
    rule is one rule per use of the scenario: `for_scenario`); a rate rule
    draws from (seed, what the rule says, API, tenant, draw number), so the draws are one seeded
    sequence whichever worker makes them, and the same after a reset renumbered the rule. The
    admin reset empties the store: the configured rules come back, counts and open rate-limit
    windows are forgotten. `clear()` removes every rule.
    """

    def __init__(
        self,
        configured: Iterable[Mapping[str, Any]] = (),
        seed: int = 0,
        store: StateStore | None = None,
    ) -> None:
        self.seed = seed
        self._store = store or MemoryStore()
        parsed: list[FaultRule] = []
        for data in configured:
            if not isinstance(data, Mapping):
                raise FaultError(f"each fault rule must be a mapping (got {data!r})")
            parsed.append(FaultRule.parse(data, source="config"))
        if len(parsed) > MAX_RULES:
            raise FaultError(f"at most {MAX_RULES} fault rules (got {len(parsed)})")
        self._configured = self._numbered(parsed)
        self._memo_lock = threading.Lock()
        self._from_scenarios: dict[str, FaultRule | None] = {}  # a pure parse, memoised

    @property
    def rules(self) -> list[FaultRule]:
        """Read per request: on the memory store, the kept list itself (never changed in
        place: a change replaces it)."""
        held = view.held(self._store, RULES)
        return self._configured if held is None else held

    def add(self, data: Mapping[str, Any]) -> FaultRule:
        return self.add_all([FaultRule.parse(data)])[0]

    def add_all(self, rules: Sequence[FaultRule]) -> list[FaultRule]:
        """Numbers and adds parsed rules, all or none: refused (FaultError) when the book would
        hold more than MAX_RULES (checked first, so a refusal uses up no ID, and again in the
        change, as another process may add meanwhile)."""
        _room_for(self.rules, rules)
        numbered = [
            replace(rule, id=rule_id)
            for rule, rule_id in zip(rules, self._ids(len(rules)), strict=True)
        ]

        def added(held: list[FaultRule]) -> list[FaultRule]:
            return [*_room_for(held, numbered), *numbered]

        self._change(added)
        return numbered

    def _ids(self, count: int) -> list[str]:
        """`count` IDs never given before, by any process sharing the store."""
        last = self._store.incr(_NUMBERED, count)
        return [f"fault-{number}" for number in range(last - count + 1, last + 1)]

    def _numbered(self, configured: list[FaultRule]) -> list[FaultRule]:
        """The configured rules with their IDs: the one the store gave a rule of the same
        content (the n-th of that content for the n-th) when any process configured it first,
        else a new one. A store kept for good (Redis, SQLite) keeps them across resets and
        restarts: a process started later with the same config agrees with the others."""
        seen: dict[str, int] = {}
        names = []
        for rule in configured:
            seen[rule.content] = seen.get(rule.content, 0) + 1
            names.append(json.dumps([rule.content, seen[rule.content]]))
        known = self._store.entries(_CONFIGURED)
        missing = [name for name in names if name not in known]
        for name, rule_id in zip(missing, self._ids(len(missing)), strict=True):
            # of two processes configuring it at once, the first to write gives its ID
            known[name] = self._store.revise(_CONFIGURED, name, partial(_given, rule_id))
        return [replace(r, id=known[name]) for r, name in zip(configured, names, strict=True)]

    def remove(self, rule_id: str) -> bool:
        if not any(rule.id == rule_id for rule in self.rules):
            return False
        self._change(lambda rules: [rule for rule in rules if rule.id != rule_id])
        return True

    def clear(self) -> None:
        self._store.set(RULES, [])
        view.wrote(self._store, RULES, [])

    def restore(self, rules: list[FaultRule]) -> None:
        """Hold `rules` (what `rules` read earlier) again, whatever was added or removed since:
        the pytest plugin puts back at a test's end the rules the test found."""
        if [rule.id for rule in rules] != [rule.id for rule in self.rules]:
            self._store.set(RULES, rules)
            view.wrote(self._store, RULES, rules)

    def _change(self, change: Callable[[list[FaultRule]], list[FaultRule]]) -> None:
        configured = self._configured
        rules = self._store.update(RULES, lambda held: change(configured if held is None else held))
        view.wrote(self._store, RULES, rules)

    def for_scenario(self, scenario: Scenario, use: str) -> FaultRule | None:
        """The rule of a scenario's `fault=` options (parsed once per scenario text), counted
        for one use of the scenario apart from the others: `use` (a job's ID, or where a
        create's scenario came from; never holding `@`) ends its ID, which its tallies are
        kept under."""
        text = scenario.describe()
        with self._memo_lock:
            parsed, rule = text in self._from_scenarios, self._from_scenarios.get(text)
        if not parsed:
            rule = scenario_rule(scenario)
            with self._memo_lock:
                if len(self._from_scenarios) > MEMO_SIZE:
                    self._from_scenarios.clear()
                self._from_scenarios[text] = rule
        return None if rule is None else replace(rule, id=f"{rule.id}@{use}")

    def forget(self, rule: FaultRule, api: str, tenant: str | None) -> None:
        """Forget what `rule` did for the tenant: a scenario's rule, whose use is over (a
        create got past it and used the scenario up), counts from nothing for the next."""
        self._store.delete(*(_tally(rule, api, tenant, what) for what in _TALLIES))

    def fire(self, rule: FaultRule, api: str, tenant: str | None, now: float) -> int | None:
        """Count one firing of `rule` for this tenant: None when it does not fire, else how
        many the rule has fired before (for a rate limit, seconds left in its window).

        `times` holds across processes: the count goes up first, and back down when it went
        past. A rate limit is `_rate_limit`'s: its window is opened before it is counted."""
        if rule.fault == RATE_LIMIT:
            return self._rate_limit(rule, api, tenant, now)
        store = self._store
        fired = _tally(rule, api, tenant, "fired")
        if rule.times is not None and (store.get(fired) or 0) >= rule.times:
            return None
        if not self._drawn(rule, api, tenant):
            return None
        count = store.incr(fired)
        if rule.times is not None and count > rule.times:
            store.incr(fired, -1)
            return None
        self._listed(rule, api, tenant, count)
        return count - 1

    def _rate_limit(self, rule: FaultRule, api: str, tenant: str | None, now: float) -> int | None:
        """Seconds left in the rule's open window (opening one if it fires), or None.

        The window is opened by compare-and-set, and carries how many windows were opened:
        of the requests (in any process) that find it closed, exactly one opens the next and
        counts the firing, the others answer the 429 of its window, and `times` counts windows
        exactly. A request never sees a firing counted without its window (it would pass)."""
        assert rule.retry_after is not None
        store, at = self._store, _tally(rule, api, tenant, "windows")
        held = store.get(at)
        left = _window_left(held, now)
        if left is not None:
            return left
        if rule.times is not None and _opened(held) >= rule.times:
            return None
        if not self._drawn(rule, api, tenant):
            return None
        server_end, real_end = now + rule.retry_after, time.time() + rule.retry_after
        opener = False

        def open_window(found: list[float] | None) -> list[float] | None:
            nonlocal opener  # the run that is kept is the last one: this is its
            number = _opened(found)
            opener = _window_left(found, now) is None and (
                rule.times is None or number < rule.times
            )
            return [server_end, real_end, number + 1] if opener else found

        window = store.update(at, open_window)
        if not opener:
            return _window_left(window, now)  # another request's window (None: times used up)
        self._listed(rule, api, tenant, store.incr(_tally(rule, api, tenant, "fired")))
        return rule.retry_after

    def _listed(self, rule: FaultRule, api: str, tenant: str | None, count: int) -> None:
        """Note a book rule's first firing for the tenant, for `describe` to find its tally.
        A scenario's rules are listed nowhere: one per use (per job) would pile up."""
        if count == 1 and rule.source != "scenario":
            self._store.put(
                _FIRED, json.dumps([rule.id, api, tenant]), _tally(rule, api, tenant, "fired")
            )

    def _drawn(self, rule: FaultRule, api: str, tenant: str | None) -> bool:
        """Whether a rule with a `rate` fires this time: the tenant's next seeded draw."""
        if rule.rate >= 1.0:
            return True
        draw = self._store.incr(_tally(rule, api, tenant, "draws"))
        return unit_draw(f"{self.seed}:{rule.content}:{api}:{tenant}:{draw}") < rule.rate

    def describe(self) -> list[dict[str, Any]]:
        """Every rule with, per tenant, how often it fired."""
        tallies = self._store.entries(_FIRED)
        counts = self._store.get_many(list(tallies.values()))
        fired: dict[str, dict[str, int]] = {}
        for field, count in zip(tallies, counts, strict=True):
            rule_id, _, tenant = json.loads(field)
            per_tenant = fired.setdefault(rule_id, {})
            per_tenant[tenant or ""] = per_tenant.get(tenant or "", 0) + (count or 0)
        return [{**rule.as_dict(), "fired": fired.get(rule.id, {})} for rule in self.rules]


def _window_left(window: list[float] | None, now: float) -> int | None:
    """Whole seconds (at least 1) a rate-limit window stays open; None once it closed.

    It closes when `retry_after` has passed on the server clock or in real time, whichever
    is first: a client honouring `Retry-After` sleeps in real time, and a manual clock stands
    still meanwhile (its window would never close for a real SDK); a test moves the clock."""
    if window is None:
        return None
    server_end, real_end = window[0], window[1]
    left = min(server_end - now, real_end - time.time())
    return max(1, math.ceil(left)) if left > 0 else None


def _opened(window: list[float] | None) -> int:
    """How many windows were opened, the last being `window` ([server end, real end, number])."""
    return 0 if window is None else int(window[2])


def _given(rule_id: str, held: str | None) -> str:
    """The ID a configured rule's content has: the one held, else `rule_id`."""
    return rule_id if held is None else held


def _room_for(held: list[FaultRule], adding: Sequence[FaultRule]) -> list[FaultRule]:
    """`held`, when `adding` fits beside it; else a FaultError saying how many fit."""
    if len(held) + len(adding) > MAX_RULES:
        raise FaultError(
            f"at most {MAX_RULES} fault rules at once: {len(held)} are held, {len(adding)} more "
            "do not fit (DELETE /__mock__/faults removes them)"
        )
    return held


_TALLIES = ("fired", "windows", "draws")  # what a rule counts per tenant (and API)


def _tally(rule: FaultRule, api: str, tenant: str | None, what: str) -> str:
    return key(tenant, "fault", what, rule.id, api)


RULES = key(None, "faults")  # absent: the configured rules
# IDs given, ever (configured rules included): kept by a reset, as an ID given before it, still
# in a client's hands, must never name another rule
_NUMBERED = lasting_key(None, "faults", "added")
# content of a configured rule (and which of that content) -> its ID: kept by a reset, as a
# process that starts after it must number its configured rules as the others did
_CONFIGURED = lasting_key(None, "faults", "configured")
_FIRED = key(None, "faults", "fired")  # [rule, api, tenant] -> its tally's key, once it fired
