"""NeuroLinker end to end on the manual clock: requests aggregate their documents, every
outcome, both path prefixes, both URL-mode encodings, results derived from the upload, ZIPs,
job pages, errors; then the official SDK, unmodified, against a live server in virtual time."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
import zlib
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import httpx
import jsonschema
import neurolinker_sdk.polling
import pytest
from neurolinker_sdk import AsyncNeuroLinker, NeuroLinker, NeuroLinkerAPIError
from starlette.testclient import TestClient

from mockserver import ServerConfig, create_app
from mockserver.admin_guard import page_signature
from mockserver.apis.neurolinker import pdf
from mockserver.engine.clock import ManualClock
from mockserver.errors import echoed
from tests.conftest import ConformanceCheck, Live, Mock, make_mock
from tests.pdfs import encrypted_pdf, object_stream_pdf, written_pdf

NL = "/neurolinker"
PREFIXES = ("/api/v1", "/v1")  # the docs' paths and the official SDK's


class Client:
    """A small NeuroLinker client over the in-process app, for readable tests."""

    def __init__(self, mock: Mock, key: str | None = None, prefix: str = "/api/v1") -> None:
        self.mock = mock
        self.prefix = prefix
        self.headers = mock.headers("neurolinker", key)

    def url(self, path: str) -> str:
        return f"{NL}{self.prefix}{path}"

    def post(self, path: str, scenario: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **({"X-Mock-Scenario": scenario} if scenario else {})}
        return self.mock.client.post(self.url(path), headers=headers, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return self.mock.client.get(self.url(path), headers=self.headers)

    def extract(
        self,
        *files: tuple[str, bytes],
        scenario: str | None = None,
        form: dict[str, Any] | None = None,
    ) -> str:
        parts = [("documents", (name, data, "application/pdf")) for name, data in files]
        response = self.post(
            "/extract", scenario, files=parts, data={"form": json.dumps(form or {})}
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "processing"
        return response.json()["request_uid"]

    def status(self, request_id: str) -> dict[str, Any]:
        response = self.get(f"/request-status/{request_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def document(self, document_id: str) -> dict[str, Any]:
        response = self.get(f"/document-status/{document_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def results(self, kind: str, ids: list[str], **extra: Any) -> dict[str, Any]:
        response = self.post(f"/documents/{kind}", json={"document_ids": ids, **extra})
        assert response.status_code == 200, response.text
        return response.json()

    def finished(self, request_id: str) -> dict[str, Any]:
        self.mock.advance(3600)
        return self.status(request_id)


@pytest.fixture
def nl(mock: Mock) -> Client:
    return Client(mock)


def pdfs(count: int) -> list[tuple[str, bytes]]:
    return [(f"doc{i}.pdf", written_pdf(f"Document {i}")) for i in range(count)]


# --- lifecycle and outcomes --------------------------------------------------------------------


def test_documents_are_worked_in_order_and_the_request_completes_after_the_last(
    nl: Client,
) -> None:
    request_id = nl.extract(("a.pdf", written_pdf("A1", "A2")), ("b.pdf", written_pdf("B1")))
    first = nl.status(request_id)
    assert first["status"] == "processing" and first["completed_at"] is None
    assert [d["status"] for d in first["documents"]] == ["processing", "pending"]
    assert (first["total"], first["completed"], first["failed"], first["processing"]) == (
        2,
        0,
        0,
        2,
    )
    assert all(d["result"] is None for d in first["documents"])
    nl.mock.advance(40)  # a.pdf: 10 s + 15 s per page
    middle = nl.status(request_id)
    assert [d["status"] for d in middle["documents"]] == ["completed", "processing"]
    assert (middle["completed"], middle["processing"]) == (1, 1)
    nl.mock.advance(25)
    done = nl.status(request_id)
    assert done["status"] == "completed"
    assert (done["completed"], done["failed"], done["processing"]) == (2, 0, 0)
    assert done["started_at"] == "2026-01-01T00:00:00.000000+00:00"
    assert done["completed_at"] == "2026-01-01T00:01:05.000000+00:00"
    a, b = (d["result"] for d in done["documents"])
    assert (a["total_pages"], b["total_pages"]) == (2, 1)
    assert (a["billing"]["amount"], b["billing"]["amount"]) == (8, 4)
    assert b["started_at"] == a["completed_at"] == "2026-01-01T00:00:40.000000Z"
    assert len(a["results"]["cropped_images"]) == 2
    assert a["results"]["storage_path"].endswith(
        f"/{request_id}/{done['documents'][0]['document_id']}/"
    )
    assert done["total_size_bytes"] == a["file_size_bytes"] + b["file_size_bytes"]


def test_failed_request_fails_every_document_with_the_message(nl: Client) -> None:
    request_id = nl.extract(*pdfs(2), scenario="failed; after=30; message=Encrypted PDF")
    nl.mock.advance(30)
    status = nl.status(request_id)
    assert status["status"] == "failed"
    assert (status["completed"], status["failed"], status["processing"]) == (0, 2, 0)
    for entry in status["documents"]:
        assert entry["status"] == "failed"
        assert entry["result"]["error"] == "Encrypted PDF"
        assert entry["result"]["results"] is None and entry["result"]["billing"] is None
    assert status["completed_at"] == "2026-01-01T00:00:30.000000+00:00"


@pytest.mark.parametrize("failing", [1, 2])
def test_partial_request_fails_the_last_n_documents(nl: Client, failing: int) -> None:
    request_id = nl.extract(*pdfs(3), scenario=f"partial; failing={failing}")
    status = nl.finished(request_id)
    assert status["status"] == "partial"
    assert [d["status"] for d in status["documents"]] == ["completed"] * (3 - failing) + [
        "failed"
    ] * failing
    assert (status["completed"], status["failed"]) == (3 - failing, failing)


def test_partial_without_failing_fails_one_document(nl: Client) -> None:
    status = nl.finished(nl.extract(*pdfs(2), scenario="partial"))
    assert [d["status"] for d in status["documents"]] == ["completed", "failed"]


@pytest.mark.parametrize(
    ("files", "scenario", "needle"),
    [
        (1, "partial", "at least one completed and one failed"),
        (2, "partial; failing=2", "failing=2 of 2"),
        (2, "partial; failing=x", "not a number"),
        (2, "partial; failing=1.5", "positive integer"),
        (1, "exploded", "unknown outcome 'exploded'"),
        (1, "failed; after", "not of the form name=value"),
    ],
)
def test_scenarios_that_cannot_apply_are_a_clear_400(
    nl: Client, files: int, scenario: str, needle: str
) -> None:
    parts = [("documents", (n, d, "application/pdf")) for n, d in pdfs(files)]
    response = nl.post("/extract", scenario, files=parts, data={"form": "{}"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("X-Mock-Scenario: ")
    assert needle in response.json()["detail"]


def test_out_of_credits_is_402_at_submit_and_creates_nothing(nl: Client) -> None:
    parts = [("documents", ("big.pdf", written_pdf("1", "2", "3"), "application/pdf"))]
    response = nl.post("/extract", "insufficient_credits", files=parts, data={"form": "{}"})
    assert response.status_code == 402
    assert response.json() == {"detail": "Insufficient credits: this request needs 12 credits"}
    assert not list(nl.mock.state.store.jobs("neurolinker"))


def test_out_of_credits_by_key_binding_and_by_magic_name() -> None:
    for mock in make_mock(keys={"nl_broke": {"scenario": "insufficient_credits"}}):
        broke = Client(mock, "broke").post(
            "/extract", data={"form": json.dumps({"documents_url": ["https://x.io/a.pdf"]})}
        )
        assert broke.status_code == 402
        magic = Client(mock).post(
            "/extract",
            data={
                "form": json.dumps(
                    {"documents_url": ["https://x.io/mock-insufficient_credits.pdf"]}
                )
            },
        )
        assert magic.status_code == 402 and "credits" in magic.json()["detail"]


def test_stalled_request_works_its_first_document_forever(nl: Client) -> None:
    request_id = nl.extract(*pdfs(3), scenario="stalled")
    status = nl.finished(request_id)
    assert status["status"] == "processing"
    assert [d["status"] for d in status["documents"]] == ["processing", "pending", "pending"]


def test_per_poll_mode_moves_the_request_one_step_per_read(nl: Client) -> None:
    """Documents are worked one after another per poll too (more in
    test_neurolinker_poll_order.py)."""
    request_id = nl.extract(*pdfs(2), scenario="completed; mode=poll")
    assert [d["status"] for d in nl.status(request_id)["documents"]] == ["processing", "pending"]
    assert [d["status"] for d in nl.status(request_id)["documents"]] == ["completed", "processing"]
    assert nl.status(request_id)["status"] == "completed"


def test_admin_queue_steers_the_next_request_of_a_key(nl: Client) -> None:
    queued = nl.mock.client.post(
        "/__mock__/scenarios",
        json={
            "api": "neurolinker",
            "outcome": "partial",
            "failing": 2,
            "tenant": f"nl_{nl.mock.key}",
        },
    )
    assert queued.status_code == 201, queued.text
    status = nl.finished(nl.extract(*pdfs(3)))
    assert [d["status"] for d in status["documents"]] == ["completed", "failed", "failed"]
    refused = nl.mock.client.post(
        "/__mock__/scenarios", json={"api": "neurolinker", "outcome": "partial; failing=0"}
    )
    assert refused.status_code == 422 and "positive integer" in refused.json()["error"]


# --- magic inputs --------------------------------------------------------------------------------


def test_magic_file_name_fails_only_that_document(nl: Client) -> None:
    request_id = nl.extract(
        ("good.pdf", written_pdf("ok")), ("scan.mock-failed.pdf", written_pdf("bad"))
    )
    status = nl.finished(request_id)
    assert status["status"] == "partial"
    assert [d["status"] for d in status["documents"]] == ["completed", "failed"]


def test_magic_url_and_request_level_magic(nl: Client) -> None:
    urls = ["https://files.example/mock-failed.pdf", "https://files.example/also.mock-failed.pdf"]
    form = {"form": json.dumps({"documents_url": urls})}
    failed = nl.post("/extract", data=form).json()["request_uid"]
    assert nl.finished(failed)["status"] == "failed"
    urls = ["https://files.example/a.pdf", "https://files.example/b-mock-partial.pdf"]
    partial = nl.post("/extract", data={"form": json.dumps({"documents_url": urls})})
    status = nl.finished(partial.json()["request_uid"])
    assert status["status"] == "partial"
    assert [d["status"] for d in status["documents"]] == ["completed", "failed"]


def test_header_beats_magic_and_unknown_magic_words_are_ignored(nl: Client) -> None:
    request_id = nl.extract(("x.mock-failed.pdf", written_pdf("x")), scenario="completed")
    assert nl.finished(request_id)["status"] == "completed"
    mockup = nl.extract(("mock-up.pdf", written_pdf("x")))
    assert nl.finished(mockup)["status"] == "completed"
    summary = nl.mock.client.get(f"/__mock__/jobs/{mockup}").json()
    assert summary["scenario"] == "completed"  # the default's: no marker named an outcome


def test_magic_stall_keeps_the_documents_behind_it_queued(nl: Client) -> None:
    names = ["a.pdf", "b.mock-stalled.pdf", "c.mock-failed.pdf"]
    request_id = nl.extract(*[(name, written_pdf(name)) for name in names])
    status = nl.finished(request_id)
    assert [d["status"] for d in status["documents"]] == ["completed", "processing", "pending"]


# --- paths and encodings ---------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_both_path_prefixes_serve_the_same_api(mock: Mock, prefix: str) -> None:
    client = Client(mock, prefix=prefix)
    request_id = client.extract(("a.pdf", written_pdf("x")))
    other = Client(mock, prefix=({*PREFIXES} - {prefix}).pop())
    status = other.finished(request_id)  # a request made on one prefix is read on the other
    assert status["status"] == "completed"
    document_id = status["documents"][0]["document_id"]
    assert client.document(document_id)["status"] == "completed"
    assert client.results("json", [document_id])["successful"] == 1
    zipped = client.post("/make-zip", json={"request_id": request_id, "local_images": False})
    assert zipped.status_code == 200 and zipped.json()["success"] is True


def test_url_mode_multipart_with_empty_documents_as_the_docs_send_it(nl: Client) -> None:
    form = {"documents_url": ["https://url.com/doc1.pdf", "https://url.com/reports/"], "alias": "a"}
    response = nl.post(
        "/extract", files=[("documents", (None, "[]")), ("form", (None, json.dumps(form)))]
    )
    assert response.status_code == 200, response.text
    status = nl.finished(response.json()["request_uid"])
    assert [d["filename"] for d in status["documents"]] == ["doc1.pdf", "reports"]
    assert status["status"] == "completed"


def test_url_mode_urlencoded_with_only_form_as_the_sdk_sends_it(nl: Client) -> None:
    form = json.dumps({"documents_url": ["https://e.com/a%20b.pdf", "https://e.com/"]})
    response = nl.mock.client.post(
        nl.url("/extract"),
        content=urlencode({"form": form}),
        headers={**nl.headers, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    status = nl.finished(response.json()["request_uid"])
    assert [d["filename"] for d in status["documents"]] == ["a b.pdf", "document_1.pdf"]
    document = status["documents"][0]["result"]
    assert document["total_pages"] == 1 and document["file_size_bytes"] > 0


def test_upload_mode_keeps_form_options(nl: Client) -> None:
    request_id = nl.extract(
        ("turbo.pdf", written_pdf("x")), form={"alias": "Batch", "enrichment_mode": "turbo"}
    )
    document_id = nl.finished(request_id)["documents"][0]["document_id"]
    content = nl.results("json", [document_id])["results"][0]["content"]
    assert content["enrichment_mode"] == "turbo"
    images = [e for e in content["pages"][0]["elements"] if e["content_type"] == "images"]
    assert images[0]["legend"] == "Figure 1" and images[0]["extracted_text"] == "x"


def test_real_host_name_serves_neurolinker_at_the_root(mock: Mock) -> None:
    headers = {**mock.headers("neurolinker"), "Host": "neurolinker.api.ainexxo.com"}
    form = {"form": json.dumps({"documents_url": ["https://e.com/a.pdf"]})}
    created = mock.client.post("/v1/extract", headers=headers, data=form)
    assert created.status_code == 200
    status = mock.client.get(
        f"/api/v1/request-status/{created.json()['request_uid']}", headers=headers
    )
    assert status.json()["job_page_url"].startswith(
        "http://neurolinker.api.ainexxo.com/__mock__/jobs/"
    )


# --- results derived from the upload -----------------------------------------------------------


def test_page_count_and_text_come_from_the_uploaded_pdf(nl: Client) -> None:
    pdf = written_pdf("Invoice 2025-0001", "Consulting 1200 EUR", "Thank you")
    request_id = nl.extract(("invoice.pdf", pdf), ("notes.txt", b"plain text, not a PDF"))
    pending = nl.document(nl.status(request_id)["documents"][1]["document_id"])
    assert pending["status"] == "pending" and pending["total_pages"] is None
    assert pending["started_at"] is None and pending["results"] is None
    status = nl.finished(request_id)
    invoice, notes = status["documents"]
    assert invoice["result"]["total_pages"] == 3
    assert invoice["result"]["file_size_bytes"] == len(pdf)
    assert notes["result"]["total_pages"] == 1  # not a PDF: the named default
    content = nl.results("json", [invoice["document_id"]])["results"][0]["content"]
    texts = [
        [e["content"] for e in page["elements"] if e["content_type"] == "text"]
        for page in content["pages"]
    ]
    assert texts == [["Invoice 2025-0001"], ["Consulting 1200 EUR"], ["Thank you"]]
    summaries = nl.results("page-summaries", [invoice["document_id"]])["results"][0]["content"]
    assert [s["page_number"] for s in summaries] == [1, 2, 3]
    assert "Consulting 1200 EUR" in summaries[1]["summary"]


def test_document_status_follows_the_document(nl: Client) -> None:
    request_id = nl.extract(("a.pdf", written_pdf("x", "y")))
    document_id = nl.status(request_id)["documents"][0]["document_id"]
    running = nl.document(document_id)
    assert running["status"] == "processing" and running["total_pages"] == 2
    assert running["request_id"] == request_id and running["completed_at"] is None
    nl.mock.advance(40)
    done = nl.document(document_id)
    assert done["status"] == "completed" and done["completed_at"] == "2026-01-01T00:00:40.000000Z"
    assert done["results"]["storage_path"].startswith(f"uploads/{done['user_uid']}/{request_id}/")
    assert f"/__mock__/jobs/{document_id}/page?signature=" in done["document_page_url"]


def test_every_result_kind_serves_content_and_the_stored_file(nl: Client) -> None:
    request_id = nl.extract(("report.pdf", written_pdf("Intro", "Method", "Results")))
    document_id = nl.finished(request_id)["documents"][0]["document_id"]
    for kind, extra in [
        ("markdown", {}),
        ("json", {}),
        ("images", {}),
        ("page-summaries", {}),
        ("section-summaries", {}),
        ("document-summary", {"summary_type": "page"}),
        ("document-summary", {"summary_type": "section"}),
    ]:
        answer = nl.results(kind, [document_id], **extra)
        assert (answer["success"], answer["message"]) == (True, "Retrieved 1 of 1 documents")
        entry = answer["results"][0]
        stored = nl.mock.client.get(entry["download_url"])
        assert stored.status_code == 200 and len(stored.content) == entry["file_size"]
        assert entry["storage_path"].endswith(
            "/" + entry["download_url"].split("?")[0].rsplit("/", 1)[-1]
        )
    markdown = nl.results("markdown", [document_id])["results"][0]
    assert markdown["storage_path"].endswith("/report.md")
    assert "# report" in markdown["content"] and "<table>" in markdown["content"]
    sections = nl.results("section-summaries", [document_id])["results"][0]["content"]
    assert [(s["start_page"], s["end_page"]) for s in sections] == [(1, 2), (3, 3)]
    image = nl.results("images", [document_id])["results"][0]["content"][2]
    assert image["page_number"] == 3
    png = nl.mock.client.get(image["download_url"])
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")


def test_content_types_filter_markdown_and_json(nl: Client) -> None:
    document_id = nl.finished(nl.extract(("a.pdf", written_pdf("x", "y"))))["documents"][0][
        "document_id"
    ]
    content = nl.results("json", [document_id], content_types=["formula"])["results"][0]["content"]
    kinds = [[e["content_type"] for e in page["elements"]] for page in content["pages"]]
    assert kinds == [[], ["formula"]]
    markdown = nl.results("markdown", [document_id], content_types=["text"])["results"][0]
    assert "<table>" not in markdown["content"] and "<figure>" not in markdown["content"]
    unfiltered = nl.results("markdown", [document_id])["results"][0]
    assert markdown["file_size"] == unfiltered["file_size"]  # the stored file is unfiltered


def test_result_entries_for_ids_that_cannot_be_served(mock: Mock) -> None:
    nl, other = Client(mock), Client(mock, "someone-else")
    running = nl.extract(("a.pdf", written_pdf("x")), ("b.pdf", written_pdf("y")))
    ids = [d["document_id"] for d in nl.status(running)["documents"]]
    failed = nl.extract(("c.pdf", written_pdf("z")), scenario="failed; after=1")
    mock.advance(1)
    failed_id = nl.status(failed)["documents"][0]["document_id"]
    answer = nl.results("markdown", [*ids, failed_id, "nope"])
    assert [entry["error"] for entry in answer["results"]] == [
        "Document extraction not completed (status: processing)",
        "Document extraction not completed (status: pending)",
        "Document extraction failed",
        "Document not found",
    ]
    assert (answer["success"], answer["successful"], answer["failed"]) == (False, 0, 4)
    assert answer["results"][0]["filename"] == "a.pdf" and answer["results"][3]["filename"] is None
    assert other.results("json", ids[:1])["results"][0]["error"] == "Document not found"
    fields = nl.results("fields", [failed_id])["results"][0]
    assert fields["error"] == "Document was not processed through field extraction"
    assert nl.results("scalars", [])["message"] == "No documents requested"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_images_answer_counts_the_images_of_the_successful_entries(mock: Mock, prefix: str) -> None:
    # the backend spec's DocumentImagesResponse (SDK repository): `total_images` is required
    nl = Client(mock, prefix=prefix)
    request_id = nl.extract(
        ("three.pdf", written_pdf("a", "b", "c")), ("one.pdf", written_pdf("d"))
    )
    nl.mock.advance(65)  # three.pdf done at 55 s, one.pdf still processing until 80 s
    three, one = (d["document_id"] for d in nl.status(request_id)["documents"])
    running = nl.results("images", [three, one, "nope"])
    assert list(running) == [
        "success",
        "results",
        "total",
        "successful",
        "failed",
        "total_images",
        "message",
    ]
    assert [len(entry["content"] or []) for entry in running["results"]] == [3, 0, 0]
    assert (running["total"], running["successful"], running["failed"]) == (3, 1, 2)
    assert running["total_images"] == 3
    nl.mock.advance(3600)
    done = nl.results("images", [three, one])
    assert (done["success"], done["total"], done["total_images"]) == (True, 2, 4)
    assert done["message"] == "Retrieved 2 of 2 documents"
    assert nl.results("images", [])["total_images"] == 0
    assert nl.results("images", ["nope"])["total_images"] == 0
    assert "total_images" not in nl.results("markdown", [three])  # images only, as the spec


def test_document_page_url_is_given_only_once_the_document_completed(nl: Client) -> None:
    # the backend spec: "URL to view the document in the web app (only when completed)"
    request_id = nl.extract(("a.pdf", written_pdf("x")), ("b.pdf", written_pdf("y")))
    first, second = (d["document_id"] for d in nl.status(request_id)["documents"])
    running = nl.status(request_id)["documents"]
    assert [(d["status"], d["document_page_url"]) for d in running] == [
        ("processing", None),
        ("pending", None),
    ]
    assert nl.document(first)["document_page_url"] is None
    assert nl.document(second)["document_page_url"] is None
    nl.mock.advance(25)  # a.pdf: 10 s + 15 s for its page
    middle = nl.status(request_id)["documents"]
    server = str(nl.mock.client.base_url).rstrip("/")  # the server the client reached
    signature = page_signature(nl.mock.state.store.lookup(first))  # the client opens it
    page = f"{server}/__mock__/jobs/{first}/page?signature={signature}"
    assert [(d["status"], d["document_page_url"]) for d in middle] == [
        ("completed", page),
        ("processing", None),
    ]
    assert nl.document(first)["document_page_url"] == page
    assert nl.document(second)["document_page_url"] is None
    assert nl.mock.client.get(page).status_code == 200
    failed = nl.extract(("c.pdf", written_pdf("z")), scenario="failed; after=1")
    nl.mock.advance(1)
    entry = nl.status(failed)["documents"][0]
    assert (entry["status"], entry["document_page_url"]) == ("failed", None)
    assert nl.document(entry["document_id"])["document_page_url"] is None


def test_a_result_named_after_a_file_past_ascii_downloads(nl: Client) -> None:
    """A result file is named after the upload (`日本.md`): its download's
    Content-Disposition could not be written, a 500."""
    done = nl.finished(nl.extract(("日本.pdf", written_pdf("konnichiwa"))))
    ids = [document["document_id"] for document in done["documents"]]
    answers = json.dumps([nl.results(kind, ids) for kind in ("markdown", "json")])
    links = set(re.findall(r'http[^"]+/__mock__/files/[^"]+', answers))
    named = [link for link in links if "%E6%97%A5%E6%9C%AC" in link]
    assert named, links
    for link in named:
        answer = nl.mock.client.get(link)
        assert answer.status_code == 200, answer.text
        disposition = answer.headers["content-disposition"]
        assert "filename*=UTF-8''%E6%97%A5%E6%9C%AC." in disposition


# --- archives ------------------------------------------------------------------------------------


def test_zip_holds_every_completed_document_and_refers_to_signed_images(nl: Client) -> None:
    request_id = nl.extract(*pdfs(3), scenario="partial")
    nl.mock.advance(3600)
    done = [d["document_id"] for d in nl.status(request_id)["documents"]]
    answer = nl.post("/make-zip", json={"request_id": request_id, "local_images": False}).json()
    assert answer["url"].split("?")[0].endswith(f"/{request_id}.zip")
    archive = zipfile.ZipFile(io.BytesIO(nl.mock.client.get(answer["url"]).content))
    folders = sorted({name.split("/")[0] for name in archive.namelist()})
    assert folders == sorted(done[:2])  # the failed third document is left out
    markdown = archive.read(f"{done[0]}/doc0.md").decode()
    links = re.findall(r'src="([^"]+)"', markdown)
    assert links and all("/__mock__/files/" in link for link in links)
    assert nl.mock.client.get(links[0].replace("&amp;", "&")).status_code == 200
    assert archive.read(f"{done[0]}/images/{links[0].split('/images/')[1].split('?')[0]}")


def test_zip_of_one_document_with_local_images_and_filtered_content(nl: Client) -> None:
    request_id = nl.extract(*pdfs(2))
    ids = [d["document_id"] for d in nl.finished(request_id)["documents"]]
    body = {
        "request_id": request_id,
        "document_id": ids[1],
        "local_images": True,
        "content_types": ["images"],
    }
    answer = nl.post("/make-zip", json=body).json()
    archive = zipfile.ZipFile(io.BytesIO(nl.mock.client.get(answer["url"]).content))
    assert {name.split("/")[0] for name in archive.namelist()} == {ids[1]}
    structured = json.loads(archive.read(f"{ids[1]}/doc1.json"))
    elements = structured["pages"][0]["elements"]
    assert [e["content_type"] for e in elements] == ["images"]
    assert elements[0]["image"].startswith("images/")
    assert archive.read(f"{ids[1]}/{elements[0]['image']}").startswith(b"\x89PNG")


def test_zip_refusals(mock: Mock) -> None:
    nl = Client(mock)
    running = nl.extract(*pdfs(2))
    assert nl.post("/make-zip", json={"request_id": running}).json() == {
        "detail": "Request is still processing"
    }
    failed = nl.extract(*pdfs(1), scenario="failed")
    partial = nl.extract(*pdfs(2), scenario="partial")
    mock.advance(3600)
    no_result = nl.post("/make-zip", json={"request_id": failed})
    assert no_result.status_code == 409 and "no completed document" in no_result.json()["detail"]
    failed_doc = nl.status(partial)["documents"][1]["document_id"]
    refused = nl.post("/make-zip", json={"request_id": partial, "document_id": failed_doc})
    assert refused.status_code == 409 and "status: failed" in refused.json()["detail"]
    stranger = nl.post("/make-zip", json={"request_id": partial, "document_id": "x"})
    assert stranger.status_code == 404
    foreign = Client(mock, "other").post("/make-zip", json={"request_id": partial})
    assert foreign.status_code == 404


# --- admin API: transitions and pages --------------------------------------------------------


def test_forcing_a_request_ends_its_unfinished_documents(nl: Client) -> None:
    request_id = nl.extract(*pdfs(3))
    nl.mock.advance(30)  # the first document is done
    forced = nl.mock.client.post(
        f"/__mock__/jobs/{request_id}/transition", json={"outcome": "partial", "failing": 2}
    )
    assert forced.status_code == 200 and forced.json()["state"] == "partial"
    status = nl.status(request_id)
    assert status["status"] == "partial"
    assert [d["status"] for d in status["documents"]] == ["completed", "failed", "failed"]
    assert status["completed_at"] == "2026-01-01T00:00:30.000000+00:00"
    queued = status["documents"][2]["result"]
    assert queued["total_pages"] is None and queued["started_at"] == queued["completed_at"]


def test_forcing_a_document_moves_its_request(nl: Client) -> None:
    request_id = nl.extract(*pdfs(2))
    second = nl.status(request_id)["documents"][1]["document_id"]
    admin = nl.mock.client
    assert (
        admin.post(f"/__mock__/jobs/{second}/transition", json={"outcome": "failed"}).status_code
        == 200
    )
    assert admin.get(f"/__mock__/jobs/{request_id}").json()["outcome"]["state"] == "partial"
    nl.mock.advance(3600)
    assert nl.status(request_id)["status"] == "partial"
    refused = admin.post(f"/__mock__/jobs/{request_id}/transition", json={"outcome": "failed"})
    assert refused.status_code == 409
    other = nl.extract(*pdfs(1))
    document = nl.status(other)["documents"][0]["document_id"]
    for word in ("partial", "insufficient_credits"):
        bad = admin.post(f"/__mock__/jobs/{document}/transition", json={"outcome": word})
        assert bad.status_code == 422


def test_job_pages_are_served_for_requests_and_documents(nl: Client) -> None:
    request_id = nl.extract(("a.pdf", written_pdf("x")), scenario="failed; message=Bad <xref>")
    status = nl.finished(request_id)
    page = nl.mock.client.get(status["job_page_url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    document_id = status["documents"][0]["document_id"]
    assert f'href="../{document_id}/page?signature=' in page.text  # links its documents
    assert status["documents"][0]["document_page_url"] is None  # failed: no page link
    document_page = nl.mock.client.get(f"/__mock__/jobs/{document_id}/page")
    assert "a.pdf" in document_page.text and "Bad &lt;xref&gt;" in document_page.text
    assert nl.mock.client.get("/__mock__/jobs/nope/page").status_code == 404


# --- tenants and errors --------------------------------------------------------------------------


def test_one_token_never_sees_another_tokens_requests(mock: Mock) -> None:
    alice, bob = Client(mock, "alice"), Client(mock, "bob")
    request_id = alice.extract(("a.pdf", written_pdf("x")))
    document_id = alice.status(request_id)["documents"][0]["document_id"]
    assert bob.get(f"/request-status/{request_id}").json() == {
        "detail": f"Request {request_id} not found"
    }
    assert bob.get(f"/document-status/{document_id}").status_code == 404
    assert bob.get(f"/request-status/{document_id}").status_code == 404
    assert alice.get(f"/document-status/{request_id}").status_code == 404


def test_a_request_whose_documents_were_evicted_is_gone() -> None:
    for mock in make_mock(store_capacity=4):
        nl = Client(mock)
        old = nl.extract(*pdfs(2), scenario="completed; after=1")
        mock.advance(1)
        newer = nl.extract(*pdfs(2))  # six jobs: the old request's finished documents go
        assert nl.get(f"/request-status/{old}").json() == {"detail": f"Request {old} not found"}
        assert nl.post("/make-zip", json={"request_id": old}).status_code == 404
        assert nl.status(newer)["total"] == 2


def test_missing_or_refused_token(mock: Mock) -> None:
    missing = mock.client.get(f"{NL}/v1/request-status/x")
    assert missing.status_code == 401 and missing.json() == {"detail": "Not authenticated"}
    assert missing.headers["www-authenticate"] == "Bearer"
    basic = mock.client.get(f"{NL}/v1/request-status/x", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    for refused_mock in make_mock(keys={"nl_revoked": {"status": 403}}):
        refused = refused_mock.client.get(
            f"{NL}/api/v1/request-status/x", headers={"Authorization": "Bearer nl_revoked"}
        )
        assert refused.status_code == 403


def _form(value: Any) -> dict[str, Any]:
    return {"data": {"form": value if isinstance(value, str) else json.dumps(value)}}


@pytest.mark.parametrize(
    ("kwargs", "loc", "kind"),
    [
        ({"data": {"alias": "x"}}, ["body", "form"], "missing"),
        (_form("{not json"), ["body", "form"], "json_invalid"),
        (_form("[1, 2]"), ["body", "form"], "dict_type"),
        (
            _form({"alias": 3, "documents_url": ["https://e.com/a.pdf"]}),
            ["body", "form", "alias"],
            "string_type",
        ),
        (
            _form({"enrichment_mode": "fast", "documents_url": ["https://e.com/a.pdf"]}),
            ["body", "form", "enrichment_mode"],
            "enum",
        ),
        (
            _form({"documents_url": "https://e.com/a.pdf"}),
            ["body", "form", "documents_url"],
            "list_type",
        ),
        (
            _form({"documents_url": ["ftp://e.com/a.pdf"]}),
            ["body", "form", "documents_url", 0],
            "url_scheme",
        ),
        (_form({"documents_url": ["/a.pdf"]}), ["body", "form", "documents_url", 0], "url_parsing"),
        (
            _form({"documents_url": ["http://[::1/a.pdf"]}),
            ["body", "form", "documents_url", 0],
            "url_parsing",
        ),
        (_form({"documents_url": [7]}), ["body", "form", "documents_url", 0], "string_type"),
        *(
            (_form({"documents_url": [url]}), ["body", "form", "documents_url", 0], "url_parsing")
            for url in (
                "https://e.com:abc/a.pdf",  # invalid port number
                "https://e.com:99999/a.pdf",
                "https://e.com/a\x00b.pdf",  # control characters are not allowed
                "https://e.com/a\nb.pdf",
                "https://e .com/a.pdf",  # invalid international domain name
                "https://:443/a.pdf",  # empty host
            )
        ),
        (_form({}), ["body", "documents"], "missing"),
        (_form({"documents_url": []}), ["body", "documents"], "missing"),
        (
            {"files": [("documents", (None, "hello")), ("form", (None, "{}"))]},
            ["body", "documents", 0],
            "value_error",
        ),
        (
            {
                "files": [("documents", ("a.pdf", b"%PDF-1.4", "application/pdf"))],
                "data": {"form": json.dumps({"documents_url": ["https://e.com/a.pdf"]})},
            },
            ["body", "form", "documents_url"],
            "value_error",
        ),
    ],
)
def test_bad_extract_input_is_422_naming_the_field(
    nl: Client, kwargs: dict[str, Any], loc: list[Any], kind: str
) -> None:
    response = nl.post("/extract", **kwargs)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (loc, kind)
    assert {"type", "loc", "msg", "input"} <= set(problem) <= {"type", "loc", "msg", "input", "ctx"}
    assert problem["msg"]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/documents/json", {}, ["body", "document_ids"]),
        ("/documents/json", {"document_ids": "abc"}, ["body", "document_ids"]),
        (
            "/documents/markdown",
            {"document_ids": [], "content_types": ["pictures"]},
            ["body", "content_types", "0"],
        ),
        ("/documents/document-summary", {"document_ids": []}, ["body", "summary_type"]),
        (
            "/documents/document-summary",
            {"document_ids": [], "summary_type": "chapter"},
            ["body", "summary_type"],
        ),
        ("/make-zip", {"local_images": True}, ["body", "request_id"]),
        ("/make-zip", {"request_id": "x", "local_images": "yes"}, ["body", "local_images"]),
    ],
)
def test_bad_json_bodies_are_422_naming_the_field(
    nl: Client, path: str, body: dict[str, Any], loc: list[str]
) -> None:
    response = nl.post(path, json=body)
    assert response.status_code == 422, response.text
    assert [str(part) for part in response.json()["detail"][0]["loc"]] == loc


def test_other_errors_in_fastapi_format(nl: Client) -> None:
    as_json = nl.post("/extract", json={"form": "{}"})
    # FastAPI reads a form endpoint's body as a form: JSON is a form without fields
    assert as_json.status_code == 422
    assert as_json.json()["detail"] == [
        {"type": "missing", "loc": ["body", "form"], "msg": "Field required", "input": None}
    ]
    broken = nl.mock.client.post(
        nl.url("/documents/json"),
        content=b"{oops",
        headers={**nl.headers, "content-type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid"
    assert nl.get("/document-status/nope").json() == {"detail": "Document nope not found"}
    assert nl.get("/buckets").json() == {"detail": "Not Found"}  # not emulated
    wrong_method = nl.mock.client.delete(nl.url("/make-zip"), headers=nl.headers)
    assert wrong_method.status_code == 405 and wrong_method.json() == {
        "detail": "Method Not Allowed"
    }


def test_same_seed_same_requests_same_ids_and_timelines() -> None:
    def run() -> list[Any]:
        for mock in make_mock():
            nl = Client(mock, "seeded")
            request_id = nl.extract(*pdfs(2))
            return [request_id, nl.finished(request_id)]
        raise AssertionError

    assert run() == run()


# --- the official SDK, unmodified, against a live server in virtual time -------------------


class VirtualTime:
    """Stands in for the `time` module of the SDK's poller: each sleep moves the live server's
    manual clock by that much and returns at once; `time()` reads that clock."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.slept: list[float] = []

    def time(self) -> float:
        return self.live.state.clock.now()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.live.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def virtual_time(live: Live, monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """The poller's `time` and, for the async waiter, its `asyncio` (only `sleep` is used)."""
    fake = VirtualTime(live)
    monkeypatch.setattr(neurolinker_sdk.polling, "time", fake)
    monkeypatch.setattr(neurolinker_sdk.polling, "asyncio", SimpleNamespace(sleep=fake.async_sleep))
    return fake


def new_token() -> str:
    return f"nl_{uuid4().hex}"


def sdk(live: Live, scenario: str | None = None, token: str | None = None) -> NeuroLinker:
    """The SDK as a user builds it; only the base URL and token differ, plus the scenario
    header on its own HTTP client when a test steers the outcome."""
    headers = {"X-Mock-Scenario": scenario} if scenario else {}
    return NeuroLinker(
        token=token or new_token(),
        base_url=f"{live.url}/neurolinker",
        http_client=httpx.Client(headers=headers, timeout=10),
    )


def async_sdk(live: Live, token: str | None = None) -> AsyncNeuroLinker:
    """`sdk`'s async twin (use `async with`)."""
    return AsyncNeuroLinker(
        token=token or new_token(),
        base_url=f"{live.url}/neurolinker",
        http_client=httpx.AsyncClient(timeout=10),
    )


def journal(live: Live, token: str) -> list[dict[str, Any]]:
    """The live server's journal of one token's requests, oldest first."""
    answer = httpx.get(f"{live.url}/__mock__/journal", params={"tenant": token}, timeout=10)
    return answer.json()["entries"]


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


RETRIEVED_ONE = (True, 1, 1, 0, "Retrieved 1 of 1 documents")


def counts(answer: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(answer[k] for k in ("success", "total", "successful", "failed", "message"))


def test_sdk_extracts_waits_and_reads_json(live: Live, virtual_time: VirtualTime) -> None:
    with sdk(live) as client:
        pdf = written_pdf("Invoice 2025-0001", "Total 1,200.00 EUR")
        submit = client.extraction.extract(documents=[("invoice.pdf", pdf), ("", pdf)])
        request_uid = client.extraction.extract_request_uid(submit)
        status = client.extraction.wait_for_request(request_uid)
        assert status["status"] == "completed"
        assert sum(virtual_time.slept) >= 80  # two 2-page documents: 40 s each, slept virtually
        ids = client.extraction.extract_document_ids(status)
        assert [d["filename"] for d in status["documents"]] == ["invoice.pdf", "document_1.pdf"]
        docs = client.extraction.documents.json(ids)
        assert docs["successful"] == 2
        pages = docs["results"][0]["content"]["pages"]
        assert pages[1]["elements"][0]["content"] == "Total 1,200.00 EUR"
        zipped = client.extraction.make_zip(job_uid=request_uid)
        assert httpx.get(zipped["url"]).status_code == 200


def test_sdk_sees_a_failed_request_as_finished(live: Live, virtual_time: VirtualTime) -> None:
    with sdk(live, "failed; after=45") as client:
        submit = client.extraction.extract(urls=["https://example.com/a.pdf"])
        status = client.extraction.wait_for_request(client.extraction.extract_request_uid(submit))
        assert status["status"] == "failed"
        assert status["documents"][0]["result"]["error"] == "The PDF could not be parsed"
        ids = client.extraction.extract_document_ids(status)
        assert client.extraction.documents.json(ids)["results"][0]["error"] == (
            "Document extraction failed"
        )


def test_sdk_times_out_on_a_partial_request(live: Live, virtual_time: VirtualTime) -> None:
    """neurolinker-sdk 0.2.2 treats completed/failed/pending as terminal, not partial: its
    waiter polls a partial request until its deadline. The kit shows this client bug."""
    with sdk(live, "partial; after=20") as client:
        pdf = written_pdf("x")
        submit = client.extraction.extract(documents=[("a.pdf", pdf), ("b.pdf", pdf)])
        request_uid = client.extraction.extract_request_uid(submit)
        with pytest.raises(TimeoutError, match="Last status") as timeout:
            client.extraction.wait_for_request(request_uid, timeout_s=120)
        assert "/__mock__/jobs/" in str(timeout.value)  # the job page URL, from the last status
        assert sum(virtual_time.slept) >= 120 - 10
        assert client.extraction.status.request(request_uid)["status"] == "partial"


def test_sdk_raises_402_when_out_of_credits(live: Live, virtual_time: VirtualTime) -> None:
    with sdk(live, "insufficient_credits") as client, pytest.raises(NeuroLinkerAPIError) as error:
        client.extraction.extract(urls=["https://example.com/a.pdf"])
    assert error.value.status_code == 402
    assert error.value.response_json == {
        "detail": "Insufficient credits: this request needs 4 credits"
    }
    assert virtual_time.slept == []


def test_sdk_reads_every_result_kind_of_a_turbo_extraction(
    live: Live, virtual_time: VirtualTime
) -> None:
    """extract with alias/description/enrichment_mode, status.document, every
    documents.* reader, and make_zip of one document with local images and content types."""
    token = new_token()
    with sdk(live, token=token) as client:
        extraction = client.extraction
        pdf = written_pdf("Intro", "Method", "Results")
        submit = extraction.extract(
            documents=[("report.pdf", pdf)],
            alias="Q3 report",
            description="Quarterly numbers",
            enrichment_mode="turbo",
        )
        request_uid = extraction.extract_request_uid(submit)
        status = extraction.wait_for_request(request_uid)
        assert (status["status"], status["completed"], status["failed"]) == ("completed", 1, 0)
        assert sum(virtual_time.slept) >= 55  # 10 s + 15 s per page, slept virtually
        (document_id,) = extraction.extract_document_ids(status)

        document = extraction.status.document(document_id)
        assert {k: document[k] for k in ("status", "request_id", "file_name", "total_pages")} == {
            "status": "completed",
            "request_id": request_uid,
            "file_name": "report.pdf",
            "total_pages": 3,
        }
        assert document["file_size_bytes"] == len(pdf)
        assert seconds_between(document["started_at"], document["completed_at"]) == 55

        markdown = extraction.documents.markdown([document_id], content_types=["text"])
        assert counts(markdown) == RETRIEVED_ONE
        assert markdown["results"][0]["content"] == (
            "<header>report.pdf</header>\n\n# report\n\n"
            "## Page 1\n\nIntro\n\n## Page 2\n\nMethod\n\n## Page 3\n\nResults\n"
        )
        structured = extraction.documents.json([document_id])["results"][0]["content"]
        assert structured["enrichment_mode"] == "turbo"
        table = structured["pages"][0]["elements"][1]
        assert (table["content_type"], table["legend"], table["extracted_text"]) == (
            "tables",
            "Table 1: file facts",
            "File report.pdf, 3 page(s)",
        )

        images = extraction.documents.images([document_id])
        assert counts(images) == RETRIEVED_ONE and images["total_images"] == 3
        pictures = images["results"][0]["content"]
        assert [picture["page_number"] for picture in pictures] == [1, 2, 3]
        pngs = {p["file_name"]: httpx.get(p["download_url"]).content for p in pictures}
        assert all(png.startswith(b"\x89PNG") for png in pngs.values())

        pages = extraction.documents.page_summaries([document_id])
        assert counts(pages) == RETRIEVED_ONE
        assert pages["results"][0]["content"] == [
            {"page_number": 1, "summary": "Page 1: Intro"},
            {"page_number": 2, "summary": "Page 2: Method"},
            {"page_number": 3, "summary": "Page 3: Results"},
        ]
        sections = extraction.documents.section_summaries([document_id])
        assert counts(sections) == RETRIEVED_ONE
        assert sections["results"][0]["content"] == [
            {
                "title": "Intro",
                "summary": "Pages 1-2 of report.pdf, opening with: Intro",
                "start_page": 1,
                "end_page": 2,
            },
            {
                "title": "Results",
                "summary": "Pages 3-3 of report.pdf, opening with: Results",
                "start_page": 3,
                "end_page": 3,
            },
        ]
        by_page = extraction.documents.document_summary([document_id], summary_type="page")
        by_section = extraction.documents.document_summary([document_id], summary_type="section")
        assert (counts(by_page), counts(by_section)) == (RETRIEVED_ONE, RETRIEVED_ONE)
        assert by_page["results"][0]["content"] == (
            "report.pdf (3 page(s)). Page 1: Intro Page 2: Method Page 3: Results"
        )
        assert by_section["results"][0]["content"] == (
            "report.pdf (3 page(s)). Pages 1-2 of report.pdf, opening with: Intro "
            "Pages 3-3 of report.pdf, opening with: Results"
        )

        zipped = extraction.make_zip(
            job_uid=request_uid,
            document_uid=document_id,
            local_images=True,
            content_types=["text", "images"],
        )
        assert (zipped["success"], zipped["message"]) == (True, "ZIP archive created")
        assert zipped["url"].split("?")[0].endswith(f"/{document_id}.zip")
        archive = zipfile.ZipFile(io.BytesIO(httpx.get(zipped["url"]).content))
    folder = f"{document_id}/"
    assert archive.namelist() == [
        f"{folder}report.md",
        f"{folder}report.json",
        f"{folder}page_summaries.json",
        f"{folder}section_summaries.json",
        *(f"{folder}images/{name}" for name in pngs),
    ]
    in_zip = json.loads(archive.read(f"{folder}report.json"))
    elements = [page["elements"] for page in in_zip["pages"]]
    assert [[e["content_type"] for e in page] for page in elements] == [["text", "images"]] * 3
    assert [page[1]["image"] for page in elements] == [f"images/{name}" for name in pngs]
    assert {name: archive.read(f"{folder}images/{name}") for name in pngs} == pngs
    (submitted,) = [e for e in journal(live, token) if e["path"] == "/api/v1/extract"]
    form = next(part for part in submitted["request"]["parts"] if part["name"] == "form")
    assert json.loads(form["value"]) == {
        "alias": "Q3 report",
        "description": "Quarterly numbers",
        "enrichment_mode": "turbo",
    }


def test_async_sdk_extracts_waits_and_reads_results(live: Live, virtual_time: VirtualTime) -> None:
    """AsyncNeuroLinker end to end, its waiter's sleeps on the live server's clock."""
    token = new_token()

    async def run() -> tuple[list[str], bytes]:
        async with async_sdk(live, token) as client:
            extraction = client.extraction
            submit = await extraction.extract(
                documents=[("a.pdf", written_pdf("Alpha", "Beta")), ("b.pdf", written_pdf("C"))],
                alias="pair",
            )
            request_uid = extraction.extract_request_uid(submit)
            with pytest.raises(NeuroLinkerAPIError) as early:
                await extraction.make_zip(job_uid=request_uid)
            assert (early.value.status_code, early.value.response_json) == (
                409,
                {"detail": "Request is still processing"},
            )
            status = await extraction.wait_for_request(request_uid)
            assert (status["status"], status["completed"], status["total"]) == ("completed", 2, 2)
            assert await extraction.status.request(request_uid) == status
            ids = extraction.extract_document_ids(status)
            documents = [await extraction.status.document(i) for i in ids]
            assert [(d["status"], d["total_pages"]) for d in documents] == [
                ("completed", 2),
                ("completed", 1),
            ]
            docs = extraction.documents
            formulas = (await docs.json(ids, content_types=["formula"]))["results"]
            assert [
                [[e["content_type"] for e in page["elements"]] for page in r["content"]["pages"]]
                for r in formulas
            ] == [[[], ["formula"]], [[]]]
            markdown = (await docs.markdown(ids, content_types=["text"]))["results"]
            assert [r["content"].split("\n\n")[-1] for r in markdown] == ["Beta\n", "C\n"]
            images = await docs.images(ids)
            assert (images["successful"], images["total_images"]) == (2, 3)
            pages = (await docs.page_summaries(ids))["results"]
            assert [[p["summary"] for p in r["content"]] for r in pages] == [
                ["Page 1: Alpha", "Page 2: Beta"],
                ["Page 1: C"],
            ]
            sections = (await docs.section_summaries(ids))["results"]
            assert [[(s["start_page"], s["end_page"]) for s in r["content"]] for r in sections] == [
                [(1, 2)],
                [(1, 1)],
            ]
            summaries = [
                (await docs.document_summary(ids[1:], summary_type=kind))["results"][0]["content"]
                for kind in ("page", "section")
            ]
            assert summaries == [
                "b.pdf (1 page(s)). Page 1: C",
                "b.pdf (1 page(s)). Pages 1-1 of b.pdf, opening with: C",
            ]
            zipped = await extraction.make_zip(
                job_uid=request_uid, document_uid=ids[1], local_images=True, content_types=["text"]
            )
            async with httpx.AsyncClient(timeout=10) as http:
                archive = (await http.get(zipped["url"])).content
            listed = (await extraction.list_tasks())["tasks"]["requests"]
            assert [(t["request_id"], t["status"], t["total_documents"]) for t in listed] == [
                (request_uid, "completed", 2)
            ]
            return ids, archive

    ids, archive = asyncio.run(run())
    assert sum(virtual_time.slept) >= 65  # 40 s and 25 s of work, slept virtually
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert {name.split("/")[0] for name in opened.namelist()} == {ids[1]}
        structured = json.loads(opened.read(f"{ids[1]}/b.json"))
    assert [[e["content_type"] for e in p["elements"]] for p in structured["pages"]] == [["text"]]


def test_sdk_errors_are_neurolinker_api_errors(live: Live, virtual_time: VirtualTime) -> None:
    """409 (make_zip while processing), 422 (a summary type the API has not) and 429 (a rate
    limit injected by the scenario, gone once its Retry-After passed); 402 is tested above."""
    with sdk(live) as client:
        extraction = client.extraction
        request_uid = extraction.extract_request_uid(
            extraction.extract(documents=[("a.pdf", written_pdf("x"))])
        )
        with pytest.raises(NeuroLinkerAPIError) as processing:
            extraction.make_zip(job_uid=request_uid)
        assert (processing.value.status_code, processing.value.response_json) == (
            409,
            {"detail": "Request is still processing"},
        )
        (document_id,) = extraction.extract_document_ids(extraction.wait_for_request(request_uid))
        with pytest.raises(NeuroLinkerAPIError) as unknown_kind:
            extraction.documents.document_summary([document_id], summary_type="chapter")
        assert (unknown_kind.value.status_code, unknown_kind.value.method) == (422, "POST")
        assert unknown_kind.value.response_json == {
            "detail": [
                {
                    "type": "enum",
                    "loc": ["body", "summary_type"],
                    "msg": "Input should be 'page' or 'section'",
                    "input": "chapter",
                    "ctx": {"expected": "'page' or 'section'"},
                }
            ]
        }
    limited = {"detail": "Too many requests: retry in 2 s (rate limit injected by the mock)"}
    with sdk(live, "completed; fault=429") as client:
        extraction = client.extraction
        for _ in range(2):  # the window stays open until its 2 s have passed
            with pytest.raises(NeuroLinkerAPIError) as rate_limited:
                extraction.extract(urls=["https://example.com/a.pdf"])
            assert (rate_limited.value.status_code, rate_limited.value.response_json) == (
                429,
                limited,
            )
        live.advance(2)
        retried = extraction.extract(urls=["https://example.com/a.pdf"])
        status = extraction.wait_for_request(extraction.extract_request_uid(retried))
        assert (status["status"], status["completed"]) == ("completed", 1)


# --- page counting with a real PDF reader -------------------------------------------------------


def test_pages_in_object_streams_are_counted(nl: Client) -> None:
    data = object_stream_pdf("Invoice 7", "Line items", "Totals", "Terms", "Signature")
    assert b"/Type /Page" not in data  # every page object is inside the compressed stream
    request_id = nl.extract(("modern.pdf", data))
    nl.mock.advance(10 + 15 * 4)  # 10 s + 15 s per page: four pages are not yet enough
    assert nl.status(request_id)["status"] == "processing"
    entry = nl.finished(request_id)["documents"][0]
    assert entry["result"]["total_pages"] == 5
    markdown = nl.results("markdown", [entry["document_id"]])["results"][0]["content"]
    assert "Line items" in markdown and "Signature" in markdown


def test_the_same_bytes_uploaded_again_are_read_once() -> None:
    first = object_stream_pdf("Cover", "Body")
    reading = pdf.read(first)
    assert (reading.pages, reading.texts) == (2, (("Cover",), ("Body",)))
    assert pdf.read(bytes(first)) is reading  # equal bytes, another object: not parsed again
    assert pdf.read(object_stream_pdf("Cover", "Other")).texts[1] == ("Other",)


def test_a_password_protected_pdf_fails_without_pages(nl: Client) -> None:
    request_id = nl.extract(
        ("locked.pdf", encrypted_pdf("secret data")), ("open.pdf", written_pdf("x"))
    )
    status = nl.finished(request_id)
    locked, opened = status["documents"]
    assert status["status"] == "partial"
    assert locked["status"] == "failed" and locked["result"]["total_pages"] is None
    assert locked["result"]["error"] == "The PDF is encrypted and cannot be opened"
    assert opened["status"] == "completed" and opened["result"]["total_pages"] == 1


def test_an_explicit_scenario_wins_over_an_encrypted_pdf(nl: Client) -> None:
    request_id = nl.extract(("locked.pdf", encrypted_pdf("x")), scenario="completed")
    assert nl.finished(request_id)["status"] == "completed"


# --- hostile PDFs: bounded reading -------------------------------------------------------------


def shared_tree_pdf(fan: int, levels: int) -> bytes:
    """`levels` /Pages nodes, each listing the next one `fan` times, over one page:
    fan ** levels pages for a reader, in a few hundred bytes."""
    page = 2 + levels
    nodes = [
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join([b"%d 0 R" % (number + 1)] * fan), fan ** (levels - level))
        for level, number in enumerate(range(2, 2 + levels))
    ]
    return pdf.assembled(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            *nodes,
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (page - 1, page + 1, page + 2),
            b"<< /Length 34 >>\nstream\nBT /F1 12 Tf 72 720 Td (Hi) Tj ET\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def shared_content_pdf(pages: int, lines: int) -> bytes:
    """`pages` pages showing one compressed content stream of `lines` lines of text."""
    text = b"BT /F1 12 Tf 14 TL 72 720 Td " + b"(Hello world) ' " * lines + b"ET"
    packed = zlib.compress(text)
    return pdf.assembled(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join([b"3 0 R"] * pages), pages),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def painted_form_pdf(paints: int, lines: int) -> bytes:
    """One page painting `paints` times a form XObject that shows `lines` lines of text."""
    form = zlib.compress(b"BT /F1 12 Tf 14 TL 72 720 Td " + b"(Hello world) ' " * lines + b"ET")
    page = b"/X Do " * paints
    return pdf.assembled(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(page), page),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Length %d /Filter /FlateDecode >>"
            b"\nstream\n%s\nendstream" % (len(form), form),
        ]
    )


