"""The contracts: valid documents, served by the mock, and requests checked against them."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, contracts, create_app
from mockserver.contracts import document as document_module
from mockserver.contracts import validate_request, validate_response
from mockserver.request import ApiRequest, header
from mockserver.validation import RequestCheck, parse_json
from tests.conftest import Mock, make_mock, wav

DOCUMENT_URLS = {  # the list: each API's document under its prefix
    "neuralanalog": "/neuralanalog/openapi.json",
    "camb": "/camb/apis/openapi.json",
    "neurolinker": "/neurolinker/openapi.json",
    "neuraldraft": "/neuraldraft/openapi.json",
}


def journalled(mock: Mock, api: str) -> list[dict[str, Any]]:
    response = mock.client.get("/__mock__/violations", params={"api": api})
    assert response.status_code == 200
    return response.json()["violations"]


# --- the documents ----------------------------------------------------------------------------


@pytest.mark.parametrize("api", apis.names())
def test_document_is_valid_openapi_31(api: str) -> None:
    with open(apis.service_class(api).contract_path) as handle:
        document = yaml.safe_load(handle)
    validate(document)  # raises on any error
    assert document["openapi"] == "3.1.0"


@pytest.mark.parametrize("api", apis.names())
def test_a_contract_reads_as_pyyaml_reads_it_and_in_c_where_built(api: str) -> None:
    path = apis.service_class(api).contract_path
    with open(path) as handle:
        assert document_module.read(path) == yaml.safe_load(handle)  # libyaml's loader, same values
    if yaml.__with_libyaml__:
        assert document_module.YAML_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("api", apis.names())
def test_served_document_points_back_at_the_mock(mock: Mock, api: str) -> None:
    response = mock.client.get(DOCUMENT_URLS[api])  # no key needed
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert served["servers"] == [
        {"url": f"http://testserver/{api}", "description": "this mock server"}
    ]
    original = contracts.load(api).document
    assert served["paths"].keys() == original["paths"].keys()
    assert original["servers"][0]["url"].startswith("https://")  # the file keeps the real host
    validate(served)


@pytest.mark.parametrize("api", apis.names())
def test_document_at_the_api_root_by_host_and_alone(api: str) -> None:
    path = contracts.load(api).document_path
    host = apis.services()[api].hosts[0]
    with TestClient(create_app(ServerConfig(clock="manual"))) as client:
        served = client.get(path, headers={"host": host}).json()
    assert served["servers"][0]["url"] == f"http://{host}"
    with TestClient(create_app(ServerConfig(clock="manual", api=api))) as client:
        served = client.get(path).json()
        listed = client.get("/__mock__/contracts").json()["contracts"]
    assert served["servers"][0]["url"] == "http://testserver"
    assert [c["url"] for c in listed] == [f"http://testserver{path}"]


def test_camb_document_is_where_the_real_service_has_it() -> None:
    assert contracts.load("camb").document_path == "/apis/openapi.json"
    assert contracts.load("neuralanalog").document_path == "/openapi.json"


def test_admin_lists_every_served_document(mock: Mock) -> None:
    listed = mock.client.get("/__mock__/contracts").json()["contracts"]
    assert [c["api"] for c in listed] == list(apis.services())
    for entry in listed:
        assert entry["url"] == "http://testserver" + DOCUMENT_URLS[entry["api"]]
        assert entry["openapi"] == "3.1.0"
        assert entry["operations"] == len(contracts.load(entry["api"]).operations)
        fetched = mock.client.get(urlsplit(entry["url"]).path)
        assert fetched.json()["info"]["title"] == entry["title"]


# --- lenient and strict request checks --------------------------------------------------------


def test_wrong_request_is_served_and_journalled_in_lenient_mode(mock: Mock) -> None:
    headers = mock.headers("neuralanalog")
    response = mock.client.post(
        "/neuralanalog/from-link",
        headers=headers,
        json={"url": "https://example.com/a.wav", "callback": "https://me.example/hook"},
    )
    assert response.status_code == 200  # the real service ignores unknown fields: so does lenient
    (violation,) = journalled(mock, "neuralanalog")
    assert violation == {
        "operation": "import_from_link",
        "pointer": "/body/callback",
        "message": "unknown field 'callback': not in the contract (the real service ignores it)",
        "value": "https://me.example/hook",
        "request_id": response.headers["x-request-id"],
        "method": "POST",
        "path": "/from-link",
        "api": "neuralanalog",
    }
    (entry,) = mock.state.journal.entries("neuralanalog")
    assert entry.violations[0].pointer == "/body/callback"


def test_wrong_request_is_a_4xx_in_the_api_format_in_strict_mode() -> None:
    for mock in make_mock(strict=True):
        response = mock.client.post(
            "/neuralanalog/master-audio",
            headers=mock.headers("neuralanalog"),
            json={"audio_id": "a1", "preset": "loud", "target_lufs": 3, "genre": "rock", "x": 1},
        )
        assert response.status_code == 422
        presets = (
            "'universal_enhancer', 'novasr', 'flashsr', 'dacvae', 'declip', 'dialogue_isolate', "
            "'denoise', 'denoise_debleed', 'dereverb', 'decrowd', 'phantom_center', 'audiosr', "
            "'apollo_voice', 'lavasr', 'reuse', 'acestep_15_xl', 'stable_audio_3', 'universr' "
            "or 'aero'"
        )
        assert response.json() == {
            "detail": [
                {
                    "type": "enum",
                    "loc": ["body", "preset"],
                    "msg": f"Input should be {presets}",
                    "input": "loud",
                    "ctx": {"expected": presets},
                },
                {
                    "type": "less_than_equal",
                    "loc": ["body", "target_lufs"],
                    "msg": "Input should be less than or equal to 0",
                    "input": 3,
                    "ctx": {"le": 0},
                },
                {
                    "type": "extra_forbidden",
                    "loc": ["body", "x"],
                    "msg": "unknown field 'x': not in the contract (the real service ignores it)",
                    "input": 1,
                },
            ]
        }
        # refused before the handler ran: it would have answered 404 (no audio "a1")
        pointers = [v["pointer"] for v in journalled(mock, "neuralanalog")]
        assert pointers == ["/body/preset", "/body/target_lufs", "/body/x"]


def test_strict_mode_switches_at_run_time(mock: Mock) -> None:
    send = {
        "headers": mock.headers("neuralanalog"),
        "json": {"url": "https://example.com/a.wav", "urls": []},
    }
    assert mock.client.post("/neuralanalog/from-link", **send).status_code == 200
    assert mock.client.post("/__mock__/strict", json={"strict": True}).json() == {"strict": True}
    assert mock.client.get("/__mock__/health").json()["strict"] is True
    refused = mock.client.post("/neuralanalog/from-link", **send)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "urls"]
    assert mock.client.post("/__mock__/strict", json={"strict": False}).json() == {"strict": False}
    assert mock.client.post("/neuralanalog/from-link", **send).status_code == 200
    bad = mock.client.post("/__mock__/strict", json={"strict": "yes"})
    assert bad.status_code == 422
    assert "'strict' must be true or false" in bad.json()["error"]


def test_strict_mode_leaves_keys_and_unknown_paths_to_the_api() -> None:
    for mock in make_mock(strict=True):
        no_key = mock.client.post("/neuralanalog/from-link", json={"nope": 1})
        assert no_key.status_code == 401  # the key is checked before the body, as for real
        unknown = mock.client.get("/neuralanalog/nowhere", headers=mock.headers("neuralanalog"))
        assert unknown.status_code == 404
        assert unknown.json() == {"detail": "Not Found"}
        messages = [v["message"] for v in journalled(mock, "neuralanalog")]
        assert "no such path in the neuralanalog contract" in messages


def first_json_operation(api: str) -> contracts.Operation:
    """A POST with a JSON body and no path parameters: every API has one."""
    return next(
        op
        for op in contracts.load(api).operations
        if op.method == "POST"
        and "{" not in op.template
        and op.request_media("application/json") is not None
    )


@pytest.mark.parametrize("api", apis.names())
@pytest.mark.parametrize("strict", [False, True])
def test_unknown_field_is_journalled_for_every_api(api: str, strict: bool) -> None:
    operation = first_json_operation(api)
    service = apis.services()[api]
    for mock in make_mock(strict=strict):  # the conformance check validates the answers
        response = mock.client.post(
            service.prefix + operation.template,
            headers=mock.headers(api),
            json={"definitely_not_a_field": 1},
        )
        assert any(
            (v["operation"], v["pointer"], v["value"])
            == (operation.id, "/body/definitely_not_a_field", 1)
            for v in journalled(mock, api)
        )
        if strict:
            assert response.status_code in (400, 422)
            assert "definitely_not_a_field" in response.text  # named in the API's own format


def test_multipart_body_is_checked_and_still_reaches_the_handler(mock: Mock) -> None:
    response = mock.client.post(
        "/neuralanalog/from-file",
        headers=mock.headers("neuralanalog"),
        files={"audio": ("take.wav", wav(2.5), "audio/wav")},
        data={"file_source": "from_file", "title": "demo"},
    )
    assert response.status_code == 200
    (job,) = mock.state.store.jobs("neuralanalog", mock.key)
    assert job.data["info"].duration == 2.5  # the handler read the whole replayed upload
    (violation,) = journalled(mock, "neuralanalog")
    assert (violation["pointer"], violation["value"]) == ("/body/title", "demo")


def test_file_part_sent_as_text_is_a_violation(mock: Mock) -> None:
    mock.client.post(
        "/neuralanalog/from-file",
        headers=mock.headers("neuralanalog"),
        data={"audio": "not a file"},
        files={"other": ("x.bin", b"x")},
    )
    pointers = {v["pointer"]: v["message"] for v in journalled(mock, "neuralanalog")}
    assert pointers["/body/audio"] == ("Value error, Expected UploadFile, received: <class 'str'>")


def test_body_that_is_not_json_is_a_violation(mock: Mock) -> None:
    response = mock.client.post(
        "/neuralanalog/upscale-audio",
        headers={**mock.headers("neuralanalog"), "content-type": "application/json"},
        content=b'{"audio_id": ',
    )
    assert response.status_code == 422
    (violation,) = journalled(mock, "neuralanalog")
    assert violation["pointer"] == "/body"
    assert violation["message"].startswith("JSON decode error: Expecting value")
    assert violation["value"] == '{"audio_id": '


def test_wrong_content_type_is_a_violation_and_strict_refuses_it(mock: Mock) -> None:
    send = {
        "headers": {**mock.headers("neuralanalog"), "content-type": "text/plain"},
        "content": b'{"url": "https://example.com/a.wav"}',
    }
    # FastAPI reads a body that does not say JSON as a string, not an object
    lenient = mock.client.post("/neuralanalog/from-link", **send)
    assert lenient.status_code == 422
    assert lenient.json()["detail"] == [
        {
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": '{"url": "https://example.com/a.wav"}',
        }
    ]
    (violation,) = journalled(mock, "neuralanalog")
    assert violation["pointer"] == "/header/content-type"
    assert violation["message"] == (
        "content type 'text/plain' is not accepted here; use application/json"
    )
    mock.state.strict = True
    refused = mock.client.post("/neuralanalog/from-link", **send)
    assert refused.status_code == 422  # Neural Analog lists no 415: FastAPI's 422 shape
    assert refused.json()["detail"][0]["loc"] == ["header", "content-type"]


def test_query_and_path_parameters_are_checked(mock: Mock) -> None:
    headers = mock.headers("neuralanalog")
    mock.client.get("/neuralanalog/download/audio/a1?format=ogg&track=maybe", headers=headers)
    found = {v["pointer"]: v for v in journalled(mock, "neuralanalog")}
    assert found["/query/format"]["value"] == "ogg"
    assert found["/query/format"]["message"] == "Input should be 'wav', 'flac', 'mp3' or 'm4a'"
    assert found["/query/track"]["message"] == (
        "Input should be a valid boolean, unable to interpret input"
    )


def test_long_values_are_cut_short_in_the_journal(mock: Mock) -> None:
    mock.client.post(
        "/neuralanalog/from-link",
        headers=mock.headers("neuralanalog"),
        json={"url": "https://example.com/a.wav", "notes": "x" * 5000},
    )
    (violation,) = journalled(mock, "neuralanalog")
    assert len(violation["value"]) == 503 and violation["value"].endswith("...")


# --- the check itself -------------------------------------------------------------------------


def test_unknown_fields_follow_nesting_and_combinations() -> None:
    def pointers(path: str, body: Any) -> list[str]:
        found = validate_request(
            "neuralanalog", "POST", path, content_type="application/json", body=body
        )
        return [v.pointer for v in found if v.kind == "extra_forbidden"]

    # fields named only inside anyOf branches are known
    assert pointers("/create-stems", {"preset": "acapella", "mastered_id": "m1"}) == []
    assert pointers("/run-workflow", {"audio_id": "a", "steps": [{"type": "master", "x": 1}]}) == [
        "/body/steps/0/x"
    ]
    archive = {"versions": ["mastered_stems"], "id": "a", "stem_selections": [{"stem_id": "s"}]}
    archive["stem_selections"][0]["version"] = "mastered"
    archive["stem_selections"][0]["colour"] = "red"
    assert pointers("/download-archive", archive) == ["/body/stem_selections/0/colour"]


def _routed(check: RequestCheck, scope: dict[str, Any], method: str, path: str) -> None:
    """What the request middleware records of a request before the check reads it."""
    found = check.contract.operation(method, path)
    assert found is not None
    info = ApiRequest("req", "neuralanalog", "", path, *found).attach(scope)
    info.content_type = header(scope, "content-type")


def test_a_get_without_body_never_touches_the_body() -> None:
    app = create_app(ServerConfig(clock="manual"))
    check = RequestCheck(app.state.services["neuralanalog"])
    scope = {
        "type": "http",
        "method": "GET",
        "query_string": b"",
        "headers": [(b"x-api-key", b"k")],
    }
    _routed(check, scope, "GET", "/status/audio/a1")

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    found, replay = asyncio.run(check.inspect(scope, receive))
    assert found == [] and replay is receive


def test_urlencoded_body_is_buffered_and_replayed_intact() -> None:
    app = create_app(ServerConfig(clock="manual"))
    check = RequestCheck(app.state.services["neuralanalog"])
    body = b"url=https%3A%2F%2Fexample.com%2Fa.wav&extra=1"
    chunks = [body[:10], body[10:25], body[25:]]
    scope = {
        "type": "http",
        "method": "POST",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"transfer-encoding", b"chunked"),
        ],
    }
    _routed(check, scope, "POST", "/from-link")

    async def receive() -> dict[str, Any]:
        if chunks:
            part = chunks.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def run() -> tuple[list[Any], list[dict[str, Any]]]:
        found, replay = await check.inspect(scope, receive)
        return found, [await replay(), await replay()]

    found, messages = asyncio.run(run())
    assert messages[0] == {"type": "http.request", "body": body, "more_body": False}
    assert messages[1] == {"type": "http.disconnect"}
    assert [v.pointer for v in found] == ["/header/content-type"]  # the form was read: no 500


def test_string_parameters_are_held_to_their_length_bounds() -> None:
    def kinds(idempotency_key: str, job_id: str = "job_1") -> list[tuple[str, str]]:
        found = validate_request(
            "neuraldraft",
            "POST",
            f"/v1/jobs/{job_id}/cancel",
            headers={"Idempotency-Key": idempotency_key},
        )
        return [(v.pointer, v.kind) for v in found]

    assert kinds("k" * 255) == []
    assert kinds("k" * 256) == [("/header/Idempotency-Key", "string_too_long")]
    assert kinds("") == [("/header/Idempotency-Key", "string_too_short")]


def test_validate_request_reports_unknown_operations() -> None:
    (violation,) = validate_request("neuralanalog", "DELETE", "/from-link")
    assert violation.message == "method not allowed in the neuralanalog contract"
    (violation,) = validate_request("neuralanalog", "GET", "/nowhere")
    assert violation.message == "no such path in the neuralanalog contract"


# --- the response conformance check (tests/conftest.py) is sound -------------------------------

STATUS_PATH = "/neuralanalog/status/audio/x"


@pytest.fixture
def status_handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace Neural Analog's status handler (before the app is made) to send any answer."""
    from mockserver.apis.neuralanalog import responses

    return lambda handler: monkeypatch.setattr(responses, "status", handler)


