"""The contracts: one OpenAPI 3.1 document per API, and what reads them.

`load(api)` gives a `Contract`; `validate_request` / `validate_response` return readable
`Violation`s; `contracts.strategies` generates contract-valid payloads with Hypothesis.
"""

from mockserver.contracts.document import Contract, Operation, load
from mockserver.contracts.validate import Violation, validate_request, validate_response

__all__ = [
    "Contract",
    "Operation",
    "Violation",
    "load",
    "validate_request",
    "validate_response",
]