def test_shared_page_tree_nodes_are_counted_without_expanding_them(nl: Client) -> None:
    # a kilobyte naming 8,000 (then 3.2 million) pages: pypdf took seconds (then minutes)
    # to list them, and their text was extracted page by page on the event loop
    for fan, levels in ((20, 3), (20, 5)):
        assert pdf.read(shared_tree_pdf(fan, levels)) == pdf.Reading(None, too_long=True)
        parts = [("documents", ("bomb.pdf", shared_tree_pdf(fan, levels), "application/pdf"))]
        response = nl.post("/extract", files=parts, data={"form": "{}"})
        assert response.status_code == 422, response.text
        [item] = response.json()["detail"]
        assert (item["loc"], item["type"], item["input"]) == (
            ["body", "documents", 0],
            "value_error",
            "bomb.pdf",
        )
        assert "more than 1000 pages" in item["msg"]
    assert list(nl.mock.state.store.jobs("neurolinker", nl.mock.key)) == []


def test_a_pdf_past_the_page_limit_is_refused_and_stores_nothing(
    nl: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "MAX_PAGES", 3)
    assert pdf.read(shared_tree_pdf(3, 1)).pages == 3  # at the limit: read
    request_id = nl.extract(("three.pdf", written_pdf("limit 1", "limit 2", "limit 3")))
    assert nl.finished(request_id)["documents"][0]["result"]["total_pages"] == 3
    before = list(nl.mock.state.store.jobs("neurolinker", nl.mock.key))
    parts = [
        ("documents", ("ok.pdf", written_pdf("fine"), "application/pdf")),
        ("documents", ("four.pdf", written_pdf("a", "b", "c", "d"), "application/pdf")),
    ]
    response = nl.post("/extract", files=parts, data={"form": "{}"})
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", "documents", 1] and "more than 3 pages" in item["msg"]
    assert list(nl.mock.state.store.jobs("neurolinker", nl.mock.key)) == before


