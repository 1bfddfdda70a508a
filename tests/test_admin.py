"""The admin API under /__mock__/: clock, scenario queue, jobs, transitions, journal."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.responses import Response

from mockserver.admin import DASHBOARD_ROWS, attachment
from mockserver.apis.neurolinker.pdf import synthetic_pdf
from mockserver.engine.journal import mask
from tests.conftest import Mock, wav

NA = "/neuralanalog"


def create(mock: Mock, key: str | None = None) -> str:
    response = mock.client.post(
        f"{NA}/from-link",
        headers=mock.headers("neuralanalog", key),
        json={"url": "https://x/a.wav"},
    )
    assert response.status_code == 200, response.text
    return response.json()["audio_id"]


# each API's main create: (path, the request's keyword arguments)
MAIN_CREATES: dict[str, tuple[str, dict[str, Any]]] = {
    "neuralanalog": ("/neuralanalog/from-link", {"json": {"url": "https://x/a.wav"}}),
    "camb": (
        "/camb/apis/audio-separation",
        {"files": {"media_file": ("a.wav", wav(), "audio/x-wav")}},
    ),
    "neurolinker": (
        "/neurolinker/api/v1/extract",
        {
            "files": {"documents": ("a.pdf", synthetic_pdf("A"), "application/pdf")},
            "data": {"form": "{}"},
        },
    ),
    "neuraldraft": ("/neuraldraft/v1/blog-posts", {"json": {"type": "ai", "topic": "Tea"}}),
}


def create_with_header(mock: Mock, api: str, scenario: str) -> httpx.Response:
    """Each API's main create, sent with `X-Mock-Scenario: scenario`."""
    path, request = MAIN_CREATES[api]
    headers = mock.headers(api, **{"X-Mock-Scenario": scenario})
    return mock.client.post(path, headers=headers, **request)


def status(mock: Mock, audio_id: str, key: str | None = None) -> dict:
    return mock.client.get(
        f"{NA}/status/audio/{audio_id}", headers=mock.headers("neuralanalog", key)
    ).json()


def test_health_lists_every_api_and_the_clock(mock: Mock) -> None:
    health = mock.client.get("/__mock__/health").json()
    assert health["status"] == "ok"
    assert health["apis"]["neuralanalog"] == "http://testserver/neuralanalog"
    assert health["clock"]["mode"] == "manual"


def test_clock_advance_and_set(mock: Mock) -> None:
    start = mock.client.get("/__mock__/clock").json()["now"]
    moved = mock.client.post("/__mock__/clock/advance", json={"seconds": 90}).json()
    assert moved["now"] == start + 90
    set_to = mock.client.post("/__mock__/clock/set", json={"time": "2026-03-01T12:00:00Z"}).json()
    assert set_to["iso"] == "2026-03-01T12:00:00.000000Z"
    assert mock.client.post("/__mock__/clock/advance", json={"seconds": "soon"}).status_code == 422
    assert mock.client.post("/__mock__/clock/advance", json={"seconds": -1}).status_code == 422
    assert mock.client.post("/__mock__/clock/advance", content=b"{").status_code == 400


def test_a_job_made_after_the_time_set_does_not_exist_yet_but_to_the_admin_api(
    mock: Mock,
) -> None:
    """Time travel, as admin-api.md says: its API answers 404 (a cancel too) until the clock
    passes its creation again, while the admin API lists it."""
    mock.client.post("/__mock__/clock/set", json={"time": "2026-01-01T01:00:00Z"})
    headers = mock.headers("neuraldraft")
    job_id = mock.client.post(
        "/neuraldraft/v1/images", json={"prompt": "x"}, headers=headers
    ).json()["id"]
    audio_id = create(mock)
    mock.client.post("/__mock__/clock/set", json={"time": "2026-01-01T00:59:59Z"})
    assert mock.client.get(f"/neuraldraft/v1/jobs/{job_id}", headers=headers).status_code == 404
    cancel = mock.client.post(f"/neuraldraft/v1/jobs/{job_id}/cancel", headers=headers)
    assert cancel.status_code == 404
    assert mock.client.get(
        f"{NA}/status/audio/{audio_id}", headers=mock.headers("neuralanalog")
    ).json() == {"detail": f"Audio {audio_id} not found"}
    assert mock.client.get(f"/__mock__/jobs/{job_id}").json()["id"] == job_id
    listed = mock.client.get("/__mock__/jobs").json()["jobs"]
    assert {job["id"] for job in listed} == {job_id, audio_id}
    mock.client.post("/__mock__/clock/set", json={"time": "2026-01-01T01:00:00Z"})
    assert mock.client.get(f"/neuraldraft/v1/jobs/{job_id}", headers=headers).status_code == 200
    assert status(mock, audio_id)["status"] == "in_progress"


