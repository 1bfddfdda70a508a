"""The engine's plans come from the contracts' `x-lifecycle`: every plan each API makes (every
kind, every outcome, stalled, timed and per poll) walks only the states and transitions its
lifecycle allows, as polled on a manual clock; a contract its plans do not fit stops the API
while it is imported; its usual durations are the plans'."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from mockserver import apis
from mockserver.contracts import check_lifecycle, load
from mockserver.contracts.lifecycle import LifecycleMismatch, lifecycle, lifecycles_of
from tests.conftest import Mock, wav
from tests.pdfs import written_pdf

STALLED = "stalled"
Start = Callable[[Mock, dict[str, str]], None]


def post(mock: Mock, api: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    answer = mock.client.post(apis.service_class(api).prefix + path, headers=headers, **kwargs)
    assert answer.status_code < 300, answer.text
    return answer.json()


def camb(mock: Mock, headers: dict[str, str]) -> None:
    post(mock, "camb", "/apis/audio-separation", headers, files={"media_file": ("a.wav", wav())})


def imported(mock: Mock) -> str:
    """A completed Neural Analog import to process (its own job walks too)."""
    headers = mock.headers("neuralanalog")
    audio = post(mock, "neuralanalog", "/from-link", headers, json={"url": "https://x/a.mp3"})
    mock.advance(60)
    return str(audio["audio_id"])


def neuralanalog(path: str, **body: Any) -> Start:
    def start(mock: Mock, headers: dict[str, str]) -> None:
        if path == "/from-link":
            post(mock, "neuralanalog", path, headers, json={"url": "https://x/a.mp3"})
        else:
            post(mock, "neuralanalog", path, headers, json={"audio_id": imported(mock), **body})

    return start


def neurolinker(mock: Mock, headers: dict[str, str]) -> None:
    """Two documents: a request can then end partial."""
    files = [
        ("documents", (f"d{i}.pdf", written_pdf(f"Page {i}"), "application/pdf")) for i in (1, 2)
    ]
    post(mock, "neurolinker", "/api/v1/extract", headers, files=files, data={"form": "{}"})


def neuraldraft(path: str, **body: Any) -> Start:
    def start(mock: Mock, headers: dict[str, str]) -> None:
        post(mock, "neuraldraft", path, headers, json=body)

    return start


STARTS: dict[tuple[str, str], Start] = {
    ("camb", "audio_separation"): camb,
    ("neuralanalog", "audio"): neuralanalog("/from-link"),
    ("neuralanalog", "upscaled"): neuralanalog("/upscale-audio"),
    ("neuralanalog", "mastered"): neuralanalog("/master-audio"),
    ("neuralanalog", "stem_split"): neuralanalog("/create-stems", preset="4_tracks"),
    ("neuralanalog", "workflow"): neuralanalog(
        "/run-workflow", steps=[{"type": "upscale"}, {"type": "master"}, {"type": "stems"}]
    ),
    ("neurolinker", "request"): neurolinker,
    ("neurolinker", "document"): neurolinker,
    ("neuraldraft", "blog_post.generate"): neuraldraft(
        "/v1/blog-posts", type="ai", topic="Cold brew", translate_to_all=True
    ),
    ("neuraldraft", "image.generate"): neuraldraft("/v1/images", prompt="A fox"),
    ("neuraldraft", "video.generate"): neuraldraft("/v1/videos", prompt="A fox running"),
    ("neuraldraft", "social_post.generate"): neuraldraft("/v1/jobs", type="social_post.generate"),
    ("neuraldraft", "content_plan.generate"): neuraldraft("/v1/jobs", type="content_plan.generate"),
    ("neuraldraft", "website.generate"): neuraldraft("/v1/jobs", type="website.generate"),
    ("neuraldraft", "translation.batch"): neuraldraft(
        "/v1/content/home.title/translate", target_languages=["fr", "de"]
    ),
}
# A stem is no job with a plan: it exists once its split completed (checked below).
UNPLANNED = {("neuralanalog", "stem")}
CASES = [
    (api, kind, outcome, mode)
    for (api, kind) in STARTS
    for outcome in (*lifecycle(api, kind).terminal, STALLED)
    for mode in ("timed", "poll")
]


def test_every_lifecycle_kind_is_walked() -> None:
    kinds = {(api, kind) for api in apis.names() for kind in lifecycles_of(api)}
    assert kinds == set(STARTS) | UNPLANNED


def status_path(api: str, kind: str, job_id: str) -> str:
    """Where the kind's status is read: its lifecycle's operation, the job's ID filled in."""
    cycle = lifecycle(api, kind)
    template = load(api).by_id(cycle.operation).template
    path = template.replace(f"{{{cycle.id_parameter}}}", job_id).replace("{object_type}", kind)
    return apis.service_class(api).prefix + path