def test_text_is_extracted_within_a_budget_of_page_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # one 700 KB content stream shown by every page cost pypdf over a second a page
    shared = pdf.read(shared_content_pdf(3, 50_000))
    assert (shared.pages, shared.texts) == (3, ((), (), ()))
    # a 3 KB form painted 400 times is 1.3 MB read (a 1 KB PDF painting one 5,000 times a
    # page kept pypdf busy for minutes); painted twice it is read, text and all
    assert pdf.read(painted_form_pdf(400, 200)).texts == ((),)
    assert pdf.read(painted_form_pdf(2, 3)).texts == (("Hello world",) * 6,)
    monkeypatch.setattr(pdf, "TEXT_BUDGET", 80)  # each page of written_pdf: 39 bytes
    reading = pdf.read(written_pdf("budget 1", "budget 2", "budget 3"))
    assert reading.texts == (("budget 1",), ("budget 2",), ())


def test_uploads_are_read_off_the_event_loop(nl: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    on_loop: list[bool] = []
    read = pdf.read

    def watched(data: bytes) -> pdf.Reading:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return read(data)

    monkeypatch.setattr(pdf, "read", watched)
    nl.extract(("a.pdf", written_pdf("x")))
    assert on_loop == [False]


def test_an_id_asked_twice_is_answered_once(nl: Client) -> None:
    # each entry may hold a thousand pages: 20 copies of one made a 69 MB answer
    status = nl.finished(nl.extract(*pdfs(2)))
    first, second = (d["document_id"] for d in status["documents"])
    answer = nl.results("json", [first] * 20 + [second, first, "nope", "nope"])
    assert [entry["document_id"] for entry in answer["results"]] == [first, second, "nope"]
    assert (answer["total"], answer["successful"], answer["failed"]) == (3, 2, 1)
    assert answer["message"] == "Retrieved 2 of 3 documents"


# --- result file names ---------------------------------------------------------------------------


def test_result_files_keep_distinct_names_whatever_the_upload_is_called(nl: Client) -> None:
    names = [
        "page_summaries.pdf",
        "images.pdf",
        "document_summary_page.pdf",
        "Section_Summaries.PDF",
    ]
    request_id = nl.extract(*((name, written_pdf(name, "page 2")) for name in names))
    ids = [d["document_id"] for d in nl.finished(request_id)["documents"]]
    expected = ["page_summaries", "images", "document_summary_page", "Section_Summaries"]
    for kind, extension, extra in [
        ("json", "json", {}),
        ("markdown", "md", {}),
        ("page-summaries", "json", {}),
        ("images", "json", {}),
        ("document-summary", "md", {"summary_type": "page"}),
    ]:
        entries = nl.results(kind, ids, **extra)["results"]
        for entry, stem in zip(entries, expected, strict=True):
            stored = nl.mock.client.get(entry["download_url"])
            assert stored.status_code == 200 and len(stored.content) == entry["file_size"]
            if kind in ("json", "markdown"):  # the document's own files step aside
                assert entry["storage_path"].endswith(f"/{stem}_document.{extension}")
            if kind != "images":  # whose content holds signed links, which a file cannot
                content = entry["content"]
                assert (stored.text if extension == "md" else json.loads(stored.text)) == content
    zip_url = nl.post("/make-zip", json={"request_id": request_id, "local_images": True})
    archive = zipfile.ZipFile(io.BytesIO(nl.mock.client.get(zip_url.json()["url"]).content))
    for document_id in ids:
        members = {
            name.split("/", 1)[1]
            for name in archive.namelist()
            if name.startswith(f"{document_id}/") and "/images/" not in name
        }
        assert len({name.casefold() for name in members}) == len(members) == 4
        [own] = [name for name in members if name.endswith("_document.json")]
        assert json.loads(archive.read(f"{document_id}/{own}"))["document_id"] == document_id
    plain = nl.finished(nl.extract(("report.pdf", written_pdf("x"))))["documents"][0]
    path = nl.results("json", [plain["document_id"]])["results"][0]["storage_path"]
    assert path.endswith("/report.json")  # the docs' name, where nothing is in the way


# --- field extraction ----------------------------------------------------------------------------

INVOICE_SCHEMA = {  # the docs' generate-schema example (field-extraction page)
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "total_amount": {"type": "number"},
        "due_date": {"type": "string"},
        "line_items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "quantity": {"type": "integer"},
                    "unit_price": {"type": "number"},
                },
                "required": ["description", "quantity", "unit_price"],
            },
        },
    },
    "required": ["invoice_number", "total_amount", "line_items"],
}


