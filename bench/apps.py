"""The two servers the throughput benchmark compares (uvicorn factories)."""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mockserver import ServerConfig, create_app

SAMPLE_ENV = "BENCH_STATUS_SAMPLE"


def mock_app() -> Starlette:
    return create_app(ServerConfig(clock="manual"))


def bare_app() -> Starlette:
    """The floor: a Starlette route answering the same JSON the mock's status poll answered."""
    sample = json.loads(os.environ[SAMPLE_ENV])

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(sample)

    return Starlette(routes=[Route("/neuralanalog/status/{object_type}/{object_id}", status)])