def jobs(mock: Mock, api: str) -> list[dict[str, Any]]:
    """This tenant's jobs that have a lifecycle, oldest first, as the admin API shows them."""
    key = apis.service_class(api).api_key(mock.key)
    found = mock.client.get("/__mock__/jobs", params={"api": api, "tenant": key}).json()["jobs"]
    return [job for job in found if job["kind"] in lifecycles_of(api)]


def poll_times(found: list[dict[str, Any]]) -> list[float]:
    """The middle of every phase of every job, and a moment after each one's end."""
    times = set()
    for job in found:
        start = job["created_at"]
        for phase in job["phases"]:
            times.add(start + phase["duration"] / 2)
            start += phase["duration"]
        times.add(start + 1)
    return sorted(times)


@pytest.mark.parametrize(("api", "kind", "outcome", "mode"), CASES, ids=lambda v: str(v))
def test_every_plan_walks_its_contract_lifecycle(
    mock: Mock, api: str, kind: str, outcome: str, mode: str
) -> None:
    scenario = outcome if mode == "timed" else f"{outcome}; mode=poll"
    STARTS[api, kind](mock, mock.headers(api, **{"X-Mock-Scenario": scenario}))
    found = jobs(mock, api)
    seen: dict[str, list[dict[str, Any]]] = {job["id"]: [] for job in found}

    def read(job: dict[str, Any]) -> None:
        answer = mock.client.get(
            status_path(api, job["kind"], job["id"]), headers=mock.headers(api)
        )
        assert answer.status_code == 200, answer.text
        seen[job["id"]].append(answer.json())

    if mode == "poll":  # a phase per status read: every phase is seen
        for job in found:
            for _ in range(len(job["phases"]) + 2):
                read(job)
    else:
        for moment in poll_times(found):
            mock.advance(max(0.0, moment - mock.state.now()))
            for job in found:
                if job["created_at"] <= moment:
                    read(job)
    for job in found:
        report = check_lifecycle(api, job["kind"], seen[job["id"]])
        assert report.ok, str(report)
        end = lifecycle(api, job["kind"]).states[report.states[-1]]
        assert end.terminal == (outcome != STALLED or job["outcome"] is not None), str(report)
    planned = next(job for job in found if job["kind"] == kind)
    last = check_lifecycle(api, kind, seen[planned["id"]]).states[-1]
    if outcome == STALLED:
        assert not lifecycle(api, kind).states[str(last)].terminal
    else:
        assert last == outcome


def test_the_stems_of_a_split_pass_the_check(mock: Mock) -> None:
    neuralanalog("/create-stems", preset="2_tracks")(mock, mock.headers("neuralanalog"))
    mock.advance(3600)
    [split] = [job for job in jobs(mock, "neuralanalog") if job["kind"] == "stem_split"]
    headers = mock.headers("neuralanalog")
    stems = mock.client.get(status_path("neuralanalog", "stem_split", split["id"]), headers=headers)
    for stem in stems.json()["stems"]:
        path = status_path("neuralanalog", "stem", stem["stem_id"])
        answers = [mock.client.get(path, headers=headers).json() for _ in range(2)]
        assert check_lifecycle("neuralanalog", "stem", answers).ok


# --- the contract is where plans come from ----------------------------------------------------


# the duration of these depends on the request: a translation's languages, a document's pages
BY_REQUEST = {
    ("neuraldraft", "translation.batch"),
    ("neurolinker", "request"),
    ("neurolinker", "document"),
}


def test_usual_durations_are_the_contracts(mock: Mock) -> None:
    for (api, kind), start in STARTS.items():
        if (api, kind) not in BY_REQUEST:
            start(mock, mock.headers(api))
            job = [job for job in jobs(mock, api) if job["kind"] == kind][-1]
            planned = sum(phase["duration"] for phase in job["phases"])
            assert planned == lifecycle(api, kind).usual_seconds, (api, kind)