def findings(path: str = STATUS_PATH, host: str | None = None, **config: Any) -> list[str]:
    """What the conformance check finds in one status poll (cleared: checked here, not at
    teardown)."""
    for mock in make_mock(**config):
        headers = mock.headers("neuralanalog", **({"host": host} if host else {}))
        mock.client.get(path, headers=headers)
        assert mock.check.checked == 1
        found = [f"{where}: {v.pointer}: {v.message}" for where, v in mock.check.violations]
        mock.check.violations.clear()
        return found
    raise AssertionError("make_mock yielded nothing")


async def good_status(ctx: Any) -> Any:
    return ctx.json(
        {
            "object_type": "audio",
            "object_id": "6c62f8e7-02a3-48c0-a5b5-5de87ed9c31a",
            "status": "in_progress",
            "is_complete": False,
            "is_failed": False,
            "download_url": None,
            "audio_id": "6c62f8e7-02a3-48c0-a5b5-5de87ed9c31a",
            "status_details": None,
            "error_message": None,
            "created_at": "2026-05-05T10:15:30Z",
            "completed_at": None,
        }
    )


async def nearly(ctx: Any) -> Any:
    return ctx.json({"status": "nearly"})


def test_conformance_check_passes_a_right_response(status_handler: Any) -> None:
    status_handler(good_status)
    assert findings() == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "nearly"}, "/body/status: Input should be 'in_progress', "),
        ({"colour": "red"}, "/body/colour: Extra inputs are not permitted"),
        (
            {"download_url": "/relative"},
            "/body/download_url: Input should be a valid URL, relative URL without a base",
        ),
        # the docs print whole seconds: milliseconds break the documented format
        ({"created_at": "2026-05-05T10:15:30.000Z"}, "/body/created_at: String should match"),
        ({"is_failed": None}, "/body/is_failed: Input should be a valid boolean"),
    ],
)
def test_conformance_check_fails_a_wrong_body(
    status_handler: Any, change: dict[str, Any], expected: str
) -> None:
    async def wrong(ctx: Any) -> Any:
        data = json.loads((await good_status(ctx)).body)
        return ctx.json({**data, **change})

    status_handler(wrong)
    (problem,) = findings()
    assert problem.startswith("GET /status/audio/x -> 200: ")
    assert expected in problem


