"""Which operations of a contract start a job and which a client polls afterwards, read from
the contract's `links`: a `stall` applies to the first, the client check faults the second;
and which answer JSON a `variety` can vary."""

from __future__ import annotations

from typing import Any

from mockserver.contracts.document import Contract, Operation


def creating_operations(contract: Contract) -> set[str]:
    """operationIds that start a job: those whose success answer `links` to a read (the
    contracts link each create to its status operation; a webhook endpoint's create links
    only to its update and delete, and starts none); without links, every non-GET one."""
    reads = {op.id for op in contract.operations if op.method == "GET"}
    linked = {
        op.id
        for op in contract.operations
        if op.method != "GET"
        and any(link.get("operationId") in reads for link in _links(contract, op))
    }
    return linked or {op.id for op in contract.operations if op.method != "GET"}


def polling_operations(contract: Contract) -> set[str]:
    """operationIds other than creates that a client reaches from a create by following
    `links`: status reads, results, downloads."""
    by_id = {op.id: op for op in contract.operations}
    creates = creating_operations(contract)
    seen: set[str] = set(creates)
    todo = [by_id[name] for name in creates]
    while todo:
        for link in _links(contract, todo.pop()):
            target = link.get("operationId")
            if target in by_id and target not in seen:
                seen.add(target)
                todo.append(by_id[target])
    return (seen - creates) or {op.id for op in contract.operations if op.method == "GET"}


def varied_operations(contract: Contract) -> set[str]:
    """operationIds with a 2xx JSON answer, the only kind a `variety` replaces: not a redirect
    (a download's 307), an empty 204 or an event stream."""
    return {
        op.id
        for op in contract.operations
        for status, response in op.spec.get("responses", {}).items()
        if str(status).startswith("2")
        and any("json" in media for media in contract.resolve(response).get("content", {}))
    }


def _links(contract: Contract, operation: Operation) -> list[dict[str, Any]]:
    found = []
    for status, response in operation.spec.get("responses", {}).items():
        if str(status).startswith("2"):
            links = contract.resolve(response).get("links", {})
            found += [contract.resolve(link) for link in links.values()]
    return found
