"""Admin bodies, query parameters and tenants that would be ignored: a body or a parameter an
endpoint does not take, and a `tenant` no API key can ever be."""

from __future__ import annotations

import pytest
from starlette.routing import Mount

from mockserver import ServerConfig
from mockserver.admin import admin_routes
from mockserver.configschema import ConfigError
from tests.conftest import Mock

NA = "/neuralanalog"
QUEUE = {"api": "neuralanalog", "outcome": "failed"}
# the endpoints that read a body, on the one method that takes it
TAKES_A_BODY = {
    ("POST", "/clock/advance"),
    ("POST", "/clock/set"),
    ("POST", "/scenarios"),
    ("POST", "/faults"),
    ("POST", "/jobs/{job_id}/transition"),
    ("POST", "/strict"),
}
# pages and a download link: their refusals are pages, or a file store's
OPEN = {"/dashboard", "/jobs/{job_id}/page", "/files/{job_id}/{name:path}"}


def seed(mock: Mock) -> dict[str, str]:
    """One of everything a clearing endpoint could forget: a job, a queued scenario, a fault
    rule, a journal entry; their IDs by the path parameter naming them."""
    created = mock.client.post(
        f"{NA}/from-link", headers=mock.headers("neuralanalog"), json={"url": "https://x/a.wav"}
    )
    assert mock.client.post("/__mock__/scenarios", json=QUEUE).status_code == 201
    rule = mock.client.post("/__mock__/faults", json={"fault": "503", "tenant": "nobody"})
    return {"job_id": created.json()["audio_id"], "rule_id": rule.json()["faults"][0]["id"]}


def held(mock: Mock) -> tuple[int, int, int, int]:
    """How many jobs, queued scenarios, fault rules and journal entries the server holds."""
    return (
        len(mock.state.store),
        len(mock.state.scenarios.queued()),
        len(mock.state.faults.describe()),
        len(mock.state.journal.entries()),
    )


def every_method() -> list[tuple[str, str]]:
    """Every admin method and path but the open ones, from the admin router itself: an
    endpoint added later is checked too."""
    (mount,) = admin_routes()
    assert isinstance(mount, Mount)
    return [
        (method, route.path)
        for route in mount.routes
        for method in sorted(set(route.methods or ()) - {"HEAD"})
        if route.path not in OPEN
    ]


def bodiless() -> list[tuple[str, str]]:
    """Every admin method and path that takes no body."""
    return [called for called in every_method() if called not in TAKES_A_BODY]


@pytest.mark.parametrize(("method", "path"), bodiless())
def test_an_endpoint_that_takes_no_body_refuses_one_and_does_nothing(
    mock: Mock, method: str, path: str
) -> None:
    """`{"tenant": "mine"}` on a reset wiped every tenant: a guessed scoped call is a 422."""
    target = "/__mock__" + path.format(**seed(mock))
    before = held(mock)
    answer = mock.client.request(method, target, json={"tenant": "mine"})
    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "error": f"unknown key 'tenant' in the body; {method} {target} takes no body"
    }
    assert held(mock)[:3] == before[:3]
    assert held(mock)[3] >= before[3]  # the journal is not cleared


@pytest.mark.parametrize(
    ("raw", "error"),
    [(b"[", "the body is not valid JSON"), (b"[]", "the body must be a JSON object")],
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "reset"), ("DELETE", "faults"), ("DELETE", "scenarios")]
)
def test_a_clearing_endpoint_refuses_a_body_that_is_no_json_object(
    mock: Mock, method: str, path: str, raw: bytes, error: str
) -> None:
    seed(mock)
    before = held(mock)
    answer = mock.client.request(method, f"/__mock__/{path}", content=raw)
    assert (answer.status_code, answer.json()) == (400, {"error": error})
    assert held(mock)[:3] == before[:3]


@pytest.mark.parametrize("raw", [None, b"", b" \n", b"{}"])
def test_a_reset_refuses_a_body_but_not_an_empty_one(mock: Mock, raw: bytes | None) -> None:
    """Clients send no body (or Content-Length 0); an empty object asks nothing either."""
    seed(mock)
    refused = mock.client.post("/__mock__/reset", json={"tenant": "mine"})
    assert refused.status_code == 422 and held(mock)[:3] == (1, 1, 1)
    answer = mock.client.post("/__mock__/reset", content=raw)
    assert (answer.status_code, answer.json()) == (200, {"reset": True})
    assert held(mock)[:3] == (0, 0, 0)
    for method, path in [("DELETE", "scenarios"), ("DELETE", "faults"), ("GET", "jobs")]:
        assert mock.client.request(method, f"/__mock__/{path}", content=raw).status_code == 200


