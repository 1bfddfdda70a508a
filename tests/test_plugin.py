"""The pytest plugin, driven as a user drives it: a temporary project run by pytest.

Each test writes a small test module that uses the fixtures, runs pytest on it (in-process,
or in a subprocess with xdist) and checks the outcome the user would see.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

pytest_plugins = ["pytester"]

# helpers the temporary projects share: a WAV and a PDF small enough to inline
MEDIA = """
import io
import wave


def wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(8000)
        track.writeframes(bytes(16000))
    return buffer.getvalue()


PDF = b"%PDF-1.4\\n1 0 obj << /Type /Page >> endobj\\nBT (Invoice 42) Tj ET\\n%%EOF\\n"
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(media=MEDIA, test_user=source)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_fixture_attributes(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import httpx
        import pytest

        from mockserver.fixtures.plugin import JobWillNotFinish

        NA = "neuralanalog"


        def test_where_and_who(mockserver):
            assert httpx.get(mockserver.url + "/__mock__/health").json()["status"] == "ok"
            assert mockserver.base_url(NA) == mockserver.url + "/neuralanalog"
            assert mockserver.base_url("camb") == mockserver.url + "/camb/apis"
            assert mockserver.base_url("neurolinker") == mockserver.url + "/neurolinker"
            assert mockserver.base_url("neuraldraft") == mockserver.url + "/neuraldraft/v1"
            assert mockserver.api_key(NA) == mockserver.tenant == mockserver.api_key("camb")
            assert mockserver.api_key("neurolinker") == "nl_" + mockserver.tenant
            assert mockserver.api_key("neuraldraft") == "ndsk_test_" + mockserver.tenant
            assert mockserver.headers("neuraldraft") == {
                "Authorization": "Bearer ndsk_test_" + mockserver.tenant
            }
            with pytest.raises(ValueError, match="unknown API 'nope'"):
                mockserver.base_url("nope")


        @pytest.mark.mockserver_allow_behaviour  # the same import twice, read through the kit
        def test_clock_queue_journal(mockserver):
            base, headers = mockserver.base_url(NA), mockserver.headers(NA)

            def create():
                body = {"url": "https://example.com/a.wav"}
                return httpx.post(base + "/from-link", json=body, headers=headers).json()

            first = create()["audio_id"]
            before = mockserver.now
            assert mockserver.advance(5) == before + 5
            assert httpx.get(mockserver.url + "/__mock__/clock").json()["now"] == before + 5

            mockserver.queue(NA, "failed", message="Disk full", after=30)
            second = create()["audio_id"]
            finished = mockserver.run_until_terminal(NA, second)
            assert finished["state"] == "failed" and mockserver.now == before + 5 + 30
            status = httpx.get(f"{base}/status/audio/{second}", headers=headers).json()
            assert status["is_failed"] and status["error_message"] == "Disk full"

            assert [job["id"] for job in mockserver.jobs(NA)] == [first, second]
            assert [(e["method"], e["path"], e["status"]) for e in mockserver.journal] == [
                ("POST", "/from-link", 200),
                ("POST", "/from-link", 200),
                ("GET", f"/status/audio/{second}", 200),
            ]
            assert mockserver.violations == []


        @pytest.mark.mockserver_allow_behaviour
        def test_jobs_time_cannot_finish(mockserver):
            client = mockserver.client(NA)
            mockserver.queue(NA, "stalled")
            mockserver.queue(NA, "completed", mode="poll")
            stalled, per_poll = (
                client.post("/from-link", json={"url": "https://e.com/a.wav"}).json()["audio_id"]
                for _ in range(2)
            )
            with pytest.raises(JobWillNotFinish, match="stalled"):
                mockserver.run_until_terminal(NA, stalled)
            with pytest.raises(JobWillNotFinish, match="per status read"):
                mockserver.run_until_terminal(NA, per_poll)
            assert mockserver.transition(NA, stalled, "failed")["state"] == "failed"
            with pytest.raises(LookupError, match="no neuralanalog job 'nope'"):
                mockserver.run_until_terminal(NA, "nope")
            with pytest.raises(ValueError, match="unknown outcome 'exploded'"):
                mockserver.queue(NA, "exploded")
            with pytest.raises(ValueError, match="unknown scenario option 'afer'"):
                mockserver.queue(NA, "failed", afer=30)
            with pytest.raises(ValueError, match="unknown scenario option 'afer'"):
                mockserver.transition(NA, per_poll, "failed", afer=30)
            # a fault that could never fire, refused as the admin queue and the header do
            with pytest.raises(ValueError, match="status 502 would never fire"):
                mockserver.queue(NA, "completed", fault="502")
            with pytest.raises(ValueError, match="'fault'"):
                mockserver.queue(NA, "completed; fault=nope")
            assert mockserver.state.scenarios.queued() == []
        """,
    )
    result.assert_outcomes(passed=3)


def test_tests_do_not_see_each_others_jobs(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import httpx

        NA = "neuralanalog"
        first = {}


        def test_first(mockserver):
            body = {"url": "https://example.com/a.wav"}
            created = httpx.post(
                mockserver.base_url(NA) + "/from-link", json=body, headers=mockserver.headers(NA)
            )
            first.update(id=created.json()["audio_id"], headers=mockserver.headers(NA))
            mockserver.advance(100)


        def test_second(mockserver):
            url = f"{mockserver.base_url(NA)}/status/audio/{first['id']}"
            assert mockserver.headers(NA) != first["headers"]
            assert httpx.get(url, headers=mockserver.headers(NA)).status_code == 404
            assert httpx.get(url, headers=first["headers"]).status_code == 200  # still there
            assert mockserver.jobs() == [] and mockserver.journal[0]["status"] == 404
            assert mockserver.now == 1767225600.0  # every test starts at the same time
        """,
    )
    result.assert_outcomes(passed=2)


