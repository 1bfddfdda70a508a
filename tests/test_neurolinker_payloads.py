"""NeuroLinker's `form` and `json_schema` as the service takes them: a `form` that is not JSON
refused in the words of pydantic's `Json` field (its parser, jiter), and field-extraction
schemas judged by how long their payload takes to draw, not by Hypothesis' 8 KiB buffer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mockserver.apis.neurolinker import drawsize, fields
from tests.conftest import Mock
from tests.pdfs import written_pdf
from tests.test_neurolinker import Client, submit_fields


@pytest.fixture
def nl(mock: Mock) -> Client:
    return Client(mock)


def stored_jobs(nl: Client) -> list[Any]:
    return list(nl.mock.state.store.jobs("neurolinker", nl.mock.key))


# --- a `form` that is not JSON -------------------------------------------------------------------

URL = '"documents_url": ["https://e.com/a.pdf"]'
# What pydantic 2.14 (pydantic-core 2.50, jiter) answers for `Json` input, checked against it
JITER = [
    ("  \n ", "EOF while parsing a value at line 2 column 1"),
    ("{" + URL, "EOF while parsing an object at line 1 column 41"),
    ('{"documents_url": ["https://e.com/a.pdf"', "EOF while parsing a list at line 1 column 40"),
    ('{"alias": "Rech', "EOF while parsing a string at line 1 column 15"),
    ("{", "EOF while parsing an object at line 1 column 1"),
    ("{" + URL + "} x", "trailing characters at line 1 column 44"),
    ("{" + URL + "}{}", "trailing characters at line 1 column 43"),
    ("{" + URL + ",}", "trailing comma at line 1 column 43"),
    ('{"documents_url": ["https://e.com/a.pdf",]}', "trailing comma at line 1 column 42"),
    ("{'documents_url': ['https://e.com/a.pdf']}", "key must be a string at line 1 column 2"),
    ('{"alias": \'x\'}', "expected value at line 1 column 11"),
    ("hello", "expected value at line 1 column 1"),
    ("{not json", "key must be a string at line 1 column 2"),
    ('{"alias": tru}', "expected ident at line 1 column 14"),
    ('{"alias" "x"}', "expected `:` at line 1 column 10"),
    ('{"alias": "x" ' + URL + "}", "expected `,` or `}` at line 1 column 15"),
    ('{"alias": 01}', "invalid number at line 1 column 12"),
    ('{"alias": "\\x"}', "invalid escape at line 1 column 13"),
    ('{"alias": "\\u12x"}', "invalid escape at line 1 column 16"),
    ('{"alias": "\\ud800", ' + URL + "}", "unexpected end of hex escape at line 1 column 18"),
    ('{"alias": "\\ud800\\u0041"}', "lone leading surrogate in hex escape at line 1 column 23"),
    ('{"alias": "\\udc00"}', "lone leading surrogate in hex escape at line 1 column 17"),
    ('{"\\udfff": 1, ' + URL + "}", "lone leading surrogate in hex escape at line 1 column 8"),
    ('{"alias": "a\tb"}', "control character (\\u0000-\\u001F) found while parsing a string "
     "at line 1 column 13"),
    ('{"alias": "März" ' + URL + "}", "expected `,` or `}` at line 1 column 19"),  # bytes
    ('{\n  "alias": "x",\n}', "trailing comma at line 3 column 1"),
    ('{"alias": NaN, "x": }', "expected value at line 1 column 21"),  # NaN: jiter takes it
    ('{"x": ' + "[" * 100 + "}", "expected value at line 1 column 107"),  # not "too deep"
    ("[" * 202, "recursion limit exceeded at line 1 column 202"),
]  # fmt: skip


@pytest.mark.parametrize(("form", "error"), JITER)
def test_a_form_that_is_not_json_is_refused_in_pydantics_words(
    nl: Client, form: str, error: str
) -> None:
    for path in ("/extract", "/extract-fields"):
        response = nl.post(path, data={"form": form})
        assert response.status_code == 422, response.text
        assert response.json() == {
            "detail": [
                {
                    "type": "json_invalid",
                    "loc": ["body", "form"],
                    "msg": f"Invalid JSON: {error}",
                    "input": form,
                    "ctx": {"error": error},
                }
            ]
        }
    assert stored_jobs(nl) == []


def test_what_pydantic_takes_and_the_mock_does_not_keeps_the_mocks_words(nl: Client) -> None:
    item = nl.post("/extract", data={"form": '{"alias": NaN, ' + URL + "}"}).json()["detail"][0]
    assert item["type"] == "json_invalid" and item["loc"] == ["body", "form"]
    assert item["msg"].startswith("Invalid JSON: NaN and Infinity are not JSON numbers")
    assert item["ctx"] == {"error": item["msg"].removeprefix("Invalid JSON: ")}
    deep = '{"x": ' + "[" * 65 + "]" * 65 + ", " + URL + "}"
    item = nl.post("/extract", data={"form": deep}).json()["detail"][0]
    assert item["msg"] == "Invalid JSON: nested deeper than 64 levels"
    assert item["ctx"] == {"error": "nested deeper than 64 levels"}


@pytest.mark.parametrize(
    ("form", "refused"),
    [
        ("[" * (1024 * 1024 + 1), True),  # a byte past Starlette's `max_part_size`
        ("é" * (512 * 1024 + 1), True),  # counted in UTF-8 bytes, not in characters
        ("[" * (1024 * 1024), False),  # at the bound: parsed, and refused as JSON
        ("é" * (512 * 1024), False),
    ],
)
def test_a_form_past_fastapis_part_size_is_its_400(nl: Client, form: str, refused: bool) -> None:
    response = nl.post("/extract", data={"form": form})
    if refused:
        assert response.status_code == 400, response.text[:200]
        assert response.json() == {"detail": "There was an error parsing the body"}
    else:
        assert response.status_code == 422, response.text[:200]
        assert response.json()["detail"][0]["type"] == "json_invalid"
    assert stored_jobs(nl) == []


# --- field-extraction payloads: what a schema may ask for ----------------------------------------


def text(length: int, most: int | None = None) -> dict[str, Any]:
    return {"type": "string", "minLength": length} | ({"maxLength": most} if most else {})


def required(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def listed(count: int, items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "minItems": count, "items": items}


def drawn(nl: Client, schema: dict[str, Any]) -> list[Any]:
    """The payloads of two documents extracted with `schema`, each valid against it."""
    request_id = submit_fields(
        nl, ("a.pdf", written_pdf("a")), ("b.pdf", written_pdf("b")), schema=schema
    )
    ids = [d["document_id"] for d in nl.finished(request_id)["documents"]]
    payloads = [entry["content"] for entry in nl.results("fields", ids)["results"]]
    for payload in payloads:
        jsonschema.validate(payload, schema)
    return payloads


@pytest.mark.parametrize(
    "schema",
    [
        required(invoice_number=text(0), notes=text(1000), terms=text(1000)),
        required(summary=text(1000), body=text(5000)),
        required(body=text(5000, 5003)),
        required(body=text(7000)),
    ],
)
def test_long_strings_are_drawn_as_asked(nl: Client, schema: dict[str, Any]) -> None:
    # refused before (the estimate counted Hypothesis' 8 KiB buffer, a character 4 bytes),
    # and past 2,100 characters Hypothesis drew "000..." after seconds, the same for every document
    first, second = drawn(nl, schema)
    for name, asked in schema["properties"].items():
        if asked.get("minLength"):
            assert len(first[name]) >= asked["minLength"] and len(set(first[name])) > 1
            assert first[name] != second[name]


@pytest.mark.parametrize(
    "schema",
    [
        required(a=listed(50, text(1000))),  # 200 KB of UTF-8
        required(a=listed(50, listed(30, {"type": "integer"}))),
        required(a=listed(50, required(**{f"k{i}": text(0) for i in range(10)}))),
        required(a=listed(2000, {"type": "boolean"})),
    ],
)
def test_payloads_quick_to_draw_are_accepted(nl: Client, schema: dict[str, Any]) -> None:
    assert drawsize.estimate(fields.closed(schema)) <= drawsize.MAX_MS
    first, second = drawn(nl, schema)
    assert first != second


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        (required(a=listed(50, listed(50, {"type": "integer"}))), "too large to draw"),
        (required(a=listed(50, {"type": "string", "format": "email"})), "too large to draw"),
        (required(a=listed(20, listed(20, listed(20, {})))), "too large to draw"),
        (required(a=listed(10, text(7000))), "too large to draw"),
        (required(a=text(7500)), "too large to draw"),
        (required(a=text(9000)), "minLength above 8000 is not supported"),
        (required(a=listed(9000, {"type": "null"})), "minItems above 8000 is not supported"),
    ],
)  # fmt: skip
def test_payloads_slow_to_draw_are_refused_before_drawing(
    nl: Client, schema: dict[str, Any], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn_texts: list[str] = []
    monkeypatch.setattr(fields, "_draw", lambda text, seed: drawn_texts.append(text) or {})
    parts = [("documents", ("a.pdf", written_pdf("x"), "application/pdf"))]
    response = nl.post(
        "/extract-fields", files=parts, data={"form": json.dumps({"json_schema": schema})}
    )
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", "form", "json_schema"] and item["type"] == "value_error"
    assert words in item["msg"]
    if "too large to draw" in item["msg"]:
        assert item["msg"].endswith(
            f"a document, the most is {drawsize.MAX_MS} ms (ask for fewer items, properties or "
            "characters)"
        )
    assert drawn_texts == [] and stored_jobs(nl) == []


def test_the_bound_is_documented() -> None:
    bound = f"{drawsize.MAX_MS} ms a document"
    root = Path(__file__).resolve().parent.parent
    for page in ("docs/neurolinker.md", "docs/fidelity-neurolinker.md"):
        assert bound in " ".join((root / page).read_text().split()), page
    contract = yaml.safe_load((root / "contracts" / "neurolinker.yaml").read_text())
    described = contract["paths"]["/api/v1/extract-fields"]["post"]["description"]
    assert bound in " ".join(described.split())


def test_payload_strings_read_as_a_documents_text() -> None:
    """Letters, digits, spaces and punctuation (they were drawn from all of Unicode, private
    use areas included), wherever the schema allows them; what a pattern asks for still holds."""
    from mockserver.apis.neurolinker.extracted import READABLE

    schema = {
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string", "minLength": 1},
            "notes": {"type": "array", "items": {"type": "string"}, "minItems": 3},
            "greek": {"type": "string", "pattern": "^[α-ω]{3}$"},
        },
        "required": ["invoice_number", "notes", "greek"],
    }
    drawn = fields.payloads(schema, [f"doc-{n}" for n in range(20)])
    texts = [text for payload in drawn for text in (payload["invoice_number"], *payload["notes"])]
    assert all(set(text) <= set(READABLE) for text in texts)
    assert len({payload["invoice_number"] for payload in drawn}) > 10  # still varied
    for payload in drawn:
        jsonschema.validate(payload, schema)
        assert len(payload["greek"]) == 3 and all("α" <= c <= "ω" for c in payload["greek"])
