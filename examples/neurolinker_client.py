"""Ainexxo NeuroLinker document extraction, two ways: plain httpx on the documented `/api/v1`
paths, and the official `neurolinker-sdk` (which calls `/v1`). Both submit PDFs, wait for the
request to end and read the extracted JSON of its documents."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

PUBLIC_URL = "https://neurolinker.api.ainexxo.com"
FINISHED = {"completed", "failed", "partial"}


class ExtractionFailed(RuntimeError):
    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(f"request {status['request_id']} ended {status['status']}")
        self.status = status


class NeuroLinkerHttp:
    def __init__(
        self,
        token: str,
        base_url: str = PUBLIC_URL,
        *,
        poll_interval: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.poll_interval = poll_interval
        self.http = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/api/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
            timeout=60.0,
        )

    def close(self) -> None:
        self.http.close()

    def extract(self, pdfs: list[tuple[str, bytes]], alias: str | None = None) -> str:
        """Upload PDFs; returns the request's id (`request_uid`)."""
        form = json.dumps({"alias": alias} if alias else {})
        files = [("documents", (name, data, "application/pdf")) for name, data in pdfs]
        response = self.http.post("/extract", data={"form": form}, files=files)
        return response.raise_for_status().json()["request_uid"]

    def wait(self, request_id: str) -> dict[str, Any]:
        """Poll until every document is done; the final request status."""
        while (status := self.status(request_id))["status"] not in FINISHED:
            time.sleep(self.poll_interval)
        return status

    def status(self, request_id: str) -> dict[str, Any]:
        return self.http.get(f"/request-status/{request_id}").raise_for_status().json()

    def documents_json(self, document_ids: list[str]) -> list[dict[str, Any]]:
        response = self.http.post("/documents/json", json={"document_ids": document_ids})
        return response.raise_for_status().json()["results"]

    def extract_json(self, pdfs: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Submit, wait, and return the JSON results; ExtractionFailed unless all completed."""
        status = self.wait(self.extract(pdfs))
        if status["status"] != "completed":
            raise ExtractionFailed(status)
        return self.documents_json([d["document_id"] for d in status["documents"]])


def extract_json_with_sdk(client: Any, pdfs: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The same with `neurolinker_sdk.NeuroLinker` (configured by the caller)."""
    extraction = client.extraction
    request_uid = extraction.extract_request_uid(extraction.extract(documents=pdfs))
    status = extraction.wait_for_request(request_uid)
    if status["status"] != "completed":
        raise ExtractionFailed(status)
    return extraction.documents.json(extraction.extract_document_ids(status))["results"]


def extract_fields_with_sdk(
    client: Any, pdfs: list[tuple[str, bytes]], json_schema: dict[str, Any]
) -> list[dict[str, Any]]:
    """Field extraction with the SDK: one payload per PDF that conforms to `json_schema`."""
    extraction = client.extraction
    submitted = extraction.extract_fields(json_schema=json_schema, documents=pdfs)
    status = extraction.wait_for_request(extraction.extract_request_uid(submitted))
    if status["status"] != "completed":
        raise ExtractionFailed(status)
    results = extraction.documents.fields(extraction.extract_document_ids(status))["results"]
    return [result["content"] for result in results]