def test_a_file_link_of_a_job_made_after_the_time_set_is_a_404(mock: Mock) -> None:
    """The API 404s the job, so its signed download link does too; it served the file."""
    audio_id = create(mock)
    mock.advance(3600)
    link = mock.client.get(
        f"{NA}/download/audio/{audio_id}",
        headers=mock.headers("neuralanalog"),
        follow_redirects=False,
    ).headers["location"]
    assert mock.client.get(link).status_code == 200
    mock.client.post("/__mock__/clock/set", json={"time": "2025-12-31T23:59:59Z"})
    gone = mock.client.get(link)
    assert gone.status_code == 404 and gone.json()["error"] == "NoSuchKey"


def test_a_file_link_is_a_404_while_the_clock_is_set_back_before_its_job_ended(
    mock: Mock,
) -> None:
    """The API says the job is still at work then (Neural Analog's download a 409, Camb's
    result a 404), so the link given once it ended does too; it served the file."""
    audio_id, camb = create(mock), mock.headers("camb")
    task = mock.client.post(
        "/camb/apis/audio-separation",
        headers=camb,
        files={"media_file": ("take.wav", wav(), "audio/wav")},
    ).json()["task_id"]
    mock.advance(30)  # the import ended at 20 s, the separation at 30 s
    link = mock.client.get(
        f"{NA}/download/audio/{audio_id}",
        headers=mock.headers("neuralanalog"),
        follow_redirects=False,
    ).headers["location"]
    run_id = mock.client.get(f"/camb/apis/audio-separation/{task}", headers=camb).json()["run_id"]
    result = mock.client.get(f"/camb/apis/audio-separation-result/{run_id}", headers=camb).json()
    foreground = result["foreground_audio_url"]
    assert mock.client.get(link).status_code == mock.client.get(foreground).status_code == 200
    back = mock.client.get("/__mock__/clock").json()["now"] - 20  # both exist, neither ended
    mock.client.post("/__mock__/clock/set", json={"time": back})
    assert status(mock, audio_id)["status"] == "in_progress"
    for gone in (mock.client.get(link), mock.client.get(foreground)):
        assert gone.status_code == 404
        assert gone.json() == {"error": "NoSuchKey", "message": "The file does not exist yet"}
    mock.advance(20)
    assert mock.client.get(link).status_code == mock.client.get(foreground).status_code == 200


def test_queued_scenarios_apply_to_the_next_jobs_of_that_tenant(mock: Mock) -> None:
    queued = mock.client.post(
        "/__mock__/scenarios",
        json={
            "api": "neuralanalog",
            "outcome": "failed",
            "tenant": mock.key,
            "count": 2,
            "after": 5,
            "message": "nope",
        },
    )
    assert queued.status_code == 201
    assert len(queued.json()["queued"]) == 2
    first, second, third = (create(mock) for _ in range(3))
    other = create(mock, "someone-else")
    mock.advance(30)
    assert status(mock, first)["error_message"] == "nope"
    assert status(mock, second)["is_failed"]
    assert status(mock, third)["is_complete"]
    assert status(mock, other, "someone-else")["is_complete"]
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


def test_header_scenario_wins_over_the_queue(mock: Mock) -> None:
    mock.client.post("/__mock__/scenarios", json={"api": "neuralanalog", "outcome": "failed"})
    headers = {**mock.headers("neuralanalog"), "X-Mock-Scenario": "completed; after=1"}
    audio_id = mock.client.post(
        f"{NA}/from-link", headers=headers, json={"url": "https://x/a.wav"}
    ).json()["audio_id"]
    mock.advance(1)
    assert status(mock, audio_id)["is_complete"]
    assert len(mock.client.get("/__mock__/scenarios").json()["queued"]) == 1


def test_queue_refuses_unknown_apis_and_outcomes(mock: Mock) -> None:
    bad_api = mock.client.post("/__mock__/scenarios", json={"api": "spotify", "outcome": "failed"})
    assert bad_api.status_code == 422 and "'api' must be one of" in bad_api.json()["error"]
    bad_outcome = mock.client.post(
        "/__mock__/scenarios", json={"api": "neuralanalog", "outcome": "SUCCESS!"}
    )
    assert bad_outcome.status_code == 422 and "unknown outcome" in bad_outcome.json()["error"]
    bad_count = mock.client.post(
        "/__mock__/scenarios", json={"api": "neuralanalog", "outcome": "failed", "count": 0}
    )
    assert bad_count.status_code == 422
    misspelt = mock.client.post(
        "/__mock__/scenarios", json={"api": "camb", "outcome": "ERROR", "reasn": "x"}
    )
    assert misspelt.status_code == 422
    assert misspelt.json()["error"] == (
        "unknown scenario option 'reasn' for camb; known: after, delay, fault, message, mode, "
        "operation, payload, rate, reason, retry_after, seed, times"
    )
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


