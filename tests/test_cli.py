"""`mockserver serve`: flags, config files, the banner, and a real process answering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mockserver.cli import build_parser, config_from, main
from mockserver.live import free_port


def parse(*argv: str):
    return config_from(build_parser().parse_args(["serve", *argv]))


def test_flags_map_to_the_config() -> None:
    config = parse(
        "--port",
        "9001",
        "--api",
        "neuralanalog",
        "--clock",
        "manual",
        "--time-scale",
        "60",
        "--seed",
        "3",
        "--strict",
    )
    assert (
        config.port,
        config.api,
        config.clock,
        config.time_scale,
        config.seed,
        config.strict,
    ) == (
        9001,
        "neuralanalog",
        "manual",
        60.0,
        3,
        True,
    )


def test_config_file_is_read_and_flags_win(tmp_path: Path) -> None:
    file = tmp_path / "mock.toml"
    file.write_text("port = 9100\nseed = 5\nfailure_rate = 0.5\n[keys.bad]\nstatus = 401\n")
    config = parse("--config", str(file), "--port", "9200")
    assert (config.port, config.seed, config.failure_rate) == (9200, 5, 0.5)
    assert config.keys == {"bad": {"status": 401}}


def test_unknown_config_keys_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "mock.json"
    file.write_text(json.dumps({"prot": 1}))
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--config", str(file)])
    assert exit_info.value.code == 2


def test_help_explains_every_flag() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for flag in (
        "--host",
        "--port",
        "--api",
        "--clock",
        "--time-scale",
        "--seed",
        "--config",
        "--strict",
    ):
        assert flag in text


@pytest.mark.parametrize(
    ("flags", "stack"),
    [
        ([], "(uvloop, httptools)"),  # the default install's, where the platform has wheels
        (["--loop", "asyncio", "--http", "h11"], "(asyncio, h11)"),  # the pure-Python fallback
    ],
)
def test_serve_prints_a_banner_and_answers(flags: list[str], stack: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--clock", "manual"]
        + flags,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = process.stdout.readline()
        assert banner.startswith(f"mockserver on http://127.0.0.1:{port}")
        assert f"neuralanalog=http://127.0.0.1:{port}/neuralanalog" in banner
        assert banner.rstrip().endswith(stack)
        for line in process.stderr:  # uvicorn says when the socket is bound
            if "Uvicorn running on" in line:
                break
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/__mock__/health", timeout=5)
        assert health.json()["clock"]["mode"] == "manual"
        key = {"X-API-Key": "k"}
        link = {"url": "https://example.com/a.wav"}
        created = httpx.post(f"{base}/neuralanalog/from-link", headers=key, json=link, timeout=5)
        httpx.post(f"{base}/__mock__/clock/advance", json={"seconds": 60}, timeout=5)
        status = f"{base}/neuralanalog/status/audio/{created.json()['audio_id']}"
        assert httpx.get(status, headers=key, timeout=5).json()["is_complete"] is True
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_single_api_mode_serves_it_at_the_root() -> None:
    from starlette.testclient import TestClient

    from mockserver import ServerConfig, create_app

    app = create_app(ServerConfig(api="neuralanalog", clock="manual"))
    with TestClient(app) as client:
        created = client.post(
            "/from-link", headers={"X-API-Key": "k"}, json={"url": "https://x/a.wav"}
        )
        assert created.status_code == 200
        assert client.get("/__mock__/health").json()["apis"] == {
            "neuralanalog": "http://testserver"
        }
