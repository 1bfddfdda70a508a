"""Neural Analog: audio import, restoration, mastering, stems, workflows and archives."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from mockserver.apis.neuralanalog import responses
from mockserver.apis.neuralanalog.models import (
    CONTRACT,
    CYCLES,
    FAILED,
    IN_PROGRESS,
    KINDS,
    STEP_KINDS,
)
from mockserver.contracts.lifecycle import end_states
from mockserver.engine.artifacts import MEDIA_TYPES, render_audio, zip_bytes
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Plan
from mockserver.engine.scenarios import Scenario
from mockserver.errors import ApiError
from mockserver.service import MULTIPART, REFUSED_ON_PURPOSE, ApiService


class NeuralAnalog(ApiService):
    name = "neuralanalog"
    prefix = "/neuralanalog"
    hosts = ("api.neuralanalog.com",)
    auth_header = "x-api-key"
    outcomes = end_states(CYCLES.values())
    contract_path = CONTRACT
    strategies = "mockserver.contracts.strategies.neuralanalog"
    schemathesis = (
        # multipart/form-data bodies: every value travels as text, and a list as the same
        # field repeated. A form field cannot carry JSON null: "file_source is null" is sent
        # as no file_source part at all (the field is optional), and "file_source is a
        # number" arrives as the text "123", a valid string; a repeated scalar field is read
        # as its last value, as the real FastAPI services do. These requests are not invalid
        # once encoded, so they are served: the mock is right, the contract's string stays.
        {"include-operation-id": "import_from_file", **MULTIPART},
        # Downloads and archives name objects by ID: a schema-valid ID the key does not have
        # is a 404, an object not finished (or a version not made) a 409, on purpose.
        {
            "include-operation-id": ["download_object", "download_archive"],
            "checks.positive_data_acceptance.expected-statuses": REFUSED_ON_PURPOSE,
        },
    )

    def routes(self) -> list[Route]:
        return [
            self.route("/from-file", responses.from_file, ["POST"]),
            self.route("/from-link", responses.from_link, ["POST"]),
            self.route("/upscale-audio", responses.upscale, ["POST"]),
            self.route("/master-audio", responses.master, ["POST"]),
            self.route("/create-stems", responses.create_stems, ["POST"]),
            self.route("/run-workflow", responses.run_workflow, ["POST"]),
            self.route("/status/{object_type}/{object_id}", responses.status),
            self.route("/download/{object_type}/{object_id}", responses.download),
            self.route("/download-archive", responses.download_archive, ["POST"]),
        ]

    def default_message(self, kind: str, word: str) -> str | None:
        """Why a job of `kind` failed; an archive (made complete, never failed) has no word."""
        return KINDS[kind][2] if word == FAILED and kind in KINDS else None

    def plan(self, kind: str, scenario: Scenario, inputs: dict[str, Any]) -> Plan:
        """A workflow's phases are its steps; any other kind's depend on the kind alone."""
        if kind == "workflow" or scenario.options or responses.RESTORE_FIRST in inputs:
            return self._plan(kind, scenario, inputs)
        return self.usual_plan((kind, scenario.outcome), lambda: self._plan(kind, scenario, inputs))

    def _plan(self, kind: str, scenario: Scenario, inputs: dict[str, Any]) -> Plan:
        seconds = CYCLES[kind].usual_seconds
        if kind == "workflow":
            steps = inputs["steps"]
            phases = [
                (
                    IN_PROGRESS,
                    CYCLES[STEP_KINDS[s["type"]]].usual_seconds,
                    f"Step {i + 1}/{len(steps)}: {s['type']}",
                )
                for i, s in enumerate(steps)
            ]
            seconds = sum(weight for _, weight, _ in phases)
        elif kind == "audio":
            phases = [
                (IN_PROGRESS, 1.0, "Receiving audio"),
                (IN_PROGRESS, 3.0, "Analysing audio"),
            ]
        elif responses.RESTORE_FIRST in inputs:  # a master of a restoration made for it
            restoring = CYCLES["upscaled"].usual_seconds
            phases = [
                (IN_PROGRESS, restoring, KINDS["upscaled"][0]),
                (IN_PROGRESS, seconds, KINDS[kind][0]),
            ]
            seconds += restoring
        else:
            phases = [(IN_PROGRESS, 1.0, KINDS[kind][0])]
        return self.timed_plan(phases, seconds, scenario, self.outcome(kind, scenario))

    def after_transition(self, job: Job, now: float) -> None:
        """A forced workflow brings its steps along (they ran on, and their outputs could be
        archived, after the workflow said it failed), and a forced step its workflow (which
        went on as planned); a forced `use_restored` master its restoration, and a forced
        restoration its master."""
        store = self.state.store
        if job.kind == "workflow":
            responses.end_steps(store, job, now)
        elif responses.RESTORATION in job.data:
            responses.restoration_follows(store, job, now)
        elif responses.MASTER in job.data:
            responses.master_follows(store, job, now)
        elif responses.WORKFLOW in job.data:
            responses.workflow_follows(store, job, now)

    def render_file(self, job: Job, name: str) -> tuple[bytes, str]:
        if job.kind == "archive":
            members = {
                path: render_audio(info, tone, fmt) for path, info, tone, fmt in job.data["members"]
            }
            return zip_bytes(members, job.created_at), "application/zip"
        stem_name, _, fmt = name.rpartition(".")
        if fmt not in MEDIA_TYPES:
            raise ApiError(404, "No such file")
        for stem in job.data.get("stems", ()):
            if stem_name == f"stem-{stem.stem_id}":
                return render_audio(job.data["info"], stem.frequency, fmt), MEDIA_TYPES[fmt]
        if stem_name == job.kind:
            return render_audio(job.data["info"], job.data["tone"], fmt), MEDIA_TYPES[fmt]
        raise ApiError(404, "No such file")
