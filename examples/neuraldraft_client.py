"""A small Neural Draft client: start a generation job, poll it or follow its event stream,
read the post it wrote.

Plain httpx; the tests point it at the mock by base URL and key, or hand it a transport.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

PUBLIC_URL = "https://api.neuraldraft.io/v1"
TERMINAL = {"completed", "failed", "cancelled"}


class GenerationFailed(RuntimeError):
    def __init__(self, job: dict[str, Any]) -> None:
        error = job.get("error") or {"code": job["status"], "message": job["message"]}
        super().__init__(f"{job['id']} {job['status']}: {error['code']}: {error['message']}")
        self.job = job
        self.code = error["code"]


class NeuralDraft:
    def __init__(
        self,
        api_key: str,
        base_url: str = PUBLIC_URL,
        *,
        poll_interval: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.poll_interval = poll_interval
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
            timeout=30.0,
        )

    def close(self) -> None:
        self.http.close()

    def write_blog_post(self, topic: str, **options: Any) -> dict[str, Any]:
        """Start a `blog_post.generate` job; returns the job (status `pending`)."""
        body = {"type": "ai", "topic": topic, **options}
        return self.http.post("/blog-posts", json=body).raise_for_status().json()

    def blog_post(self, post_id: int) -> dict[str, Any]:
        """A post by its integer id (the API wraps single resources in `data`)."""
        return self.http.get(f"/blog-posts/{post_id}").raise_for_status().json()["data"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.http.get(f"/jobs/{job_id}").raise_for_status().json()

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.http.post(f"/jobs/{job_id}/cancel").raise_for_status().json()

    def wait(self, job_id: str) -> dict[str, Any]:
        """Poll until the job ends; its `result`, or GenerationFailed."""
        while (job := self.job(job_id))["status"] not in TERMINAL:
            time.sleep(self.poll_interval)
        if job["status"] != "completed":
            raise GenerationFailed(job)
        return job["result"]

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's Server-Sent Events as (event, data) until the stream closes."""
        with self.http.stream("GET", f"/jobs/{job_id}/stream", timeout=None) as response:
            response.raise_for_status()
            event = "message"
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    yield event, json.loads(line.removeprefix("data:"))
                    event = "message"