def test_conformance_check_fails_a_wrong_status(status_handler: Any) -> None:
    async def teapot(ctx: Any) -> Any:
        return ctx.json({"detail": "I'm a teapot"}, 418)

    status_handler(teapot)
    assert findings() == ["GET /status/audio/x -> 418: /status: status 418 is not documented"]


def test_conformance_check_fails_a_wrong_media_type(status_handler: Any) -> None:
    async def text(ctx: Any) -> Any:
        return PlainTextResponse("fine")

    status_handler(text)
    (problem,) = findings()
    assert "/header/content-type: content type 'text/plain; charset=utf-8' is not documented" in (
        problem
    )


@pytest.mark.parametrize(
    ("path", "host", "config"),
    [
        (STATUS_PATH, None, {}),
        ("/status/audio/x", "api.neuralanalog.com", {}),
        ("/status/audio/x", None, {"api": "neuralanalog"}),
    ],
    ids=["prefix", "host", "alone"],
)
def test_conformance_check_sees_every_routing_mode(
    status_handler: Any, path: str, host: str | None, config: dict[str, Any]
) -> None:
    status_handler(nearly)
    assert findings(path, host, **config)


def test_conformance_check_fails_the_test_at_teardown(status_handler: Any) -> None:
    status_handler(nearly)
    mocks = make_mock()
    mock = next(mocks)
    mock.client.get(STATUS_PATH, headers=mock.headers("neuralanalog"))
    with pytest.raises(AssertionError, match="responses that break the contract"):
        next(mocks)


