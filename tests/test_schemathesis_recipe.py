"""`mockserver schemathesis` at any number of examples: what a longer run meets that the suite's
bounded one does not (Neural Draft's limit of webhook endpoints per key), and what it must not
do (post webhooks to the hosts schemathesis makes up for endpoint URLs)."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.engine import from_schema
from starlette.testclient import TestClient

from mockserver import apis, create_app
from mockserver.apis.neuraldraft.webhooks import MAX_ENDPOINTS
from mockserver.schemathesis_run import PASSES, Pass, server_config
from tests.test_schemathesis import KEY, auth, failures_of, settings


@pytest.mark.fresh_process  # the same run whatever ran before (tests/conftest.py)
def test_the_documented_limit_of_webhook_endpoints_is_an_answer_the_settings_expect() -> None:
    """A run of 100 examples registered more than 50 endpoints under its one key, and the next
    valid one got the documented 400 (ST202, "schema-valid request rejected"). The key's 50
    endpoints made first, every valid create of a short run meets it."""
    app = create_app(server_config(PASSES[0], 1))
    with TestClient(app) as client:
        for number in range(MAX_ENDPOINTS):
            endpoint = {"url": f"https://hooks.example/{number}", "events": ["order.paid"]}
            made = client.post(
                "/neuraldraft/v1/webhook-endpoints", headers=auth("neuraldraft", KEY), json=endpoint
            )
            assert made.status_code == 201, made.text
    config = settings("neuraldraft", ("fuzzing",), seed=1, mode="positive")
    document = apis.service_class("neuraldraft").document_url_path()
    schema = schemathesis.openapi.from_asgi(document, app, config=config)
    run = from_schema(schema.include(operation_id="create_webhook_endpoint")).execute()
    found = failures_of(run)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("one", PASSES, ids=lambda one: one.name)
def test_the_recipes_servers_keep_a_clock_nothing_moves(one: Pass) -> None:
    """Neural Draft delivers webhooks as its clock moves: on the system clock, a 50-example
    pass posted 2,335 times to the hosts schemathesis makes up for endpoint URLs."""
    assert server_config(one, 7).clock == "manual"
