"""NeuroLinker lifecycles: documents queued, worked, then ended; the request aggregates them.

The states are the contract's (`x-lifecycle`): a document's first two running states, its end
states (success first) and those it may reach while still queued; the request's running
state, and its end state for documents that did not all end alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from mockserver.contracts.lifecycle import lifecycle as contract_lifecycle
from mockserver.contracts.strategies.bodies import component, narrowed
from mockserver.contracts.strategies.formats import uuids
from mockserver.contracts.strategies.timeline import Clock, delays, instants, polls
from mockserver.contracts.strategies.values import MAX_SAFE_INTEGER

STATUS_OPERATIONS = {"request": "get_request_status", "document": "get_document_status"}
CREDITS_PER_PAGE = 4
MAX_DOCUMENTS = 4  # documents of one drawn request
# a document's size, so that the request's `total_size_bytes` (their sum) is a safe integer too
MAX_DOCUMENT_SIZE = MAX_SAFE_INTEGER // MAX_DOCUMENTS
REQUEST, DOCUMENT = (contract_lifecycle("neurolinker", kind) for kind in ("request", "document"))
QUEUED, WORKING = DOCUMENT.stages(2)
SUCCESS = DOCUMENT.terminal[0]
ENDS_WHILE_QUEUED = tuple(e for e in DOCUMENT.terminal if e in DOCUMENT.states[QUEUED].next)
(REQUEST_RUNNING,) = REQUEST.stages(1)
(MIXED,) = (end for end in REQUEST.terminal if end not in DOCUMENT.terminal)


# The docs' two formats: a request prints 2025-10-15T09:49:50.574754+00:00, a document ...574754Z
REQUEST_CLOCK, DOCUMENT_CLOCK = Clock("microseconds", zulu=False), Clock("microseconds", zulu=True)


@dataclass(frozen=True, slots=True)
class _PlannedDocument:
    """One document's whole history, so every poll shows a consistent moment of it."""

    document_id: str
    filename: str
    page_url: str
    size: int
    pages: int
    images: tuple[str, ...]
    started: datetime  # work starts (for a document that ended while queued: when it ended)
    ended: datetime
    outcome: str
    error: str
    ended_queued: bool

    def state(self, at: datetime) -> str:
        if at >= self.ended:
            return self.outcome
        return QUEUED if at < self.started else WORKING

    def pages_at(self, at: datetime) -> int | None:
        """Pages are known once work has started."""
        return None if self.state(at) == QUEUED or self.ended_queued else self.pages


@dataclass(frozen=True, slots=True)
class _PlannedRequest:
    request_id: str
    user_uid: str
    page_url: str
    accepted: datetime
    documents: tuple[_PlannedDocument, ...]

    @property
    def finished(self) -> datetime:
        return max(d.ended for d in self.documents)


@st.composite
def _planned_documents(draw: st.DrawFn, accepted: datetime) -> _PlannedDocument:
    started = accepted + draw(delays())
    outcome = draw(st.sampled_from(DOCUMENT.terminal))
    ended_queued = outcome in ENDS_WHILE_QUEUED and draw(st.booleans())
    return _PlannedDocument(
        document_id=draw(uuids()),
        filename=draw(component("neurolinker", "RequestDocumentInProgress", "filename")),
        page_url=draw(component("neurolinker", "PageUrl")),
        size=draw(
            narrowed(
                "neurolinker",
                "DocumentRecordCompleted",
                "file_size_bytes",
                maximum=MAX_DOCUMENT_SIZE,
            )
        ),
        pages=draw(st.integers(1, 500)),
        images=tuple(draw(st.lists(component("neurolinker", "ImageName"), max_size=3))),
        started=started,
        ended=started if ended_queued else started + draw(delays()),
        outcome=outcome,
        error=draw(component("neurolinker", "DocumentStatusFailed", "error")),
        ended_queued=ended_queued,
    )