def test_conformance_check_fails_a_missing_required_header() -> None:
    found = validate_response("neuralanalog", "GET", "/download/audio/a1", 307, headers={})
    assert [(v.pointer, v.message) for v in found] == [
        ("/header/location", "required header is missing")
    ]
    found = validate_response(
        "neuralanalog", "GET", "/download/audio/a1", 307, headers={"location": "no uri"}
    )
    assert [v.pointer for v in found] == ["/header/location"]


def test_conformance_check_fails_an_undocumented_route_answering_2xx() -> None:
    (problem,) = validate_response("neuralanalog", "GET", "/secret", 200, body=b"{}")
    assert problem.message == "no such path in the neuralanalog contract"
    assert validate_response("neuralanalog", "GET", "/secret", 404, body=b"{}") == []
    assert validate_response("neuralanalog", "GET", "/openapi.json", 200, body=b"{}") == []


# --- answers the router gives, in the API's own format ------------------------------------------


def test_a_wrong_method_lists_every_method_of_the_path(mock: Mock) -> None:
    response = mock.client.put(
        "/neuraldraft/v1/webhook-endpoints", headers=mock.headers("neuraldraft")
    )
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}  # two routes, one path
    assert response.headers["content-type"] == "application/problem+json"


def test_a_path_no_route_can_take_is_a_404_in_the_api_format(mock: Mock) -> None:
    response = mock.client.get("/neuralanalog/status/audio", headers=mock.headers("neuralanalog"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_an_id_with_a_newline_reaches_the_handler_as_fastapi_routes_it(mock: Mock) -> None:
    response = mock.client.get(
        "/neuralanalog/status/audio/a%0Ab", headers=mock.headers("neuralanalog")
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Audio a\nb not found"}


def test_a_bug_in_a_handler_is_a_500_in_the_api_format_and_journalled(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mockserver.apis.neuralanalog import responses

    async def broken(ctx: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(responses, "status", broken)  # before the app binds its routes
    app = create_app(ServerConfig(clock="manual"))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/neuralanalog/status/audio/x", headers={"X-API-Key": "k"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal mock error: boom"}
    (entry,) = app.state.mock.journal.entries(api="neuralanalog")
    assert (entry.status, entry.id) == (500, response.headers["x-request-id"])
    assert any(r.exc_info and r.getMessage().startswith(entry.id) for r in caplog.records)


def test_a_form_sent_to_a_json_operation_is_a_422_not_a_400(mock: Mock) -> None:
    response = mock.client.post(
        "/neuralanalog/upscale-audio",
        headers={
            **mock.headers("neuralanalog"),
            "content-type": "multipart/form-data",  # no boundary: not even a readable form
        },
        content=b"audio_id=a1",
    )
    assert response.status_code == 422  # FastAPI reads forms only where it expects one
    assert response.json()["detail"] == [
        {
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": "audio_id=a1",
        }
    ]


def test_a_body_sent_again_is_judged_the_same(mock: Mock) -> None:
    """The request check remembers its findings per body: a repeat must not lose them."""
    headers = mock.headers("neuralanalog")
    for _ in range(2):
        bad = mock.client.post("/neuralanalog/from-link", headers=headers, json={"url": 5})
        assert bad.status_code == 422
    for _ in range(2):
        good = mock.client.post(
            "/neuralanalog/from-link", headers=headers, json={"url": "https://example.com/a.wav"}
        )
        assert good.status_code == 200
    found = [[v.pointer for v in e.violations] for e in mock.state.journal.entries("neuralanalog")]
    assert found == [["/body/url"], ["/body/url"], [], []]


def _same_reading(raw: bytes) -> None:
    try:
        expected: Any = ("value", json.loads(raw))
    except ValueError as exc:
        expected = ("error", type(exc), str(exc))
    try:
        found: Any = ("value", parse_json(raw))
    except ValueError as exc:
        found = ("error", type(exc), str(exc))
    # repr: NaN equals nothing, and an int must not come back a float
    assert repr(found) == repr(expected), raw


@pytest.mark.parametrize(
    "raw",
    [
        b'{"url": "https://example.com/a.wav", "n": 3, "x": 2.5, "ok": true, "none": null}',
        b"18446744073709551615",  # the largest integer orjson reads as one
        b"18446744073709551616",  # orjson would make it a float
        b'{"id": -9223372036854775809}',
        b'{"digits": "12345678901234567890"}',
        b"NaN",
        b"[1e400, -Infinity]",
        b'{"a": "\\ud800"}',
        b'\xef\xbb\xbf{"bom": 1}',
        b'{"a": 1, "a": 2}',
        b'{"a": 1,}',
        b'"\xff"',
        b"",
        b"  [1, 2] \n",
        '{"é": "ü"}'.encode("utf-16"),
    ],
)
def test_a_body_is_read_as_json_loads_reads_it(raw: bytes) -> None:
    _same_reading(raw)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_value_is_read_as_json_loads_reads_it(value: Any) -> None:
    _same_reading(json.dumps(value).encode())


def test_a_body_checked_again_is_judged_with_the_header_values_it_came_with(mock: Mock) -> None:
    body = {"type": "ai", "topic": "Tea"}
    headers = mock.headers("neuraldraft")
    for idempotency_key in ("a-key", "x" * 300, "another-key"):
        mock.client.post(
            "/neuraldraft/v1/blog-posts",
            json=body,
            headers={**headers, "Idempotency-Key": idempotency_key},
        )
    found = [
        [v.pointer for v in entry.violations]
        for entry in mock.state.journal.entries(api="neuraldraft")
    ]
    assert found == [[], ["/header/Idempotency-Key"], []]


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        # one of two fields: the one that came closest is missing, as pydantic says it
        ("/neuralanalog/from-link", {}, [("missing", ["body", "url"], "Field required")]),
        (
            "/neuralanalog/create-stems",
            {"preset": "4_tracks"},
            [
                (
                    "value_error",
                    ["body"],
                    "Value error, Give one source to split, audio_id, stem_id, upscaled_id or "
                    "mastered_id",
                )
            ],
        ),
        # a whole's own check waits for its parts: an unknown version is named, not a mix
        (
            "/neuralanalog/download-archive",
            {"id": "a1", "versions": ["stems"]},
            [
                (
                    "enum",
                    ["body", "versions", 0],
                    "Input should be 'original', 'restored', "
                    "'mastered', 'original_stems', 'restored_stems' or 'mastered_stems'",
                )
            ],
        ),
        (
            "/neuralanalog/from-link",
            {"url": "not a url"},
            [
                (
                    "url_parsing",
                    ["body", "url"],
                    "Input should be a valid URL, relative URL without a base",
                )
            ],
        ),
    ],
)
def test_a_combination_or_format_is_refused_in_pydantic_words(
    path: str, body: dict[str, Any], detail: list[tuple[str, list[str], str]]
) -> None:
    for mock in make_mock(strict=True):
        response = mock.client.post(path, headers=mock.headers("neuralanalog"), json=body)
        assert response.status_code == 422
        shown = [(d["type"], d["loc"], d["msg"]) for d in response.json()["detail"]]
        assert shown == detail
