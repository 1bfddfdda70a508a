"""contracts.strategies: every drawn payload passes its contract, every drawn lifecycle keeps the
polling invariants a client relies on, and `example` is reproducible from a seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from mockserver.apis import names as api_names
from mockserver.contracts import load, validate_request, validate_response
from mockserver.contracts.lifecycle import lifecycle as contract_lifecycle
from mockserver.contracts.strategies import (
    UnsupportedSchema,
    example,
    from_schema,
    lifecycle_types,
    lifecycles,
    responses,
    status_operation,
)
from tests.conftest import Mock

try:  # checks `uri` formats too, which the jsonschema package here does not
    import jsonschema_rs
except ImportError:  # pragma: no cover - comes with schemathesis in the test extra
    jsonschema_rs = None

# Deterministic in CI: derandomized draws, no example database, no deadline on a loaded machine.
CHECK = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LIGHT = settings(CHECK, max_examples=15)
SEARCH = settings(CHECK, max_examples=400, phases=(Phase.generate,))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CREATE_OPERATIONS = {
    "neuralanalog": (
        "import_from_file",
        "import_from_link",
        "upscale_audio",
        "master_audio",
        "create_stems",
        "run_workflow",
    ),
    "camb": ("create_audio_separation",),
    "neurolinker": ("extract",),
    "neuraldraft": (
        "create_blog_post",
        "translate_blog_post",
        "translate_content",
        "create_image",
        "create_job",
    ),
}
STATUS_OPERATIONS = sorted(
    {
        (api, status_operation(api, kind))
        for api, kinds in lifecycle_types().items()
        for kind in kinds
    }
)


# --- helpers ----------------------------------------------------------------------------------


def _success_status(api: str, operation: str) -> int:
    codes = load(api).by_id(operation).spec["responses"]
    return min(int(code) for code in codes if code.isdigit() and code.startswith("2"))


def _json_answers(api: str, operation: str) -> list[tuple[int, str]]:
    """(status, media type) of every documented JSON body of the operation."""
    spec = load(api).by_id(operation)
    found = []
    for code in spec.spec["responses"]:
        answer = spec.response(int(code)) if code.isdigit() else None
        for media, entry in ((answer or {}).get("content") or {}).items():
            if "json" in media and "schema" in entry:
                found.append((int(code), media))
                break
    return found


def _concrete_path(api: str, operation: str) -> str:
    """A real path of the operation, so the validator finds it the way it finds a request's."""
    spec = load(api).by_id(operation)
    path = spec.template
    for param in spec.parameters():
        if param["in"] == "path":
            value = "1" if param.get("schema", {}).get("type") == "integer" else "x"
            path = path.replace("{" + param["name"] + "}", value)
    return path


def assert_valid(api: str, operation: str, status: int, media: str, body: Any) -> None:
    """The body passes validate_response, and a second validator that also checks `uri`."""
    spec = load(api).by_id(operation)
    path = _concrete_path(api, operation)
    answer = validate_response(
        api, spec.method, path, status, headers={"content-type": media}, body=body
    )
    # only the body is drawn here; required response headers are the server's business
    problems = [
        p for p in answer if not p.pointer.startswith("/header/") or "content-type" in p.pointer
    ]
    assert not problems, f"{[str(p) for p in problems]}\n{json.dumps(body)[:2000]}"
    if jsonschema_rs is not None:
        schema = spec.response(status)["content"][media]["schema"]
        errors = [e.message for e in _strict(api, json.dumps(schema)).iter_errors(body)]
        assert not errors, f"{errors}\n{json.dumps(body)[:2000]}"


_STRICT: dict[tuple[str, str], Any] = {}


def _strict(api: str, schema_text: str) -> Any:
    key = (api, schema_text)
    if key not in _STRICT:
        root = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [json.loads(schema_text)],
            "components": load(api).document.get("components", {}),
        }
        _STRICT[key] = jsonschema_rs.validator_for(root, validate_formats=True)
    return _STRICT[key]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _one_terminal_last(states: list[str], terminal: set[str]) -> None:
    assert states[-1] in terminal, states
    assert not terminal & set(states[:-1]), states


def _non_decreasing(values: list[Any]) -> None:
    assert values == sorted(values), values


def _stable(bodies: list[dict[str, Any]], *keys: str) -> None:
    for key in keys:
        assert len({json.dumps(b[key]) for b in bodies}) == 1, (key, [b[key] for b in bodies])


