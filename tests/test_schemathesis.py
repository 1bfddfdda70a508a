"""schemathesis against the mock in-process: each API's served document, every phase, bounded.

The settings are the APIs' declarations', as for `mockserver schemathesis`; here the examples are
fewer and the run is seeded and derandomized. Each API is run twice on a manual clock: once
where jobs end at once and a share of them fail, once where they never end, so the contract's
links reach success, conflict and in-progress answers alike. Every answer also goes through
the suite's own conformance check.

A second look per API: every status code its contract documents was answered during the runs,
or by replaying a request of the runs with a key the server refuses (403), a scenario header
it does not know (400) or a field of the wrong type (422), or carries `x-mock-reachable`
(false: only as an injected fault; a string: how to reach it). An operation the runs got no
success from (a workflow needs a completed import and valid steps in one draw) is first sent
its contract example, its body completed by a link from a success of its producer.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import ServerConfig, apis, contracts, create_app, schemathesis_config
from mockserver.cli import build_parser, main
from mockserver.contracts.lifecycle_walk import advance_clock
from mockserver.engine.clock import ManualClock
from mockserver.live import LiveServer
from mockserver.request import ApiRequest
from mockserver.schemathesis_run import PASSES, passes_for, usage_error
from tests.conftest import ConformanceCheck
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).parent.parent
MAX_EXAMPLES = 10  # per operation and phase: each API run stays within about half a minute
STATEFUL_EXAMPLES = 20  # scenarios of linked calls, up to STATEFUL_STEPS calls each
STATEFUL_STEPS = 15
PHASES = ("examples", "coverage", "fuzzing", "stateful")
KEY = "schemathesis-key"
REFUSED = "refused-key"


def auth(api: str, key: str) -> dict[str, str]:
    """The `-H` of `make schemathesis`, with the key left open."""
    service = apis.service_class(api)
    return service.auth_headers(service.api_key(key))


def token(api: str, key: str) -> str:
    """The key as the server's config names it (a bearer token without `Bearer `)."""
    return apis.service_class(api).api_key(key)


@dataclass
class Sent:
    """One request of the run, kept to be sent again with one thing changed."""

    method: str
    path: str
    query: bytes
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Traffic:
    """ASGI wrapper: which status each operation answered, and one request per operation."""

    app: ASGIApp
    contract: contracts.Contract
    answered: dict[str, set[str]]  # operation ID -> status codes
    example: dict[str, Sent] = field(default_factory=dict)  # a 2xx one when there is one

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        status = 0

        async def keep_body() -> Message:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def keep_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, keep_body, keep_status)
        info = ApiRequest.of(scope)
        found = self.contract.operation(scope["method"], info.path if info is not None else "")
        if found is None:
            return
        operation_id = found[0].id
        self.answered[operation_id].add(str(status))
        kept = self.example.get(operation_id)
        if kept is None or (_success(status) and not _success(kept.status)):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")  # as sent
            self.example[operation_id] = Sent(
                scope["method"], path, scope["query_string"], headers, bytes(body), status
            )


def _success(status: int) -> bool:
    return 200 <= status < 300


def settings(
    api: str, phases: tuple[str, ...], seed: int = 3, mode: str = "all"
) -> SchemathesisConfig:
    """The APIs' own settings (`mockserver schemathesis`'s), bounded and made repeatable for
    the suite (`mode`: positive or negative data only, and then the coverage phase on
    documented methods only)."""
    data = schemathesis_config.config([api])
    data["seed"] = seed
    data["headers"] = auth(api, KEY)
    data["generation"] = {
        **data.get("generation", {}),
        "max-examples": MAX_EXAMPLES,
        "database": "none",  # no examples carried over from earlier runs: same run every time
        "deterministic": True,
        "mode": mode,
    }
    data["phases"] = {
        name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing")
    } | {
        "coverage": {"enabled": "coverage" in phases}
        | ({} if mode == "all" else {"unexpected-methods": []}),
        "stateful": {
            "enabled": "stateful" in phases,
            "max-steps": STATEFUL_STEPS,
            "generation": {"max-examples": STATEFUL_EXAMPLES},
        },
    }
    for project in data.get("project", []):
        for operation in project.get("operations", []):
            if "request-timeout" in operation:  # no network here: first events come at once
                operation["request-timeout"] = 0.05
    return SchemathesisConfig.from_dict(data)