def test_xdist_workers_each_have_their_own_server(pytester: pytest.Pytester) -> None:
    """Two tests on two workers meet through files: neither server knows the other's job."""
    pytester.makepyfile(
        test_workers="""
        import json
        import os
        import pathlib
        import time

        import httpx
        import pytest

        NA = "neuralanalog"
        MEETING = pathlib.Path(__file__).parent / "meeting"


        def meet(name, mine):
            MEETING.mkdir(exist_ok=True)
            draft = MEETING / f"{name}.tmp"
            draft.write_text(json.dumps(mine))
            draft.rename(MEETING / f"{name}.json")
            other = MEETING / ("b.json" if name == "a" else "a.json")
            deadline = time.monotonic() + 60
            while not other.exists():  # the other worker, not a job state: real time
                assert time.monotonic() < deadline, "the other worker never came"
                time.sleep(0.02)
            return json.loads(other.read_text())


        @pytest.mark.parametrize("name", ["a", "b"])
        def test_worker(name, mockserver):
            body = {"url": "https://example.com/a.wav"}
            created = httpx.post(
                mockserver.base_url(NA) + "/from-link", json=body, headers=mockserver.headers(NA)
            )
            job = created.json()["audio_id"]
            other = meet(name, {
                "worker": os.environ["PYTEST_XDIST_WORKER"],
                "url": mockserver.url,
                "headers": mockserver.headers(NA),
                "job": job,
            })
            assert other["worker"] != os.environ["PYTEST_XDIST_WORKER"]
            assert other["url"] != mockserver.url
            # the other worker's job, asked here even with the other test's own key: unknown
            asked = f"{mockserver.base_url(NA)}/status/audio/{other['job']}"
            assert httpx.get(asked, headers=other["headers"]).status_code == 404
            assert mockserver.state.store.lookup(other["job"]) is None
            assert mockserver.state.store.lookup(job) is not None
        """
    )
    # three fresh interpreters: leave out the slow-to-import plugins this project does not use
    unused = ("-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    result = pytester.runpytest_subprocess(*unused, "-n", "2")
    result.assert_outcomes(passed=2)


def test_sdks_reach_the_mock_unmodified(pytester: pytest.Pytester) -> None:
    pytest.importorskip("camb", reason="camb-sdk is not installed")
    pytest.importorskip("neurolinker_sdk", reason="neurolinker-sdk is not installed")
    result = run(
        pytester,
        """
        import asyncio
        import os
        import time

        import httpx
        import neurolinker_sdk.config
        from camb import CambAI
        from neurolinker_sdk import NeuroLinker

        from media import PDF, wav

        PUBLIC = "https://neurolinker.api.ainexxo.com"


        def test_camb(mock_sdks, mockserver):
            assert os.environ["CAMB_API_KEY"] == mockserver.api_key("camb")
            client = CambAI(base_url=mock_sdks.camb_base_url)  # the key from the environment
            separation = client.audio_separation
            with mockserver.virtual_time():
                task = separation.create_audio_separation(media_file=("a.wav", wav())).task_id
                while (status := separation.get_audio_separation_status(task)).status == "PENDING":
                    time.sleep(2)
            assert status.status == "SUCCESS"
            info = separation.get_audio_separation_run_info(status.run_id)
            assert httpx.get(info.foreground_audio_url).content[:4] == b"fLaC"
            assert mockserver.jobs("camb")[0]["tenant"] == mockserver.api_key("camb")


        def test_neurolinker(mock_sdks, mockserver):
            assert os.environ["NEUROLINKER_BASE_URL"] == mockserver.base_url("neurolinker")
            with NeuroLinker.from_env() as client:  # both documented variables
                extraction = client.extraction
                with mockserver.virtual_time():
                    submitted = extraction.extract(documents=[("invoice.pdf", PDF)])
                    status = extraction.wait_for_request(extraction.extract_request_uid(submitted))
                assert status["status"] == "completed"
                documents = extraction.documents.json(extraction.extract_document_ids(status))
            assert documents["results"][0]["filename"] == "invoice.pdf"


        def test_async_clients_and_from_env(mock_sdks, mockserver):
            async def separate_and_extract():
                camb = mock_sdks.async_camb_client()
                task = await camb.audio_separation.create_audio_separation(media_file=wav())
                async with mock_sdks.async_neurolinker_client() as neurolinker:
                    submitted = await neurolinker.extraction.extract(documents=[("a.pdf", PDF)])
                return task.task_id, submitted["request_uid"]

            task_id, request_uid = asyncio.run(separate_and_extract())
            assert mockserver.run_until_terminal("camb", task_id)["state"] == "SUCCESS"
            with NeuroLinker.from_env() as client:
                assert client.extraction.status.request(request_uid)["request_id"] == request_uid


        def test_settings_are_restored_after_the_test():
            assert "CAMB_API_KEY" not in os.environ
            assert "NEUROLINKER_BASE_URL" not in os.environ
            assert neurolinker_sdk.config.DEFAULT_BASE_URL == PUBLIC  # nothing patched
        """,
    )
    result.assert_outcomes(passed=4)


def test_a_contract_violation_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import httpx
        import pytest

        NA = "neuralanalog"
        BROKEN = {"preset": "universal_enhancer", "colour": "blue"}  # no audio_id, an extra


        def test_breaks_the_contract(mockserver):
            url = mockserver.base_url(NA) + "/master-audio"
            response = httpx.post(url, json=BROKEN, headers=mockserver.headers(NA))
            assert response.status_code == 422  # the test body itself passes


        def test_breaks_it_in_process(mockserver_asgi):
            mockserver_asgi.client(NA).post("/master-audio", json=BROKEN)


        @pytest.mark.mockserver_allow_violations
        def test_allowed_to_break_it(mockserver):
            mockserver.client(NA).post("/master-audio", json=BROKEN)
            pointers = {v["pointer"] for v in mockserver.violations}
            assert {"/body/audio_id", "/body/colour"} <= pointers


        def test_keeps_to_it(mockserver):
            mockserver.client(NA).post("/from-link", json={"url": "https://example.com/a.wav"})
        """,
    )
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_breaks_the_contract*",
            "*neuralanalog POST /master-audio (req_*): /body/audio_id: Field required*",
            "*neuralanalog POST /master-audio (req_*): /body/colour: *(got 'blue')",
            "*mark the test @pytest.mark.mockserver_allow_violations*",
            "*ERROR at teardown of test_breaks_it_in_process*",
        ]
    )
    assert "test_allowed_to_break_it" not in result.stdout.str().split("short test summary")[-1]


def test_virtual_time_runs_ten_minutes_of_polling_at_once(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import asyncio
        import time

        NA = "neuralanalog"


        def wait_sync(client, audio_id):
            while not client.get(f"/status/audio/{audio_id}").json()["is_complete"]:
                time.sleep(10)


        async def wait_async(client, audio_id):
            while not (await client.get(f"/status/audio/{audio_id}")).json()["is_complete"]:
                await asyncio.sleep(10)


        def test_fixture(mockserver, virtual_time):
            mockserver.queue(NA, "completed", after=600)
            client = mockserver.client(NA)
            started = time.monotonic()
            created = client.post("/from-link", json={"url": "https://e.com/a.wav"})
            wait_sync(client, created.json()["audio_id"])
            assert time.monotonic() - started == 600  # virtual seconds
            assert (virtual_time.sleeps, virtual_time.slept) == (60, 600)


        def test_context_manager_with_an_async_client(mockserver):
            mockserver.queue(NA, "completed", after=600)

            async def main():
                async with mockserver.async_client(NA) as client:
                    created = await client.post("/from-link", json={"url": "https://e.com/a.wav"})
                    await wait_async(client, created.json()["audio_id"])

            with mockserver.virtual_time() as virtual:
                started = time.time()
                asyncio.run(main())
                elapsed = time.time() - started
            assert elapsed == virtual.slept == 600
            assert mockserver.now == 1767225600.0 + 600
        """,
        "--durations=0",
        "--durations-min=0",
    )
    result.assert_outcomes(passed=2)
    # pytest's own clock stays real: no test is reported as lasting its virtual ten minutes
    durations = re.findall(r"^([\d.]+)s (?:setup|call|teardown) ", result.stdout.str(), re.M)
    assert durations and max(map(float, durations)) < 60


