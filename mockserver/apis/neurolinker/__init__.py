"""Ainexxo NeuroLinker: full and field extraction requests, their documents, results, ZIPs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from mockserver.apis.neurolinker import responses
from mockserver.apis.neurolinker.models import (
    ARCHIVE,
    COMPLETED,
    CONTRACT,
    DOCUMENT,
    FAILED,
    FAILURE_MESSAGE,
    NO_CREDITS,
    OUTCOMES,
    PARTIAL,
    REQUEST,
    document_plan,
    failing_count,
    request_plan,
)
from mockserver.engine.clock import MICROS_OFFSET, MICROS_Z
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Outcome, Plan
from mockserver.engine.scenarios import STALLED, Scenario, ScenarioError
from mockserver.errors import ApiError
from mockserver.service import MULTIPART, REFUSED_ON_PURPOSE, ApiService

DOCUMENTED, SDK = "/api/v1", "/v1"  # the docs' paths and the official SDK's


class NeuroLinker(ApiService):
    name = "neurolinker"
    prefix = "/neurolinker"
    hosts = ("neurolinker.api.ainexxo.com",)
    auth_header = "authorization"
    key_format = "nl_{tenant}"
    contract_path = CONTRACT
    strategies = "mockserver.contracts.strategies.neurolinker"
    schemathesis = (
        # The submit: multipart/form-data as for Neural Analog's import. Its `form` field is
        # JSON text of an ExtractForm (its `contentSchema`), files and URLs never both; the
        # contract cannot say "files xor URLs", so schema-valid data is often refused with
        # the documented 422 that names the problem. The field-extraction submit is the same,
        # its form also carrying a `json_schema` the mock must be able to fill (see the
        # contract's supported subset).
        {
            "include-operation-id": ["extract", "extract_fields"],
            **MULTIPART,
            "checks.positive_data_acceptance.expected-statuses": REFUSED_ON_PURPOSE,
        },
        # Fields from Markdown: any object is a schema-valid `json_schema`, but only the
        # supported subset can be filled (422 otherwise), and IDs that name no completed full
        # extraction of this token are skipped; when all are, the answer is the documented 400.
        {
            "include-operation-id": "extract_fields_from_markdown",
            "checks.positive_data_acceptance.expected-statuses": ["400", *REFUSED_ON_PURPOSE],
        },
        # Any string is a schema-valid description, but one without a word (or with articles
        # alone) names no field: the documented 422 at ["body", "description"].
        {
            "include-operation-id": "generate_schema",
            "checks.positive_data_acceptance.expected-statuses": REFUSED_ON_PURPOSE,
        },
    )
    # `insufficient_credits` is a scenario word, not a job state: the submit is refused with 402
    outcomes = OUTCOMES
    scenario_options = ("failing",)  # how many documents a partial request fails
    message_outcomes = (FAILED, PARTIAL)  # a partial request's failing documents show it
    # the tasks page's curl calls `/v1/mcp/tasks` (its heading `/api/v1/tasks`): served too
    path_aliases = {f"{SDK}/mcp/tasks": f"{DOCUMENTED}/tasks", f"{SDK}/": f"{DOCUMENTED}/"}
    time_style = MICROS_OFFSET  # request level; a document's own instants end in `Z`
    # the results of documents by ID, and a schema worked out from words: nothing is written
    reading_posts = frozenset(
        [
            f"{DOCUMENTED}/generate-schema",
            *(f"{DOCUMENTED}/documents/{k}" for k in responses.RESULTS),
        ]
    )

    def routes(self) -> list[Route]:
        endpoints: list[tuple[str, responses.Handler, list[str]]] = [
            ("/extract", responses.extract, ["POST"]),
            ("/extract-fields", responses.extract_fields, ["POST"]),
            ("/extract-fields-from-markdown", responses.extract_fields_from_markdown, ["POST"]),
            ("/generate-schema", responses.generate_schema, ["POST"]),
            ("/tasks", responses.tasks, ["GET"]),
            ("/request-status/{request_id}", responses.request_status, ["GET"]),
            ("/document-status/{document_id}", responses.document_status, ["GET"]),
            *((f"/documents/{kind}", responses.results, ["POST"]) for kind in responses.RESULTS),
            ("/make-zip", responses.make_zip, ["POST"]),
        ]
        return [
            *(
                self.route(base + path, handler, methods)
                for base in (DOCUMENTED, SDK)
                for path, handler, methods in endpoints
            ),
            self.route(f"{SDK}/mcp/tasks", responses.tasks, ["GET"]),
        ]

    def tenant_of(self, request: Request) -> str:
        """Bearer auth as FastAPI's HTTPBearer answers it: 401 with `WWW-Authenticate`."""
        try:
            return super().tenant_of(request)
        except ApiError as error:
            if error.status == 401:
                error.headers.setdefault("WWW-Authenticate", "Bearer")
            raise

    def missing_key_message(self) -> str:
        return "Not authenticated"

    # --- scenarios and plans ------------------------------------------------------------------

    @classmethod
    def outcome_word(cls, scenario: Scenario) -> str:
        """Also refuses a `failing=` that is not a positive integer, or that is given with
        another word than partial (which it would not change), before any job exists."""
        word = super().outcome_word(scenario)
        if "failing" in scenario.options:
            if word != PARTIAL:
                raise ScenarioError(
                    f"failing= applies to {PARTIAL} only (how many documents a partial request "
                    f"fails), not to {word}"
                )
            failing_count(scenario.options)
        return word

    def outcome(self, kind: str, scenario: Scenario) -> Outcome:
        word = self.outcome_word(scenario)
        if word == NO_CREDITS:
            raise ScenarioError(
                "insufficient_credits refuses a new request with 402; no job can end in it"
            )
        if kind == DOCUMENT and word == PARTIAL:
            raise ScenarioError("a document ends completed or failed; partial is for requests")
        return super().outcome(kind, scenario)

    def default_message(self, kind: str, word: str) -> str | None:
        return FAILURE_MESSAGE if word == FAILED else None

    def time_style_of(self, kind: str) -> str:
        return MICROS_Z if kind == DOCUMENT else self.time_style  # a document's end in `Z`

    def plan(self, kind: str, scenario: Scenario, inputs: dict[str, Any]) -> Plan:
        if kind == DOCUMENT:
            stalled = scenario.outcome == STALLED
            queued, working = inputs["schedule"]
            return document_plan(
                queued,
                working,
                inputs["file"].pages,
                None if stalled else self.outcome(kind, scenario),
                scenario.per_poll,
                inputs["works"],
            )
        # a request is planned from its documents as they are made (`_create_request`)
        assert kind == ARCHIVE, f"no plan for a {kind} here"
        return Plan((), Outcome(COMPLETED))

    def force_end(self, job: Job, outcome: str, options: dict[str, Any]) -> None:
        """A request forced `partial` must end with a completed and a failed document, as a
        `partial` header or queued scenario must: else it would end `failed` or
        `completed` under a 200."""
        scenario = self.check_scenario(Scenario.parse_with(outcome, "admin", options))
        if job.kind == REQUEST and self.outcome_word(scenario) == PARTIAL:
            with self.state.lock:  # the documents as `super().force_end` will find them
                documents = self._documents(job.data["documents"])
                _partial_possible(documents, scenario, self.state.now())
                super().force_end(job, outcome, options)
            return
        super().force_end(job, outcome, options)

    def can_end_in(self, job: Job, word: str, now: float) -> bool:
        """A request ends `partial` only with a completed and a failed document: never one
        of a single document, nor one whose finished documents leave no such pair."""
        if job.kind != REQUEST or word.lower() != PARTIAL:
            return True
        try:
            _partial_possible(
                self._documents(job.data["documents"]), Scenario(PARTIAL, {}, "admin"), now
            )
        except ScenarioError:
            return False
        return True

    def after_transition(self, job: Job, now: float) -> None:
        """A forced request ends its unfinished documents; a forced document updates how the
        admin API shows its request. The API always reads a request off its documents."""
        if job.kind == ARCHIVE:
            return
        request = job if job.kind == REQUEST else self.state.store.lookup(job.data["request_id"])
        if request is None:
            return
        documents = self._documents(request.data["documents"])
        if job.kind == REQUEST and job.plan.outcome is not None:
            _force_documents(documents, job.plan.outcome, now)
        request.plan = request_plan(documents, request.plan.per_poll)

    def _documents(self, ids: list[str]) -> list[Job]:
        return [job for job in map(self.state.store.lookup, ids) if job is not None]

    def render_file(self, job: Job, name: str) -> tuple[bytes, str]:
        return responses.stored_file(self.state.store, job, name)