@pytest.mark.parametrize(
    ("api", "scenario", "option"),
    [
        ("neuralanalog", "failed; afer=30", "afer"),
        ("camb", "ERROR; code=oops", "code"),  # Neural Draft's option, not Camb.ai's
        ("neurolinker", "partial; failng=2", "failng"),
        ("neuraldraft", "failed; reason=x", "reason"),
    ],
)
def test_a_header_scenario_with_an_option_the_api_does_not_know_is_a_400(
    mock: Mock, api: str, scenario: str, option: str
) -> None:
    """In the API's own error format, naming the option and those the API knows; no job."""
    answer = create_with_header(mock, api, scenario)
    assert answer.status_code == 400
    assert f"unknown scenario option '{option}' for {api}; known: after," in answer.text
    assert mock.client.get("/__mock__/jobs").json()["jobs"] == []


def test_a_header_scenario_with_another_mode_than_poll_is_a_400(mock: Mock) -> None:
    answer = create_with_header(mock, "neuralanalog", "completed; mode=pol")
    assert answer.status_code == 400
    assert "mode='pol' is not known; the one mode is poll" in answer.json()["detail"]


def test_key_bound_scenarios() -> None:
    from tests.conftest import make_mock

    for mock in make_mock(keys={"always-fails": {"scenario": "failed; after=2"}}):
        audio_id = create(mock, "always-fails")
        mock.advance(2)
        assert status(mock, audio_id, "always-fails")["is_failed"]


def test_jobs_listing_filters_and_transition(mock: Mock) -> None:
    mine, theirs = create(mock), create(mock, "other")
    listed = mock.client.get(
        "/__mock__/jobs", params={"api": "neuralanalog", "tenant": mock.key}
    ).json()
    assert [j["id"] for j in listed["jobs"]] == [mine]
    assert mock.client.get(f"/__mock__/jobs/{theirs}").json()["tenant"] == "*****"  # masked
    forced = mock.client.post(
        f"/__mock__/jobs/{mine}/transition", json={"outcome": "failed", "message": "forced"}
    )
    assert forced.status_code == 200 and forced.json()["state"] == "failed"
    assert status(mock, mine)["error_message"] == "forced"
    again = mock.client.post(f"/__mock__/jobs/{mine}/transition", json={"outcome": "completed"})
    assert again.status_code == 409
    running = mock.client.get("/__mock__/jobs", params={"status": "in_progress"}).json()
    assert [j["id"] for j in running["jobs"]] == [theirs]
    assert mock.client.get("/__mock__/jobs/nope").status_code == 404


def test_jobs_listing_pages_back_from_the_newest(mock: Mock) -> None:
    mine = [create(mock) for _ in range(3)]
    create(mock, "other")
    mine += [create(mock) for _ in range(2)]

    def page(**params: object) -> tuple[list[str], bool]:
        answer = mock.client.get("/__mock__/jobs", params={"tenant": mock.key, **params})
        assert answer.status_code == 200, answer.text
        listed = answer.json()
        assert listed["count"] == len(listed["jobs"])
        return [j["id"] for j in listed["jobs"]], listed["more"]

    assert page() == (mine, False)  # no limit: all of them, oldest first
    assert page(limit=2) == (mine[3:], True)
    assert page(limit=2, offset=2) == (mine[1:3], True)
    assert page(limit=2, offset=4) == (mine[:1], False)
    assert page(limit=0) == ([], True)
    mock.client.post(f"/__mock__/jobs/{mine[4]}/transition", json={"outcome": "failed"})
    assert page(limit=2, status="in_progress") == (mine[2:4], True)
    assert page(limit=2, status="failed") == (mine[4:], False)
    everyone = mock.client.get("/__mock__/jobs", params={"limit": 3}).json()["jobs"]
    assert [j["tenant"] for j in everyone] == [mask("other"), mask(mock.key), mask(mock.key)]


def test_jobs_listing_refuses_a_status_no_job_can_show(mock: Mock) -> None:
    """`?status=bogus` matched nothing and answered an empty 200, while `?api=bogus` was a
    422: a typo looked like "no such jobs"."""
    create(mock)
    for params, listed in (
        ({"status": "IN_PROGRESS"}, 1),  # any case
        ({"status": "pending"}, 0),  # camb's, in no other API's words
        ({"api": "camb", "status": "PENDING"}, 0),
    ):
        answer = mock.client.get("/__mock__/jobs", params=params)
        assert answer.status_code == 200, answer.text
        assert answer.json()["count"] == listed
    for params in ({"status": "bogus"}, {"api": "neuralanalog", "status": "pending"}):
        answer = mock.client.get("/__mock__/jobs", params=params)
        assert answer.status_code == 422, answer.text
        assert "'status' must be one of: " in answer.json()["error"]
    assert "in_progress" in answer.json()["error"] and "(got 'pending')" in answer.json()["error"]