def submit_fields(nl: Client, *files: tuple[str, bytes], schema: Any = INVOICE_SCHEMA) -> str:
    parts = [("documents", (name, data, "application/pdf")) for name, data in files]
    form = json.dumps({"json_schema": schema})
    response = nl.post("/extract-fields", files=parts, data={"form": form})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processing"
    return response.json()["request_uid"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_field_extraction_end_to_end(mock: Mock, prefix: str) -> None:
    nl = Client(mock, prefix=prefix)
    request_id = submit_fields(
        nl, ("inv.pdf", written_pdf("a", "b")), ("two.pdf", written_pdf("c"))
    )
    assert nl.status(request_id)["status"] == "processing"
    status = nl.finished(request_id)
    assert status["status"] == "completed" and status["documents"][0]["result"]["total_pages"] == 2
    ids = [d["document_id"] for d in status["documents"]]
    assert nl.document(ids[0])["results"]["cropped_images"] == []

    answer = nl.results("fields", ids)
    assert answer["successful"] == 2 and answer["failed"] == 0
    first = answer["results"][0]
    jsonschema.validate(first["content"], INVOICE_SCHEMA)
    assert set(first["content"]) <= set(INVOICE_SCHEMA["properties"])  # no invented keys
    assert first["storage_path"].endswith(f"/{ids[0]}/inv_fields.json")
    stored = mock.client.get(first["download_url"])
    assert stored.status_code == 200 and stored.json() == first["content"]
    assert first["file_size"] == len(stored.content)
    # the same document always has the same fields; another document its own
    assert nl.results("fields", ids[:1])["results"][0]["content"] == first["content"]
    assert answer["results"][1]["content"] != first["content"]


def test_each_pipeline_serves_only_its_own_results(nl: Client) -> None:
    fields_id = nl.finished(submit_fields(nl, ("f.pdf", written_pdf("x"))))["documents"][0]
    full_id = nl.finished(nl.extract(("e.pdf", written_pdf("y"))))["documents"][0]
    fields_doc, full_doc = fields_id["document_id"], full_id["document_id"]
    assert nl.results("fields", [full_doc])["results"][0]["error"] == (
        "Document was not processed through field extraction"
    )
    assert nl.results("markdown", [fields_doc])["results"][0]["error"] == (
        "Document was not processed through full extraction"
    )
    assert nl.results("scalars", [fields_doc])["results"][0]["error"] == (
        "Document was not processed through markdown field extraction"
    )


def test_field_extraction_follows_scenarios_and_credits(nl: Client) -> None:
    parts = [("documents", ("a.pdf", written_pdf("x"), "application/pdf"))]
    form = {"form": json.dumps({"json_schema": INVOICE_SCHEMA})}
    refused = nl.post("/extract-fields", "insufficient_credits", files=parts, data=form)
    assert refused.status_code == 402 and refused.json()["detail"].startswith(
        "Insufficient credits"
    )
    failed = nl.post("/extract-fields", "failed", files=parts, data=form).json()["request_uid"]
    document_id = nl.finished(failed)["documents"][0]["document_id"]
    entry = nl.results("fields", [document_id])["results"][0]
    assert entry["error"] == "Document extraction failed" and entry["content"] is None


def test_field_extraction_url_mode_as_the_sdk_sends_it(nl: Client) -> None:
    form = json.dumps({"documents_url": ["https://e.com/inv.pdf"], "json_schema": INVOICE_SCHEMA})
    response = nl.post("/extract-fields", data={"form": form})
    assert response.status_code == 200, response.text
    status = nl.finished(response.json()["request_uid"])
    entry = nl.results("fields", [status["documents"][0]["document_id"]])["results"][0]
    jsonschema.validate(entry["content"], INVOICE_SCHEMA)
    assert entry["filename"] == "inv.pdf"


@pytest.mark.parametrize(
    ("schema", "kind", "words"),
    [
        ("not an object", "dict_type", "Input should be a valid"),
        ({}, "value_error", "cannot be empty"),
        ({"type": "objekt"}, "value_error", "root of json_schema"),
        ({"type": "object", "properties": 5}, "value_error", "Invalid JSON Schema"),
        ({"type": "string"}, "value_error", "root of json_schema"),
        ({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "value_error", "$ref"),
        (
            {"type": "object", "required": ["a"], "properties": {"a": {"not": {}}}},
            "value_error",
            "Unsupported",
        ),
        (
            {
                "type": "object",
                "required": ["a"],
                "properties": {"a": {"type": "string", "pattern": "^a$", "minLength": 2}},
            },
            "value_error",
            "no value satisfies json_schema",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string", "format": "email", "pattern": "^a"}},
            },
            "value_error",
            "format together with pattern",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "array", "minItems": 9000}}},
            "value_error",
            "minItems above 8000",
        ),
    ],
)
def test_a_schema_the_mock_cannot_fill_is_a_422(
    nl: Client, schema: Any, kind: str, words: str
) -> None:
    parts = [("documents", ("a.pdf", written_pdf("x"), "application/pdf"))]
    response = nl.post(
        "/extract-fields", files=parts, data={"form": json.dumps({"json_schema": schema})}
    )
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", "form", "json_schema"] and item["type"] == kind
    assert words in item["msg"]
    assert list(nl.mock.state.store.jobs("neurolinker", nl.mock.key)) == []  # nothing half-made


