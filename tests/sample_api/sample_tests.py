"""Run in a process where the sample API is installed (tests/test_extending.py); not named
test_*.py, so that the suite, where it is not installed, leaves it alone."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import from_schema

from mockserver import apis, contracts, schemathesis_config
from mockserver.cli import main
from mockserver.contracts import validate_response
from mockserver.contracts.strategies import lifecycle_types, lifecycles
from mockserver.fixtures.server import InProcessMockServer
from tests.test_schemathesis import failures_of


def test_registered_beside_the_built_ins() -> None:
    assert "sample" in apis.names() and "neuralanalog" in apis.names()


@pytest.mark.mockserver_allow_violations  # the empty text is refused on purpose
def test_fixture_routes_and_served_contract(mockserver_asgi: InProcessMockServer) -> None:
    assert mockserver_asgi.base_url("sample") == "http://mockserver.test/sample/v2"
    assert mockserver_asgi.api_key("sample") == f"sk_{mockserver_asgi.tenant}"
    client = mockserver_asgi.client("sample")
    created = client.post("/jobs", json={"text": "hi"})
    assert created.status_code == 201, created.text
    assert client.post("/jobs", json={"text": ""}).status_code == 422
    job_id = created.json()["id"]
    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
    mockserver_asgi.advance(10)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "done"
    served = mockserver_asgi.client().get("/sample/openapi.json").json()
    assert served["servers"] == [
        {"url": "http://mockserver.test/sample", "description": "this mock server"}
    ]
    assert served["info"]["title"] == "Sample jobs API"


@settings(max_examples=5, database=None, deadline=None)
@given(lifecycles("sample", "job"))
def test_strategies(bodies: list[dict]) -> None:
    assert lifecycle_types()["sample"] == ("job",)
    for body in bodies:
        sent = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        assert not validate_response("sample", "GET", "/v2/jobs/x", 200, headers=headers, body=sent)


def test_check_client(capsys) -> None:
    code = main(
        ["check-client", "--api", "sample", "sampleflow:flow", "--only", "done,failed,reset"]
    )
    table = capsys.readouterr().out
    assert code == 0, table
    assert "all 3 scenarios handled" in table


def test_schemathesis() -> None:
    from mockserver import ServerConfig, create_app

    service = apis.service_class("sample")
    data = schemathesis_config.config(["sample"])
    data["headers"] = service.auth_headers(service.api_key("st"))
    data["generation"] = {"max-examples": 5, "database": "none", "deterministic": True}
    data["seed"] = 1
    data["phases"] = {"coverage": {"enabled": False}, "stateful": {"enabled": False}}
    schema = schemathesis.openapi.from_asgi(
        service.document_url_path(),
        create_app(ServerConfig(clock="manual")),
        config=SchemathesisConfig.from_dict(data),
    )
    assert failures_of(from_schema(schema).execute()) == []
    assert contracts.load("sample").document_path == "/openapi.json"