# --- payloads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "operation"),
    STATUS_OPERATIONS + [(api, op) for api, ops in CREATE_OPERATIONS.items() for op in ops],
)
def test_status_and_create_payloads_pass_the_contract(api: str, operation: str) -> None:
    status = _success_status(api, operation)
    media = dict(_json_answers(api, operation))[status]

    @CHECK
    @given(responses(api, operation, status))
    def check(body: Any) -> None:
        assert_valid(api, operation, status, media, body)

    check()


@pytest.mark.parametrize(
    ("api", "operation"),
    [
        (api, op.id)
        for api in api_names()
        for op in load(api).operations
        if _json_answers(api, op.id)
    ],
)
def test_every_documented_json_answer_passes_the_contract(api: str, operation: str) -> None:
    answers = _json_answers(api, operation)

    @LIGHT
    @given(
        st.sampled_from(answers).flatmap(
            lambda a: st.tuples(st.just(a), responses(api, operation, a[0]))
        )
    )
    def check(drawn: tuple[tuple[int, str], Any]) -> None:
        (status, media), body = drawn
        assert_valid(api, operation, status, media, body)

    check()


def _found(strategy: st.SearchStrategy[Any], condition: Any) -> Any:
    return find(strategy, condition, settings=SEARCH)


def test_every_enum_value_is_reachable() -> None:
    camb = responses("camb", "get_audio_separation_status")
    for word in ("PENDING", "SUCCESS", "ERROR", "TIMEOUT", "PAYMENT_REQUIRED"):
        assert _found(camb, lambda b, w=word: b["status"] == w)["status"] == word
    status = responses("neuralanalog", "get_status")
    for kind in lifecycle_types()["neuralanalog"]:
        _found(status, lambda b, k=kind: b["object_type"] == k)


def test_optional_keys_come_and_go_and_nullable_ones_are_sometimes_null() -> None:
    status = responses("neuralanalog", "get_status")
    _found(status, lambda b: "stems" in b)
    _found(status, lambda b: "stems" not in b)
    _found(status, lambda b: "completed_at" not in b)  # optional in the docs
    _found(status, lambda b: b.get("completed_at", "") is None)
    _found(status, lambda b: b.get("completed_at") is not None)


def test_range_ends_are_drawn() -> None:
    job = responses("neuraldraft", "get_job")
    _found(job, lambda b: b.get("progress") == 0)  # optional, as in the docs
    _found(job, lambda b: b.get("progress") == 100)
    camb = responses("camb", "get_audio_separation_status")
    _found(camb, lambda b: b.get("run_id") == 1)
    _found(camb, lambda b: b.get("run_id") == 2**53 - 1)


def test_conditional_schemas_fix_the_result_shape_by_job_type() -> None:
    """Neural Draft's `if type == X then result is X's shape`, through allOf and oneOf."""
    job = responses("neuraldraft", "get_job")
    blog = _found(job, lambda b: b["type"] == "blog_post.generate" and b["status"] == "completed")
    assert set(blog["result"]) == {"post_id", "slug", "title"}
    image = _found(job, lambda b: b["type"] == "image.generate" and b["status"] == "completed")
    assert set(image["result"]) == {"url", "key", "width", "height"}
    failed = _found(job, lambda b: b["status"] == "failed")
    assert "error" in failed and "result" not in failed


CONVERTER_CASES = [
    {
        "type": "object",
        "if": {"properties": {"a": {"const": 1}}},
        "then": {"required": ["b"]},
        "else": {"properties": {"b": False}},
        "properties": {"a": {"enum": [1, 2]}, "b": {"type": "string"}},
        "required": ["a"],
    },
    {
        "type": "object",
        "anyOf": [{"required": ["x"]}, {"required": ["y"]}],
        "properties": {"x": {"type": "integer", "exclusiveMinimum": 0, "multipleOf": 5}},
    },
    {
        "type": "object",
        "additionalProperties": {"type": "boolean"},
        "propertyNames": {"pattern": "^[a-z]{2,4}$"},
    },
    {
        "type": "array",
        "items": {"oneOf": [{"type": "null"}, {"type": "string", "format": "uuid"}]},
        "uniqueItems": True,
        "minItems": 2,
        "maxItems": 3,
    },
    {
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {
                "properties": {
                    "status": {"const": 404},
                    "code": {"const": "not_found"},
                    "errors": False,
                }
            },
        ]
    },
    {"not": {"const": "x"}, "type": "string", "format": "date-time"},
    {"type": ["number", "null"], "minimum": -1.5, "maximum": 2.5},
]