URL = '"documents_url": ["https://e.com/a.pdf"]'
BEYOND_FLOAT = str(2 * 10**308)  # 309 digits, past the largest float (1.8e308)


def _schema_form(property_schema: str) -> str:
    """URL-mode `form` JSON text of a field extraction whose one property has this schema."""
    schema = f'{{"type": "object", "properties": {{"a": {property_schema}}}}}'
    return f'{{"json_schema": {schema}, {URL}}}'


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/extract", f'{{"alias": NaN, {URL}}}'),
        ("/extract", f'{{"alias": Infinity, {URL}}}'),
        ("/extract", f'{{"alias": -Infinity, {URL}}}'),
        ("/extract", f'{{"alias": 1e999, {URL}}}'),
        ("/extract", f'{{"alias": {"7" * 5000}, {URL}}}'),  # int() refuses past 4,300 digits
        ("/extract", f'{{"alias": -{BEYOND_FLOAT}, {URL}}}'),
        ("/extract-fields", _schema_form('{"type": "number", "maximum": Infinity}')),
        ("/extract-fields", _schema_form('{"const": NaN}')),
    ],
)
def test_numbers_no_json_can_hold_are_refused_in_form(nl: Client, path: str, form: str) -> None:
    # echoed in a 422 they were a 500; a schema's `const: NaN` stored a payload not JSON
    response = nl.post(path, data={"form": form})
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    expected = (["body", "form"], "json_invalid", echoed(form))  # a long one is cut short
    assert (item["loc"], item["type"], item["input"]) == expected
    assert "NaN and Infinity are not JSON numbers" in item["msg"]
    assert list(nl.mock.state.store.jobs("neurolinker", nl.mock.key)) == []