@st.composite
def _planned_requests(draw: st.DrawFn) -> _PlannedRequest:
    accepted = draw(instants())
    documents = draw(
        st.lists(
            _planned_documents(accepted),
            min_size=1,
            max_size=MAX_DOCUMENTS,
            unique_by=lambda d: d.document_id,
        )
    )
    return _PlannedRequest(
        request_id=draw(uuids()),
        user_uid=draw(component("neurolinker", "UserUid")),
        page_url=draw(component("neurolinker", "PageUrl")),
        accepted=accepted,
        documents=tuple(documents),
    )


def _document_record(request: _PlannedRequest, doc: _PlannedDocument) -> dict:
    """The `result` of a finished document in the request status."""
    clock = DOCUMENT_CLOCK
    record: dict[str, Any] = {
        "file_name": doc.filename,
        "file_type": "application/pdf",
        "started_at": clock.stamp(doc.started),
        "file_size_bytes": doc.size,
        "user_uid": request.user_uid,
        "total_pages": doc.pages_at(doc.ended),
        "completed_at": clock.stamp(doc.ended),
        "results": None,
        "status": doc.outcome,
        "billing": None,
    }
    if doc.outcome == SUCCESS:
        record["results"] = _document_results(request, doc)
        record["billing"] = {
            "type": "capture",
            "amount": CREDITS_PER_PAGE * doc.pages,
            "at": clock.stamp(doc.ended),
        }
    else:
        record["error"] = doc.error
    return record


def _document_results(request: _PlannedRequest, doc: _PlannedDocument) -> dict[str, Any]:
    return {
        "storage_path": f"uploads/{request.user_uid}/{request.request_id}/{doc.document_id}/",
        "cropped_images": list(doc.images),
    }


def _request_status(request: _PlannedRequest, at: datetime) -> dict[str, Any]:
    clock = REQUEST_CLOCK
    states = [d.state(at) for d in request.documents]
    processing = sum(state in DOCUMENT.running for state in states)
    completed = states.count(SUCCESS)
    failed = len(states) - processing - completed
    ended = states[0] if len(set(states)) == 1 else MIXED  # all alike, or a mix
    aggregate = REQUEST_RUNNING if processing else ended
    return {
        "success": True,
        "request_id": request.request_id,
        "status": aggregate,
        "documents": [
            {
                "document_id": doc.document_id,
                "filename": doc.filename,
                "status": state,
                "result": None if state in DOCUMENT.running else _document_record(request, doc),
                "document_page_url": doc.page_url if state == SUCCESS else None,
            }
            for doc, state in zip(request.documents, states, strict=True)
        ],
        "total": len(states),
        "completed": completed,
        "failed": failed,
        "processing": processing,
        "job_page_url": request.page_url,
        "total_size_bytes": sum(d.size for d in request.documents),
        "started_at": clock.stamp(request.accepted),
        "completed_at": None if processing else clock.stamp(request.finished),
    }


def _document_status(request: _PlannedRequest, doc: _PlannedDocument, at: datetime) -> dict:
    clock = DOCUMENT_CLOCK
    state = doc.state(at)
    body: dict[str, Any] = {
        "success": True,
        "document_id": doc.document_id,
        "request_id": request.request_id,
        "status": state,
        "file_name": doc.filename,
        "file_type": "application/pdf",
        "file_size_bytes": doc.size,
        "total_pages": doc.pages_at(at),
        "user_uid": request.user_uid,
        "started_at": None if state == QUEUED else clock.stamp(doc.started),
        "completed_at": clock.stamp(doc.ended) if state in DOCUMENT.terminal else None,
        "results": _document_results(request, doc) if state == SUCCESS else None,
        "document_page_url": doc.page_url if state == SUCCESS else None,
    }
    if state in DOCUMENT.terminal and state != SUCCESS:
        body["error"] = doc.error
    return body


@st.composite
def lifecycle(draw: st.DrawFn, object_type: str) -> list[dict[str, Any]]:
    request = draw(_planned_requests())
    if object_type == "request":
        end = request.finished
        observe = functools.partial(_request_status, request)
    else:
        end = request.documents[0].ended
        observe = functools.partial(_document_status, request, request.documents[0])
    polled = polls(draw, request.accepted, end)
    return [observe(at) for at in [*polled, end + draw(delays())]]
