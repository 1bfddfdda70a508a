"""Small Neural Analog client flows for the client check: one robust, some deliberately fragile.

Each is `flow(base_url, api_key)`: import a track from a link, poll its status, download the
result. Returning means success, raising means failure (the client check's convention).
They are written the way client code usually is (requests, `time.sleep`, `time.monotonic`),
nothing mock-specific: the check runs them on virtual time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

POLL_SECONDS = 2.0
GIVE_UP_SECONDS = 300.0  # the client's own timeout for one job
RETRIES = 5


class JobFailed(Exception):
    """The service says the job failed."""


class ServiceError(Exception):
    """The service kept answering errors (or dropping the connection)."""


Send = Callable[[requests.Session, str, str], requests.Response]


def robust(base_url: str, api_key: str) -> dict[str, Any]:
    """Retries 429/5xx/dropped connections honouring Retry-After; knows only `completed` and
    `failed` as terminal; gives up after its own timeout."""
    return _flow(base_url, api_key, _send_patiently, _done_when_completed)


def ignores_retry_after(base_url: str, api_key: str) -> dict[str, Any]:
    """Retries quickly, three times, whatever Retry-After says."""
    return _flow(base_url, api_key, _send_hastily, _done_when_completed)


def unknown_status_is_success(base_url: str, api_key: str) -> dict[str, Any]:
    """Treats any status it does not know as finished (`processing` passes for done) and
    hands the download link on instead of fetching it."""
    return _flow(base_url, api_key, _send_patiently, _done_unless_in_progress, download=False)


def failure_is_success(base_url: str, api_key: str) -> dict[str, Any]:
    """Stops at any terminal state and returns, failed or not."""
    return _flow(base_url, api_key, _send_patiently, _done_when_ended, download=False)


def waits_for_completed(base_url: str, api_key: str) -> dict[str, Any]:
    """Does not know `failed`: polls a failed job until its own timeout."""
    return _flow(base_url, api_key, _send_patiently, _done_only_when_completed)


def never_gives_up(base_url: str, api_key: str) -> dict[str, Any]:
    """Polls until `completed`, however long that takes."""
    return _flow(base_url, api_key, _send_patiently, _done_only_when_completed, patience=None)


def never_sleeps(base_url: str, api_key: str) -> dict[str, Any]:
    """`robust` without the sleep between polls: asks again at once, in a loop."""
    return _flow(base_url, api_key, _send_patiently, _done_when_completed, pause=0)


def waits_forever(base_url: str, api_key: str) -> None:
    """Waits for a notification that never comes, before sending anything at all."""
    notified = threading.Event()
    while not notified.wait(0.05):
        pass


# --- the flow ----------------------------------------------------------------------------------


def _flow(
    base_url: str,
    api_key: str,
    send: Send,
    finished: Callable[[dict[str, Any]], bool],
    patience: float | None = GIVE_UP_SECONDS,
    download: bool = True,
    pause: float = POLL_SECONDS,
) -> dict[str, Any]:
    session = requests.Session()
    session.headers["X-API-Key"] = api_key
    created = send(
        session, "POST", f"{base_url}/from-link", json={"url": "https://example.com/a.mp3"}
    )
    audio_id = created.json()["audio_id"]
    started = time.monotonic()
    while True:
        status = send(session, "GET", f"{base_url}/status/audio/{audio_id}").json()
        if finished(status):
            break
        if patience is not None and time.monotonic() - started > patience:
            raise TimeoutError(f"audio {audio_id} still {status['status']} after {patience:g} s")
        if pause:
            time.sleep(pause)
    if not download:
        return {"audio_id": audio_id, "download_url": status["download_url"]}
    wav = send(session, "GET", f"{base_url}/download/audio/{audio_id}")
    return {"audio_id": audio_id, "bytes": len(wav.content)}


def _done_when_completed(status: dict[str, Any]) -> bool:
    if status["status"] == "failed" or status["is_failed"]:
        raise JobFailed(status["error_message"])
    return status["status"] == "completed"


def _done_unless_in_progress(status: dict[str, Any]) -> bool:
    if status["status"] == "failed":
        raise JobFailed(status["error_message"])
    return status["status"] != "in_progress"


def _done_when_ended(status: dict[str, Any]) -> bool:
    return status["status"] in ("completed", "failed")


def _done_only_when_completed(status: dict[str, Any]) -> bool:
    return status["status"] == "completed"


def _send_patiently(
    session: requests.Session, method: str, url: str, **kwargs: Any
) -> requests.Response:
    """Retry what a retry can fix, waiting what the server asks (else 1, 2, 4... s)."""
    for attempt in range(RETRIES):
        wait = 2.0**attempt
        try:
            response = session.request(method, url, timeout=30, **kwargs)
        except requests.ConnectionError:
            time.sleep(wait)
            continue
        if response.status_code == 429 or response.status_code >= 500:
            time.sleep(float(response.headers.get("Retry-After", wait)))
            continue
        response.raise_for_status()
        return response
    raise ServiceError(f"{method} {url} failed {RETRIES} times")


def _send_hastily(
    session: requests.Session, method: str, url: str, **kwargs: Any
) -> requests.Response:
    for _ in range(3):
        try:
            response = session.request(method, url, timeout=30, **kwargs)
        except requests.ConnectionError:
            time.sleep(0.5)
            continue
        if response.status_code == 429 or response.status_code >= 500:
            time.sleep(0.5)
            continue
        response.raise_for_status()
        return response
    raise ServiceError(f"{method} {url} kept failing")
