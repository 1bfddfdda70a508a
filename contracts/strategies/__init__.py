"""Hypothesis strategies: any payload a contract allows, and whole polling lifecycles.

`responses(api, operation, status)` draws any body the contract documents for one response;
`lifecycles(api, object_type)` draws the sequence of status bodies a client may see while
polling one job; `example(strategy, seed)` draws one value reproducibly, outside a test.

The schemas are turned into strategies by a small converter for the JSON Schema subset the
contracts use (`hypothesis-jsonschema` does not run on current Hypothesis). It builds values
that are valid by construction instead of filtering: `allOf`, `oneOf`/`anyOf` and
`if`/`then`/`else` are expanded into alternatives of plain schemas, merged keyword by keyword,
and contradictory alternatives are dropped before anything is drawn. A keyword it does not
know raises `UnsupportedSchema` rather than being ignored.

The pieces: `keywords` (the schema vocabulary), `values`, `formats` and `regex` (values of
one type), `schemas` (the converter), `responses` (bodies of documented responses),
`lifecycles` with `timeline`, `bodies` and one module per API, and `seeded` (`example`).
"""

from mockserver.contracts.strategies.keywords import UnsupportedSchema
from mockserver.contracts.strategies.lifecycles import (
    lifecycle_types,
    lifecycles,
    status_operation,
)
from mockserver.contracts.strategies.responses import from_schema, responses
from mockserver.contracts.strategies.seeded import example

__all__ = [
    "UnsupportedSchema",
    "example",
    "from_schema",
    "lifecycle_types",
    "lifecycles",
    "responses",
    "status_operation",
]
