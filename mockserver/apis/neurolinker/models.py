"""NeuroLinker's rules: what a document is, how long it takes, how a request's scenario is
shared out among its documents, and how a request's status follows from theirs.

A request is one job (kind `request`) and each of its documents is its own job (kind
`document`) with its own plan; the documents are worked one after another. The request's
status is never planned on its own: it is always read off its documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from mockserver.contracts.document import HERE
from mockserver.contracts.lifecycle import end_states, lifecycles_in
from mockserver.engine.ids import BASE62
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Outcome, Phase, Plan
from mockserver.engine.scenarios import MAGIC, STALLED, Scenario, ScenarioError, option_float
from mockserver.errors import shown_value
from mockserver.stores.codec import storable

CONTRACT = HERE / "neurolinker.yaml"
REQUEST, DOCUMENT, ARCHIVE = "request", "document", "archive"
COMPLETED, FAILED, PARTIAL = "completed", "failed", "partial"
NO_CREDITS = "insufficient_credits"  # a scenario word: the submit is refused with 402
# The states, ends and usual duration of both kinds are their lifecycles' in the contract: a
# document is queued, then worked; a request shows the second of those states until its
# documents end
CYCLES = lifecycles_in("neurolinker", CONTRACT)
PENDING, PROCESSING = CYCLES[DOCUMENT].stages(2)
CYCLES[DOCUMENT].conform([PENDING, PROCESSING], (COMPLETED, FAILED))
CYCLES[REQUEST].conform([PROCESSING], (COMPLETED, FAILED, PARTIAL))
# How a document is processed: full extraction, field extraction from the PDF (`/extract-fields`)
# or scalar fields from a full extraction's Markdown (`/extract-fields-from-markdown`)
FULL, FIELDS, SCALARS = "full", "fields", "scalars"
OUTCOMES = (*end_states(CYCLES.values()), NO_CREDITS)

# A document's work weighs BASE + PER_PAGE a page; one of USUAL_PAGES (the docs' 8-page
# example took ~145 s) takes the contract's usual duration (130 s: 10 s and 15 s a page),
# times the profile's duration scale; `after=` sets the whole request's duration instead.
BASE_WEIGHT, PAGE_WEIGHT, USUAL_PAGES = 10.0, 15.0, 8
CREDITS_PER_PAGE = 4  # the docs' example: 8 pages, 32 credits (billing.html says 5)
# Documents of one request (files or URLs), and IDs of one results request: the docs name no
# limit, and each is a job made, or a result built, while the caller waits
MAX_DOCUMENTS = 100
MAX_FAILING = MAX_DOCUMENTS - 1  # `partial; failing=N`: one document completes
FAILURE_MESSAGE = "The PDF could not be parsed"
NO_CREDITS_MESSAGE = "Insufficient credits"


@storable
@dataclass(frozen=True, slots=True)
class DocumentFile:
    """What the mock keeps of one submitted PDF: enough to derive every result from it."""

    file_name: str
    size: int
    pages: int  # counted by a PDF reader, else pdf.DEFAULT_PAGES
    pages_counted: bool  # False: the bytes were not a PDF whose pages could be counted
    texts: tuple[tuple[str, ...], ...]  # strings shown per page, when readable
    sha256: str
    source_url: str | None = None  # URL mode: the URL the document stands for
    encrypted: bool = False  # needs a password: the document fails instead of completing

    state_tag: ClassVar[str] = "document"

    def to_state(self) -> list[Any]:
        return [
            self.file_name,
            self.size,
            self.pages,
            self.pages_counted,
            self.texts,
            self.sha256,
            self.source_url,
            self.encrypted,
        ]

    @classmethod
    def from_state(cls, data: list[Any]) -> DocumentFile:
        name, size, pages, counted, texts, sha256, url, encrypted = data
        return cls(name, size, pages, counted, tuple(map(tuple, texts)), sha256, url, encrypted)

    @property
    def stem(self) -> str:
        """The name results are stored under: the file name without `.pdf`."""
        stem = self.file_name[:-4] if self.file_name.lower().endswith(".pdf") else self.file_name
        return stem or "document"

    @property
    def credits(self) -> int:
        return CREDITS_PER_PAGE * self.pages


def clean_file_name(name: str | None, index: int) -> str:
    """The uploaded name without any folder part; unnamed files as the SDK names them."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base or f"document_{index}.pdf"


def url_file_name(url: str, index: int) -> str:
    """A URL's document is named after the last segment of its path."""
    return clean_file_name(unquote(PurePosixPath(urlsplit(url).path).name), index)


def user_uid(token: str) -> str:
    """The owner ID shown on documents: 28 alphanumerics, stable per token."""
    digest = int.from_bytes(hashlib.sha256(token.encode()).digest(), "big")
    chars = []
    for _ in range(28):
        digest, rest = divmod(digest, 62)
        chars.append(BASE62[rest])
    return "".join(chars)


# --- scenarios shared out among documents -----------------------------------------------------