def test_a_plan_the_contract_does_not_allow_is_refused() -> None:
    cycle = lifecycle("neurolinker", "document")
    cycle.conform(["pending", "processing"], ("completed", "failed"))
    with pytest.raises(LifecycleMismatch) as back:
        cycle.conform(["processing", "pending"], ("completed", "failed"))
    assert str(back.value) == (
        "neurolinker contract, x-lifecycle kind document: the mock's plans start in "
        "processing, not in an initial state (pending)"
    )
    with pytest.raises(LifecycleMismatch, match="the contract's end states are completed, failed"):
        cycle.conform(["pending"], ("completed", "failed", "cancelled"))
    pending = replace(cycle.states["pending"], next=frozenset({"completed", "failed"}))
    states = {**cycle.states, "pending": pending}
    lost = replace(cycle, states={k: v for k, v in states.items() if k != "processing"})
    with pytest.raises(LifecycleMismatch, match="plans have 2 running stages, the contract lists"):
        lost.stages(2)
    with pytest.raises(LifecycleMismatch, match=r"kind .video., .* \(kinds: request, document\)"):
        lifecycles_of("neurolinker")["video"]


# Another interpreter changes two contracts as read from their files, then starts each API.
CHANGED_CONTRACTS = """
import sys
from mockserver.contracts.document import HERE, read


def rename(api, old, new):
    for kind in read(HERE / f"{api}.yaml")["x-lifecycle"]["kinds"].values():
        renamed = {new if name == old else name: spec for name, spec in kind["states"].items()}
        kind["states"].clear()  # YAML anchors share one states mapping between kinds
        kind["states"].update(renamed)
        kind["initial"] = [new if name == old else name for name in kind["initial"]]
        for spec in renamed.values():
            spec["next"] = [new if name == old else name for name in spec.get("next", ())]


rename("camb", "PENDING", "QUEUED")
read(HERE / "camb.yaml")["x-lifecycle"]["kinds"]["audio_separation"]["usual_seconds"] = 60
rename("neuraldraft", "completed", "done")

from mockserver import ServerConfig, create_app
from mockserver.contracts.lifecycle import LifecycleMismatch
from mockserver.engine.scenarios import Scenario

camb = create_app(ServerConfig(clock="manual", api="camb")).state.services["camb"]
plan = camb.plan("audio_separation", Scenario("SUCCESS"), {})
print(camb.outcomes, [phase.state for phase in plan.phases], plan.length)
try:
    create_app(ServerConfig(clock="manual", api="neuraldraft"))
except LifecycleMismatch as error:
    sys.exit(str(error))
"""


def test_the_plans_follow_the_contract_or_the_api_does_not_start() -> None:
    done = subprocess.run([sys.executable, "-c", CHANGED_CONTRACTS], capture_output=True, text=True)
    assert done.stdout == (
        "('SUCCESS', 'ERROR', 'TIMEOUT', 'PAYMENT_REQUIRED') ['QUEUED', 'QUEUED'] 60.0\n"
    ), done.stderr
    assert done.returncode == 1
    assert done.stderr == (
        "neuraldraft contract, x-lifecycle kind blog_post.generate: the mock's plans end in "
        "completed, failed, cancelled; the contract's end states are done, failed, cancelled\n"
    )


def test_jobs_planned_alike_share_one_plan_and_a_faster_profile_gets_its_own(mock: Mock) -> None:
    headers = mock.headers("neuralanalog")

    def imported(**extra: str) -> Any:
        body = post(
            mock,
            "neuralanalog",
            "/from-link",
            {**headers, **extra},
            json={"url": "https://example.com/a.wav"},
        )
        job = mock.state.store.get("neuralanalog", mock.key, body["audio_id"])
        assert job is not None
        return job.plan

    first, second = imported(), imported()
    assert first is second
    failing = imported(**{"X-Mock-Scenario": "failed"})
    assert failing is not first and failing.outcome.state == "failed"
    mock.state.scenarios.profile.duration_scale = 2.0
    slower = imported()
    assert slower is not first and slower.length == 2 * first.length


def test_blog_posts_planned_alike_share_their_plan_and_timeline(mock: Mock) -> None:
    headers = mock.headers("neuraldraft")

    def generated(**body: Any) -> Any:
        answer = post(mock, "neuraldraft", "/v1/blog-posts", headers, json={"type": "ai", **body})
        tenant = apis.service_class("neuraldraft").api_key(mock.key)
        job = mock.state.store.get("neuraldraft", tenant, answer["id"])
        assert job is not None
        return job

    first, second = generated(topic="Tea"), generated(topic="Coffee")
    assert first.plan is second.plan and first.data["timeline"] is second.data["timeline"]
    translated = generated(topic="Cocoa", translate_to_all=True)
    assert translated.plan is not first.plan
    assert translated.plan.length > first.plan.length  # its translate step takes time