@pytest.mark.parametrize("value", ["-1", "two", "1e3", "1234567890", "²"])
def test_jobs_and_journal_limits_must_be_small_whole_numbers(mock: Mock, value: str) -> None:
    pairs = [("jobs", "limit"), ("jobs", "offset"), ("journal", "limit"), ("journal", "offset")]
    for path, name in pairs:
        answer = mock.client.get(f"/__mock__/{path}", params={name: value})
        assert answer.status_code == 422
        assert f"'{name}' must be a whole number" in answer.json()["error"]


def test_journal_pages_back_from_the_latest_as_the_jobs_listing_does(mock: Mock) -> None:
    """`?offset=` was taken and ignored: `limit=2&offset=1` listed what `limit=2` did."""
    mine = [create(mock) for _ in range(3)]
    create(mock, "other")
    mine += [create(mock) for _ in range(2)]

    def page(**params: object) -> list[str]:
        answer = mock.client.get("/__mock__/journal", params={"tenant": mock.key, **params})
        assert answer.status_code == 200, answer.text
        return [e["response"]["audio_id"] for e in answer.json()["entries"]]

    assert page() == mine  # oldest first
    assert page(offset=0) == mine
    assert page(limit=2) == mine[3:]
    assert page(limit=2, offset=2) == mine[1:3]
    assert page(limit=2, offset=4) == mine[:1]
    assert page(limit=2, offset=5) == []
    assert page(offset=3) == mine[:2]  # no limit: all the older ones
    assert page(limit=0, offset=1) == []
    everyone = mock.client.get("/__mock__/journal", params={"limit": 2, "offset": 2}).json()
    assert [e["tenant"] for e in everyone["entries"]] == [mask(mock.key), mask("other")]


def test_journal_records_requests_and_can_be_cleared(mock: Mock) -> None:
    audio_id = create(mock)
    status(mock, audio_id)
    entries = mock.client.get("/__mock__/journal", params={"tenant": mock.key}).json()["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/from-link", 200),
        ("GET", f"/status/audio/{audio_id}", 200),
    ]
    assert entries[0]["request"] == {"url": "https://x/a.wav"}
    assert entries[1]["response"]["object_id"] == audio_id
    assert (
        mock.client.get("/__mock__/journal", params={"limit": 1})
        .json()["entries"][0]["path"]
        .startswith("/status")
    )
    mock.client.delete("/__mock__/journal")
    assert mock.client.get("/__mock__/journal").json() == {"entries": []}


def test_reset_forgets_jobs(mock: Mock) -> None:
    audio_id = create(mock)
    assert mock.client.post("/__mock__/reset").json() == {"reset": True}
    assert (
        mock.client.get(
            f"{NA}/status/audio/{audio_id}", headers=mock.headers("neuralanalog")
        ).status_code
        == 404
    )


def test_every_response_carries_a_request_id(mock: Mock) -> None:
    response = mock.client.get(f"{NA}/status/audio/x", headers=mock.headers("neuralanalog"))
    assert response.headers["x-request-id"].startswith("req_")


def test_dashboard_lists_jobs_newest_first_with_buttons_that_steer(mock: Mock) -> None:
    older, newer = create(mock), create(mock)
    mock.advance(10)
    mock.client.post(f"/__mock__/jobs/{older}/transition", json={"outcome": "failed"})
    page = mock.client.get("/__mock__/dashboard", params={"tenant": mock.key})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.index(newer) < html.index(older)  # the newest first
    assert f'href="jobs/{newer}/page"' in html
    # the running job can be ended by a button per terminal word; the failed one cannot
    assert f'data-path="jobs/{newer}/transition" data-body="{{&quot;outcome&quot;: ' in html
    assert f"jobs/{older}/transition" not in html
    assert 'data-path="clock/advance" data-body="{&quot;seconds&quot;: 60}"' in html
    # the buttons' calls are the admin API's own
    assert mock.client.post("/__mock__/clock/advance", json={"seconds": 60}).status_code == 200
    other = mock.client.get("/__mock__/dashboard", params={"tenant": "someone-else"}).text
    assert newer not in other and "0 jobs" in other


def test_dashboard_shows_the_newest_jobs_and_how_many_are_kept(mock: Mock) -> None:
    created = [create(mock) for _ in range(DASHBOARD_ROWS + 1)]
    everyone = mock.client.get("/__mock__/dashboard").text
    assert f"{DASHBOARD_ROWS + 1} jobs, the newest {DASHBOARD_ROWS} shown" in everyone
    assert created[-1] in everyone and created[0] not in everyone
    by_api = mock.client.get("/__mock__/dashboard", params={"api": "neuralanalog"}).text
    assert f"The newest {DASHBOARD_ROWS} jobs shown, older ones kept" in by_api
    assert "0 jobs" in mock.client.get("/__mock__/dashboard", params={"api": "camb"}).text