def test_a_nested_block_counts_its_sleeps_in_the_fixtures_too(pytester: pytest.Pytester) -> None:
    """`virtual_time.slept` is the test's total, as the docs say: it used to leave out the
    sleeps of a `mockserver.virtual_time()` block inside it (10 of the 15 s the clock moved)."""
    run(
        pytester,
        """
        import asyncio
        import time


        def test_nested(mockserver, virtual_time):
            started = mockserver.now
            time.sleep(3)
            with mockserver.virtual_time() as inner:
                time.sleep(5)
                asyncio.run(asyncio.sleep(1))
                assert (virtual_time.slept, virtual_time.sleeps) == (9, 3)  # as they happen
            time.sleep(7)
            assert (inner.slept, inner.sleeps) == (6, 2)
            assert (virtual_time.slept, virtual_time.sleeps) == (16, 4)
            assert mockserver.now - started == 16
        """,
    ).assert_outcomes(passed=1)


def test_in_process_transports(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import asyncio

        import httpx
        from neurolinker_sdk import NeuroLinker

        from media import PDF

        NA = "neuralanalog"


        def test_sync_and_async_share_the_app(mockserver_asgi):
            assert mockserver_asgi.url == "http://mockserver.test"
            sync = httpx.Client(
                transport=mockserver_asgi.transport,
                base_url=mockserver_asgi.base_url(NA),
                headers=mockserver_asgi.headers(NA),
            )
            created = sync.post("/from-link", json={"url": "https://e.com/a.wav"})
            audio_id = created.json()["audio_id"]
            mockserver_asgi.run_until_terminal(NA, audio_id)

            async def status():
                async with httpx.AsyncClient(
                    transport=mockserver_asgi.async_transport,
                    base_url=mockserver_asgi.base_url(NA),
                    headers=mockserver_asgi.headers(NA),
                ) as client:
                    return (await client.get(f"/status/audio/{audio_id}")).json()

            assert asyncio.run(status())["is_complete"]
            downloaded = sync.get(f"/download/audio/{audio_id}", follow_redirects=True)
            assert downloaded.content[:4] == b"RIFF"


        def test_same_tenant_and_clock_as_the_live_server(mockserver, mockserver_asgi):
            created = mockserver.client(NA).post("/from-link", json={"url": "https://e.com/a.wav"})
            audio_id = created.json()["audio_id"]
            mockserver.advance(60)
            status = mockserver_asgi.client(NA).get(f"/status/audio/{audio_id}").json()
            assert status["is_complete"] and len(mockserver_asgi.journal) == 2


        def test_an_sdk_on_the_sync_transport(mockserver_asgi):
            http = httpx.Client(transport=mockserver_asgi.transport)
            with NeuroLinker(
                token=mockserver_asgi.api_key("neurolinker"),
                base_url=mockserver_asgi.base_url("neurolinker"),
                http_client=http,
            ) as client:
                uid = client.extraction.extract_request_uid(
                    client.extraction.extract(documents=[("a.pdf", PDF)])
                )
                mockserver_asgi.run_until_terminal("neurolinker", uid)
                assert client.extraction.wait_for_request(uid)["status"] == "completed"
        """,
    )
    result.assert_outcomes(passed=3)


def test_options_and_config(pytester: pytest.Pytester) -> None:
    source = """
        import json
        import pathlib

        NA = "neuralanalog"


        def test_record(mockserver):
            created = mockserver.client(NA).post("/from-link", json={"url": "https://e.com/a.wav"})
            audio_id = created.json()["audio_id"]
            seen = {"id": audio_id, "now": mockserver.now}
            finished = mockserver.run_until_terminal(NA, audio_id)
            seen["state"] = finished["state"]
            seen["took"] = finished["finished_at"] - finished["created_at"]
            pathlib.Path("seen.json").write_text(json.dumps(seen))
        """

    def seen(*args: str) -> dict[str, object]:
        run(pytester, source, *args).assert_outcomes(passed=1)
        return json.loads((pytester.path / "seen.json").read_text())

    assert seen("--mockserver-seed=5")["id"] == seen("--mockserver-seed=5")["id"]
    assert seen("--mockserver-seed=5")["id"] != seen("--mockserver-seed=6")["id"]
    default = seen("--mockserver-start=2030-01-01T00:00:00Z")
    assert default["now"] == 1893456000.0 and default["state"] == "completed"
    pytester.makefile(".json", settings='{"duration_scale": 2, "seed": 5}')
    from_file = seen("--mockserver-config=settings.json")
    assert from_file["took"] == 2 * default["took"]
    assert from_file["id"] == seen("--mockserver-seed=5")["id"]
    pytester.makeconftest(
        """
        import pytest
        from mockserver import ServerConfig

        @pytest.fixture(scope="session")
        def mockserver_config():
            return ServerConfig(clock="manual", seed=1, failure_rate=1.0)
        """
    )
    assert seen()["state"] == "failed"  # the conftest's config is the server's
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--mockserver-seed*",
            "*--mockserver-start*",
            "*--mockserver-strict*",
            "*--mockserver-config*",
        ]
    )
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*mockserver_allow_violations*"])
    result = pytester.runpytest("--mockserver-start=yesterday")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mockserver-start=yesterday: give Unix seconds or an ISO*"])


def test_strict_mode_refuses_what_breaks_the_contract(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest


        @pytest.mark.mockserver_allow_violations
        def test_unknown_field(mockserver):
            body = {"url": "https://e.com/a.wav", "colour": "blue"}
            response = mockserver.client("neuralanalog").post("/from-link", json=body)
            assert response.status_code == 422
            assert response.json()["detail"][0]["loc"] == ["body", "colour"]
        """,
        "--mockserver-strict",
    )
    result.assert_outcomes(passed=1)