@pytest.mark.parametrize("number", ["1e308", str(10**308), "-1.5e-300"])
def test_numbers_within_a_floats_range_reach_the_form_check(nl: Client, number: str) -> None:
    response = nl.post("/extract", data={"form": f'{{"alias": {number}, {URL}}}'})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "string_type"  # parsed: alias is no string


@pytest.mark.parametrize(
    ("path", "form", "error"),
    [
        (
            "/extract",
            rf'{{"alias": "x\ud800", {URL}}}',
            "unexpected end of hex escape at line 1 column 19",
        ),
        (
            "/extract",
            r'{"documents_url": ["https://e.com/\udc00.pdf"]}',
            "lone leading surrogate in hex escape at line 1 column 40",
        ),
        (
            "/extract",
            rf'{{"a\udfffb": 1, {URL}}}',
            "lone leading surrogate in hex escape at line 1 column 9",
        ),
        (
            "/extract-fields",
            _schema_form(r'{"const": "\ud83d"}'),
            "unexpected end of hex escape at line 1 column 73",
        ),
    ],
)
def test_a_lone_surrogate_in_form_is_invalid_json(
    nl: Client, path: str, form: str, error: str
) -> None:
    # json.loads takes the escape, pydantic's parser does not (and no answer holding it
    # could be written: a 500 on every poll)
    response = nl.post(path, data={"form": form})
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert (item["loc"], item["type"], item["input"]) == (["body", "form"], "json_invalid", form)
    assert item["msg"] == f"Invalid JSON: {error}"
    assert list(nl.mock.state.store.jobs("neurolinker", nl.mock.key)) == []


