"""The NeuroLinker examples against the mock: plain httpx, and the official SDK unmodified."""

from __future__ import annotations

import io
import os

import pytest
from neurolinker_client import (
    ExtractionFailed,
    NeuroLinkerHttp,
    extract_fields_with_sdk,
    extract_json_with_sdk,
)
from pypdf import PdfWriter

from mockserver.fixtures.plugin import InProcessMockServer, MockSdks, MockServer
from mockserver.virtualtime import VirtualTime

API = "neurolinker"


def pdf(pages: int = 1) -> bytes:
    """A real PDF of blank pages, written by pypdf: the mock counts its pages as a reader does."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_extracts_with_httpx(mockserver: MockServer, virtual_time: VirtualTime) -> None:
    client = NeuroLinkerHttp(mockserver.api_key(API), mockserver.base_url(API))
    results = client.extract_json([("invoice.pdf", pdf(pages=2))])
    client.close()

    assert len(results) == 1 and results[0]["filename"] == "invoice.pdf"
    assert results[0]["content"]["total_pages"] == 2
    assert virtual_time.slept > 0


def test_reports_a_partial_request(mockserver: MockServer, virtual_time: VirtualTime) -> None:
    client = NeuroLinkerHttp(mockserver.api_key(API), mockserver.base_url(API))
    mockserver.queue(API, "partial")

    with pytest.raises(ExtractionFailed) as failure:
        client.extract_json([("a.pdf", pdf()), ("b.pdf", pdf())])
    client.close()
    states = sorted(d["status"] for d in failure.value.status["documents"])
    assert failure.value.status["status"] == "partial" and states == ["completed", "failed"]


def test_in_process_without_sleeping(mockserver_asgi: InProcessMockServer) -> None:
    client = NeuroLinkerHttp(
        mockserver_asgi.api_key(API),
        mockserver_asgi.base_url(API),
        transport=mockserver_asgi.transport,
    )
    request_id = client.extract([("a.pdf", pdf())])
    mockserver_asgi.run_until_terminal(API, request_id)

    assert client.status(request_id)["status"] == "completed"


def test_the_sdk_unmodified(mock_sdks: MockSdks, mockserver: MockServer) -> None:
    sdk = pytest.importorskip("neurolinker_sdk", reason="neurolinker-sdk is not installed")
    with sdk.NeuroLinker.from_env() as from_env, mockserver.virtual_time():
        results = extract_json_with_sdk(from_env, [("invoice.pdf", pdf())])
    assert results[0]["filename"] == "invoice.pdf"

    # code that passes its token and base URL reaches it too
    [request] = [job for job in mockserver.jobs(API) if job["kind"] == "request"]
    token, base_url = os.environ["NEUROLINKER_API_KEY"], os.environ["NEUROLINKER_BASE_URL"]
    with sdk.NeuroLinker(token=token, base_url=base_url) as plain:
        assert plain.extraction.status.request(request["id"])["status"] == "completed"


def test_the_sdk_sees_a_failed_request(mock_sdks: MockSdks, mockserver: MockServer) -> None:
    pytest.importorskip("neurolinker_sdk", reason="neurolinker-sdk is not installed")
    mockserver.queue(API, "failed")

    with (
        mock_sdks.neurolinker_client() as client,
        mockserver.virtual_time(),
        pytest.raises(ExtractionFailed, match="failed"),
    ):
        extract_json_with_sdk(client, [("invoice.pdf", pdf())])


def test_field_extraction_with_the_sdk(mock_sdks: MockSdks, mockserver: MockServer) -> None:
    pytest.importorskip("neurolinker_sdk", reason="neurolinker-sdk is not installed")
    with mock_sdks.neurolinker_client() as client, mockserver.virtual_time():
        schema = client.extraction.generate_schema(
            description="Extract the invoice number, total amount, and due date"
        )["json_schema"]
        [fields] = extract_fields_with_sdk(client, [("invoice.pdf", pdf(pages=3))], schema)
    assert set(fields) <= {"invoice_number", "total_amount", "due_date"}
    assert isinstance(fields["invoice_number"], str)
    assert isinstance(fields["total_amount"], int | float)