HUNG_CLIENTS = """
import time

import pytest
import requests

NA = "neuralanalog"


def wait(mockserver, pause):
    # never stops: it waits for a word the API does not say
    mockserver.queue(NA, "completed", after=30)
    base, headers = mockserver.base_url(NA), mockserver.headers(NA)
    link = {"url": "https://e.com/a.wav"}
    audio_id = requests.post(base + "/from-link", json=link, headers=headers).json()["audio_id"]
    while True:
        try:
            status = requests.get(f"{base}/status/audio/{audio_id}", headers=headers).json()
            if status.get("state") == "done":
                return
        except Exception:
            pass  # a broad except must not keep it alive either
        if pause:
            time.sleep(pause)


def test_polls_for_ever_under_the_default_budget(mockserver, virtual_time):
    wait(mockserver, 3600)


@pytest.mark.mockserver_budget(seconds=600)
def test_polls_for_ever_under_a_marked_budget(mockserver, virtual_time):
    wait(mockserver, 10)


def test_polls_for_ever_in_the_context_manager(mockserver):
    with mockserver.virtual_time():
        wait(mockserver, 3600)


@pytest.mark.mockserver_budget(requests=40)
def test_never_sleeps(mockserver, virtual_time):
    wait(mockserver, 0)


def test_finishes_well_within_the_budget(mockserver, virtual_time):
    mockserver.queue(NA, "completed", after=3000)
    job = mockserver.client(NA).post("/from-link", json={"url": "https://e.com/a.wav"}).json()
    while not mockserver.client(NA).get(f"/status/audio/{job['audio_id']}").json()["is_complete"]:
        time.sleep(60)
"""