@pytest.mark.parametrize(("method", "path"), every_method())
def test_a_query_parameter_an_endpoint_does_not_read_is_refused(
    mock: Mock, method: str, path: str
) -> None:
    """`POST /reset?tenant=mine` wiped every tenant, `?limit=` on the violations listed them
    all: a parameter the endpoint would ignore is a 422 naming it, and nothing happens."""
    target = "/__mock__" + path.format(**seed(mock))
    before = held(mock)
    answer = mock.client.request(method, target, params={"bogus": "1"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith(f"unknown query parameter 'bogus'; {method} {target}")
    assert held(mock)[:3] == before[:3]


@pytest.mark.parametrize(
    ("method", "path", "reads"),
    [
        ("POST", "reset", "takes none"),
        ("DELETE", "scenarios", "takes none"),
        ("DELETE", "faults", "takes none"),
        ("GET", "violations", "takes only api, tenant"),
    ],
)
def test_a_scoped_call_guessed_by_query_is_refused(
    mock: Mock, method: str, path: str, reads: str
) -> None:
    seed(mock)
    before = held(mock)
    answer = mock.client.request(method, f"/__mock__/{path}", params={"tenant": "mine", "limit": 1})
    assert answer.status_code == 422
    assert answer.json() == {
        "error": f"unknown query parameter 'limit'; {method} /__mock__/{path} {reads}"
    }
    assert held(mock)[:3] == before[:3]


def test_the_admin_token_and_the_parameters_an_endpoint_reads_are_taken(mock: Mock) -> None:
    seed(mock)
    for path, params in [
        (
            "jobs",
            {"api": "neuralanalog", "tenant": "x", "status": "completed", "limit": 5, "offset": 0},
        ),
        ("journal", {"api": "neuralanalog", "tenant": "x", "limit": 5}),
        ("violations", {"api": "neuralanalog", "tenant": "x"}),
        ("scenarios", {"tenant": "x"}),
        ("faults", {"tenant": "x"}),
        ("health", {"token": "anything"}),
    ]:
        assert mock.client.get(f"/__mock__/{path}", params=params).status_code == 200, path


# --- tenants no API key can be ----------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["", "   "])
def test_a_scenario_queued_for_a_blank_tenant_is_refused(tenant: str) -> None:
    """Queued, it could never be taken (no key is blank: an empty one is a 401) and held a
    slot of `max_queued_scenarios` for ever."""
    from tests.conftest import make_mock

    for mock in make_mock(max_queued_scenarios=1):
        answer = mock.client.post("/__mock__/scenarios", json={**QUEUE, "tenant": tenant})
        assert answer.status_code == 422
        assert answer.json() == {
            "error": f"'tenant' must be an API key, not blank (got {tenant!r})"
        }
        assert mock.client.post("/__mock__/scenarios", json=QUEUE).status_code == 201


def test_a_queued_tenant_is_the_key_as_an_api_reads_it(mock: Mock) -> None:
    """An API drops the spaces around a key sent: a tenant queued with them is that key's."""
    queued = mock.client.post("/__mock__/scenarios", json={**QUEUE, "tenant": f" {mock.key} "})
    assert queued.status_code == 201
    assert mock.client.get("/__mock__/scenarios", params={"tenant": mock.key}).json()["queued"]
    audio_id = mock.client.post(
        f"{NA}/from-link", headers=mock.headers("neuralanalog"), json={"url": "https://x/a.wav"}
    ).json()["audio_id"]
    assert mock.client.get(f"/__mock__/jobs/{audio_id}").json()["scenario"] == "failed"
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "jobs"),
        ("GET", "journal"),
        ("DELETE", "journal"),
        ("GET", "violations"),
        ("GET", "scenarios"),
        ("GET", "faults"),
    ],
)
@pytest.mark.parametrize("tenant", ["", " "])
def test_a_blank_tenant_filter_is_refused(mock: Mock, method: str, path: str, tenant: str) -> None:
    """It matched nothing, an answer that reads as "none"; clearing the journal with it hid
    the entries of requests that sent no key."""
    seed(mock)
    mock.client.post(f"{NA}/from-link", json={"url": "https://x/a.wav"})  # no key: a 401
    before = held(mock)
    answer = mock.client.request(method, f"/__mock__/{path}", params={"tenant": tenant})
    assert answer.status_code == 422
    assert answer.json() == {"error": f"'tenant' must be an API key, not blank (got {tenant!r})"}
    assert held(mock)[3] >= before[3]


@pytest.mark.parametrize(
    ("tenant", "why"),
    [
        ("key\x01", "no header carries a control character ('\\x01')"),
        ("clé-☃", "a header is read as Latin-1 bytes, which have no '☃'"),
    ],
)
def test_a_tenant_no_header_can_carry_is_refused_as_a_config_key_is(
    mock: Mock, tenant: str, why: str
) -> None:
    """Queued, it could never be taken; the config file refuses such a key in the same words."""
    answer = mock.client.post("/__mock__/scenarios", json={**QUEUE, "tenant": tenant})
    assert answer.status_code == 422
    assert answer.json() == {"error": f"'tenant' must be an API key a request can send: {why}"}
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


@pytest.mark.parametrize("tenant", ["sk-l…cdef", "a\x02b"])
def test_a_fault_rule_for_a_tenant_no_request_can_send_is_refused(mock: Mock, tenant: str) -> None:
    """It was taken (201), a masked key copied from a listing too, and never fired; the
    queue refused the same tenants. A config file's rule is refused at start alike."""
    rule = {"fault": "503", "api": "neuralanalog", "tenant": tenant}
    answer = mock.client.post("/__mock__/faults", json=rule)
    assert answer.status_code == 422
    assert "'tenant' must be an API key a request can send: " in answer.json()["error"]
    assert mock.client.get("/__mock__/faults").json()["faults"] == []
    with pytest.raises(ConfigError, match="faults\\[0\\]: 'tenant' must be an API key a request"):
        ServerConfig(faults=[rule]).check()


def test_a_tenant_filter_longer_than_any_key_is_refused(mock: Mock) -> None:
    answer = mock.client.get("/__mock__/jobs", params={"tenant": "k" * 4097})
    assert answer.status_code == 422
    assert answer.json() == {"error": "'tenant' must be an API key of at most 4096 characters"}
    assert mock.client.get("/__mock__/jobs", params={"tenant": "k" * 4096}).status_code == 200
