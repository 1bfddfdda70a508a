"""A store that goes away under an open event stream: the stream ends as streams end (the
last chunk sent, the connection whole) with one line in the log. It was cut off mid-answer
(an incomplete chunked body for the client) with a StoreError traceback in the log.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from mockserver import ServerConfig, apis, create_app
from mockserver.live import LiveServer
from tests.redis_servers import RedisServer

ND = "/neuraldraft/v1"


def test_a_redis_gone_under_a_stream_ends_it_whole(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis = own_redis_server
    app = create_app(ServerConfig(clock="manual", store=f"{redis.url}?socket_timeout=0.3"))
    service = apis.service_class("neuraldraft")
    headers = service.auth_headers(service.api_key("streamer"))
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as client:
            made = client.post(
                f"{ND}/images",
                headers={**headers, "X-Mock-Scenario": "completed; mode=poll"},
                json={"prompt": "A cup"},
            )
            assert made.status_code == 202, made.text
            path = f"{ND}/jobs/{made.json()['id']}/stream"
            with caplog.at_level(logging.WARNING), client.stream("GET", path, headers=headers) as s:
                lines = s.iter_lines()
                assert next(lines) == "event: progress"  # open: the first frame came
                redis.kill()  # a per-poll job's stream reads its job twice a second
                rest = list(lines)  # the stream ends, whole (httpx raises on a cut chunked body)
    finally:
        app.state.mock.backend.close()
    assert "event: done" not in rest
    assert not any(record.exc_info for record in caplog.records)
    ended = [r.getMessage() for r in caplog.records if "the answer ends here" in r.getMessage()]
    assert len(ended) == 1, caplog.text