def test_a_client_that_never_stops_polling_fails_as_hung(pytester: pytest.Pytester) -> None:
    result = run(pytester, HUNG_CLIENTS)
    result.assert_outcomes(passed=1, failed=4)
    expected_order = [
        "test_polls_for_ever_under_the_default_budget",
        "test_polls_for_ever_under_a_marked_budget",
        "test_polls_for_ever_in_the_context_manager",
        "test_never_sleeps",
    ]
    # each failure is one line, in the order the tests ran
    found = [line for line in result.stdout.lines if line.startswith(("hung", "hasty"))]
    lines = dict(zip(expected_order, found, strict=True))
    job = r"neuralanalog job \S+ ended completed"
    expected = {
        "test_polls_for_ever_under_the_default_budget": (
            rf"hung: still waiting when the 86400 s virtual budget ran out; {job}, 24 polls "
            "after the end"
        ),
        "test_polls_for_ever_under_a_marked_budget": (
            rf"hung: still waiting when the 600 s virtual budget ran out; {job}, 58 polls "
            "after the end"
        ),
        "test_polls_for_ever_in_the_context_manager": (
            rf"hung: still waiting when the 86400 s virtual budget ran out; {job}, 24 polls "
            "after the end"
        ),
        "test_never_sleeps": (  # its pace is what went wrong: the client check's word
            r"hasty: polled job \S+ 40 times, 39 of them less than 1 s apart \(shortest 0 s\); "
            r"made 41 requests without "
            r"the clock moving \(a loop that never sleeps; the bound is 40\)$"
        ),
    }
    for name, pattern in expected.items():
        assert re.search(pattern, lines[name]), lines[name]