def _partial_possible(documents: list[Job], scenario: Scenario, now: float) -> None:
    """ScenarioError, in the header's words, unless failing the last `failing=` unfinished
    documents and completing the others leaves one completed and one failed document."""
    failing = failing_count(scenario.options)
    snaps = [document.snapshot(now) for document in documents]
    ended = [snap.outcome.state for snap in snaps if snap.terminal and snap.outcome is not None]
    unfinished = len(snaps) - len(ended)
    states = {*ended, *[COMPLETED] * (unfinished - failing), *[FAILED] * failing}
    if failing > unfinished or not {COMPLETED, FAILED} <= states:
        raise ScenarioError(
            f"partial needs at least one completed and one failed document: "
            f"failing={failing} of {unfinished} unfinished document(s)"
        )


def _force_documents(documents: list[Job], outcome: Outcome, now: float) -> None:
    """A request forced to `outcome`: its unfinished documents end now, the last `failing=`
    of them failed (default 1) when the outcome is partial."""
    unfinished = [d for d in documents if not d.snapshot(now).terminal]
    if outcome.state == PARTIAL:  # read as the check read it: `failing=2.0` is 2, not a 422
        failing = failing_count(outcome.options)
    else:
        failing = len(unfinished) if outcome.state == FAILED else 0
    message = outcome.option("message") or FAILURE_MESSAGE
    for index, document in enumerate(unfinished):
        fails = index >= len(unfinished) - failing
        document.force(now, Outcome(FAILED, message) if fails else Outcome(COMPLETED))
