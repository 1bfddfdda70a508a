"""Camb.ai's HTTP handlers: create a task, report its status, hand out the result links."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import Response

from mockserver.apis.camb.models import (
    BACKGROUND,
    FOREGROUND,
    KIND,
    PENDING,
    SUCCESS,
    audio_info,
    content_problem,
    magic_outcome,
    run_alias,
)
from mockserver.engine.ids import integer
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Snapshot
from mockserver.engine.scenarios import Scenario
from mockserver.errors import ApiError, FieldError, invalid
from mockserver.service import Ctx

RUN_ID_RANGE = (10_000_000, 99_999_999)


# --- create ---------------------------------------------------------------------------------


async def create(ctx: Ctx) -> Response:
    ctx.params()
    body = await _multipart_body(ctx)
    upload = _last_upload(body["media_file"])
    content = await upload.read()
    file_name = upload.filename or "upload"
    scenario = _scenario(ctx, file_name, content)
    task_id = ctx.new_uuid()
    run_id = _new_run_id(ctx)
    data = {
        "file_name": file_name,
        "info": audio_info(content),
        "run_id": run_id,
        "project_name": body.get("project_name"),
        "project_description": body.get("project_description"),
        "folder_id": body.get("folder_id"),
    }
    ctx.create_job(KIND, task_id, scenario, data, run_alias(run_id))
    return ctx.json({"task_id": task_id})


async def _multipart_body(ctx: Ctx) -> dict[str, Any]:
    """FastAPI reads a form from any body: one that is not multipart simply lacks the file."""
    content_type = ctx.request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise invalid(FieldError(("body", "media_file"), "Field required", "missing"))
    return await ctx.body()


def _last_upload(value: UploadFile | list[UploadFile]) -> UploadFile:
    """A repeated `media_file` part: FastAPI keeps the last one."""
    return value[-1] if isinstance(value, list) else value


def _scenario(ctx: Ctx, file_name: str, content: bytes) -> Scenario:
    """The usual precedence; an unsteered upload the real service could not read fails."""
    magic = magic_outcome(file_name, ctx.service.outcomes)
    scenario = ctx.scenario(file_name if magic else None)
    if scenario.source == "magic" and magic and magic[1]:
        return Scenario(scenario.outcome, {**scenario.options, "reason": magic[1]}, "magic")
    problem = content_problem(file_name, content)
    if scenario.source == "default" and problem:
        return Scenario("error", {"reason": problem}, "content")
    return scenario


def _new_run_id(ctx: Ctx) -> int:
    """An integer run id no other task on this server holds (aliases are server-wide)."""
    while True:
        run_id = integer(ctx.rng, *RUN_ID_RANGE)
        if ctx.state.store.lookup(run_alias(run_id)) is None:
            return run_id


# --- status ---------------------------------------------------------------------------------


async def status(ctx: Ctx) -> Response:
    job = ctx.job(ctx.params()["task_id"], KIND, what="Task")
    job.observe(ctx.now)
    ctx.fresh_until(job)
    return ctx.json(_status(job, job.snapshot(ctx.now)))


def _status(job: Job, snap: Snapshot) -> dict[str, Any]:
    outcome = snap.outcome
    if outcome is None:
        return {"status": PENDING, "run_id": None, "exception_reason": None, "message": None}
    succeeded = outcome.state == SUCCESS
    return {
        "status": outcome.state,
        "run_id": job.data["run_id"] if succeeded else None,
        "exception_reason": None if succeeded else outcome.option("reason"),
        "message": outcome.message,
    }


# --- results --------------------------------------------------------------------------------


async def run_info(ctx: Ctx) -> Response:
    run_id = ctx.params()["run_id"]
    (job,) = _finished_runs(ctx, [run_id])
    if job is None:
        raise ApiError(404, f"Run {run_id} not found")
    return ctx.json(_result(ctx, job))


async def runs_results(ctx: Ctx) -> Response:
    ctx.params()
    body = await ctx.body()
    run_ids = list(dict.fromkeys(int(item) for item in body["run_ids"]))
    results: dict[str, Any] = {}
    for run_id, job in zip(run_ids, _finished_runs(ctx, run_ids), strict=True):
        if job is not None:
            results[str(run_id)] = _result(ctx, job)
    return ctx.json(results)


def _finished_runs(ctx: Ctx, run_ids: list[int]) -> list[Job | None]:
    """This tenant's task holding each run, if it reached SUCCESS (runs exist only then): read
    together, however many runs are asked for."""
    tasks = ctx.state.store.read_ahead(
        ctx.service.name, ctx.tenant, [run_alias(run_id) for run_id in run_ids]
    )
    return [None if job is None else _succeeded(ctx, job) for job in tasks]


def _succeeded(ctx: Ctx, job: Job) -> Job | None:
    """`job` if it reached SUCCESS by now, else None."""
    if job.created_at > ctx.now:
        return None
    outcome = job.snapshot(ctx.now).outcome
    return job if outcome is not None and outcome.state == SUCCESS else None


def _result(ctx: Ctx, job: Job) -> dict[str, str]:
    return {
        "foreground_audio_url": ctx.file_url(job, FOREGROUND),
        "background_audio_url": ctx.file_url(job, BACKGROUND),
    }
