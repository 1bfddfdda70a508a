"""The fault book: the server's rules, and per rule and tenant what each has done."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Any

from mockserver.engine.scenarios import Scenario
from mockserver.faults.rules import RATE_LIMIT, FaultError, FaultRule, scenario_rule


@dataclass
class _Tally:
    """What one rule has done to one tenant."""

    fired: int = 0
    window_end: float = -math.inf
    rng: Random | None = None


class FaultBook:
    """The server's fault rules, and per rule and tenant how often each fired.

    Thread-safe. `reset()` (the admin reset) brings back the configured rules and forgets
    counts and open rate-limit windows; `clear()` removes every rule.
    """

    def __init__(self, configured: Iterable[Mapping[str, Any]] = (), seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._configured: list[FaultRule] = []
        for data in configured:
            if not isinstance(data, Mapping):
                raise FaultError(f"each fault rule must be a mapping (got {data!r})")
            self._configured.append(FaultRule.parse(data, self._next_id(), "config"))
        self._rules = list(self._configured)
        self._tallies: dict[tuple[str, str, str], _Tally] = {}
        self._from_scenarios: dict[str, FaultRule | None] = {}

    def _next_id(self) -> str:
        return f"fault-{next(self._ids)}"

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def add(self, data: Mapping[str, Any]) -> FaultRule:
        rule = FaultRule.parse(data, self._next_id(), "admin")
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            kept = [rule for rule in self._rules if rule.id != rule_id]
            found = len(kept) != len(self._rules)
            self._rules = kept
        return found

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def reset(self) -> None:
        with self._lock:
            self._rules = list(self._configured)
            self._tallies.clear()

    def for_scenario(self, scenario: Scenario) -> FaultRule | None:
        """The rule of a scenario's `fault=` options (parsed once per scenario text)."""
        text = scenario.describe()
        with self._lock:
            if text in self._from_scenarios:
                return self._from_scenarios[text]
        rule = scenario_rule(scenario)
        with self._lock:
            if len(self._from_scenarios) > 1024:
                self._from_scenarios.clear()
            self._from_scenarios[text] = rule
        return rule

    def fire(self, rule: FaultRule, api: str, tenant: str | None, now: float) -> int | None:
        """Count one firing of `rule` for this tenant: None when it does not fire, else how
        many the rule has fired before (for a rate limit, seconds left in its window)."""
        key = (rule.id, api, tenant or "")
        with self._lock:
            tally = self._tallies.setdefault(key, _Tally())
            if rule.fault == RATE_LIMIT and now < tally.window_end:
                return max(1, math.ceil(tally.window_end - now))
            if rule.times is not None and tally.fired >= rule.times:
                return None
            if rule.rate < 1.0:
                tally.rng = tally.rng or Random(f"{self.seed}:{rule.id}:{api}:{tenant}")
                if tally.rng.random() >= rule.rate:
                    return None
            tally.fired += 1
            if rule.fault == RATE_LIMIT:
                assert rule.retry_after is not None
                tally.window_end = now + rule.retry_after
                return rule.retry_after
            return tally.fired - 1

    def describe(self) -> list[dict[str, Any]]:
        """Every rule with, per tenant, how often it fired."""
        with self._lock:
            fired: dict[str, dict[str, int]] = {}
            for (rule_id, _, tenant), tally in self._tallies.items():
                per_tenant = fired.setdefault(rule_id, {})
                per_tenant[tenant] = per_tenant.get(tenant, 0) + tally.fired
            return [{**rule.as_dict(), "fired": fired.get(rule.id, {})} for rule in self._rules]