def test_dashboard_escapes_what_clients_chose(mock: Mock) -> None:
    create(mock, key="<b>key</b>")  # shown masked, as every key is: its ends, escaped
    html = mock.client.get("/__mock__/dashboard").text
    assert "&lt;b&gt;k…&lt;/b&gt;" in html and "<b>k" not in html


def test_dashboard_shows_the_latest_requests_with_their_violations(mock: Mock) -> None:
    audio_id = create(mock)
    mock.client.get(f"{NA}/status/movie/{audio_id}", headers=mock.headers("neuralanalog"))
    html = mock.client.get("/__mock__/dashboard", params={"tenant": mock.key}).text
    requests = html[html.index("Latest requests") :]
    assert requests.index(f"GET /status/movie/{audio_id}") < requests.index("POST /from-link")
    assert "/path/object_type: " in requests  # the enum the request broke


@pytest.mark.parametrize("origin", ["http://[::1", "http://a]b"])
def test_an_origin_that_does_not_parse_is_refused_as_a_foreign_one(mock: Mock, origin: str) -> None:
    for method, path in [("GET", "/__mock__/health"), ("POST", "/__mock__/clock/advance")]:
        answer = mock.client.request(method, path, headers={"Origin": origin}, json={"seconds": 5})
        assert answer.status_code == 403
        assert answer.json() == {"error": f"the admin API does not answer requests from {origin}"}
    assert mock.client.get("/__mock__/clock").json()["now"] == 1767225600.0  # not moved


def test_a_journal_limit_of_zero_lists_no_entry(mock: Mock) -> None:
    """As `/jobs?limit=0` does: the latest none."""
    create(mock)
    assert mock.client.get("/__mock__/journal", params={"limit": 0}).json() == {"entries": []}
    assert len(mock.client.get("/__mock__/journal", params={"limit": 1}).json()["entries"]) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "jobs"), ("GET", "journal"), ("DELETE", "journal"), ("GET", "violations")],
)
def test_an_unknown_api_filter_is_refused_naming_the_known_apis(
    mock: Mock, method: str, path: str
) -> None:
    """A misspelt name would match nothing: an empty answer, or a DELETE that clears nothing."""
    create(mock)
    answer = mock.client.request(method, f"/__mock__/{path}", params={"api": "neuralanalg"})
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "'api' must be one of: camb, neuralanalog, neuraldraft, neurolinker "
        "(got 'neuralanalg')"
    }
    assert len(mock.client.get("/__mock__/journal").json()["entries"]) == 1  # still there


def test_a_queued_tenant_longer_than_any_api_key_is_refused(mock: Mock) -> None:
    queue = {"api": "neuralanalog", "outcome": "failed"}
    longest = mock.client.post("/__mock__/scenarios", json={**queue, "tenant": "k" * 4096})
    assert longest.status_code == 201
    mock.client.delete("/__mock__/scenarios")
    answer = mock.client.post("/__mock__/scenarios", json={**queue, "tenant": "k" * 4097})
    assert answer.status_code == 422
    assert answer.json() == {"error": "'tenant' must be an API key of at most 4096 characters"}
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