def test_the_budget_options(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        HUNG_CLIENTS,
        "--mockserver-budget=7200",
        "--mockserver-busy-requests=20",
        "-k",
        "default_budget or never_sleeps",
    )
    result.assert_outcomes(failed=2)
    result.stdout.re_match_lines(
        [
            r".*hung: still waiting when the 7200 s virtual budget ran out; neuralanalog job "
            r"\S+ ended completed, 2 polls after the end",
            r".*hasty: .*made 41 requests without the clock moving.*bound is 40",
        ],
        consecutive=False,
    )
    assert run(pytester, HUNG_CLIENTS, "--mockserver-budget=0").ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--mockserver-budget=inf",
            "--mockserver-budget: inf is not allowed; expected a number of seconds above 0 up "
            "to 31536000 (a year)",
        ),
        (
            "--mockserver-budget=nan",
            "--mockserver-budget: nan is not allowed; expected a number of seconds above 0 up "
            "to 31536000 (a year)",
        ),
        (
            "--mockserver-store=mysql://db",
            "--mockserver-store: unknown store 'mysql://db': use memory, sqlite:///path/state.db,"
            " redis://host:port/db, rediss://host:port/db or redis+cluster://host:port",
        ),
        (
            "--mockserver-busy-requests=0",
            "--mockserver-busy-requests: 0 is not allowed; expected a whole number from 1 to "
            "1000000",
        ),
        (
            "--mockserver-start=1969-12-31T00:00:00Z",
            "--mockserver-start=1969-12-31T00:00:00Z: give Unix seconds or an ISO 8601 time, "
            "from 1970-01-01 to 9000-01-01",
        ),
        (
            "--mockserver-start=0001-01-01",
            "--mockserver-start=0001-01-01: give Unix seconds or an ISO 8601 time, from "
            "1970-01-01 to 9000-01-01",
        ),
        (
            "--mockserver-seed=99999999999999999999999999",
            "--mockserver-seed: 99999999999999999999999999 is not allowed; expected a whole "
            "number from -9223372036854775808 to 9223372036854775807",
        ),
        (
            "--mockserver-store=redis://127.0.0.1:99999/0",
            "--mockserver-store: Port out of range 0-65535",
        ),
        ("--mockserver-config=", "--mockserver-config: an empty value is not allowed; omit it"),
        ("--mockserver-store=", "--mockserver-store: an empty value is not allowed; omit it"),
        ("--mockserver-start=", "--mockserver-start: an empty value is not allowed; omit it"),
        (
            "--mockserver-config=deep.json",
            "--mockserver-config: deep.json: nested deeper than 32 levels (tables and lists)",
        ),
    ],
)
def test_an_option_out_of_bounds_is_a_usage_error_at_start(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    """An infinite or NaN budget never runs out: a client polling for ever would hang the run.
    An unknown store used to be an error of every test that used the server, a start before
    1970 too; an empty option used to mean the default."""
    pytester.makefile(".json", deep='{"keys": ' + "[" * 1000 + "]" * 1000 + "}")
    result = run(pytester, "def test_nothing(mockserver): pass", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_a_marked_budget_out_of_bounds_fails_the_test_naming_the_marker(
    pytester: pytest.Pytester,
) -> None:
    """`seconds=0` used to fall back to the default silently, and NaN never ran out; so would
    an infinite wall limit."""
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.mockserver_budget(seconds=float("nan"))
        def test_nan(virtual_time):
            pass

        @pytest.mark.mockserver_budget(seconds=0)
        def test_zero(virtual_time):
            pass

        @pytest.mark.mockserver_budget(requests=-1)
        def test_requests(virtual_time):
            pass

        @pytest.mark.mockserver_budget(seconds="600")
        def test_text(virtual_time):
            pass

        @pytest.mark.mockserver_budget(second=600)
        def test_typo(virtual_time):
            pass

        @pytest.mark.mockserver_budget(seconds=True)
        def test_bool(virtual_time):
            pass

        @pytest.mark.mockserver_budget(wall_limit=float("inf"))
        def test_forever(virtual_time):
            pass

        @pytest.mark.mockserver_budget(sleeps=1.5)
        def test_half(virtual_time):
            pass
        """,
    )
    result.assert_outcomes(passed=1, errors=7)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.mockserver_budget: nan is not allowed; expected a number of seconds*",
            "*@pytest.mark.mockserver_budget: 0 is not allowed; expected a number of seconds*",
            "*@pytest.mark.mockserver_budget: -1 is not allowed; expected a whole number from 1*",
            "*@pytest.mark.mockserver_budget: unknown argument 'second'; it takes seconds, "
            "requests, sleeps and wall_limit",
            "*@pytest.mark.mockserver_budget: True is not allowed; expected a number of seconds*",
            "*@pytest.mark.mockserver_budget: inf is not allowed; expected a number of real "
            "seconds above 0*",
            "*@pytest.mark.mockserver_budget: 1.5 is not allowed; expected a whole number*",
        ],
        consecutive=False,
    )
    # one line each: the ValueError behind a line used to be printed above it, chained
    assert "During handling" not in result.stdout.str()


def test_config_mistakes_are_a_usage_error_one_line_each(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", mock="clock: Manual\nkeys: {k1: {status: 500}}\n")
    result = run(pytester, "def test_nothing(mockserver): pass", "--mockserver-config=mock.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --mockserver-config: mock.yaml: clock: 'Manual' is not allowed; expected "
            "system or manual (these words are lower-case)",
            "mock.yaml: keys.k1.status: 500 is not allowed; expected 401 or 403",
        ]
    )


def test_a_config_built_in_a_conftest_is_checked_too(pytester: pytest.Pytester) -> None:
    """Negative phase durations used to be served: a `ServerConfig` built in code was never
    read through the config schema."""
    pytester.makeconftest(
        """
        import pytest
        from mockserver import ServerConfig

        @pytest.fixture(scope="session")
        def mockserver_config():
            return ServerConfig(clock="manual", failure_rate=float("nan"), duration_scale=-2)
        """
    )
    result = run(pytester, "def test_nothing(mockserver): pass")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "mockserver_config: duration_scale: -2 is not allowed; expected a number from 0 to*",
            "mockserver_config: failure_rate: nan is not allowed; expected a number from 0 to 1",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()  # printed twice, chained, before


def test_a_run_that_uses_no_fixture_does_not_import_the_app(pytester: pytest.Pytester) -> None:
    """The plugin loads in every pytest run of a project that installs the kit: the app (audio
    rendering, contracts, pages) is imported only when a fixture needs it, and Hypothesis only
    when NeuroLinker draws a document's fields."""
    pytester.makepyfile(
        test_other="""
        import sys

        def test_the_plugin_is_loaded_and_light():
            assert "mockserver.fixtures.plugin" in sys.modules
            heavy = {"mockserver.app", "numpy", "av", "soundfile", "jsonschema"}
            assert heavy.isdisjoint(sys.modules)

        def test_the_package_names_still_work():
            from mockserver import ServerConfig, create_app

            assert create_app(ServerConfig()).state.services
            assert "hypothesis" not in sys.modules  # until a client sends a fields schema
        """
    )
    unused = ("-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    pytester.runpytest_subprocess(*unused).assert_outcomes(passed=2)


KEPT_STORE_RUN = """
import json
import os
import pathlib

NA = "neuralanalog"


def test_fresh(mockserver):
    seen = {"jobs": len(mockserver.jobs()), "journal": len(mockserver.journal)}
    client = mockserver.client(NA)
    seen["id"] = client.post("/from-link", json={"url": "https://e.com/a.wav"}).json()["audio_id"]
    pathlib.Path(f"seen-{os.environ['RUN']}.json").write_text(json.dumps(seen))
    if os.environ["RUN"] == "1":  # broken on the first run, fixed on the second
        client.post("/master-audio", json={"preset": "universal_enhancer"})
"""


def test_a_kept_store_shows_no_run_the_state_of_an_earlier_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a SQLite store the second run used to see the first run's job, journal and
    violation (a fixed test still errored at teardown) and drew other IDs."""
    store = f"sqlite:///{pytester.path / 'state.db'}"
    monkeypatch.setenv("RUN", "1")
    run(pytester, KEPT_STORE_RUN, f"--mockserver-store={store}").assert_outcomes(passed=1, errors=1)
    monkeypatch.setenv("RUN", "2")
    run(pytester, KEPT_STORE_RUN, f"--mockserver-store={store}").assert_outcomes(passed=1)
    first, second = (json.loads((pytester.path / f"seen-{n}.json").read_text()) for n in (1, 2))
    assert second == first == {"jobs": 0, "journal": 0, "id": first["id"]}
    tables = ("store_values", "store_lists", "store_maps", "store_sizes")
    with sqlite3.connect(pytester.path / "state.db") as db:  # each run emptied its own
        rows = [db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables]
    assert rows == [0, 0, 0, 0]


def test_fault_rules_a_test_changes_are_back_at_its_teardown(pytester: pytest.Pytester) -> None:
    """A rule added from Python used to stay for every later test (and the 1001st test could
    add none); the admin API's, and a removed configured rule, too."""
    pytester.makefile(".json", settings='{"faults": [{"fault": "503", "api": "neurolinker"}]}')
    result = run(
        pytester,
        """
        import httpx

        def test_changes_the_rules(mockserver):
            faults = mockserver.state.faults
            faults.add({"fault": "503", "api": "camb"})
            admin = httpx.post(
                mockserver.url + "/__mock__/faults", json={"fault": "503", "api": "neuraldraft"}
            )
            assert admin.status_code == 201, admin.text
            faults.remove("fault-1")  # the configured one
            assert {rule.api for rule in faults.rules} == {"camb", "neuraldraft"}

        def test_finds_the_configured_rules_alone(mockserver):
            assert [rule.id for rule in mockserver.state.faults.rules] == ["fault-1"]
            assert mockserver.client("camb").get("/audio-separation/1").status_code != 503
        """,
        "--mockserver-config=settings.json",
    )
    result.assert_outcomes(passed=2)


STRICT_FLIPPED = """
import pytest


@pytest.mark.mockserver_allow_violations
def test_1_flips_strict_mode(mockserver):
    admin = mockserver.client()
    flipped = not admin.get("/__mock__/strict").json()["strict"]
    assert admin.post("/__mock__/strict", json={"strict": flipped}).json() == {"strict": flipped}


@pytest.mark.mockserver_allow_violations
def test_2_finds_it_as_configured(mockserver, pytestconfig):
    configured = pytestconfig.getoption("mockserver_strict")
    assert mockserver.client().get("/__mock__/strict").json() == {"strict": configured}
    body = {"url": "https://e.com/a.wav", "unknown_field": 1}
    created = mockserver.client("neuralanalog").post("/from-link", json=body)
    assert created.status_code == (422 if configured else 200)
"""


@pytest.mark.parametrize("options", [(), ("--mockserver-strict",)])
def test_strict_mode_a_test_changes_is_back_at_its_teardown(
    pytester: pytest.Pytester, options: tuple[str, ...]
) -> None:
    """`POST /__mock__/strict` is server-wide: a test that turned it on used to leave it on
    for every later test (a request with an unknown field refused with a 422), and one that
    turned it off under `--mockserver-strict` left it off."""
    run(pytester, STRICT_FLIPPED, *options).assert_outcomes(passed=2)


def test_a_latency_fault_moves_the_clock_of_the_plugins_server(pytester: pytest.Pytester) -> None:
    """It used to wait in real time (up to a minute) and leave the clock standing still; a
    conftest's config keeps the clock manual too, and may still ask for the real wait."""
    source = """
        import time

        NA = "neuralanalog"

        def test_latency(mockserver):
            start = mockserver.now
            assert mockserver.state.clock.manual
            mockserver.state.faults.add({"fault": "latency", "api": NA, "delay": DELAY})
            began = time.monotonic()
            mockserver.client(NA).post("/from-link", json={"url": "https://e.com/a.wav"})
            took = time.monotonic() - began
            assert (mockserver.now - start, took < 5) == (MOVED, True)
        """
    pytester.makeconftest(
        """
        import pytest
        from mockserver import ServerConfig

        @pytest.fixture(scope="session")
        def mockserver_config():
            return ServerConfig(seed=1, failure_rate=0.1)  # no clock: the system's by default
        """
    )
    run(pytester, source.replace("DELAY", "30").replace("MOVED", "30")).assert_outcomes(passed=1)
    pytester.makeconftest(
        """
        import pytest
        from mockserver import ServerConfig

        @pytest.fixture(scope="session")
        def mockserver_config():
            return ServerConfig(clock="system", latency_moves_clock=False)
        """
    )
    run(pytester, source.replace("DELAY", "0.01").replace("MOVED", "0")).assert_outcomes(passed=1)


def test_a_reset_raises_what_httpx_raises_on_every_fixture(pytester: pytest.Pytester) -> None:
    """The sync in-process transport used to answer a 500 naming the injected reset, and
    httpx's ASGITransport raised the app's own `InjectedReset`. In a fresh interpreter: runs
    in this one share httpcore's exception classes unevenly, and httpx may not map them."""
    pytester.makepyfile(
        test_reset="""
        import asyncio

        import httpx
        import pytest

        NA = "neuralanalog"

        def reset_once(server):
            rule = {"fault": "reset", "tenant": server.api_key(NA), "times": 1}
            server.state.faults.add(rule)

        @pytest.mark.parametrize("fixture", ["mockserver", "mockserver_asgi"])
        def test_sync(request, fixture):
            server = request.getfixturevalue(fixture)
            reset_once(server)
            with pytest.raises(httpx.ReadError, match=r"\\[Errno 104\\] Connection reset by peer"):
                server.client(NA).get("/status/audio/x")
            assert server.client(NA).get("/status/audio/x").status_code == 404  # once

        def test_async(mockserver_asgi):
            reset_once(mockserver_asgi)

            async def status():
                async with mockserver_asgi.async_client(NA) as client:
                    return await client.get("/status/audio/x")

            with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
                asyncio.run(status())
        """
    )
    unused = ("-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    pytester.runpytest_subprocess(*unused).assert_outcomes(passed=3)


def test_fixture_methods_name_the_mistake(pytester: pytest.Pytester) -> None:
    """`headers("neuralanalog")` used to be `{"x-api-key": ...}` (the docs index it as
    `X-API-Key`), `jobs("nope")` an empty list, `count="2"` a bare TypeError, and an option
    both in the text and as an argument silently the argument's."""
    result = run(
        pytester,
        """
        import pytest

        NA = "neuralanalog"

        def test_mistakes(mockserver):
            assert list(mockserver.headers(NA)) == ["X-API-Key"]
            assert mockserver.headers(NA)["X-API-Key"] == mockserver.api_key(NA)
            assert list(mockserver.headers("camb")) == ["x-api-key"]
            assert list(mockserver.headers("neurolinker")) == ["Authorization"]
            with pytest.raises(ValueError, match="unknown API 'nope'"):
                mockserver.jobs("nope")
            with pytest.raises(ValueError, match=r"count must be a whole number \\(got '2'\\)"):
                mockserver.queue(NA, "failed", count="2")
            with pytest.raises(ValueError, match="option 'after' is given twice"):
                mockserver.queue(NA, "failed; after=30", after=10)
            assert mockserver.state.scenarios.queued() == []
            job = mockserver.client(NA).post("/from-link", json={"url": "https://e.com/a.wav"})
            with pytest.raises(ValueError, match="option 'message' is given twice"):
                mockserver.transition(NA, job.json()["audio_id"], "failed; message=a", message="b")
        """,
    )
    result.assert_outcomes(passed=1)


def test_the_ready_made_camb_clients_leave_no_socket_open(pytester: pytest.Pytester) -> None:
    """`mock_sdks.camb_client()` used to leave its connection to the garbage collector: a
    ResourceWarning, an error under `-W error`."""
    pytest.importorskip("camb", reason="camb-sdk is not installed")
    result = run(
        pytester,
        """
        import asyncio
        import gc

        from media import wav

        def test_sync(mock_sdks, mockserver):
            separation = mock_sdks.camb_client().audio_separation
            assert separation.create_audio_separation(media_file=wav()).task_id

        def test_async(mock_sdks, mockserver):
            async def create():
                client = mock_sdks.async_camb_client()
                return await client.audio_separation.create_audio_separation(media_file=wav())

            assert asyncio.run(create()).task_id

        def test_collected():
            gc.collect()  # what the clients left, unraisable warnings on the way
        """,
        "-W",
        "error::ResourceWarning",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
    )
    result.assert_outcomes(passed=3)


def test_outcomes_a_test_queued_and_no_job_took_go_at_its_teardown(
    pytester: pytest.Pytester,
) -> None:
    """They used to stay queued: one queued for any key reached the next test's job, and
    unused ones filled the server's queue (`max_queued_scenarios`) for every later test."""
    pytester.makeconftest(
        """
        import pytest
        from mockserver import ServerConfig

        @pytest.fixture(scope="session")
        def mockserver_config():
            return ServerConfig(seed=0, max_queued_scenarios=2)
        """
    )
    result = run(
        pytester,
        """
        import httpx
        import pytest

        NA = "neuralanalog"

        def test_queues_for_any_key(mockserver):
            queued = httpx.post(
                mockserver.url + "/__mock__/scenarios", json={"api": NA, "outcome": "failed"}
            )
            assert queued.status_code == 201, queued.text

        @pytest.mark.parametrize("run", range(3))
        def test_queues_and_creates_nothing(mockserver, run):
            mockserver.queue(NA, "failed")

        def test_gets_its_own_outcome(mockserver):
            job = mockserver.client(NA).post("/from-link", json={"url": "https://e.com/a.wav"})
            assert mockserver.job(NA, job.json()["audio_id"])["scenario"] != "failed"
        """,
    )
    result.assert_outcomes(passed=5)
