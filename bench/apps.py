"""The bare app the throughput benchmark compares the mock with (a uvicorn factory).

The bare app is the floor a Starlette server cannot beat: for a poll it answers the very JSON
the mock answered, fixed; for a create it parses the same JSON body and answers 202.
"""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SAMPLES_ENV = "BENCH_SAMPLES"  # JSON: {path: answer} of each poll under test


def bare_app() -> Starlette:
    samples: dict[str, object] = json.loads(os.environ.get(SAMPLES_ENV, "{}"))
    accepted = {"id": "bare", "status": "pending"}

    async def poll(request: Request) -> JSONResponse:
        sample = samples.get(request.url.path)
        return JSONResponse(sample, 200 if sample is not None else 404)

    async def create(request: Request) -> JSONResponse:
        await request.json()
        return JSONResponse(accepted, 202)

    return Starlette(
        routes=[
            Route("/{path:path}", poll, methods=["GET"]),
            Route("/{path:path}", create, methods=["POST"]),
        ]
    )