def test_a_surrogate_pair_in_form_is_one_character(nl: Client) -> None:
    form = rf'{{"alias": "invoices \ud83d\udcc4", {URL}}}'
    response = nl.post("/extract", data={"form": form})
    assert response.status_code == 200, response.text
    assert nl.status(response.json()["request_uid"])["status"] == "processing"


def test_a_missing_schema_is_field_required(nl: Client) -> None:
    parts = [("documents", ("a.pdf", written_pdf("x"), "application/pdf"))]
    response = nl.post("/extract-fields", files=parts, data={"form": "{}"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "form", "json_schema"]
    assert response.json()["detail"][0]["type"] == "missing"


def test_fields_from_markdown_of_completed_documents(nl: Client) -> None:
    done = nl.finished(nl.extract(("inv.pdf", written_pdf("x", "y"))))["documents"][0]
    running = nl.extract(("later.pdf", written_pdf("z")))
    running_doc = nl.status(running)["documents"][0]["document_id"]
    schema = {"type": "object", "properties": {"invoice_number": {"type": "string"}}}
    body = {
        "document_ids": [done["document_id"], running_doc, "nope"],
        "json_schema": schema,
        "alias": "scalars",
    }
    response = nl.post("/extract-fields-from-markdown", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    [mapped] = answer["document_map"]
    assert mapped["source_document_uid"] == done["document_id"]
    assert [s["document_uid"] for s in answer["skipped"]] == [running_doc, "nope"]
    assert (
        answer["skipped"][0]["reason"] == "Document extraction not completed (status: processing)"
    )

    status = nl.finished(answer["request_uid"])
    assert status["status"] == "completed"
    assert status["documents"][0]["document_id"] == mapped["document_uid"]
    assert status["documents"][0]["result"]["total_pages"] == 2
    entry = nl.results("scalars", [mapped["document_uid"]])["results"][0]
    jsonschema.validate(entry["content"], schema)
    assert entry["storage_path"].endswith("/inv_scalars.json")


def test_fields_from_markdown_with_nothing_to_process_is_a_400(nl: Client) -> None:
    body = {"document_ids": ["nope"], "json_schema": INVOICE_SCHEMA}
    response = nl.post("/extract-fields-from-markdown", json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": "No document to process: every document_id was skipped"}
    missing = nl.post("/extract-fields-from-markdown", json={"document_ids": ["x"]})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "json_schema"]


def test_generate_schema_answers_the_docs_example(nl: Client) -> None:
    description = (
        "Extract the invoice number, total amount, due date, and every line item with "
        "description, quantity, and unit price."
    )
    response = nl.post("/generate-schema", json={"description": description})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "json_schema": INVOICE_SCHEMA,
        "message": "Schema generated successfully. Review and edit before submitting to "
        "/extract-fields.",
    }
    assert list(nl.mock.state.store.jobs("neurolinker", nl.mock.key)) == []  # nothing billed
    nothing = nl.post("/generate-schema", json={"description": "?!"})
    assert nothing.status_code == 422 and nothing.json()["detail"][0]["loc"] == [
        "body",
        "description",
    ]


def test_generate_schema_keeps_the_words_of_any_script(nl: Client) -> None:
    description = "Rechnungsnummer, Fälligkeitsdatum, Ν. Πελάτη, Cafe\u0301 total"
    response = nl.post("/generate-schema", json={"description": description})
    assert response.status_code == 200, response.text
    properties = response.json()["json_schema"]["properties"]
    assert list(properties) == ["rechnungsnummer", "fälligkeitsdatum", "ν_πελάτη", "café_total"]
    assert properties["café_total"] == {"type": "number"}
    for no_field in ("#", "¿?", " - ", "the"):
        refused = nl.post("/generate-schema", json={"description": no_field})
        assert refused.status_code == 422, no_field


def test_a_generated_schema_is_accepted_by_extract_fields(nl: Client) -> None:
    description = "Extract the policy number, premium amount and start date from a policy"
    schema = nl.post("/generate-schema", json={"description": description}).json()["json_schema"]
    assert set(schema["properties"]) == {"policy_number", "premium_amount", "start_date"}
    status = nl.finished(submit_fields(nl, ("p.pdf", written_pdf("x")), schema=schema))
    entry = nl.results("fields", [status["documents"][0]["document_id"]])["results"][0]
    jsonschema.validate(entry["content"], schema)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_tasks_lists_this_tokens_requests(mock: Mock, prefix: str) -> None:
    nl = Client(mock, prefix=prefix)
    first = nl.extract(("a.pdf", written_pdf("x")), ("b.pdf", written_pdf("y")))
    nl.mock.advance(5)
    second = submit_fields(nl, ("c.pdf", written_pdf("z")))
    Client(mock, key="someone-else").extract(("d.pdf", written_pdf("w")))
    listed = nl.get("/tasks").json()
    assert [t["request_id"] for t in listed["tasks"]["requests"]] == [first, second]
    assert listed["tasks"]["requests"][0]["total_documents"] == 2
    assert listed["message"] == "Found 2 processing tasks"
    assert listed["tasks"]["requests"][0]["start_time"] == nl.status(first)["started_at"]
    nl.mock.advance(3600)
    assert {t["status"] for t in nl.get("/tasks").json()["tasks"]["requests"]} == {"completed"}


def test_the_tasks_page_curl_path_lists_the_same_tasks(nl: Client) -> None:
    """The page's heading says `/api/v1/tasks`, its curl calls `/v1/mcp/tasks`: both answer,
    and the journal files the curl's call under the documented operation."""
    request_id = nl.extract(("a.pdf", written_pdf("x")))
    curl = nl.mock.client.get("/neurolinker/v1/mcp/tasks", headers=nl.headers)
    assert curl.status_code == 200
    assert curl.json() == nl.get("/tasks").json()
    assert [t["request_id"] for t in curl.json()["tasks"]["requests"]] == [request_id]
    other = nl.mock.client.get("/neurolinker/v1/mcp/request-status/x", headers=nl.headers)
    assert other.status_code == 404  # the rest of the backend's /mcp family is not served


def test_make_zip_of_a_field_extraction_holds_the_payloads(nl: Client) -> None:
    request_id = submit_fields(nl, ("inv.pdf", written_pdf("x")))
    document_id = nl.finished(request_id)["documents"][0]["document_id"]
    url = nl.post("/make-zip", json={"request_id": request_id}).json()["url"]
    archive = zipfile.ZipFile(io.BytesIO(nl.mock.client.get(url).content))
    assert archive.namelist() == [f"{document_id}/inv_fields.json"]
    content = nl.results("fields", [document_id])["results"][0]["content"]
    assert json.loads(archive.read(f"{document_id}/inv_fields.json")) == content


def test_sdk_field_extraction_flow(live: Live, virtual_time: VirtualTime) -> None:
    """Every field-extraction call of neurolinker-sdk 0.2.2, unmodified, against the mock."""
    with sdk(live) as client:
        extraction = client.extraction
        description = "Extract the invoice number, total amount, and due date"
        schema = extraction.generate_schema(description=description)["json_schema"]
        assert set(schema["properties"]) == {"invoice_number", "total_amount", "due_date"}

        submit = extraction.extract_fields(
            json_schema=schema, documents=[("inv.pdf", written_pdf("Invoice 7", "Total 10"))]
        )
        status = extraction.wait_for_request(extraction.extract_request_uid(submit))
        assert status["status"] == "completed"
        ids = extraction.extract_document_ids(status)
        fields = extraction.documents.fields(ids)["results"][0]["content"]
        jsonschema.validate(fields, schema)

        by_url = extraction.extract_fields(json_schema=schema, urls=["https://e.com/b.pdf"])
        assert extraction.wait_for_request(by_url["request_uid"])["status"] == "completed"

        full = extraction.extract(documents=[("full.pdf", written_pdf("x"))])
        full_status = extraction.wait_for_request(extraction.extract_request_uid(full))
        source = extraction.extract_document_ids(full_status)
        scalars_schema = {"type": "object", "properties": {"invoice_number": {"type": "string"}}}
        markdown = extraction.extract_fields_from_markdown(
            json_schema=scalars_schema, document_ids=source, alias="scalars"
        )
        new_ids = extraction.extract_markdown_document_ids(markdown)
        assert len(new_ids) == 1 and markdown["skipped"] == []
        assert extraction.wait_for_request(markdown["request_uid"])["status"] == "completed"
        scalars = extraction.documents.scalars(new_ids)["results"][0]["content"]
        jsonschema.validate(scalars, scalars_schema)

        listed = extraction.list_tasks()["tasks"]["requests"]
        assert [task["request_id"] for task in listed] == [
            submit["request_uid"],
            by_url["request_uid"],
            full["request_uid"],
            markdown["request_uid"],
        ]


class TickingClock(ManualClock):
    """A clock that moves a microsecond at every read, as a running one does between reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now() + self.reads * 1e-6


def test_a_request_and_its_documents_start_together_whatever_the_clock_reads() -> None:
    """The documents were made a clock read before their request, so on a running clock the
    request started after its own first document (the docs' example shows them equal)."""
    app = create_app(ServerConfig(clock="manual"), clock=TickingClock())
    check = ConformanceCheck(app)
    with TestClient(check) as client:
        nl = Client(Mock(app.state.mock, client, check))
        request_id = nl.extract(("a.pdf", written_pdf("one")), ("b.pdf", written_pdf("two")))
        app.state.mock.clock.advance(3600)
        status = nl.status(request_id)
    check.assert_clean()
    started = datetime.fromisoformat(status["started_at"])
    documents = [datetime.fromisoformat(d["result"]["started_at"]) for d in status["documents"]]
    assert min(documents) == started
    assert all(moment >= started for moment in documents)
