"""What the throughput benchmark loads: each API's status poll of a finished job, and the
main create of each API whose create takes a JSON body (Camb.ai's and NeuroLinker's creates
are multipart uploads)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from mockserver.apis.neurolinker.pdf import synthetic_pdf
from mockserver.engine.artifacts import AudioInfo, render_wav

POLL_RATIO, POLL_P99 = 0.70, 1.5  # targets against the bare app
CREATE_RATIO, CREATE_P99 = 0.50, 3.0


@dataclass(frozen=True)
class Load:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, object] = field(default_factory=dict)

    @property
    def targets(self) -> tuple[float, float]:
        return (POLL_RATIO, POLL_P99) if self.method == "GET" else (CREATE_RATIO, CREATE_P99)

    def encoded(self) -> bytes:
        return json.dumps(self.body).encode()


NA = {"X-API-Key": "bench"}
CAMB = {"x-api-key": "bench"}
NL = {"Authorization": "Bearer nl_bench"}
ND = {"Authorization": "Bearer ndsk_test_bench"}
LINK = {"url": "https://example.com/track.wav"}
BLOG = {"type": "ai", "topic": "How to brew cold brew at home"}


def finish_jobs(client: httpx.Client) -> None:
    """Move the mock's clock past the end of every job made so far."""
    client.post("/__mock__/clock/advance", json={"seconds": 3600}).raise_for_status()


def neuralanalog_poll(client: httpx.Client) -> Load:
    """One finished Neural Analog job on the running mock, and the load polling it."""
    audio = client.post("/neuralanalog/from-link", headers=NA, json=LINK).json()["audio_id"]
    finish_jobs(client)
    return Load("poll neuralanalog", "GET", f"/neuralanalog/status/audio/{audio}", NA)


def prepare(client: httpx.Client) -> list[Load]:
    """Create one job per API on the running mock, finish them, and name the loads."""
    poll = neuralanalog_poll(client)
    wav = render_wav(AudioInfo(2.0), 440)
    files = {"media_file": ("take.wav", wav, "audio/x-wav")}
    task = client.post("/camb/apis/audio-separation", headers=CAMB, files=files).json()
    pdf = {"documents": ("a.pdf", synthetic_pdf("Bench"), "application/pdf")}
    extract = client.post(
        "/neurolinker/api/v1/extract", headers=NL, files=pdf, data={"form": "{}"}
    ).json()
    post = client.post("/neuraldraft/v1/blog-posts", headers=ND, json=BLOG).json()
    finish_jobs(client)
    document = client.get(
        f"/neurolinker/api/v1/request-status/{extract['request_uid']}", headers=NL
    ).json()["documents"][0]["document_id"]
    return [
        poll,
        Load("poll camb", "GET", f"/camb/apis/audio-separation/{task['task_id']}", CAMB),
        Load("poll neurolinker", "GET", f"/neurolinker/api/v1/document-status/{document}", NL),
        Load("poll neuraldraft", "GET", f"/neuraldraft/v1/jobs/{post['id']}", ND),
        Load("create neuralanalog", "POST", "/neuralanalog/from-link", NA, LINK),
        Load("create neuraldraft", "POST", "/neuraldraft/v1/blog-posts", ND, BLOG),
    ]
