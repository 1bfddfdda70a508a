"""Fault injection: the ways a real API misbehaves, on demand and reproducibly.

A fault rule says what goes wrong (`fault`) and where: which API, which operations
(operationIds of the contract), which tenant (API key), which scenario. Rules come from the
server config (`faults:`), the admin API (`/__mock__/faults`) or a scenario's options
(`X-Mock-Scenario: completed; fault=429; retry_after=3`). The kinds:

- `latency`: the answer comes `delay` seconds (of server time) later.
- `rate_limit` (`429`): a 429 with `Retry-After`; while that window is open (until it has
  passed on the server clock or in real time), every matching request of the tenant is
  refused too, as a real rate limit does.
- `error` (`500`, `503`): a 5xx in the API's own error format; only one the contract
  documents (a rule with another would never fire, and is refused).
- `reset`: the connection is dropped without an answer.
- `stall`: the jobs a create request starts never finish: planned for the scenario the request
  chose (and the API checked), then stalled.
- `variety`: a 2xx JSON answer is replaced by another payload the contract allows, drawn
  from the contract's Hypothesis strategies with a seed.

The pieces: `rules` (what a rule says, parsed and checked), `book` (the server's rules and
what each has done), `middleware` (applying them to a request), `reset` (dropping a
connection), `stall` (what the handler asks when it plans a job), `variety` (varied payloads),
`operations` (which operations create and poll).
The middleware is imported from its module by the app: the server's state holds a
`FaultBook`, and the middleware reads the state, so this package leaves it out.
"""

from mockserver.faults.book import FaultBook
from mockserver.faults.operations import creating_operations, polling_operations
from mockserver.faults.reset import InjectedReset
from mockserver.faults.rules import FaultError, FaultRule, scenario_rule

__all__ = [
    "FaultBook",
    "FaultError",
    "FaultRule",
    "InjectedReset",
    "creating_operations",
    "polling_operations",
    "scenario_rule",
]
