"""The Neural Analog example client against the mock: live server, virtual time, in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from neuralanalog_client import JobFailed, NeuralAnalog

from mockserver.fixtures.plugin import InProcessMockServer, MockServer
from mockserver.virtualtime import VirtualTime

API = "neuralanalog"


@pytest.fixture
def client(mockserver: MockServer) -> Iterator[NeuralAnalog]:
    client = NeuralAnalog(mockserver.api_key(API), mockserver.base_url(API))
    yield client
    client.close()


def test_masters_a_link_on_virtual_time(
    client: NeuralAnalog, mockserver: MockServer, virtual_time: VirtualTime
) -> None:
    wav = client.master_link("https://example.com/tracks/demo.wav")

    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert virtual_time.slept >= 20  # the client polled through the import and the mastering
    sent = [(e["method"], e["path"].split("/")[1]) for e in mockserver.journal]
    assert sent[0] == ("POST", "from-link")
    assert ("POST", "master-audio") in sent and sent[-1] == ("GET", "download")


def test_reports_a_failed_mastering(
    client: NeuralAnalog, mockserver: MockServer, virtual_time: VirtualTime
) -> None:
    audio_id = client.import_link("https://example.com/tracks/demo.wav")
    client.wait("audio", audio_id)
    mockserver.queue(API, "failed", message="Source audio is no longer available", after=30)

    with pytest.raises(JobFailed, match="no longer available"):
        client.wait("mastered", client.master(audio_id))


def test_gives_up_on_a_stalled_import(
    client: NeuralAnalog, mockserver: MockServer, virtual_time: VirtualTime
) -> None:
    mockserver.queue(API, "stalled")

    with pytest.raises(TimeoutError, match="in_progress"):
        client.wait("audio", client.import_link("https://example.com/tracks/demo.wav"))
    assert virtual_time.slept == pytest.approx(client.timeout)


def test_magic_link_names_the_outcome(client: NeuralAnalog, virtual_time: VirtualTime) -> None:
    with pytest.raises(JobFailed):
        client.wait("audio", client.import_link("https://example.com/mock-failed.wav"))


def test_in_process_without_sleeping(mockserver_asgi: InProcessMockServer) -> None:
    client = NeuralAnalog(
        mockserver_asgi.api_key(API),
        mockserver_asgi.base_url(API),
        transport=mockserver_asgi.transport,
    )
    audio_id = client.import_link("https://example.com/tracks/demo.wav")
    finished = mockserver_asgi.run_until_terminal(API, audio_id)

    assert finished["state"] == "completed"
    assert client.wait("audio", audio_id)["is_complete"]
    assert client.download("audio", audio_id)[:4] == b"RIFF"