@pytest.mark.parametrize("schema", CONVERTER_CASES)
def test_the_converter_builds_only_valid_values(schema: dict[str, Any]) -> None:
    contract = load("neuraldraft")
    validator = contract.validator(schema)

    @LIGHT
    @given(from_schema("neuraldraft", schema))
    def check(value: Any) -> None:
        assert not list(validator.iter_errors(value)), value

    check()


def test_the_converter_refuses_what_it_cannot_honour() -> None:
    with pytest.raises(UnsupportedSchema, match="minProperties"):
        from_schema("camb", {"type": "object", "minProperties": 2})
    with pytest.raises(UnsupportedSchema, match="no value"):
        from_schema("camb", {"allOf": [{"type": "string"}, {"type": "integer"}]})


# --- lifecycles -------------------------------------------------------------------------------


def _check_neuralanalog(kind: str, bodies: list[dict[str, Any]]) -> None:
    _stable(bodies, "object_type", "object_id", "audio_id", "created_at")
    _one_terminal_last([b["status"] for b in bodies], {"completed", "failed"})
    created = _time(bodies[0]["created_at"])
    for body in bodies:
        done, failed = body["status"] == "completed", body["status"] == "failed"
        assert (body["is_complete"], body["is_failed"]) == (done, failed)
        assert (body["error_message"] is not None) == failed
        assert (body["completed_at"] is not None) == done
        assert (body["download_url"] is not None) == (done and kind in DOWNLOADABLE)
        assert ("stems" in body) == (done and kind == "stem_split")
        assert ("steps" in body) == (kind == "workflow")
    if bodies[-1]["completed_at"]:
        assert _time(bodies[-1]["completed_at"]) >= created
    if kind == "workflow":
        _check_workflow_steps(bodies)


DOWNLOADABLE = {"audio", "upscaled", "mastered", "stem"}
STEP_RANK = {"pending": 0, "in_progress": 1, "completed": 2, "failed": 2}


def _check_workflow_steps(bodies: list[dict[str, Any]]) -> None:
    assert len({tuple(s["type"] for s in b["steps"]) for b in bodies}) == 1
    for index in range(len(bodies[0]["steps"])):
        history = [b["steps"][index] for b in bodies]
        _non_decreasing([STEP_RANK[s["status"]] for s in history])
        assert len({s["object_id"] for s in history if s["object_id"]}) <= 1
        assert all((s["object_id"] is None) == (s["status"] == "pending") for s in history)
    for body in bodies:  # a step starts only once every earlier one completed
        states = [s["status"] for s in body["steps"]]
        started = [s != "pending" for s in states]
        assert started == sorted(started, reverse=True), states
        assert all(s == "completed" for s in states[: max(started.count(True) - 1, 0)]), states
    final = [s["status"] for s in bodies[-1]["steps"]]
    if bodies[-1]["status"] == "completed":
        assert set(final) == {"completed"}
    else:
        assert final.count("failed") == 1 and "in_progress" not in final


def _check_camb(bodies: list[dict[str, Any]]) -> None:
    states = [b["status"] for b in bodies]
    _one_terminal_last(states, {"SUCCESS", "ERROR", "TIMEOUT", "PAYMENT_REQUIRED"})
    assert set(states[:-1]) <= {"PENDING"}
    for body in bodies:
        assert (body.get("run_id") is not None) == (body["status"] == "SUCCESS")
        failed = body["status"] in {"ERROR", "TIMEOUT", "PAYMENT_REQUIRED"}
        assert (body.get("exception_reason") is not None) == failed


DOC_RANK = {"pending": 0, "processing": 1, "completed": 2, "failed": 2}


def _aggregate(states: list[str]) -> str:
    if any(s in ("pending", "processing") for s in states):
        return "processing"
    if all(s == "completed" for s in states):
        return "completed"
    return "failed" if all(s == "failed" for s in states) else "partial"


