"""A client of the sample API, as its user would write it: for `mockserver check-client`."""

from __future__ import annotations

import time

import httpx


def flow(base_url: str, api_key: str) -> str:
    """Start a job, poll it until it ends; retries what the API says it may (429, 5xx, resets)."""
    with httpx.Client(base_url=base_url, headers={"x-api-key": api_key}) as client:
        job = _call(client, "POST", "/jobs", json={"text": "hello"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = _call(client, "GET", f"/jobs/{job['id']}")["status"]
            if status == "done":
                return job["id"]
            if status == "failed":
                raise RuntimeError(f"job {job['id']} failed")
            time.sleep(2)
        raise TimeoutError(f"job {job['id']} still running")


def _call(client: httpx.Client, method: str, path: str, **options: object) -> dict:
    for _ in range(5):
        try:
            response = client.request(method, path, **options)  # type: ignore[arg-type]
        except httpx.TransportError:
            time.sleep(1)
            continue
        if response.status_code in (429, 500, 503):
            time.sleep(float(response.headers.get("retry-after", 1)))
            continue
        response.raise_for_status()
        return response.json()
    raise RuntimeError(f"{method} {path}: gave up after 5 tries")
