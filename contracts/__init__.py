"""The contracts: one OpenAPI 3.1 document per API, and what reads them.

`load(api)` gives a `Contract`; `validate_request` / `validate_response` return readable
`Violation`s; `contracts.strategies` generates contract-valid payloads with Hypothesis;
`check_lifecycle` checks an observed sequence of status answers against the contract's
`x-lifecycle`.
"""

from mockserver.contracts.document import Contract, Operation, load
from mockserver.contracts.lifecycle import Lifecycle, LifecycleReport, check_lifecycle, lifecycle
from mockserver.contracts.validate import Violation, validate_request, validate_response

__all__ = [
    "Contract",
    "Lifecycle",
    "LifecycleReport",
    "Operation",
    "Violation",
    "check_lifecycle",
    "lifecycle",
    "load",
    "validate_request",
    "validate_response",
]
