"""Client flows for the behaviour verdicts: camb-sdk as it is, and small flows with one bug
across requests each, next to their correct twins. `flow(base_url, api_key)`, as the client
check runs them."""

from __future__ import annotations

import time
from typing import Any

import requests
from camb import CambAI

from tests.conftest import wav

MEDIA = ("mix.wav", wav(0.5))


def camb_sdk(base_url: str, api_key: str) -> Any:
    """The Camb tutorial's flow on camb-sdk 1.6.6, with the optional project fields."""
    client = CambAI(api_key=api_key, base_url=base_url)
    task = client.audio_separation.create_audio_separation(
        media_file=MEDIA, project_name="Demo", project_description="A mix", folder_id=7
    )
    return _camb_wait(client, task.task_id)


def camb_sdk_plain(base_url: str, api_key: str) -> Any:
    """The same flow with only the file: a retry has nothing to drop."""
    client = CambAI(api_key=api_key, base_url=base_url)
    task = client.audio_separation.create_audio_separation(media_file=MEDIA)
    return _camb_wait(client, task.task_id, pause=5.0)


def _camb_wait(client: CambAI, task_id: str, pause: float = 5.0) -> Any:
    while (status := client.audio_separation.get_audio_separation_status(task_id)).status in (
        "PENDING",
    ):
        time.sleep(pause)
    if status.status != "SUCCESS":
        raise RuntimeError(f"separation ended {status.status}")
    return client.audio_separation.get_audio_separation_run_info(status.run_id)


def camb_hasty(base_url: str, api_key: str) -> Any:
    """Polls five times a second."""
    client = CambAI(api_key=api_key, base_url=base_url)
    task = client.audio_separation.create_audio_separation(media_file=MEDIA)
    return _camb_wait(client, task.task_id, pause=0.2)


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
    """The network of a client whose first create answer never arrives (its read times out
    after the server handled the request)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    def send(self, request: Any, **kwargs: Any) -> Any:
        answer = super().send(request, **kwargs)
        if request.method == "POST" and not self.lost:
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
    try:
        job = session.post(f"{base_url}/images", json=body, headers=headers).json()
    except requests.exceptions.Timeout:
        job = session.post(f"{base_url}/images", json=body, headers=headers).json()
    while (status := session.get(f"{base_url}/jobs/{job['id']}").json())["status"] in (
        "pending",
        "processing",
    ):
        time.sleep(5)
    if status["status"] != "completed":
        raise RuntimeError(status["status"])
    return status["result"]


def neuraldraft_resubmits(base_url: str, api_key: str) -> Any:
    """Resends the create after a timeout without an Idempotency-Key: two jobs."""
    return _neuraldraft(base_url, api_key, None)


def neuraldraft_idempotent(base_url: str, api_key: str) -> Any:
    """Resends the create after a timeout with the same Idempotency-Key: one job."""
    return _neuraldraft(base_url, api_key, "fox-1")