def failures_of(stream: Any) -> list[str]:
    """Every failed check and engine error of a run, with a curl line to reproduce it."""
    found: list[str] = []
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.status == Status.FAILURE and node.failure_info is not None:
                        failure = node.failure_info.failure
                        found.append(
                            f"{event.recorder.label}: {node.name}: {failure.title}\n"
                            f"    {failure.message.strip()[:600]}\n"
                            f"    {node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            found.append(f"error in {event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal error: {event.exception!r}")
    return sorted(set(found))


def replay(client: TestClient, sent: Sent, **headers: str) -> httpx.Response:
    wanted = {k: v for k, v in sent.headers.items() if k != "content-length"}
    wanted.update({name.lower(): value for name, value in headers.items()})  # ASGI names: lower
    return client.request(
        sent.method,
        sent.path + (f"?{sent.query.decode('latin-1')}" if sent.query else ""),
        headers=wanted,
        content=sent.body,
    )


WRONG_VALUES = ([[[]]], {"": None}, -1.5, "", True, None)  # one of them breaks any field


def spoiled(sent: Sent, operation: contracts.Operation) -> bytes | None:
    """The JSON body of `sent` with a field (the first required one, else the first sent) of a
    type the contract refuses."""
    media = operation.request_media(sent.headers.get("content-type", ""))
    if media is None or "json" not in media[0]:
        return None
    schema = operation.contract.resolve(media[1].get("schema", {}))
    try:
        body = json.loads(sent.body)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    names = [n for n in schema.get("required", []) or body if n in schema.get("properties", {})]
    if not names:
        return None
    name = names[0]
    field_schema = schema.get("properties", {}).get(name, {})
    validator = operation.contract.validator(field_schema)
    body[name] = next(v for v in WRONG_VALUES if not validator.is_valid(v))
    return json.dumps(body).encode()


def body_links(contract: contracts.Contract, target: str) -> list[tuple[str, dict[str, Any]]]:
    """The links to operation `target` that carry a request body, with the operation each
    is a success of."""
    return [
        (operation.id, link)
        for operation in contract.operations
        for code, response in operation.spec["responses"].items()
        if code.startswith("2")
        for link in contract.resolve(response).get("links", {}).values()
        if link.get("operationId") == target and "requestBody" in link
    ]


POINTED = "$response.body#/"


def linked(value: Any, answer: Any) -> Any:
    """A link's value with each `$response.body#/...` in it replaced by what it names in
    `answer`."""
    if isinstance(value, dict):
        return {name: linked(item, answer) for name, item in value.items()}
    if isinstance(value, list):
        return [linked(item, answer) for item in value]
    if not isinstance(value, str) or not value.startswith(POINTED):
        return value
    for token in value.removeprefix(POINTED).split("/"):
        answer = answer[int(token)] if isinstance(answer, list) else answer[token]
    return answer


def reach_success(client: TestClient, api: str, traffic: Traffic) -> None:
    """Each operation the run got no success from, sent its contract example with the body a
    link fills in from a producer's success: the producer's kept request again, its job made
    to succeed at once (a source must be complete; the run's imports of drawn bytes fail)."""
    service = apis.service_class(api)
    at_once = {"x-mock-scenario": f"{service.outcomes[0]}; after=0"}
    for target in traffic.contract.operations:
        kept = traffic.example.get(target.id)
        media = target.request_media("application/json")
        example = media[1].get("example") if media is not None else None
        if (kept is not None and _success(kept.status)) or not isinstance(example, dict):
            continue
        for producer, link in body_links(traffic.contract, target.id):
            sent = traffic.example.get(producer)
            if sent is None or not _success(sent.status):
                continue
            headers = {**auth(api, KEY), **at_once}
            if "content-type" in sent.headers:
                headers["content-type"] = sent.headers["content-type"]
            made = replay(client, Sent(sent.method, sent.path, sent.query, headers, sent.body, 0))
            if not _success(made.status_code):
                continue
            body = {**example, **linked(link["requestBody"], made.json())}
            answer = client.request(
                target.method, service.prefix + target.template, headers=auth(api, KEY), json=body
            )
            if _success(answer.status_code):
                break


def provoke(client: TestClient, api: str, traffic: Traffic) -> None:
    """The answers a plain request alone does not get: a success the run's draws missed
    (`reach_success`), a key the server refuses (403), a scenario it does not know (400), a
    required field of the wrong type (422, sent with no other header than the key, so that no
    idempotency key or scenario answers first)."""
    reach_success(client, api, traffic)
    for operation_id, sent in traffic.example.items():
        replay(client, sent, **auth(api, REFUSED))
        if not _success(sent.status):
            continue
        replay(client, sent, **{"X-Mock-Scenario": "no-such-outcome"})
        body = spoiled(sent, traffic.contract.by_id(operation_id))
        if body is not None:
            headers = {**auth(api, KEY), "content-type": "application/json"}
            replay(client, Sent(sent.method, sent.path, sent.query, headers, body, 0))


def unreached(contract: contracts.Contract, answered: dict[str, set[str]]) -> list[str]:
    missing = []
    for operation in contract.operations:
        for code, response in operation.spec["responses"].items():
            marked = "x-mock-reachable" in contract.resolve(response)
            if code not in answered[operation.id] and not marked and code != "default":
                missing.append(f"{operation.id} {code}")
    return missing


# two runs per API, `mockserver schemathesis`'s passes: together they meet jobs both finished
# and still running (here the manual clock never moves: every job of the second stays running)
MODES = {one.name: (one.server, one.phases or PHASES) for one in PASSES}


def run(api: str, mode: str, answered: dict[str, set[str]]) -> list[str]:
    """One schemathesis run against a fresh app; its problems, its answers added to `answered`."""
    server, phases = MODES[mode]
    config = ServerConfig(
        clock="manual", seed=7, keys={token(api, REFUSED): {"status": 403}}, **server
    )
    check = ConformanceCheck(create_app(config))
    traffic = Traffic(check, contracts.load(api), answered)
    schema = schemathesis.openapi.from_asgi(
        apis.service_class(api).document_url_path(), traffic, config=settings(api, phases)
    )
    found = failures_of(from_schema(schema).execute())
    with TestClient(traffic) as client:
        provoke(client, api, traffic)
    found += [f"{where}: {v.pointer}: {v.message}" for where, v in check.violations]
    return [f"[{mode}] {problem}" for problem in found]


@pytest.mark.parametrize("api", apis.names())
@pytest.mark.fresh_process  # the same run whatever ran before (tests/conftest.py)
def test_schemathesis_finds_nothing_and_every_status_is_reached(api: str) -> None:
    answered: dict[str, set[str]] = defaultdict(set)
    found = [problem for mode in MODES for problem in run(api, mode, answered)]
    assert not found, f"{len(found)} problems:\n" + "\n".join(found)
    missing = unreached(contracts.load(api), answered)
    assert not missing, (
        "documented answers nothing reached; reach them or mark them `x-mock-reachable` "
        "(false: injected faults only; a string: how to reach it):\n  " + "\n  ".join(missing)
    )


def test_a_broken_answer_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness is sound: a handler that breaks its contract makes schemathesis fail."""
    from mockserver.apis.neuralanalog import responses

    async def nearly(ctx: Any) -> Any:
        return ctx.json({"status": "nearly"})

    monkeypatch.setattr(responses, "status", nearly)
    app = create_app(ServerConfig(clock="manual"))
    traffic = Traffic(app, contracts.load("neuralanalog"), defaultdict(set))
    config = settings("neuralanalog", ("examples",))
    schema = schemathesis.openapi.from_asgi(
        apis.service_class("neuralanalog").document_url_path(), traffic, config=config
    )
    found = failures_of(from_schema(schema).execute())
    assert any(
        "GET /status/{object_type}/{object_id}: response_schema_conformance" in problem
        for problem in found
    ), found


@pytest.mark.fresh_process  # the same run whatever ran before (tests/conftest.py)
def test_the_form_upload_passes_whatever_the_seed() -> None:
    """A form field cannot carry JSON null or a number: what schemathesis generates as such
    arrives as no field or as text, a valid request, and the shipped settings say so. The
    operation where longer runs found it, other seeds than the main test's, the coverage
    phase's negative data (where null and numbers are generated), the shipped settings."""
    found = []
    for seed in (2, 3, 4):
        app = create_app(ServerConfig(clock="manual", seed=seed, duration_scale=0))
        config = settings("neuralanalog", ("coverage",), seed, mode="negative")
        document = apis.service_class("neuralanalog").document_url_path()
        schema = schemathesis.openapi.from_asgi(document, app, config=config)
        found += failures_of(from_schema(schema.include(operation_id="import_from_file")).execute())
    assert not found, "\n".join(found)


@pytest.mark.fresh_process  # the same run whatever ran before (tests/conftest.py)
def test_a_description_naming_no_field_is_a_refusal_the_settings_expect() -> None:
    """Any string is a schema-valid `generate-schema` description, but one with no word in
    it (or articles alone) names no field: the documented 422, which the shipped settings
    expect. The operation where a longer run found it, fuzzed alone with more examples than
    the main test's and another seed."""
    app = create_app(ServerConfig(clock="manual"))
    config = settings("neurolinker", ("fuzzing",), seed=2, mode="positive")
    config.projects.default.phases.fuzzing.generation.max_examples = 12
    document = apis.service_class("neurolinker").document_url_path()
    schema = schemathesis.openapi.from_asgi(document, app, config=config)
    found = failures_of(from_schema(schema.include(operation_id="generate_schema")).execute())
    assert not found, "\n".join(found)


PRINTED_SEED = "153905184786594931320068620754413984175"


def test_the_recipe_runs_from_another_directory(tmp_path: Path) -> None:
    """`mockserver schemathesis` as a user's CI runs it: installed kit, any directory, the
    shipped settings, both passes, replaying a seed as schemathesis prints one (128 bits).
    Slow (~8 s, two schemathesis processes): one API, few examples."""
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli", "schemathesis", "--api", "camb"]
        + ["--max-examples", "2", "--seed", PRINTED_SEED],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.findall(
        r"mockserver schemathesis: camb, (.+?): -m schemathesis\.cli --config-file "
        r"(\S+schemathesis\.toml) run http://127\.0\.0\.1:\d+/camb/apis/openapi\.json "
        rf"-H x-api-key: ci-key --max-examples 2 --seed {PRINTED_SEED}(.*)",
        done.stdout,
    )
    assert [(name, phases) for name, _, phases in found] == [
        ("jobs end at once, 30% fail", ""),
        ("jobs keep running", " --phases stateful"),
    ], done.stdout[-3000:]
    assert f"Configuration:    {found[0][1]}" in done.stdout
    assert done.stdout.rstrip().endswith("mockserver schemathesis: every API passed")


def test_phases_chosen_after_the_separator_make_one_pass() -> None:
    assert passes_for(["--phases", "examples"]) == PASSES[:1]
    assert passes_for(["--phases=fuzzing", "--seed", "2"]) == PASSES[:1]
    assert passes_for(["--workers", "2"]) == PASSES


@pytest.mark.parametrize(
    ("extra", "refusal"),
    [
        (["--no-such-flag"], "No such option '--no-such-flag'."),
        (["--workers", "0"], "Invalid value for '--workers' / '-w': '0' is not one of"),
        (["--phases=bogus"], "Invalid value for '--phases': invalid choice(s): bogus."),
    ],
)
def test_options_schemathesis_refuses_are_one_line_before_any_run(
    extra: list[str], refusal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped option after `--` ran both passes, and the usage error of each run was
    reported as "failed: camb" with exit 1."""
    assert main(["schemathesis", "--", *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"mockserver schemathesis: {refusal}")
    assert err.count("\n") == 1


def test_options_schemathesis_takes_pass_the_usage_check() -> None:
    assert usage_error(["--max-examples", "3", "--phases", "stateful", "--checks", "all"]) is None


def test_the_documented_stateful_run_with_the_hook_passes(tmp_path: Path) -> None:
    """docs/client-check.md's lifecycle walk, as written: the kit's settings written by
    `python -m mockserver.schemathesis_config`, then `st --config-file ... run` with the hook,
    against a served mock on a manual clock; without the settings the same run fails (the mock
    serves any key). Slow (~10 s): few examples."""
    # not schemathesis.toml in the working directory, which schemathesis would read unasked
    settings_file = tmp_path / "settings.toml"
    written = subprocess.run(
        [sys.executable, "-m", "mockserver.schemathesis_config"],
        capture_output=True,
        text=True,
        check=True,
    )
    settings_file.write_text(written.stdout)
    app = create_app(ServerConfig(clock="manual", failure_rate=0.3))
    st = Path(sys.executable).with_name("st")
    with LiveServer(app) as live:
        done = subprocess.run(
            [str(st), "--config-file", str(settings_file), "run"]
            + [f"{live.url}/neuralanalog/openapi.json", "--phases=stateful"]
            + ["-H", "X-API-Key: ci", "--max-examples", "10", "--seed", "3"],
            env={**os.environ, "SCHEMATHESIS_HOOKS": "mockserver.contracts.schemathesis_hooks"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"neuralanalog: \d+ of 36 lifecycle transitions covered", done.stderr)
    assert app.state.mock.clock.now() > ManualClock.DEFAULT_START  # the hook moved the clock


SLOW_RECEIVER_SECONDS = 5.5  # past httpx's default timeout of 5 s


def test_the_walks_clock_move_waits_for_the_webhook_deliveries_it_makes() -> None:
    """A clock move answers once the deliveries that fell due are made (a stateful run of
    Neural Draft makes many endpoints): a receiver slower than httpx's default timeout no
    longer turns the walk's move into a hook error. Slow (~6 s): the receiver's own delay."""
    app = create_app(ServerConfig(clock="manual"))
    key = "ndsk_test_walk"
    headers = {"Authorization": f"Bearer {key}"}
    with Receiver([], delay=SLOW_RECEIVER_SECONDS) as receiver, LiveServer(app) as live:
        base = f"{live.url}/neuraldraft/v1"
        endpoint = {"url": receiver.url, "events": ["image.generated"]}
        httpx.post(f"{base}/webhook-endpoints", headers=headers, json=endpoint).raise_for_status()
        scenario = {**headers, "X-Mock-Scenario": "completed; after=5"}
        httpx.post(f"{base}/images", headers=scenario, json={"prompt": "x"}).raise_for_status()
        advance_clock(live.url, 5)
    deliveries = app.state.services["neuraldraft"].webhooks.deliveries(key)
    assert [(d.event, d.status) for d in deliveries] == [("image.generated", "success")]


def test_the_ci_workflow_runs_the_recipe() -> None:
    """The copy-paste workflow calls commands that exist, with options the CLI takes."""
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "mockserver-contracts.yml").read_text())
    steps = [step.get("run", "") for step in workflow["jobs"]["contracts"]["steps"]]
    (recipe,) = [line for line in steps if line.startswith("mockserver schemathesis")]
    args = build_parser().parse_args(shlex.split(recipe)[1:])
    assert (args.command, args.max_examples) == ("schemathesis", 25)
    assert any('pip install "$KIT" schemathesis' in line for line in steps)


@pytest.mark.parametrize("examples", ["0", "-1", "many", "100001"])
def test_max_examples_out_of_bounds_is_one_line_not_a_failed_api(
    examples: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """schemathesis refused 0 itself, after the mock had started, and the command then said
    the API had failed."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["schemathesis", "--max-examples", examples])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"mockserver schemathesis: argument --max-examples: {examples} is not allowed; expected "
        "a whole number from 1 to 100000 (see mockserver schemathesis --help)\n"
    )


@pytest.mark.fresh_process  # the same run whatever ran before (tests/conftest.py)
def test_the_shipped_hook_walks_lifecycles_through_the_admin_clock() -> None:
    """The kit's `after_call` hook (SCHEMATHESIS_HOOKS=mockserver.contracts.schemathesis_hooks)
    moves the clock between the polls of a stateful run: running imports reach their end,
    and the coverage names the transitions no poll showed."""
    from mockserver.contracts import schemathesis_hooks

    app = create_app(ServerConfig(clock="manual", seed=7, failure_rate=0.5))
    walk = schemathesis_hooks.WALK
    config = settings("neuralanalog", ("stateful",))
    config.projects.default.phases.stateful.generation.max_examples = 5
    with TestClient(app) as admin:
        walk.advance = lambda seconds: admin.post(
            "/__mock__/clock/advance", json={"seconds": seconds}
        ).raise_for_status()
        schema = schemathesis.openapi.from_asgi(
            apis.service_class("neuralanalog").document_url_path(), app, config=config
        )
        try:
            failures_of(from_schema(schema).execute())
        finally:
            schemathesis.hooks.unregister(schemathesis_hooks.after_call)
    covered = walk.coverage()["neuralanalog"]
    ends = [["in_progress", "completed"], ["in_progress", "failed"]]
    assert covered["audio"]["covered"]  # running imports were walked to their end...
    assert all(step in ends for step in covered["audio"]["covered"])
    missed = [step for step in ends if step not in covered["audio"]["covered"]]
    assert all(step in covered["audio"]["missed"] for step in missed)  # ...and the rest is named
    assert ["in_progress", "processing"] in covered["audio"]["missed"]  # no import shows it
    assert re.match(r"neuralanalog: \d+ of 36 lifecycle transitions covered; ", walk.summary())
    assert app.state.mock.clock.now() > ManualClock.DEFAULT_START  # moved through the admin API
    walk.seen.clear()
    walk.states.clear()


def test_the_cli_settings_are_the_declarations_as_toml() -> None:
    """`mockserver schemathesis` writes these with `python -m mockserver.schemathesis_config`."""
    written = tomllib.loads(schemathesis_config.to_toml(schemathesis_config.config()))
    assert written == schemathesis_config.config()
    titles = [project["title"] for project in written["project"]]
    assert titles == [contracts.load(api).document["info"]["title"] for api in apis.names()]
    neurolinker = written["project"][apis.names().index("neurolinker")]["operations"][0]
    assert neurolinker["checks"]["negative_data_rejection"] == {"enabled": False}
    SchemathesisConfig.from_dict(written)  # schemathesis takes it