def _check_neurolinker_request(bodies: list[dict[str, Any]]) -> None:
    _stable(bodies, "request_id", "started_at", "job_page_url", "total", "total_size_bytes")
    _one_terminal_last([b["status"] for b in bodies], {"completed", "failed", "partial"})
    started = _time(bodies[0]["started_at"])
    for field in ("document_id", "filename"):
        assert len({tuple(d[field] for d in b["documents"]) for b in bodies}) == 1, field
    pages = {d["document_page_url"] for b in bodies for d in b["documents"]} - {None}
    assert len(pages) <= len(bodies[0]["documents"])  # a document's page, once it completed
    for body in bodies:
        assert all(
            (d["document_page_url"] is None) == (d["status"] != "completed")
            for d in body["documents"]
        )
    for index in range(bodies[0]["total"]):
        _non_decreasing([DOC_RANK[b["documents"][index]["status"]] for b in bodies])
    for body in bodies:
        states = [d["status"] for d in body["documents"]]
        assert (
            body["total"] == len(states) == body["completed"] + body["failed"] + body["processing"]
        )
        assert body["completed"] == states.count("completed")
        assert body["failed"] == states.count("failed")
        assert body["status"] == _aggregate(states)
        records = [d["result"] for d in body["documents"]]
        assert all(
            (r is None) == (s in ("pending", "processing"))
            for r, s in zip(records, states, strict=True)
        )
        for record in filter(None, records):
            assert started <= _time(record["started_at"]) <= _time(record["completed_at"])
        if body["status"] == "processing":
            assert body["completed_at"] is None
        else:
            assert _time(body["completed_at"]) == max(_time(r["completed_at"]) for r in records)
            assert body["total_size_bytes"] == sum(r["file_size_bytes"] for r in records)


def _check_neurolinker_document(bodies: list[dict[str, Any]]) -> None:
    _stable(bodies, "document_id", "request_id", "file_name", "file_size_bytes", "user_uid")
    _one_terminal_last([b["status"] for b in bodies], {"completed", "failed"})
    _non_decreasing([DOC_RANK[b["status"]] for b in bodies])
    assert len({b["started_at"] for b in bodies if b["started_at"]}) <= 1
    assert len({b["total_pages"] for b in bodies if b["total_pages"]}) <= 1
    for body in bodies:
        state = body["status"]
        assert (body["started_at"] is None) == (state == "pending")
        assert (body["completed_at"] is not None) == (state in ("completed", "failed"))
        assert (body["results"] is not None) == (state == "completed")
        assert ("error" in body) == (state == "failed")
        if body["completed_at"]:
            assert _time(body["started_at"]) <= _time(body["completed_at"])


JOB_RANK = {"pending": 0, "processing": 1, "completed": 2, "failed": 2, "cancelled": 2}


def _check_neuraldraft(bodies: list[dict[str, Any]]) -> None:
    _stable(bodies, "id", "type", "created_at")
    states = [b["status"] for b in bodies]
    _one_terminal_last(states, {"completed", "failed", "cancelled"})
    _non_decreasing([JOB_RANK[s] for s in states])
    _non_decreasing([b["progress"] for b in bodies])
    created = _time(bodies[0]["created_at"])
    updates = [_time(b["updated_at"]) for b in bodies]
    _non_decreasing(updates)
    assert updates[0] >= created
    assert len({tuple(s["name"] for s in b["steps"]) for b in bodies}) == 1
    _non_decreasing([sum(s["completed"] for s in b["steps"]) for b in bodies])
    for body in bodies:
        done = [s["completed"] for s in body["steps"]]
        assert done == sorted(done, reverse=True), "steps complete in order"
        active = [i for i, s in enumerate(body["steps"]) if s["active"]]
        assert active in ([], [done.count(True)]), "only the next step can be active"
        assert ("result" in body) == (body["status"] == "completed")
        assert ("error" in body) == (body["status"] == "failed")
    final = bodies[-1]
    assert not any(s["active"] for s in final["steps"])
    if final["status"] == "completed":
        assert final["progress"] == 100 and all(s["completed"] for s in final["steps"])


def _check_lifecycle(api: str, kind: str, bodies: list[dict[str, Any]]) -> None:
    if api == "neuralanalog":
        _check_neuralanalog(kind, bodies)
    elif api == "camb":
        _check_camb(bodies)
    elif api == "neurolinker" and kind == "request":
        _check_neurolinker_request(bodies)
    elif api == "neurolinker":
        _check_neurolinker_document(bodies)
    else:
        _check_neuraldraft(bodies)


