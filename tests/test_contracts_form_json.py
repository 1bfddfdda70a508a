"""The public request check reads what a client could send: JSON text a form field carries
(`contentMediaType: application/json`, NeuroLinker's `form`) against its `contentSchema`, and
a JSON body's values no JSON text holds (NaN, infinities, lone surrogates), in the words the
mock's journal uses for the same request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.contracts import Violation, validate_request
from mockserver.strictjson import LONE_SURROGATE, NOT_A_NUMBER
from tests.conftest import Mock

FORMS = ["multipart/form-data", "application/x-www-form-urlencoded"]
EXTRACT, EXTRACT_FIELDS = "/api/v1/extract", "/api/v1/extract-fields"
URL = "https://example.com/a.pdf"
IGNORED = "not in the contract (the real service ignores it)"


def _found(found: list[Violation]) -> list[tuple[str, str, str]]:
    return [(v.pointer, v.kind, v.message) for v in found]


def _extract(form: str, content_type: str, path: str = EXTRACT) -> list[Violation]:
    body = {"form": form}
    return validate_request("neurolinker", "POST", path, content_type=content_type, body=body)


# --- JSON text in a form field ---------------------------------------------------------------


@pytest.mark.parametrize("content_type", FORMS)
def test_a_typo_in_the_forms_json_is_an_unknown_field_at_its_pointer(content_type: str) -> None:
    found = _extract('{"enrichment_mod": "turbo", "aliass": "x"}', content_type)
    assert [(v.pointer, v.loc, v.kind) for v in found] == [
        ("/body/form/enrichment_mod", ("body", "form", "enrichment_mod"), "extra_forbidden"),
        ("/body/form/aliass", ("body", "form", "aliass"), "extra_forbidden"),
    ]
    assert found[0].value == "turbo"


@pytest.mark.parametrize("content_type", FORMS)
def test_the_forms_json_is_checked_against_its_content_schema(content_type: str) -> None:
    found = _extract('{"enrichment_mode": "ultra", "documents_url": [1]}', content_type)
    assert _found(found) == [
        ("/body/form/documents_url/0", "string_type", "Input should be a valid string"),
        ("/body/form/enrichment_mode", "enum", "Input should be 'base' or 'turbo'"),
    ]
    fields = _extract(f'{{"documents_url": ["{URL}"]}}', content_type, EXTRACT_FIELDS)
    assert _found(fields) == [("/body/form/json_schema", "missing", "Field required")]


@pytest.mark.parametrize("content_type", FORMS)
def test_a_form_of_valid_json_is_text_not_a_file(content_type: str) -> None:
    """A JSON media type makes no file part: no `Expected UploadFile`, no type error."""
    assert (
        _extract(f'{{"documents_url": ["{URL}"], "enrichment_mode": "turbo"}}', content_type) == []
    )
    assert _extract("{}", content_type) == []


def test_the_forms_text_that_is_no_json_or_holds_nan_is_said_so() -> None:
    (unreadable,) = _extract("not json", FORMS[0])
    assert (unreadable.pointer, unreadable.kind) == ("/body/form", "json_invalid")
    assert unreadable.message.startswith("Invalid JSON: Expecting value")
    found = _extract('{"alias": NaN, "a/b": "\\ud800"}', FORMS[0])
    assert _found(found) == [
        ("/body/form/alias", "json_invalid", f"holds NaN: {NOT_A_NUMBER}"),
        ("/body/form/a~1b", "json_invalid", f"holds {LONE_SURROGATE}"),
        ("/body/form/a~1b", "extra_forbidden", f"unknown field 'a/b': {IGNORED}"),
    ]


# --- values no JSON text holds ---------------------------------------------------------------

MASTER: dict[str, Any] = {"audio_id": "a1"}


@pytest.mark.parametrize(
    ("value", "sent"),
    [(float("nan"), "NaN"), (float("inf"), "Infinity"), (-float("inf"), "-Infinity")],
)
def test_a_number_no_json_holds_is_a_violation_at_its_field(value: float, sent: str) -> None:
    body = {**MASTER, "target_lufs": value}
    found = validate_request(
        "neuralanalog", "POST", "/master-audio", content_type="application/json", body=body
    )
    assert [(v.pointer, v.kind, v.message, v.value) for v in found] == [
        ("/body/target_lufs", "json_invalid", f"holds {sent}: {NOT_A_NUMBER}", sent)
    ]


def test_a_lone_surrogate_in_a_key_or_a_string_is_a_violation_at_its_field() -> None:
    body = {**MASTER, "genre": "\udc00x", "tags\ud800": ["\ud800"]}
    found = validate_request(
        "neuralanalog", "POST", "/master-audio", content_type="application/json", body=body
    )
    assert [(v.pointer, v.kind) for v in found] == [
        ("/body/genre", "json_invalid"),
        ("/body/tags\\ud800", "json_invalid"),
        ("/body/tags\\ud800/0", "json_invalid"),
        ("/body/tags\\ud800", "extra_forbidden"),
    ]
    assert found[0].message == f"holds {LONE_SURROGATE}"
    # a value that is no JSON data at all is left to the schema's check
    body = {**MASTER, "target_lufs": {1, 2}}
    found = validate_request(
        "neuralanalog", "POST", "/master-audio", content_type="application/json", body=body
    )
    assert [(v.pointer, v.kind) for v in found] == [("/body/target_lufs", "float_type")]


# --- the same words as the journal -----------------------------------------------------------


def _journal(mock: Mock, api: str) -> list[tuple[str, str, str]]:
    answer = mock.client.get("/__mock__/violations", params={"api": api})
    return [(v["pointer"], v["message"], v["value"]) for v in answer.json()["violations"]]


def _said(found: list[Violation]) -> list[tuple[str, str, Any]]:
    return [(v.pointer, v.message, v.value) for v in found]


# `1e999` is read as an infinity: parsed data cannot say how it was spelled
@pytest.mark.parametrize("text", ["NaN", "-Infinity", "9" * 400, '"\\ud800"'])
def test_the_validator_says_of_a_json_body_what_the_journal_says(mock: Mock, text: str) -> None:
    raw = f'{{"audio_id": "a1", "genre": {text}, "bogus": 1}}'
    headers = mock.headers("neuralanalog", **{"Content-Type": "application/json"})
    assert mock.client.post("/neuralanalog/master-audio", content=raw, headers=headers).is_error
    body = json.loads(raw)
    found = validate_request(
        "neuralanalog", "POST", "/master-audio", content_type="application/json", body=body
    )
    assert _said(found) == _journal(mock, "neuralanalog")


@pytest.mark.parametrize("content_type", FORMS)
def test_the_validator_says_of_a_forms_json_what_the_journal_says(
    mock: Mock, content_type: str
) -> None:
    form = f'{{"documents_url": ["{URL}"], "enrichment_mod": "turbo", "alias": NaN}}'
    headers = mock.headers("neurolinker")
    sent = (
        {"files": {"form": (None, form)}}
        if "multipart" in content_type
        else {"data": {"form": form}}
    )
    assert mock.client.post("/neurolinker" + EXTRACT, headers=headers, **sent).status_code == 422
    assert _said(_extract(form, content_type)) == _journal(mock, "neurolinker")
