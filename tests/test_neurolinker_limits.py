"""NeuroLinker's bounds on what one request may cost the server: documents per request, IDs
and pages per results request, the size of a field-extraction payload, `form` nesting and
result file names; work that still takes long runs in worker threads, and results read their
documents in one store round trip. Also the admin API's `partial` refused where it cannot
happen, and other content types answered as FastAPI answers them. Manual clock throughout."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from mockserver.apis.neurolinker import content, drawsize, fields, pdf, responses, schemagen
from mockserver.apis.neurolinker.models import MAX_DOCUMENTS
from mockserver.contracts.document import HERE
from tests.conftest import Mock
from tests.pdfs import written_pdf
from tests.test_neurolinker import INVOICE_SCHEMA, Client, pdfs, submit_fields

ROOT = Path(__file__).resolve().parent.parent
URLS = [f"https://e.com/{i}.pdf" for i in range(MAX_DOCUMENTS + 1)]


@pytest.fixture
def nl(mock: Mock) -> Client:
    return Client(mock)


def on_the_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def stored_jobs(nl: Client) -> list[Any]:
    return list(nl.mock.state.store.jobs("neurolinker", nl.mock.key))


def problem_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    return dict(item)


def array_of(dims: list[int], leaf: dict[str, Any]) -> dict[str, Any]:
    """An object schema whose one required property nests arrays of these `minItems`."""
    schema = leaf
    for count in reversed(dims):
        schema = {"type": "array", "minItems": count, "items": schema}
    return {"type": "object", "properties": {"a": schema}, "required": ["a"]}


INTEGER, STRING = {"type": "integer"}, {"type": "string"}


# --- field extraction: what a payload may cost ---------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        array_of([50, 50], INTEGER),  # took 12.7 s on the event loop
        array_of([50, 20, 20], INTEGER),  # 9.9 s, then Unsatisfiable
        array_of([50, 10], {"type": "string", "format": "date-time"}),  # 69 s
        array_of([50, 10], {"type": "string", "format": "email"}),  # 93 s
        array_of([50], {"type": "string", "pattern": "^[a-z]{1000}$"}),  # 5.5 s
    ],
)  # fmt: skip
def test_a_payload_too_large_to_draw_is_refused_before_drawing(
    nl: Client, schema: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[Any] = []
    monkeypatch.setattr(fields, "_draw", lambda strategy, seed: drawn.append(strategy) or {"a": []})
    parts = [("documents", (f"d{i}.pdf", written_pdf("x"), "application/pdf")) for i in range(3)]
    response = nl.post(
        "/extract-fields", files=parts, data={"form": json.dumps({"json_schema": schema})}
    )
    item = problem_of(response)
    assert item["loc"] == ["body", "form", "json_schema"] and item["type"] == "value_error"
    assert "too large to draw" in item["msg"] and f"the most is {drawsize.MAX_MS} ms" in item["msg"]
    assert drawn == [] and stored_jobs(nl) == []


def test_unique_items_past_the_values_their_items_have_are_refused(nl: Client) -> None:
    # 50 distinct booleans, or integers of 0 to 10: Hypothesis tried for seconds
    for items in ({"type": "boolean"}, {"type": "integer", "minimum": 0, "maximum": 10}):
        schema = array_of([50], items)
        schema["properties"]["a"]["uniqueItems"] = True
        parts = [("documents", ("a.pdf", written_pdf("x"), "application/pdf"))]
        response = nl.post(
            "/extract-fields", files=parts, data={"form": json.dumps({"json_schema": schema})}
        )
        item = problem_of(response)
        assert item["loc"] == ["body", "form", "json_schema"] and "uniqueItems" in item["msg"]


def test_schemas_within_the_bound_are_drawn_off_the_event_loop(
    nl: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[bool] = []
    draw = fields._draw

    def watched(strategy: Any, seed: int) -> Any:
        where.append(on_the_loop())
        return draw(strategy, seed)

    monkeypatch.setattr(fields, "_draw", watched)
    many_fields = schemagen.generate(
        "Extract "
        + ", ".join(f"field {i}" for i in range(100))
        + ", and every line item with "
        + ", ".join(f"part {i}" for i in range(100))
    )
    for schema in (array_of([50, 9], INTEGER), many_fields, INVOICE_SCHEMA):
        assert drawsize.estimate(fields.closed(schema)) <= drawsize.MAX_MS
        request_id = submit_fields(nl, *pdfs(2), schema=schema)
        ids = [d["document_id"] for d in nl.finished(request_id)["documents"]]
        for entry in nl.results("fields", ids)["results"]:
            assert set(entry["content"]) >= set(schema["required"])
    assert where == [False] * 6  # two documents a schema, each drawn in a worker thread


# --- documents per request -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/extract", "/extract-fields"])
@pytest.mark.parametrize("multipart", [False, True])
def test_more_urls_than_a_request_holds_are_refused(nl: Client, path: str, multipart: bool) -> None:
    # 10,000 URLs took 7.4 s on the event loop (12 s on a shared store)
    form: dict[str, Any] = {"documents_url": URLS}
    if path == "/extract-fields":
        form["json_schema"] = INVOICE_SCHEMA
    files = [("documents", (None, "[]"))] if multipart else None
    response = nl.post(path, files=files, data={"form": json.dumps(form)})
    item = problem_of(response)
    assert (item["loc"], item["type"]) == (["body", "form", "documents_url"], "too_long")
    assert item["ctx"]["max_length"] == MAX_DOCUMENTS and stored_jobs(nl) == []
    form["documents_url"] = URLS[:MAX_DOCUMENTS]
    accepted = nl.post(path, files=files, data={"form": json.dumps(form)})
    assert accepted.status_code == 200, accepted.text
    status = nl.status(accepted.json()["request_uid"])
    assert status["total"] == MAX_DOCUMENTS


def test_more_files_than_a_request_holds_are_refused_unread(
    nl: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[bytes] = []
    monkeypatch.setattr(pdf, "read", lambda data: read.append(data) or pdf.Reading(1, ((),)))
    parts = [
        ("documents", (f"d{i}.pdf", b"%PDF-1.4", "application/pdf"))
        for i in range(MAX_DOCUMENTS + 1)
    ]
    item = problem_of(nl.post("/extract", files=parts, data={"form": "{}"}))
    assert (item["loc"], item["type"]) == (["body", "documents"], "too_long")
    assert item["input"][:2] == ["d0.pdf", "d1.pdf"]
    assert read == [] and stored_jobs(nl) == []


def test_url_stand_ins_are_made_off_the_event_loop(
    nl: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[bool] = []
    read = pdf.read

    def watched(data: bytes) -> pdf.Reading:
        where.append(on_the_loop())
        return read(data)

    monkeypatch.setattr(pdf, "read", watched)
    response = nl.post("/extract", data={"form": json.dumps({"documents_url": URLS[:3]})})
    assert response.status_code == 200, response.text
    assert where == [False] * 3


# --- results: IDs, pages, the event loop, store round trips -------------------------------------


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("markdown", {}), ("json", {}), ("document-summary", {"summary_type": "page"})],
)
def test_more_ids_than_a_results_request_holds_are_refused(
    nl: Client, kind: str, extra: dict[str, Any]
) -> None:
    ids = [f"id-{i}" for i in range(MAX_DOCUMENTS + 1)]
    item = problem_of(nl.post(f"/documents/{kind}", json={"document_ids": ids, **extra}))
    assert (item["loc"], item["type"]) == (["body", "document_ids"], "too_long")
    assert item["ctx"] == {
        "field_type": "List",
        "max_length": MAX_DOCUMENTS,
        "actual_length": MAX_DOCUMENTS + 1,
    }
    answer = nl.results(kind, ids[:MAX_DOCUMENTS], **extra)
    assert answer["total"] == answer["failed"] == MAX_DOCUMENTS
    item = problem_of(nl.post("/extract-fields-from-markdown", json={
        "document_ids": ids, "json_schema": INVOICE_SCHEMA,
    }))  # fmt: skip
    assert (item["loc"], item["type"]) == (["body", "document_ids"], "too_long")


def test_a_results_answer_holds_a_bounded_number_of_pages(
    nl: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300 IDs of 1,000-page documents made a 109 MB answer
    monkeypatch.setattr(responses, "ANSWER_PAGES", 5)
    three_pages = written_pdf("a", "b", "c")
    status = nl.finished(nl.extract(("one.pdf", three_pages), ("two.pdf", three_pages)))
    ids = [d["document_id"] for d in status["documents"]]
    assert nl.results("markdown", ids[:1])["successful"] == 1
    item = problem_of(nl.post("/documents/json", json={"document_ids": ids}))
    assert item["loc"] == ["body", "document_ids"] and "6 pages" in item["msg"]
    fielded = nl.finished(submit_fields(nl, ("a.pdf", three_pages), ("b.pdf", three_pages)))
    field_ids = [d["document_id"] for d in fielded["documents"]]
    assert nl.results("fields", field_ids)["successful"] == 2  # small payloads: no bound


def test_results_are_built_off_the_event_loop(nl: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    where: list[bool] = []
    for name in ("structured", "page_summaries", "image_list"):
        real = getattr(content, name)

        def watched(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            where.append(on_the_loop())
            return _real(*args, **kwargs)

        monkeypatch.setattr(content, name, watched)
    status = nl.finished(nl.extract(*pdfs(2)))
    ids = [d["document_id"] for d in status["documents"]]
    for kind in ("json", "markdown", "page-summaries", "images"):
        assert nl.results(kind, ids)["successful"] == 2
    assert where and not any(where)


def test_results_read_their_documents_in_one_store_round_trip(nl: Client) -> None:
    # on Redis 25,000 IDs cost 5.9 s: one round trip each
    status = nl.finished(nl.extract(*pdfs(5)))
    ids = [d["document_id"] for d in status["documents"]]
    backend = nl.mock.state.backend
    reads: list[str] = []
    for name in ("get", "get_many"):
        real = getattr(backend, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            reads.append(_name)
            return _real(*args, **kwargs)

        setattr(backend, name, counted)

    def reads_of(kind: str, asked: list[str], **extra: Any) -> list[str]:
        reads.clear()
        nl.results(kind, asked, **extra)
        return list(reads)

    for kind, extra in (("json", {}), ("document-summary", {"summary_type": "section"})):
        assert reads_of(kind, ids[:1], **extra) == reads_of(kind, ids + ["nope"], **extra)
    reads.clear()
    source = {"document_ids": ids[:1], "json_schema": INVOICE_SCHEMA}
    assert nl.post("/extract-fields-from-markdown", json=source).status_code == 200
    one = list(reads)
    reads.clear()
    source["document_ids"] = [*ids, "nope"]
    assert nl.post("/extract-fields-from-markdown", json=source).status_code == 200
    assert reads.count("get") == one.count("get")


# --- bad input: other content types, deep forms ---------------------------------------------------


@pytest.mark.parametrize("path", ["/extract", "/extract-fields"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
def test_a_submit_body_that_is_no_form_lacks_the_form(
    nl: Client, path: str, content_type: str | None
) -> None:
    headers = {**nl.headers, **({"content-type": content_type} if content_type else {})}
    response = nl.mock.client.post(nl.url(path), headers=headers, content=b"hi")
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {"type": "missing", "loc": ["body", "form"], "msg": "Field required", "input": None}
    ]


@pytest.mark.parametrize("depth", [65, 5000])
def test_a_form_nested_too_deep_is_refused_at_the_form(nl: Client, depth: int) -> None:
    form = '{"documents_url": ["https://e.com/a.pdf"], "x": ' + "[" * depth + "]" * depth + "}"
    item = problem_of(nl.post("/extract", data={"form": form}))
    assert (item["loc"], item["type"]) == (["body", "form"], "json_invalid")
    assert "nested deeper than 64 levels" in item["msg"]
    assert stored_jobs(nl) == []
    shallow = form.replace("[" * depth, "[" * 62).replace("]" * depth, "]" * 62)
    assert nl.post("/extract", data={"form": shallow}).status_code == 200


def test_the_docs_describe_other_content_types_as_they_are_answered(nl: Client) -> None:
    page = (ROOT / "docs" / "neurolinker.md").read_text()
    assert "is 415" not in page and "model_attributes_type" in page
    for path in ("/documents/markdown", "/make-zip"):
        headers = {**nl.headers, "content-type": "text/plain"}
        answer = nl.mock.client.post(nl.url(path), headers=headers, content=b'{"x": 1}')
        item = problem_of(answer)
        assert (item["loc"], item["type"]) == (["body"], "model_attributes_type")


# --- result file names ---------------------------------------------------------------------------


def test_result_file_names_fit_a_file_system(nl: Client, tmp_path: Path) -> None:
    name = "é" * 200 + ".pdf"
    request_id = nl.extract((name, written_pdf("long")))
    document_id = nl.finished(request_id)["documents"][0]["document_id"]
    for kind, extension in (("markdown", ".md"), ("json", ".json")):
        [entry] = nl.results(kind, [document_id])["results"]
        stored = entry["storage_path"].rsplit("/", 1)[1]
        assert stored.endswith(extension) and stored.startswith("é" * 100)
        assert len(stored.encode()) <= content.MAX_NAME_BYTES
        assert entry["filename"] == name  # the document keeps its name
    link = nl.post("/make-zip", json={"request_id": request_id}).json()["url"]
    archive = zipfile.ZipFile(io.BytesIO(nl.mock.client.get(link).content))
    archive.extractall(tmp_path)  # ENAMETOOLONG before
    fielded = nl.finished(submit_fields(nl, (name, written_pdf("x"))))
    [entry] = nl.results("fields", [fielded["documents"][0]["document_id"]])["results"]
    assert entry["storage_path"].endswith("é_fields.json")
    assert len(entry["storage_path"].rsplit("/", 1)[1].encode()) <= content.MAX_NAME_BYTES


# --- admin API: partial where it cannot happen ----------------------------------------------------


@pytest.mark.parametrize(("count", "options"), [(1, {}), (2, {"failing": 5}), (2, {"failing": 2})])
def test_forcing_partial_that_cannot_happen_is_refused(
    nl: Client, count: int, options: dict[str, Any]
) -> None:
    request_id = nl.extract(*pdfs(count), scenario="stalled")
    forced = nl.mock.client.post(
        f"/__mock__/jobs/{request_id}/transition", json={"outcome": "partial", **options}
    )
    assert 400 <= forced.status_code < 500, forced.text
    assert "partial needs at least one completed and one failed document" in forced.text
    status = nl.status(request_id)  # nothing was forced
    assert status["status"] == "processing" and status["completed"] == status["failed"] == 0


def test_forcing_partial_counts_the_documents_already_ended(nl: Client) -> None:
    request_id = nl.extract(*pdfs(3))
    nl.mock.advance(30)  # the first document completed
    forced = nl.mock.client.post(
        f"/__mock__/jobs/{request_id}/transition", json={"outcome": "partial", "failing": 2}
    )
    assert forced.status_code == 200, forced.text
    assert nl.status(request_id)["status"] == "partial"


# --- the documented limits are the ones served ---------------------------------------------------


def test_the_contract_documents_the_limits() -> None:
    contract = yaml.safe_load((HERE / "neurolinker.yaml").read_text())
    schemas = contract["components"]["schemas"]
    for name, field in [
        ("DocumentIdsRequest", "document_ids"),
        ("ContentDocumentsRequest", "document_ids"),
        ("DocumentSummaryRequest", "document_ids"),
        ("MarkdownFieldsRequest", "document_ids"),
        ("ExtractForm", "documents_url"),
        ("ExtractFieldsForm", "documents_url"),
    ]:
        assert schemas[name]["properties"][field]["maxItems"] == MAX_DOCUMENTS
    described = contract["paths"]["/api/v1/extract-fields"]["post"]["description"]
    assert f"{drawsize.MAX_MS} ms" in described
    limits = (ROOT / "docs" / "fidelity-neurolinker.md").read_text()
    assert f"{responses.ANSWER_PAGES:,} pages" in limits
    assert f"{drawsize.MAX_MS} ms" in limits