def test_unknown_admin_paths_and_wrong_methods_answer_in_json(mock: Mock) -> None:
    wrong = mock.client.get("/__mock__/reset")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    assert wrong.json() == {"error": "GET is not allowed on /__mock__/reset; use POST"}
    reading = mock.client.post("/__mock__/jobs")
    assert (reading.status_code, reading.headers["allow"]) == (405, "GET, HEAD")
    assert mock.client.delete("/__mock__/faults/fault-9").json() == {
        "error": "no fault rule 'fault-9'"
    }
    unknown = mock.client.get("/__mock__/bogus")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no admin endpoint at /__mock__/bogus"}
    slashed = mock.client.get("/__mock__/jobs/", follow_redirects=False)
    assert (slashed.status_code, slashed.json()) == (
        404,
        {"error": "no admin endpoint at /__mock__/jobs/"},
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"time": "abc"},
            "'time' must be Unix seconds or an ISO 8601 time such as "
            "2026-03-01T12:00:00Z, from 1970-01-01 to 9000-01-01 (got 'abc')",
        ),
        ({"time": "2026-03-01T12:00:00+25:00"}, "'time' must be Unix seconds or an ISO 8601"),
        ({"time": 1e15}, "'time' must be Unix seconds or an ISO 8601"),
        ({"timestamp": None}, "'timestamp' must be Unix seconds or an ISO 8601"),
        ({"time": True}, "'time' must be Unix seconds or an ISO 8601"),
        ({}, "'time' must be Unix seconds or an ISO 8601"),  # the documented name, not its alias
        ({"time": 0, "timestamp": 60}, "give 'time' or its alias 'timestamp', not both"),
    ],
)
def test_a_clock_set_refusal_names_the_field_and_its_forms(
    mock: Mock, body: dict, message: str
) -> None:
    answer = mock.client.post("/__mock__/clock/set", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"].startswith(message)


def test_refusals_echo_a_short_prefix_of_a_long_value(mock: Mock) -> None:
    for path, name in [("clock/set", "time"), ("strict", "strict")]:
        answer = mock.client.post(f"/__mock__/{path}", json={name: "x" * 500_000})
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error.startswith(f"'{name}' must be ") and error.endswith("xxx...)")
        assert len(error) < 300


def test_a_clock_advance_refusal_names_seconds(mock: Mock) -> None:
    answer = mock.client.post("/__mock__/clock/advance", json={"seconds": -1})
    assert answer.status_code == 422
    assert answer.json() == {"error": "'seconds' must be from 0 to 315360000 (got -1)"}


def test_a_full_scenario_queue_says_so_and_names_its_limit() -> None:
    from tests.conftest import make_mock

    for mock in make_mock(max_queued_scenarios=3):
        queue = {"api": "neuralanalog", "outcome": "failed"}
        assert (
            mock.client.post("/__mock__/scenarios", json={**queue, "count": 2}).status_code == 201
        )
        over = mock.client.post("/__mock__/scenarios", json={**queue, "count": 2})
        assert over.status_code == 422
        assert over.json() == {
            "error": "'count' must be from 1 to 1: it holds 2 of at most 3 scenarios "
            "(max_queued_scenarios)"
        }
        assert mock.client.post("/__mock__/scenarios", json=queue).status_code == 201
        full = mock.client.post("/__mock__/scenarios", json=queue)
        assert full.status_code == 422
        assert full.json() == {
            "error": "the scenario queue is full: it holds 3 of at most 3 scenarios "
            "(max_queued_scenarios)"
        }
        assert len(mock.client.get("/__mock__/scenarios").json()["queued"]) == 3


# --- pages and links that work for whoever was given them ------------------------------------

NL_HOST = {"Host": "neurolinker.api.ainexxo.com"}  # the real host: the API at the root
TOKEN = {"X-Mock-Admin-Token": "s3cret"}


@pytest.mark.parametrize(("token", "refused"), [(None, 403), ("s3cret", 401)])
def test_a_job_page_link_opens_read_only_for_the_client_that_got_it(
    token: str | None, refused: int
) -> None:
    """`job_page_url` pointed at an admin page: a 403 ("local Host names only") under the
    API's own Host, a 401 on a token server. Its signature now opens that page alone."""
    from tests.conftest import make_mock

    for mock in make_mock(admin_token=token):
        headers = {**mock.headers("neurolinker"), **NL_HOST}
        form = {"form": '{"documents_url": ["https://e.com/a.pdf"]}'}
        created = mock.client.post("/api/v1/extract", headers=headers, data=form).json()
        status = mock.client.get(
            f"/api/v1/request-status/{created['request_uid']}", headers=headers
        ).json()
        link = status["job_page_url"]
        assert link.startswith("http://neurolinker.api.ainexxo.com/__mock__/jobs/")
        page = mock.client.get(link)  # no token, a Host the admin API does not answer
        assert page.status_code == 200, page.text
        assert created["request_uid"] in page.text and "admin API summary" not in page.text
        document = status["documents"][0]["document_id"]
        assert f'href="../{document}/page?signature=' in page.text  # its own key's documents
        unsigned, signature = link.split("ainexxo.com", 1)[1].split("?")
        assert mock.client.get(unsigned, headers=NL_HOST).status_code == refused  # admin's
        forged = mock.client.get(unsigned, params={"signature": "0" * 32}, headers=NL_HOST)
        assert forged.status_code == 404
        other = f"/__mock__/jobs/{document}/page?{signature}"  # another job's signature
        assert mock.client.get(other, headers=NL_HOST).status_code == 404
        summary = f"/__mock__/jobs/{document}?{signature}"  # opens no other admin path
        assert mock.client.get(summary, headers=NL_HOST).status_code == refused


def test_dashboard_links_carry_the_token_it_was_opened_with() -> None:
    """Only its buttons passed `?token=` on: its links answered 401."""
    from tests.conftest import make_mock

    for mock in make_mock(admin_token="s3cret"):
        job = create(mock)
        html = mock.client.get("/__mock__/dashboard", params={"token": "s3cret"}).text
        for href in ("journal?token=s3cret", "violations?token=s3cret"):
            assert f'href="{href}"' in html
            assert mock.client.get(f"/__mock__/{href}").status_code == 200
        assert f'href="jobs/{job}/page?token=s3cret"' in html
        job_page = mock.client.get(f"/__mock__/jobs/{job}/page", params={"token": "s3cret"})
        assert f'href="../{job}?token=s3cret"' in job_page.text  # its JSON, with the token
        unknown = mock.client.get("/__mock__/dashboard", params={"api": "x", "token": "s3cret"})
        assert 'href="dashboard?token=s3cret"' in unknown.text
        assert 'href="journal"' in mock.client.get("/__mock__/dashboard", headers=TOKEN).text


# --- only the words a job can end in -----------------------------------------------------------


def neurolinker_jobs(mock: Mock) -> tuple[str, str]:
    """A running NeuroLinker request and its one document."""
    created = create_with_header(mock, "neurolinker", "completed; after=100")
    request_id = created.json()["request_uid"]
    status = mock.client.get(
        f"/neurolinker/api/v1/request-status/{request_id}", headers=mock.headers("neurolinker")
    ).json()
    return request_id, status["documents"][0]["document_id"]


def test_a_transition_lists_exactly_the_words_it_takes(mock: Mock) -> None:
    """It listed `stalled` as known, then refused it; NeuroLinker's words included
    `insufficient_credits`, which refuses a create and ends no job."""
    audio = create(mock)
    stalled = mock.client.post(f"/__mock__/jobs/{audio}/transition", json={"outcome": "stalled"})
    assert (stalled.status_code, stalled.json()) == (
        422,
        {
            "error": "'outcome' 'stalled' is not a job outcome here: a neuralanalog audio job "
            "ends in completed, failed"
        },
    )
    request_id, document = neurolinker_jobs(mock)
    for job, words in ((request_id, "completed, failed, partial"), (document, "completed, failed")):
        refused = mock.client.post(
            f"/__mock__/jobs/{job}/transition", json={"outcome": "insufficient_credits"}
        )
        assert refused.status_code == 422
        assert refused.json()["error"].startswith("'outcome' 'insufficient_credits' is not a")
        assert refused.json()["error"].endswith(f" job ends in {words}")


def test_dashboard_offers_only_the_words_a_job_can_end_in(mock: Mock) -> None:
    """A document never ends `partial`, nor does a request of one document (it would need a
    completed and a failed one): the button failed with an alert."""
    request_id, document = neurolinker_jobs(mock)
    html = mock.client.get("/__mock__/dashboard").text
    assert "insufficient_credits" not in html
    assert "&quot;partial&quot;" not in html
    assert f'aria-label="end neurolinker document {document} as failed"' in html
    form = json.dumps({"documents_url": ["https://e.com/a.pdf", "https://e.com/b.pdf"]})
    two = mock.client.post(
        "/neurolinker/api/v1/extract",
        headers=mock.headers("neurolinker", **{"X-Mock-Scenario": "completed; after=100"}),
        data={"form": form},
    )
    html = mock.client.get("/__mock__/dashboard").text
    label = f'aria-label="end neurolinker request {two.json()["request_uid"]} as partial"'
    assert html.count("&quot;partial&quot;") == 1 and label in html


def test_a_submit_only_word_is_no_status_filter(mock: Mock) -> None:
    neurolinker_jobs(mock)
    for params in ({"status": "insufficient_credits"}, {"api": "neurolinker", "status": "partial"}):
        answer = mock.client.get("/__mock__/jobs", params=params)
        assert answer.status_code == (422 if "api" not in params else 200), answer.text
    refused = mock.client.get(
        "/__mock__/jobs", params={"api": "neurolinker", "status": "insufficient_credits"}
    )
    assert refused.json() == {
        "error": "'status' must be one of: completed, failed, partial, pending, processing "
        "(got 'insufficient_credits')"
    }


# --- strict bodies, masked keys, cut values, no redirects ----------------------------------------


def test_clearing_the_journal_takes_the_filters_alone(mock: Mock) -> None:
    """`limit` was ignored (everything cleared) and `?limit=-1` or `abc` answered 200."""
    create(mock)
    for params, error in (
        ({"limit": "-1"}, "'limit' must be a whole number below 10^9"),
        ({"limit": "abc"}, "'limit' must be a whole number below 10^9"),
        (
            {"limit": "5"},
            "'limit' does not apply to clearing: it clears every entry ?api= and ?tenant= match",
        ),
        ({"offset": "1"}, "'offset' does not apply to clearing"),
    ):
        answer = mock.client.delete("/__mock__/journal", params=params)
        assert answer.status_code == 422 and answer.json()["error"].startswith(error)
    assert mock.client.get("/__mock__/journal").json()["entries"] != []  # nothing cleared
    mock.client.delete("/__mock__/journal", params={"tenant": mock.key})
    assert mock.client.get("/__mock__/journal").json()["entries"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("clock/advance", {"seconds": 1, "extra": 2}),
        ("clock/set", {"time": "2026-01-02T00:00:00Z", "extra": 2}),
        ("strict", {"strict": True, "extra": 2}),
    ],
)
def test_admin_bodies_refuse_unknown_keys(mock: Mock, path: str, body: dict) -> None:
    before = mock.client.get("/__mock__/clock").json()
    answer = mock.client.post(f"/__mock__/{path}", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"].startswith("unknown key 'extra' in the body; known: ")
    assert mock.client.get("/__mock__/clock").json() == before
    assert mock.client.get("/__mock__/strict").json() == {"strict": False}


def test_fault_rule_numbers_are_json_numbers(mock: Mock) -> None:
    for rule in (
        {"fault": "error", "status": "503"},
        {"fault": "429", "retry_after": "5"},
        {"fault": "latency", "delay": "1"},
        {"fault": "503", "times": "2"},
    ):
        answer = mock.client.post("/__mock__/faults", json=rule)
        assert answer.status_code == 422, rule
        assert answer.json()["error"].endswith("): a JSON one, not text")
    assert mock.client.get("/__mock__/faults").json() == {"faults": []}
    always = mock.client.post("/__mock__/faults", json={"fault": "503", "times": "always"})
    assert always.status_code == 201


def test_admin_job_views_mask_api_keys_and_filter_by_the_real_one(mock: Mock) -> None:
    job = create(mock)
    listed = mock.client.get("/__mock__/jobs", params={"tenant": mock.key}).json()["jobs"]
    assert [(j["id"], j["tenant"]) for j in listed] == [(job, mask(mock.key))]
    assert mock.client.get(f"/__mock__/jobs/{job}").json()["tenant"] == mask(mock.key)
    assert mock.key not in mock.client.get("/__mock__/jobs").text
    ended = mock.client.post(f"/__mock__/jobs/{job}/transition", json={"outcome": "failed"})
    assert ended.json()["tenant"] == mask(mock.key)


def test_long_values_are_echoed_cut_short(mock: Mock) -> None:
    long = "x" * 3000
    job = create(mock)
    answers = [
        mock.client.get(f"/__mock__/jobs/{long}"),
        mock.client.get(f"/__mock__/jobs/{long}/page"),
        mock.client.post(f"/__mock__/jobs/{long}/transition", json={"outcome": "failed"}),
        mock.client.delete(f"/__mock__/faults/{long}"),
        mock.client.post("/__mock__/scenarios", json={"api": "camb", "outcome": long}),
        mock.client.post("/__mock__/scenarios", json={"api": "camb", "outcome": f"ERROR; {long}"}),
        mock.client.post(
            "/__mock__/scenarios", json={"api": "camb", "outcome": f"ERROR; reason={long}"}
        ),
        mock.client.post(
            "/__mock__/scenarios", json={"api": "camb", "outcome": f"ERROR; after={long}"}
        ),
        mock.client.post(
            "/__mock__/scenarios", json={"api": "camb", "outcome": f"ERROR; {long}=1"}
        ),
        mock.client.post(f"/__mock__/jobs/{job}/transition", json={"outcome": long}),
        mock.client.post(f"/__mock__/jobs/{job}/transition", json={"outcome": "failed", long: 1}),
        mock.client.get("/__mock__/dashboard", params={"api": long}),
    ]
    for answer in answers:
        assert answer.status_code in (404, 422), answer.text[:200]
        assert "x" * 100 not in answer.text and "x..." in answer.text


@pytest.mark.parametrize("path", ["/__mock__", "/__mock__/files/x"])
def test_admin_paths_it_lacks_are_a_json_404_not_a_redirect(mock: Mock, path: str) -> None:
    answer = mock.client.get(path, follow_redirects=False)
    assert (answer.status_code, answer.json()) == (404, {"error": f"no admin endpoint at {path}"})


@pytest.mark.parametrize("name", ["日本 語.pdf", 'a "b".zip', "line\nbreak.wav", "c\\d.md"])
def test_a_file_link_names_any_file_in_a_header_a_client_reads(name: str) -> None:
    """A header is Latin-1 without control characters: the name itself goes as RFC 6266's
    `filename*`, beside a printable-ASCII stand-in."""
    header = attachment(name)
    assert header.isascii() and header.isprintable()
    Response(b"", headers={"Content-Disposition": header})  # raises for what is no header
    assert header.endswith(f"filename*=UTF-8''{quote(name, safe='')}")
    assert attachment("a.zip") == 'attachment; filename="a.zip"'
