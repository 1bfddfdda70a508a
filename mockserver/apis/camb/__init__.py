"""Camb.ai audio separation: upload a track, poll the task, fetch foreground and background."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mockserver.apis.camb import responses
from mockserver.apis.camb.models import (
    CONTRACT,
    CYCLE,
    SEPARATION_SECONDS,
    STEPS,
    TRACK_TONES,
    failure_message,
    failure_reason,
)
from mockserver.engine.artifacts import MEDIA_TYPES, render_flac
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Outcome, Plan
from mockserver.engine.scenarios import Scenario
from mockserver.errors import ApiError
from mockserver.service import MULTIPART, ApiService

# the authentication page's error table (401, 403, 429) and its example body,
# `{"error": "Invalid API key", "status": 401}`: not FastAPI's `detail`
GATEWAY_STATUSES = frozenset({401, 403, 429})
# the page's one 401 body, for every 401: its table says "Invalid or missing API key" and
# shows no other words, for a missing key or any other
UNAUTHORIZED = "Invalid API key"


class Camb(ApiService):
    name = "camb"
    prefix = "/camb"
    base_path = "/apis"
    hosts = ("client.camb.ai",)
    auth_header = "x-api-key"
    outcomes = CYCLE.terminal
    scenario_options = ("reason",)  # ERROR's `exception_reason`
    message_outcomes = CYCLE.terminal[1:]  # every end but SUCCESS shows its `message`
    contract_path = CONTRACT
    strategies = "mockserver.contracts.strategies.camb"
    # multipart/form-data: as for Neural Analog's import
    schemathesis = ({"include-operation-id": "create_audio_separation", **MULTIPART},)
    reading_posts = frozenset({"/apis/audio-separation-results"})

    def routes(self) -> list[Route]:
        return [
            self.route("/apis/audio-separation", responses.create, ["POST"]),
            self.route("/apis/audio-separation/{task_id}", responses.status),
            self.route("/apis/audio-separation-result/{run_id}", responses.run_info),
            self.route("/apis/audio-separation-results", responses.runs_results, ["POST"]),
        ]

    def error_response(self, request: Request, error: ApiError) -> Response:
        if error.status in GATEWAY_STATUSES:
            detail = UNAUTHORIZED if error.status == 401 else error.detail
            body = {"error": detail, "status": error.status}
            return JSONResponse(body, error.status, headers=error.headers)
        return super().error_response(request, error)

    @classmethod
    def outcome_word(cls, scenario: Scenario) -> str:
        """Also refuses a `reason=` that is unknown or cannot apply, so the admin queue and
        transitions reject it up front instead of failing the next create."""
        word = super().outcome_word(scenario)
        failure_reason(word, scenario.options.get("reason"))
        return word

    def outcome(self, kind: str, scenario: Scenario) -> Outcome:
        """The outcome with its `exception_reason` (option `reason`) and matching message."""
        word = self.outcome_word(scenario)
        reason = failure_reason(word, scenario.options.get("reason"))
        message = scenario.options.get("message") or failure_message(word, reason)
        return Outcome(word, message, {**scenario.options, "reason": reason})

    def plan(self, kind: str, scenario: Scenario, inputs: dict[str, Any]) -> Plan:
        return self.timed_plan(STEPS, SEPARATION_SECONDS, scenario, self.outcome(kind, scenario))

    def render_file(self, job: Job, name: str) -> tuple[bytes, str]:
        tone = TRACK_TONES.get(name)
        if tone is None:
            raise ApiError(404, "No such file")
        return render_flac(job.data["info"], tone), MEDIA_TYPES["flac"]
