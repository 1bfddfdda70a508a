"""Client flows for the behaviour verdicts: camb-sdk as it is, and small flows with one bug
across requests each, next to their correct twins. `flow(base_url, api_key)`, as the client
check runs them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import requests
from camb import CambAI
from neurolinker_sdk import NeuroLinker

from tests.conftest import wav
from tests.pdfs import written_pdf

MEDIA = ("mix.wav", wav(0.5))
GIVE_UP_SECONDS = 300.0


def camb_sdk(base_url: str, api_key: str) -> Any:
    """The Camb tutorial's flow on camb-sdk 1.6.6, with the optional project fields."""
    client = CambAI(api_key=api_key, base_url=base_url)
    task = client.audio_separation.create_audio_separation(
        media_file=MEDIA, project_name="Demo", project_description="A mix", folder_id=7
    )
    return _camb_wait(client, task.task_id)


def camb_sdk_plain(base_url: str, api_key: str) -> Any:
    """The same flow with only the file (a retry has nothing to drop), sent again once when
    the connection drops before any answer (no task was made), giving up on a stalled task."""
    client = CambAI(api_key=api_key, base_url=base_url)
    task = _again_if_dropped(
        lambda: client.audio_separation.create_audio_separation(media_file=MEDIA)
    )
    return _camb_wait(client, task.task_id)


def _again_if_dropped(call: Callable[[], Any]) -> Any:
    """Once more when the connection dropped before any answer."""
    try:
        return call()
    except httpx.TransportError:
        time.sleep(1)
        return call()


def _camb_wait(client: CambAI, task_id: str, pause: float = 5.0) -> Any:
    deadline = time.monotonic() + GIVE_UP_SECONDS
    read = client.audio_separation.get_audio_separation_status
    while (status := _again_if_dropped(lambda: read(task_id))).status == "PENDING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {status.status}")
        time.sleep(pause)
    if status.status != "SUCCESS":
        raise RuntimeError(f"separation ended {status.status}")
    return client.audio_separation.get_audio_separation_run_info(status.run_id)


def camb_hasty(base_url: str, api_key: str) -> Any:
    """Polls twice a second."""
    client = CambAI(api_key=api_key, base_url=base_url)
    task = client.audio_separation.create_audio_separation(media_file=MEDIA)
    return _camb_wait(client, task.task_id, pause=0.5)


def camb_lingering(base_url: str, api_key: str) -> Any:
    """Reads the status three more times after the task ended, then fetches the result."""
    client = CambAI(api_key=api_key, base_url=base_url)
    task = client.audio_separation.create_audio_separation(media_file=MEDIA)
    result = _camb_wait(client, task.task_id)
    for _ in range(3):
        time.sleep(2)
        client.audio_separation.get_audio_separation_status(task.task_id)
    return result


class LostAnswer(requests.adapters.HTTPAdapter):
    """The network of a client whose first successful create answer never arrives (its read
    times out after the server made the job)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    def send(self, request: Any, **kwargs: Any) -> Any:
        answer = super().send(request, **kwargs)
        if request.method == "POST" and answer.status_code < 300 and not self.lost:
            self.lost = True
            raise requests.exceptions.ReadTimeout("read timed out", request=request)
        return answer


def _neuralanalog(base_url: str, api_key: str, idempotent_retry: bool) -> Any:
    session = requests.Session()
    session.mount("http://", LostAnswer())
    session.headers["X-API-Key"] = api_key
    link = {"url": "https://example.com/a.mp3"}
    try:
        audio_id = session.post(f"{base_url}/from-link", json=link).json()["audio_id"]
    except requests.exceptions.Timeout:
        if idempotent_retry:  # find the import the lost answer started instead
            raise
        audio_id = session.post(f"{base_url}/from-link", json=link).json()["audio_id"]
    while (status := session.get(f"{base_url}/status/audio/{audio_id}").json())[
        "status"
    ] == "in_progress":
        time.sleep(2)
    if status["status"] != "completed":
        raise RuntimeError(status["error_message"])
    return audio_id


def resubmits_after_timeout(base_url: str, api_key: str) -> Any:
    """Sends the import again when the first answer timed out: two imports."""
    return _neuralanalog(base_url, api_key, idempotent_retry=False)


def _neuraldraft(base_url: str, api_key: str, key: str | None) -> Any:
    session = requests.Session()
    session.mount("http://", LostAnswer())
    session.headers["Authorization"] = f"Bearer {api_key}"
    headers = {"Idempotency-Key": key} if key else {}
    body = {"prompt": "A fox in the snow"}
    job = _patiently(session, "POST", f"{base_url}/images", json=body, headers=headers)
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while (status := _patiently(session, "GET", f"{base_url}/jobs/{job['id']}"))["status"] in (
        "pending",
        "processing",
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job['id']} still {status['status']}")
        time.sleep(5)
    if status["status"] != "completed":
        raise RuntimeError(status["status"])
    return status["result"]


def _patiently(session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
    """Sends again (the same request) on a timeout, a dropped connection, a 429 or a 5xx,
    after Retry-After or 2 s; raises on any other error."""
    for _ in range(5):
        try:
            answer = session.request(method, url, **kwargs)
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
            time.sleep(2)
            continue
        if answer.status_code == 429 or answer.status_code >= 500:
            time.sleep(float(answer.headers.get("Retry-After", 2)))
            continue
        answer.raise_for_status()
        return answer.json()
    raise RuntimeError(f"{method} {url} kept failing")


def neuraldraft_resubmits(base_url: str, api_key: str) -> Any:
    """Resends the create after a timeout without an Idempotency-Key: two jobs."""
    return _neuraldraft(base_url, api_key, None)


def neuraldraft_idempotent(base_url: str, api_key: str) -> Any:
    """Resends the create after a timeout with the same Idempotency-Key: one job."""
    return _neuraldraft(base_url, api_key, "fox-1")


def neurolinker_one_document(base_url: str, api_key: str) -> Any:
    """neurolinker-sdk: one PDF, wait for the request, read its JSON."""
    with NeuroLinker(token=api_key, base_url=base_url) as client:
        submit = client.extraction.extract(documents=[("invoice.pdf", written_pdf("Total 9"))])
        request_uid = client.extraction.extract_request_uid(submit)
        status = client.extraction.wait_for_request(request_uid, timeout_s=GIVE_UP_SECONDS)
        if status["status"] != "completed":
            raise RuntimeError(f"extraction ended {status['status']}")
        return client.extraction.documents.json(client.extraction.extract_document_ids(status))
