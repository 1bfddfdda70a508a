"""No ID is handed out twice by running servers, even when their store loses everything under
them (a Redis restarted without persistence: its ID counters count from 1 again), with or
without a seed. (With a seed, the IDs before any loss are the seed's: `test_workers.py`.)"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, create_app
from tests.redis_servers import RedisServer

NA = "/neuralanalog"
KEY = {"x-api-key": "team-a"}
LINK = {"url": "https://example.com/take.wav"}


def made(client: TestClient) -> str:
    answer = client.post(f"{NA}/from-link", headers=KEY, json=LINK)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["audio_id"])


@pytest.mark.parametrize("seed", [None, 7])
def test_ids_of_jobs_the_store_lost_are_not_handed_out_again(
    own_redis_server: RedisServer, seed: int | None
) -> None:
    """Two servers on one Redis, one of them idle until Redis came back empty: neither draws
    an ID of before the loss again, and a client polling a lost job's ID reads a 404, not a
    new job."""
    config = ServerConfig(clock="manual", seed=seed, store=own_redis_server.url)
    with ExitStack() as running:
        one, other = (running.enter_context(TestClient(create_app(config))) for _ in range(2))
        lost = [made(one), made(one)]
        own_redis_server.restart_after_kill()
        after = [made(other), made(one), made(other)]

        assert not set(lost) & set(after)
        assert len(set(after)) == len(after)
        for client in (one, other):
            answer = client.get(f"{NA}/status/audio/{lost[0]}", headers=KEY)
            assert answer.status_code == 404, answer.text


def test_a_link_made_after_the_loss_downloads_from_every_server(
    own_redis_server: RedisServer,
) -> None:
    """The store's secret went with its contents: a server started after the loss made a new
    one, while one running since kept signing with the old, so half the downloads were a 403
    ("Signature does not match")."""
    config = ServerConfig(clock="manual", store=own_redis_server.url)
    with ExitStack() as running:
        survivor = running.enter_context(TestClient(create_app(config)))
        made(survivor)
        own_redis_server.restart_after_kill()
        newcomer = running.enter_context(TestClient(create_app(config)))
        audio_id = made(newcomer)
        newcomer.post("/__mock__/clock/advance", json={"seconds": 3600})
        for signer, downloader in ((newcomer, survivor), (survivor, newcomer)):
            link = signer.get(
                f"{NA}/download/audio/{audio_id}", headers=KEY, follow_redirects=False
            )
            assert link.status_code == 307, link.text
            assert downloader.get(link.headers["location"]).status_code == 200