@pytest.mark.parametrize(
    ("api", "kind"), [(api, kind) for api, kinds in lifecycle_types().items() for kind in kinds]
)
def test_lifecycles_are_valid_and_keep_their_invariants(api: str, kind: str) -> None:
    operation = status_operation(api, kind)

    @settings(CHECK, max_examples=20)
    @given(lifecycles(api, kind))
    def check(bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            assert_valid(api, operation, 200, "application/json", body)
        _check_lifecycle(api, kind, bodies)

    check()


def test_lifecycles_reach_every_outcome() -> None:
    request = lifecycles("neurolinker", "request")
    for outcome in ("completed", "failed", "partial"):
        _found(request, lambda bodies, o=outcome: bodies[-1]["status"] == o and len(bodies) > 1)
    job = lifecycles("neuraldraft", "translation.batch")
    for outcome in ("completed", "failed", "cancelled"):
        _found(job, lambda bodies, o=outcome: bodies[-1]["status"] == o and len(bodies) > 1)


def test_neurolinker_lifecycles_show_every_state_of_the_contract() -> None:
    """The strategy takes its states from the contract's `x-lifecycle`: each one is drawn."""
    for kind in ("request", "document"):
        drawn = lifecycles("neurolinker", kind)
        for state in contract_lifecycle("neurolinker", kind).states:
            _found(drawn, lambda bodies, s=state: s in {body["status"] for body in bodies})


def test_unknown_lifecycle_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="audio_separation"):
        lifecycles("camb", "stems")


# --- example ----------------------------------------------------------------------------------


def test_example_is_reproducible_from_its_seed() -> None:
    job = responses("neuraldraft", "get_job")
    assert example(job, 7) == example(job, 7)
    assert len({json.dumps(example(job, seed), sort_keys=True) for seed in range(6)}) > 1
    first = example(lifecycles("neurolinker", "request"), 3)
    first[0]["status"] = "changed"  # callers get their own copy
    assert example(lifecycles("neurolinker", "request"), 3)[0]["status"] != "changed"


@pytest.mark.parametrize("seed", [float("nan"), 1.5, True, "7", None])
def test_example_takes_whole_number_seeds_only(seed: object) -> None:
    """A NaN seed was taken, and drew something else on every call."""
    with pytest.raises(TypeError, match="^seed must be a whole number"):
        example(st.integers(), seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["{tmp}", "{tmp}/missing/report.json"])
def test_a_lifecycle_report_that_cannot_be_written_is_one_line(tmp_path: Any, path: str) -> None:
    """`MOCKSERVER_LIFECYCLE_REPORT` naming a folder, or a file in no folder, used to end the
    run with a traceback at exit."""
    pytest.importorskip("schemathesis")
    path = path.format(tmp=tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "import mockserver.contracts.schemathesis_hooks"],
        capture_output=True,
        text=True,
        env={**os.environ, "MOCKSERVER_LIFECYCLE_REPORT": path},
        timeout=120,
    )
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(
        f"lifecycle coverage: cannot write MOCKSERVER_LIFECYCLE_REPORT={path}: "
    )
    assert done.stderr.count("\n") == 1


