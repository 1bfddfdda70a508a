"""The benchmark's own logic: wrk's report read right, and no ratio from a saturated generator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench import wrk
from bench.__main__ import report
from bench.apps import bare_app
from bench.scenarios import Load, prepare
from bench.servers import VARIANTS, Variant, poll_target
from mockserver import ServerConfig, create_app
from mockserver.fixtures.server import InProcessMockServer
from mockserver.live import LiveServer

POLL = Load("poll x", "GET", "/x/status/1", {})


def rounds(rps: float, p99: float, generator: float) -> list[wrk.Round]:
    return [wrk.Round(rps, p99 / 3, p99, 0, generator, 1.0) for _ in range(3)]


def test_no_ratio_when_the_generator_saturated_its_core(capsys: pytest.CaptureFixture[str]) -> None:
    assert not report(POLL, rounds(9000, 2, 0.95), rounds(10000, 2, 0.5))
    out = capsys.readouterr().out
    assert "NO RATIO: the generator saturated its core" in out and "ratio 0." not in out


def test_ratio_and_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(POLL, rounds(8000, 2.0, 0.4), rounds(10000, 2.0, 0.4))
    assert "ratio 0.80" in capsys.readouterr().out
    assert not report(POLL, rounds(6000, 2.0, 0.4), rounds(10000, 2.0, 0.4))  # 0.60 < 0.70
    assert not report(POLL, rounds(9000, 4.0, 0.4), rounds(10000, 2.0, 0.4))  # p99 2x > 1.5x


def test_the_ratio_line_gives_the_spread_of_the_round_pairs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the medians give 0.80; the pairs of rounds run one after the other gave 0.70 to 0.95
    mock = [wrk.Round(rps, 1.0, 2.0, 0, 0.4, 1.0) for rps in (7000, 8000, 9500)]
    bare = [wrk.Round(rps, 1.0, 2.0, 0, 0.4, 1.0) for rps in (10000, 10000, 10000)]
    assert report(POLL, mock, bare)
    assert "ratio 0.80 (target >= 0.70; rounds 0.70-0.95)" in capsys.readouterr().out


def test_each_line_gives_the_server_cpu_per_request(capsys: pytest.CaptureFixture[str]) -> None:
    report(POLL, rounds(8000, 2.0, 0.4), rounds(20000, 2.0, 0.4))  # one core busy in both
    out = capsys.readouterr().out
    assert "server cpu 1.00 (125.0 µs/req)" in out and "server cpu 1.00 ( 50.0 µs/req)" in out


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs Debian's wrk (make bench installs)")
def test_a_wrk_round_reads_rate_latency_and_both_cpu_shares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BENCH_SAMPLES", '{"/x": {"ok": true}}')
    with LiveServer(bare_app()) as server:
        measured = wrk.run(server.url + "/x", {}, 1, os.getpid(), connections=2)
    assert measured.rps > 0 and measured.errors == 0
    assert 0 < measured.p50_ms <= measured.p99_ms
    assert 0 < measured.generator_cpu < 1.5 and measured.server_cpu > 0


def test_the_generator_and_the_servers_run_on_cpus_of_their_own() -> None:
    split = wrk.cpu_split()
    allowed = os.sched_getaffinity(0)
    if len(allowed) == 1:
        assert split is None
        return
    assert split is not None
    servers, generator = split
    assert servers and len(generator) == 1
    assert not servers & generator and servers | generator == allowed
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        preexec_fn=wrk.pinned(generator),
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == str(sorted(generator))


def test_every_load_answers_on_the_mock() -> None:
    """The loads `make bench` prepares are served, each with a 2xx (a load that errs gets no
    ratio, so a broken one would only show when the bench runs)."""
    server = InProcessMockServer(create_app(ServerConfig(clock="manual")), "bench")
    with httpx.Client(transport=server.transport, base_url=server.URL) as client:
        loads = prepare(client)
        answers = [
            client.request(load.method, load.path, headers=load.headers, json=load.body or None)
            for load in loads
        ]
    server.close()
    assert [load.name.split()[0] for load in loads].count("create") >= 2
    assert [a.status_code // 100 for a in answers] == [2] * len(loads), [a.text for a in answers]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.name)
def test_each_store_serves_its_poll_target(
    variant: Variant, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The server of each store the bench loads starts (workers and all: the CPU a round reads
    is theirs too) and answers its status poll as it answered when prepared, whichever worker
    takes the connection."""
    redis_url = request.getfixturevalue("redis_server").url if variant.store == "redis" else None
    with poll_target(variant, tmp_path, redis_url) as ((base, pid), load, answer):
        headers = {**load.headers, "Connection": "close"}
        polls = [httpx.get(base + load.path, headers=headers) for _ in range(6)]
        processes = wrk.processes(pid)
    assert isinstance(answer, dict) and answer["status"] == "completed"
    assert [(poll.status_code, poll.json()) for poll in polls] == [(200, answer)] * len(polls)
    assert len(processes) >= (1 + variant.workers if variant.workers > 1 else 1)
