"""A small async job API of one's own, emulated by the kit's engine (docs/adding-an-api.md).

`POST /jobs` starts a job; `GET /jobs/{job_id}` polls it until `done` or `failed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from mockserver.engine.ids import new_uuid
from mockserver.engine.plan import Plan
from mockserver.engine.scenarios import Scenario
from mockserver.service import ApiService, Ctx


class Sample(ApiService):
    name = "sample"
    prefix = "/sample"
    hosts = ("api.sample.test",)
    base_path = "/v2"
    auth_header = "x-api-key"
    key_format = "sk_{tenant}"
    outcomes = ("done", "failed")
    contract_path = Path(__file__).parent / "openapi.yaml"
    strategies = "sampleapi.strategies"

    def routes(self) -> list[Route]:
        return [
            self.route("/v2/jobs", create, ["POST"]),
            self.route("/v2/jobs/{job_id}", status),
        ]

    def plan(self, kind: str, scenario: Scenario, inputs: dict[str, Any]) -> Plan:
        steps = [("running", 1.0, "Working")]
        return self.timed_plan(steps, 10.0, scenario, self.outcome(kind, scenario))


async def create(ctx: Ctx) -> Response:
    body = await ctx.body()  # checked against the contract: a 422 names a bad field
    job = ctx.create_job("job", new_uuid(ctx.rng), ctx.scenario(), body)
    return ctx.json(view(ctx, job.id), 201)


async def status(ctx: Ctx) -> Response:
    return ctx.json(view(ctx, ctx.params()["job_id"]))


def view(ctx: Ctx, job_id: str) -> dict[str, Any]:
    job = ctx.job(job_id, what="Job")
    snap = job.snapshot(ctx.now)
    return {"id": job.id, "status": snap.state, "created_at": ctx.iso(job.created_at)}