def test_example_is_the_same_in_another_process() -> None:
    """Not swayed by the hash seed nor by which local modules are loaded (Hypothesis otherwise
    mixes literals from them into its draws)."""
    code = (
        "import json, mockserver.app\n"
        "from mockserver.contracts.strategies import example, responses\n"
        "print(json.dumps(example(responses('neuraldraft', 'get_job'), 11)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    )
    assert json.loads(other.stdout) == example(responses("neuraldraft", "get_job"), 11)


def test_converter_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Payload variety pins a fresh schema per call: the converter keeps only the latest."""
    from mockserver.contracts.strategies import schemas

    monkeypatch.setattr(schemas, "BUILT", 3)
    converter = schemas.Converter(load("camb"))
    for size in range(10):
        assert converter.strategy({"type": "string", "minLength": size}) is not None
    assert len(converter._built) == 3


def test_contract_validators_are_found_by_content_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mockserver.contracts import document

    monkeypatch.setattr(document, "VALIDATORS", 3)
    contract = document.Contract("x", {"openapi": "3.1.0", "paths": {}})
    first = contract.validator({"type": "integer", "minimum": 1})
    assert contract.validator({"minimum": 1, "type": "integer"}) is first  # an equal copy
    for size in range(10):
        assert not contract.validator({"type": "integer", "minimum": size}).is_valid(-1)
    assert len(contract._validators) == 3


# --- rules the contracts' prose states: drawn by the strategies, refused by the validators ------

NA_STATUS = {
    "object_type": "audio",
    "object_id": "6c62f8e7-02a3-48c0-a5b5-5de87ed9c31a",
    "status": "in_progress",
    "is_complete": False,
    "is_failed": False,
}
NA_FLAGS = "Value error, is_complete must be true exactly when status is completed"
NA_FAILURE = (
    "Value error, is_failed must be true exactly when status is failed, with an error_message"
)
ND_ERRORS = "https://api.neuraldraft.io/errors/"
JSON_ANSWER = {"content-type": "application/json"}


def test_a_neural_analog_status_draws_the_flags_its_status_says() -> None:
    drawn = [example(responses("neuralanalog", "get_status"), seed) for seed in range(40)]
    assert {body["status"] for body in drawn} == {
        "in_progress",
        "processing",
        "completed",
        "failed",
    }
    for body in drawn:
        assert body["is_complete"] is (body["status"] == "completed"), body
        assert body["is_failed"] is (body["status"] == "failed"), body
        assert body["status"] != "failed" or isinstance(body["error_message"], str), body


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "completed"}, NA_FLAGS),
        ({"is_complete": True}, NA_FLAGS),
        ({"status": "failed", "error_message": "gone"}, NA_FAILURE),
        ({"status": "failed", "is_failed": True}, NA_FAILURE),
        ({"is_failed": True, "error_message": "gone"}, NA_FAILURE),
    ],
)
def test_a_neural_analog_status_whose_flags_say_otherwise_is_refused(
    change: dict[str, Any], message: str
) -> None:
    path = f"/status/audio/{NA_STATUS['object_id']}"
    body = {**NA_STATUS, **change}
    found = validate_response("neuralanalog", "GET", path, 200, body=body, headers=JSON_ANSWER)
    assert [(v.pointer, v.message) for v in found] == [("/body", message)]
    assert (
        validate_response("neuralanalog", "GET", path, 200, body=NA_STATUS, headers=JSON_ANSWER)
        == []
    )


def test_a_neural_draft_problems_type_ends_in_its_code() -> None:
    problems = from_schema("neuraldraft", {"$ref": "#/components/schemas/Problem"})
    drawn = [example(problems, seed) for seed in range(30)]
    drawn += [example(responses("neuraldraft", "get_job", 404), seed) for seed in range(10)]
    assert len({problem["code"] for problem in drawn}) > 5
    assert all(problem["type"] == ND_ERRORS + problem["code"] for problem in drawn)
    wrong = {**drawn[-1], "type": f"{ND_ERRORS}zpfy"}
    found = validate_response(
        "neuraldraft",
        "GET",
        "/v1/jobs/job_abcdefghijkl",
        404,
        body=wrong,
        headers={"content-type": "application/problem+json"},
    )
    assert [(v.pointer, v.message) for v in found if v.pointer.startswith("/body")] == [
        ("/body", f"Value error, type must be {ND_ERRORS}<code>")
    ]


def test_a_markdown_field_extraction_draws_a_schema_the_mock_takes(mock: Mock) -> None:
    """Not refused with a 422: its documents name no extraction of this key, the 400."""
    operation = load("neurolinker").by_id("extract_fields_from_markdown")
    body = operation.spec["requestBody"]["content"]["application/json"]["schema"]
    for seed in range(8):
        drawn = example(from_schema("neurolinker", body), seed)
        answer = mock.client.post(
            "/neurolinker/api/v1/extract-fields-from-markdown",
            headers=mock.headers("neurolinker"),
            json=drawn,
        )
        assert answer.status_code == 400, (drawn, answer.text)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({}, "Value error, json_schema cannot be empty"),
        ({"type": "array"}, 'Value error, the root of json_schema must be {"type": "object", ...}'),
        (
            {"properties": {}},
            'Value error, the root of json_schema must be {"type": "object", ...}',
        ),
    ],
)
def test_a_markdown_field_extraction_without_an_object_schema_is_refused(
    schema: dict[str, Any], message: str
) -> None:
    body = {"document_ids": ["x"], "json_schema": schema}
    path = "/api/v1/extract-fields-from-markdown"
    found = validate_request(
        "neurolinker", "POST", path, content_type="application/json", body=body
    )
    assert [(v.pointer, v.message, v.kind) for v in found] == [
        ("/body/json_schema", message, "value_error")
    ]
    good = {**body, "json_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    assert (
        validate_request("neurolinker", "POST", path, content_type="application/json", body=good)
        == []
    )
