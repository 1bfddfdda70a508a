"""NeuroLinker as its public docs show it: every example of the docs, retyped below with the page
it comes from, is checked both ways. The example validates against the contract, and the
mock's answer to the same request has the same keys, the same JSON types and the same string
formats (UUIDs, the two timestamp formats, URLs, image names) as the example.

Docs pages under https://neurolinker.ainexxo.com/docs/api/. Examples that are shape templates
(every value `"string"` or `0`) are compared by keys and types only, and are not validated:
`"string"` is not a UUID.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mockserver.contracts import validate_response
from tests.conftest import Mock
from tests.pdfs import written_pdf
from tests.test_neurolinker import INVOICE_SCHEMA

NL = "/neurolinker"

# --- examples, retyped from the docs -------------------------------------------------------------

# extract.html, "Response Schema" (200) and the 402 answer
EXTRACT_ANSWER = {"request_uid": "string", "status": "string"}
NO_CREDITS_ANSWER = {"detail": "string"}
# extract.html, "Form parameter" (URL mode)
EXTRACT_FORM = {
    "documents_url": ["https://url.com/doc1.pdf", "https://url.com/doc2.pdf"],
    "alias": "My extraction request alias",
}

# request-status.html, "Example Response" (also kept in seeds/neurolinker-request-status.txt)
REQUEST_STATUS = {
    "success": True,
    "request_id": "2c83d7c8-7ff5-42f3-a276-9d5a86785167",
    "status": "completed",
    "documents": [
        {
            "document_id": "1d6986aa-80ac-4a4d-9009-5a323c9046b1",
            "filename": "Invoice_20250101.pdf",
            "status": "completed",
            "result": {
                "file_name": "Invoice_20250101.pdf",
                "file_type": "application/pdf",
                "started_at": "2025-10-15T09:49:50.574754Z",
                "file_size_bytes": 421050,
                "user_uid": "r7N61XBJZBfUjpYocuUWSteuQF52",
                "total_pages": 8,
                "completed_at": "2025-10-15T09:52:15.622575Z",
                "results": {
                    "storage_path": "uploads/r7N61XBJZBfUjpYocuUWSteuQF52/"
                    "2c83d7c8-7ff5-42f3-a276-9d5a86785167/1d6986aa-80ac-4a4d-9009-5a323c9046b1/",
                    "cropped_images": [
                        "545f62ed-497b-4bef-9240-79af6ed6f00d.png",
                        "0d2a4c60-a235-44d4-a289-f9ff3395136b.png",
                        "67d9cbe2-f410-4cbb-8fb3-9faa00868f30.png",
                        "b532f90a-a9c9-4123-b282-b400ec6cb4c4.png",
                        "663008a7-bd8f-4542-9a57-1acdc438e65e.png",
                        "7674cdf4-cd0a-4847-b6b7-72389d641321.png",
                        "63b3d37a-119e-43ac-80f0-04bb3d96b02f.png",
                        "d08a2c04-ffed-45a2-bc36-cfb71d0ecee0.png",
                        "0d676032-bdc1-420e-92f6-09d08e7b567d.png",
                        "d16bfe5b-c610-492a-a142-926be951ad4c.png",
                        "6d6d214d-f17a-4068-ad30-69c1b03243db.png",
                        "db26ebe5-54b2-4a7e-abcd-1eb0b285f59c.png",
                    ],
                },
                "status": "completed",
                "billing": {"type": "capture", "amount": 32, "at": "2025-10-15T09:52:17.328000Z"},
            },
            "document_page_url": "https://neurolinker.ainexxo.com/job/"
            "2c83d7c8-7ff5-42f3-a276-9d5a86785167/extractions/1d6986aa-80ac-4a4d-9009-5a323c9046b1",
        }
    ],
    "total": 1,
    "completed": 1,
    "failed": 0,
    "processing": 0,
    "job_page_url": "https://ainexxo-neurolinker-dev.web.app/job/"
    "2c83d7c8-7ff5-42f3-a276-9d5a86785167/extractions",
    "total_size_bytes": 421050,
    "started_at": "2025-10-15T09:49:50.574754+00:00",
    "completed_at": "2025-10-15T09:52:15.622575+00:00",
}

# document-status.html, "Example Response" (its image list is the request-status one, cut here)
DOCUMENT_STATUS = {
    "success": True,
    "document_id": "1d6986aa-80ac-4a4d-9009-5a323c9046b1",
    "request_id": "2c83d7c8-7ff5-42f3-a276-9d5a86785167",
    "status": "completed",
    "file_name": "Invoice_20250101.pdf",
    "file_type": "application/pdf",
    "file_size_bytes": 421050,
    "total_pages": 8,
    "user_uid": "r7N61XBJZBfUjpYocuUWSteuQF52",
    "started_at": "2025-10-15T09:49:50.574754Z",
    "completed_at": "2025-10-15T09:52:15.622575Z",
    "results": {
        "storage_path": "uploads/r7N61XBJZBfUjpYocuUWSteuQF52/"
        "2c83d7c8-7ff5-42f3-a276-9d5a86785167/1d6986aa-80ac-4a4d-9009-5a323c9046b1/",
        "cropped_images": [
            "545f62ed-497b-4bef-9240-79af6ed6f00d.png",
            "0d2a4c60-a235-44d4-a289-f9ff3395136b.png",
            "67d9cbe2-f410-4cbb-8fb3-9faa00868f30.png",
        ],
    },
    "document_page_url": "https://neurolinker.ainexxo.com/job/"
    "2c83d7c8-7ff5-42f3-a276-9d5a86785167/extractions/1d6986aa-80ac-4a4d-9009-5a323c9046b1",
}

# documents-results.html, POST /api/v1/documents/markdown: request and response template
MARKDOWN_REQUEST = {
    "document_ids": ["string"],
    "content_types": ["text", "formula", "tables", "images"],
}
MARKDOWN_ANSWER = {
    "success": True,
    "results": [
        {
            "document_id": "string",
            "filename": "string",
            "storage_path": "string",
            "download_url": "string",
            "file_size": 0,
            "content": "string",
        }
    ],
    "total": 0,
    "successful": 0,
    "failed": 0,
    "message": "string",
}

# field-extraction.html, POST /api/v1/generate-schema: request and response
GENERATE_REQUEST = {
    "description": "Extract the invoice number, total amount, due date, and every line item "
    "with description, quantity, and unit price."
}
GENERATE_ANSWER = {
    "success": True,
    "json_schema": INVOICE_SCHEMA,  # the same example, kept once in test_neurolinker
    "message": "Schema generated successfully. "
    "Review and edit before submitting to /extract-fields.",
}

# tasks.html, "Example Response" (the page's trailing comma after the last entry dropped)
TASKS = {
    "success": True,
    "tasks": {
        "requests": [
            {
                "request_id": "63a41360-f088-40f4-8c8f-574e877b8e6b",
                "status": "partial",
                "total_documents": 27,
                "start_time": "2025-09-15T11:06:17.467801+00:00",
            },
            {
                "request_id": "03ab5ac2-d02c-4870-bb51-08ae86c4c190",
                "status": "completed",
                "total_documents": 1,
                "start_time": "2025-10-14T10:50:27.305400+00:00",
            },
        ]
    },
    "message": "Found 2 processing tasks",
}

# --- shapes --------------------------------------------------------------------------------------

FORMATS = (
    ("uuid", re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    ("image name", re.compile(r"^[0-9a-f-]{36}\.png$")),
    ("request time", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")),
    ("document time", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")),
    ("url", re.compile(r"^https?://")),
)


def shape(value: Any, formats: bool = True) -> Any:
    """Keys, JSON types and string formats of a value; a list by its first item."""
    if isinstance(value, dict):
        return {key: shape(item, formats) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0], formats)] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    if formats:
        return next((name for name, pattern in FORMATS if pattern.match(value)), "string")
    return "string"


def conforms(method: str, path: str, status: int, body: Any) -> list[str]:
    problems = validate_response(
        "neurolinker",
        method,
        path,
        status,
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
    )
    return [str(problem) for problem in problems]


# --- the mock, driven as the docs' curl examples drive the service -------------------------------


class Docs:
    def __init__(self, mock: Mock) -> None:
        self.mock = mock
        self.headers = mock.headers("neurolinker")

    def post(self, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.mock.client.post(f"{NL}/api/v1{path}", headers=headers, **kwargs)

    def get(self, path: str) -> Any:
        return self.mock.client.get(f"{NL}/api/v1{path}", headers=self.headers)

    def upload(self, name: str, pages: int, scenario: str | None = None) -> str:
        """extract.html, "Try it out! — file upload": `-F documents=@file -F form="{}"`."""
        pdf = written_pdf(*(f"{name} page {n}" for n in range(1, pages + 1)))
        headers = {"X-Mock-Scenario": scenario} if scenario else {}
        files = [("documents", (name, pdf, "application/pdf"))]
        answer = self.post("/extract", files=files, data={"form": "{}"}, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["request_uid"]


@pytest.fixture
def docs(mock: Mock) -> Docs:
    return Docs(mock)


# --- every concrete example validates against the contract ---------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/request-status/2c83d7c8-7ff5-42f3-a276-9d5a86785167", REQUEST_STATUS),
        ("GET", "/api/v1/document-status/1d6986aa-80ac-4a4d-9009-5a323c9046b1", DOCUMENT_STATUS),
        ("POST", "/api/v1/generate-schema", GENERATE_ANSWER),
        ("GET", "/api/v1/tasks", TASKS),
    ],
    ids=["request-status", "document-status", "generate-schema", "tasks"],
)
def test_docs_examples_validate_against_the_contract(method: str, path: str, body: Any) -> None:
    assert conforms(method, path, 200, body) == []


def test_docs_402_and_templates_have_the_contracts_keys() -> None:
    assert conforms("POST", "/api/v1/extract", 402, NO_CREDITS_ANSWER) == []
    fake_ids = {"request_uid": "2c83d7c8-7ff5-42f3-a276-9d5a86785167", "status": "processing"}
    assert conforms("POST", "/api/v1/extract", 200, {**EXTRACT_ANSWER, **fake_ids}) == []


# --- the mock answers the docs' requests in the docs' shapes -------------------------------------


def test_extract_answers_as_the_docs_show(docs: Docs) -> None:
    answer = docs.post(
        "/extract",
        files=[("documents", ("test.pdf", written_pdf("x"), "application/pdf"))],
        data={"form": "{}"},
    )
    assert shape(answer.json(), formats=False) == shape(EXTRACT_ANSWER, formats=False)
    url_mode = docs.post(
        "/extract", files=[("documents", (None, "[]"))], data={"form": json.dumps(EXTRACT_FORM)}
    )
    assert url_mode.status_code == 200 and shape(url_mode.json(), False) == shape(
        EXTRACT_ANSWER, False
    )
    refused = docs.post(
        "/extract",
        files=[("documents", ("test.pdf", written_pdf("x"), "application/pdf"))],
        data={"form": "{}"},
        headers={"X-Mock-Scenario": "insufficient_credits"},
    )
    assert refused.status_code == 402
    assert shape(refused.json(), formats=False) == shape(NO_CREDITS_ANSWER, formats=False)


# extract.html, "Try it out! — URL upload": the `form` part as curl sends it. In a quoted `-F`
# value curl unescapes `\"` and `\\` only, so each `\n` arrives as a backslash and an `n`
URL_MODE_CURL_FORM = (
    '{\\n  "documents_url": ["https://url.com/doc1.pdf", "https://url.com/doc2.pdf"],'
    '\\n  "alias": "My extraction request alias"\\n}'
)


def test_the_docs_url_mode_curl_sends_no_json_and_the_slip_is_listed(docs: Docs) -> None:
    sent = docs.post(
        "/extract", files=[("documents", (None, "[]"))], data={"form": URL_MODE_CURL_FORM}
    )
    assert sent.status_code == 422
    [item] = sent.json()["detail"]
    assert (item["loc"], item["type"]) == (["body", "form"], "json_invalid")
    meant = docs.post(
        "/extract",
        files=[("documents", (None, "[]"))],
        data={"form": URL_MODE_CURL_FORM.replace("\\n", "\n")},
    )
    assert meant.status_code == 200, meant.text
    fidelity = (Path(__file__).parent.parent / "docs" / "fidelity-neurolinker.md").read_text()
    slips = fidelity[fidelity.index("Docs' own slips") :]
    assert "URL-mode curl" in slips and "json_invalid" in slips
    # the billing page's 5 credits a page against the status example's 4: noted, 4 served
    assert "5 credits = 1 processed page" in fidelity and '"amount": 32' in fidelity


def test_request_status_has_the_docs_shape(docs: Docs) -> None:
    request_id = docs.upload("Invoice_20250101.pdf", pages=8)
    docs.mock.advance(3600)
    status = docs.get(f"/request-status/{request_id}").json()
    assert shape(status) == shape(REQUEST_STATUS)
    assert status["documents"][0]["result"]["total_pages"] == 8  # as many as the PDF has
    assert status["documents"][0]["result"]["billing"]["amount"] == 32  # docs: 8 pages, 32


def test_document_status_has_the_docs_shape(docs: Docs) -> None:
    request_id = docs.upload("Invoice_20250101.pdf", pages=8)
    docs.mock.advance(3600)
    document_id = docs.get(f"/request-status/{request_id}").json()["documents"][0]["document_id"]
    assert shape(docs.get(f"/document-status/{document_id}").json()) == shape(DOCUMENT_STATUS)


def test_documents_markdown_has_the_docs_shape(docs: Docs) -> None:
    request_id = docs.upload("Invoice_20250101.pdf", pages=2)
    docs.mock.advance(3600)
    document_id = docs.get(f"/request-status/{request_id}").json()["documents"][0]["document_id"]
    answer = docs.post(
        "/documents/markdown", json={**MARKDOWN_REQUEST, "document_ids": [document_id]}
    )
    assert shape(answer.json(), formats=False) == shape(MARKDOWN_ANSWER, formats=False)
    content = answer.json()["results"][0]["content"]
    assert "<header>" in content and "<figure>" in content  # tags the page lists


def test_generate_schema_answers_the_docs_example(docs: Docs) -> None:
    answer = docs.post("/generate-schema", json=GENERATE_REQUEST)
    assert answer.status_code == 200 and answer.json() == GENERATE_ANSWER


def test_tasks_has_the_docs_shape(docs: Docs) -> None:
    docs.upload("a.pdf", pages=1)
    partial = docs.post(
        "/extract",
        files=[("documents", (n, written_pdf(n), "application/pdf")) for n in ("b.pdf", "c.pdf")],
        data={"form": "{}"},
        headers={"X-Mock-Scenario": "partial"},
    )
    assert partial.status_code == 200
    docs.mock.advance(3600)
    listed = docs.get("/tasks").json()
    assert shape(listed) == shape(TASKS)
    assert [task["status"] for task in listed["tasks"]["requests"]] == ["completed", "partial"]
    assert listed["message"] == "Found 2 processing tasks"
