"""A shared store that goes away (a real redis-server, killed): each API answers a 503 in its
own error format, with its request ID, and serves again once the store is back. The failure
was the admin API's `{"error": ...}` with a 500, no request ID, a traceback per request in the
log, and (over a socket) the connection dropped."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, create_app
from mockserver.collector import QuietCollector
from tests.conftest import ConformanceCheck
from tests.redis_servers import RedisServer

KEY = "outage-key"
# one request of each API that reads the store, and what its error body looks like
REQUESTS = {
    "neuralanalog": ("GET", "/neuralanalog/status/audio/missing", "detail"),
    "camb": ("GET", "/camb/apis/audio-separation/1", "detail"),
    "neurolinker": ("GET", "/neurolinker/api/v1/request-status/missing", "detail"),
    "neuraldraft": ("GET", "/neuraldraft/v1/jobs/job_missing", "code"),
}


def headers(api: str) -> dict[str, str]:
    service = apis.service_class(api)
    return service.auth_headers(service.api_key(KEY))


def test_a_store_that_went_away_is_each_apis_503_until_it_is_back(
    durable_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis = durable_redis_server
    app = create_app(ServerConfig(clock="manual", store=redis.url))
    check = ConformanceCheck(app)
    with TestClient(check) as client:
        before = {
            api: client.request(m, p, headers=headers(api)) for api, (m, p, _) in REQUESTS.items()
        }
        assert all(answer.status_code == 404 for answer in before.values())
        redis.kill()
        with caplog.at_level(logging.WARNING, logger="mockserver"):
            for api, (method, path, field) in REQUESTS.items():
                answer = client.request(method, path, headers=headers(api))
                assert answer.status_code == 503, (api, answer.text)
                body = answer.json()
                assert field in body and "state store is unavailable" in answer.text, body
                assert answer.headers["x-request-id"].startswith("req_")
        assert not any(record.exc_info for record in caplog.records)  # one line, no traceback
        assert all("store redis" in record.getMessage() for record in caplog.records)
        redis.restart_after_kill()
        again = client.request("GET", REQUESTS["neuraldraft"][1], headers=headers("neuraldraft"))
        assert again.status_code == 404, again.text
    app.state.mock.backend.close()
    check.assert_clean()


def test_the_quiet_collector_outlives_a_store_outage(
    durable_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """It counts requests in the store's journal: the outage's StoreError used to end its
    thread (a traceback), and full collections stayed off after Redis came back."""
    redis = durable_redis_server
    app = create_app(ServerConfig(clock="manual", store=redis.url))
    journal = app.state.mock.journal
    collector = QuietCollector(lambda: journal.recorded)  # what `collect_when_quiet` watches
    redis.kill()
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        collector.look(100.0, promoted=True)
        collector.look(101.0, promoted=True)
    # one line for the two looks (the store's events thread says its own)
    (record,) = [record for record in caplog.records if record.name == "mockserver"]
    assert "store redis" in record.getMessage() and not record.exc_info
    redis.restart_after_kill()
    collector.look(102.0, promoted=True)
    assert collector.runs == 1  # no request came: quiet
    app.state.mock.backend.close()