def failing_count(options: Mapping[str, Any]) -> int:
    """`partial; failing=N` (a scenario's or a forced end's options): how many documents fail
    (the last N); 1 when not given. Read here, not by `Scenario.number`: a refusal gives
    failing's own range, a count of documents, not the range of seconds `after=` has."""
    raw = options.get("failing", 1)
    try:
        value = option_float(raw)
    except (TypeError, ValueError):
        raise ScenarioError(f"scenario option failing={shown_value(raw)} is not a number") from None
    if not value.is_integer() or value < 1:
        raise ScenarioError(f"scenario option failing={value:g} must be a positive integer")
    if value > MAX_FAILING:
        raise ScenarioError(
            f"scenario option failing={value:g} must be a positive integer up to {MAX_FAILING}: "
            f"a request holds at most {MAX_DOCUMENTS} documents, and partial leaves one completed"
        )
    return int(value)


def document_words(scenario: Scenario, total: int) -> list[str]:
    """Each document's outcome word (or `stalled`) under a request-level scenario."""
    word = scenario.outcome.lower()
    if word == PARTIAL:
        failing = failing_count(scenario.options)
        if total < 2 or failing >= total:
            raise ScenarioError(
                f"partial needs at least one completed and one failed document: "
                f"failing={failing} of {total} document(s)"
            )
        return [COMPLETED] * (total - failing) + [FAILED] * failing
    if word == STALLED:
        return [STALLED] * total
    return [word] * total


def magic_words(texts: Sequence[str]) -> list[str] | str:
    """Magic inputs act per document: `mock-failed` in one name fails that document only, and
    a name without a known word completes. A request-level word (`insufficient_credits`,
    `partial`) in any name is returned alone: it applies to the whole request."""
    words = []
    for text in texts:
        match = MAGIC.search(text)
        word = match[1].lower() if match else COMPLETED
        words.append(word if word in (*OUTCOMES, STALLED) else COMPLETED)
    for request_word in (NO_CREDITS, PARTIAL):
        if request_word in words:
            return request_word
    return words


def queue_behind_stall(words: list[str]) -> list[str]:
    """Documents are worked in order: the ones behind a stalled document never start."""
    if STALLED in words:
        first = words.index(STALLED)
        return words[:first] + [STALLED] * (len(words) - first)
    return words


# --- plans -------------------------------------------------------------------------------------


def document_seconds(document: DocumentFile) -> float:
    usual = CYCLES[DOCUMENT].usual_seconds / (BASE_WEIGHT + PAGE_WEIGHT * USUAL_PAGES)
    return usual * (BASE_WEIGHT + PAGE_WEIGHT * document.pages)


def schedule(
    documents: Sequence[DocumentFile], total: float | None, scale: float, per_poll: bool
) -> list[tuple[float, float]]:
    """(queued seconds, working seconds) per document, worked one after another.

    `total` (the scenario's `after=`) stretches the whole request to that many seconds. Per
    poll (`mode=poll`) they count status reads instead, whatever the durations: the first
    read starts the first document, and each document is worked for one read and starts
    with the read that ends the one before it.
    """
    if per_poll:
        return [(index + 1.0, 1.0) for index in range(len(documents))]
    natural = [document_seconds(document) for document in documents]
    factor = scale if total is None else total / (sum(natural) or 1.0)
    result, start = [], 0.0
    for seconds in natural:
        result.append((start, seconds * factor))
        start += seconds * factor
    return result


def document_plan(
    queued: float, working: float, pages: int, outcome: Outcome | None, per_poll: bool, first: bool
) -> Plan:
    """Pending while queued, processing while worked, then the outcome (`per_poll`: the
    durations count status reads, see `schedule`).

    A stalled document works forever when it is the first; the ones behind it stay queued.
    """
    phases = [Phase(PENDING, queued, "Queued")]
    if outcome is not None or first:
        phases.append(Phase(PROCESSING, working, f"Extracting {pages} page(s)"))
    return Plan(tuple(phases), outcome, per_poll)


def aggregate_word(states: Sequence[str]) -> str:
    """The request's status from its documents' (docs: processing/completed/failed/partial)."""
    if any(state in (PENDING, PROCESSING) for state in states):
        return PROCESSING
    if all(state == COMPLETED for state in states):
        return COMPLETED
    if all(state == FAILED for state in states):
        return FAILED
    return PARTIAL


def request_plan(documents: Sequence[Job], per_poll: bool) -> Plan:
    """The request as one plan, for the admin API's view of it: processing until its last
    document ends, then the aggregate of their outcomes. The API itself reads the documents,
    which all start with their request."""
    outcomes = [document.plan.outcome for document in documents]
    length = max((document.plan.length for document in documents), default=0.0)
    phase = Phase(PROCESSING, max(length, 0.0), f"{len(documents)} document(s)")
    if any(outcome is None for outcome in outcomes):
        return Plan((phase,), None, per_poll)
    words = [outcome.state for outcome in outcomes if outcome is not None]
    word = aggregate_word(words)
    failed = words.count(FAILED)
    message = {
        FAILED: next((o.message for o in outcomes if o is not None and o.message), None),
        PARTIAL: f"{failed} of {len(words)} documents failed",
    }.get(word)
    return Plan((phase,), Outcome(word, message), per_poll)
