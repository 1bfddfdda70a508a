"""`mockserver serve`: flags, config files, the banner, and a real process answering."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from mockserver import apis
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
        "system",
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
        "system",
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


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--port", "99999"],
            "--port: 99999 is not allowed; expected a whole number from 1 to 65535",
        ),
        (["--time-scale", "-1"], "--time-scale: -1.0 is not allowed; expected a number above 0"),
        (["--time-scale", "nan"], "--time-scale: nan is not allowed; expected a number above 0"),
        (["--config", "{missing}"], "{missing}: cannot read the config file: No such file"),
        (
            ["--config", "{faults}"],
            "{faults}: faults[0]: 'status' must be a whole number from 500 to 599",
        ),
        (["--config", "{unknown}"], "{unknown}: prot: unknown key (allowed: host, port,"),
    ],
)
def test_a_mistake_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    files = {
        "missing": tmp_path / "missing.yaml",
        "faults": tmp_path / "faults.yaml",
        "unknown": tmp_path / "mock.json",
    }
    files["faults"].write_text("faults:\n  - fault: error\n    status: 404\n")
    files["unknown"].write_text(json.dumps({"prot": 1}))
    argv = [arg.format(**files) for arg in argv]
    assert main(["serve", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"mockserver serve: {line.format(**files)}")
    assert err.count("\n") == 1  # one line, no traceback


def test_a_flag_argparse_refuses_is_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--clock", "Manual"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "mockserver serve: argument --clock: invalid choice: 'Manual' (choose from 'system', "
        "'manual') (see mockserver serve --help)\n"
    )


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"mockserver serve: port {port} on 127.0.0.1 is in use: choose another with --port\n"
    )


def test_help_shows_each_default_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    flat = " ".join(text.split())
    assert "None" not in flat
    for flag, default in [
        ("--host HOST", "(default 127.0.0.1)"),
        ("--port PORT", "(default 8000)"),
        ("--clock", "(default system)"),
        ("--time-scale", "(default 1)"),
        ("--seed", "(default: random)"),
        ("--strict", "(default off)"),
        ("--log-level", "(default info)"),
        ("--admin-token", "(default: none on loopback, else generated)"),
        ("--max-upload-bytes", "(default 100 MiB)"),
        ("--store URL", "(default memory)"),
        ("--workers N", "(default: one process)"),
    ]:
        assert flat.count(default) == 1, default
        assert flat.index(flag) < flat.index(default)
    assert flat.count("default") == 12  # the eleven above and the description's "each default"


def test_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
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
        banner = process.stdout.readline()  # printed once the socket listens
        assert banner.startswith(f"mockserver on http://127.0.0.1:{port}")
        assert f"neuralanalog=http://127.0.0.1:{port}/neuralanalog" in banner
        assert banner.rstrip().endswith(stack)
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


ROOT = Path(__file__).parent.parent


def test_every_description_of_the_base_urls_agrees() -> None:
    """`GET /`, health, the start line, the plugin and docs/install-and-cli.md."""
    from starlette.testclient import TestClient

    from mockserver import ServerConfig, create_app
    from mockserver.cli import banner
    from mockserver.fixtures.server import MockServer

    root = "http://127.0.0.1:8000"
    app = create_app(ServerConfig(clock="manual"))
    with TestClient(app, base_url=root) as client:
        index = client.get("/").json()
        health = client.get("/__mock__/health").json()["apis"]
    line = banner(app, root)
    from_banner = dict(part.split("=", 1) for part in line.split("  ")[1:])
    plugin = {api: MockServer(app, root, "t").base_url(api) for api in index["apis"]}
    docs = (ROOT / "docs" / "install-and-cli.md").read_text()
    table = dict(re.findall(r"^\| `(\w+)` \| `(http://[^`]+)` \|$", docs, re.MULTILINE))
    assert index["admin"] == from_banner.pop("admin") == root + "/__mock__"
    assert index["apis"] == health == from_banner == plugin == table
    assert len(table) == 4
    assert f"$ curl -s {root}/\n{json.dumps(index, separators=(',', ':'))}" in docs


def serving(argv: list[str], port: int) -> str:
    """`mockserver <argv>` started, its start-up line read and its health asked, then
    stopped: what it logged."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"mockserver on http://127.0.0.1:{port} ")
        assert httpx.get(f"http://127.0.0.1:{port}/__mock__/health", timeout=5).is_success
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    return err


def test_make_serve_port_serves_there() -> None:
    """`make serve PORT=N` as the docs say: the Makefile's command, run."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    port = free_port()
    dry = subprocess.run(
        ["make", "-s", "-n", "serve", f"PORT={port}", "ARGS=--clock manual"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    (command,) = [line for line in dry.stdout.splitlines() if "mockserver serve" in line]
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/mockserver"
    assert argv[1:] == ["serve", "--host", "127.0.0.1", "--port", str(port), "--clock", "manual"]
    serving(argv[1:], port)
    assert "make serve PORT=8765" in (ROOT / "docs" / "install-and-cli.md").read_text()


def documented_mistakes() -> list[tuple[str, str]]:
    docs = (ROOT / "docs" / "install-and-cli.md").read_text()
    return re.findall(r"^\| `([^`]+)` \| `(mockserver serve: [^`]+)` \|$", docs, re.MULTILINE)


@pytest.mark.parametrize(("mistake", "message"), documented_mistakes())
def test_the_documented_mistakes_get_the_documented_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mistake: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    if mistake.startswith("--"):
        argv = shlex.split(mistake)  # `--admin-token ""`: an empty argument
    else:
        (tmp_path / "mock.yaml").write_text(mistake + "\n")
        argv = ["--config", "mock.yaml"]
    try:
        code = main(["serve", *argv])
    except SystemExit as exit_info:
        code = exit_info.code
    assert (code, capsys.readouterr().err) == (2, message + "\n")


def test_the_documented_mistakes_are_found() -> None:
    assert len(documented_mistakes()) == 33


def test_log_level_trace_serves() -> None:
    """`trace` is a documented level Python's logging does not know: it used to fail after
    the start-up line."""
    port = free_port()
    err = serving(["serve", "--port", str(port), "--clock", "manual", "--log-level", "trace"], port)
    assert "TRACE" in err
    assert "Unknown level" not in err


def test_an_implementation_asked_for_by_name_must_be_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before the start-up line: nothing may fail once it is printed."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )

    def serving(config: object) -> NoReturn:
        raise AssertionError("checked only once the server was being built")

    monkeypatch.setattr("mockserver.cli.build_app", serving)
    assert main(["serve", "--port", str(free_port()), "--loop", "uvloop"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "mockserver serve: --loop uvloop: uvloop is not installed (pip install uvloop, or "
        "--loop asyncio)\n"
    )


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--store", "redis://127.0.0.1:99999/0"], "--store: Port out of range 0-65535"),
        (  # the port's text is never quoted: it may be part of a password (`:ab/cd@`)
            ["--store", "redis://:notaport/0"],
            "--store: the port is not a number (a password holding '/', '?', '#' or '@' is "
            "percent-encoded: '%2F', '%3F', '%23', '%40')",
        ),
        (["--config", "{deep}"], "{deep}: nested deeper than 32 levels (tables and lists)"),
        (["--config", "{floats}"], "{floats}: port: 18051.0 is not allowed; expected a whole"),
        (["--config", "{blank}"], "{blank}: host: '   ' is not allowed; expected a host name"),
        (["--config", "{store}"], "{store}: store: Port out of range 0-65535"),
    ],
)
def test_a_mistake_names_its_flag_or_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    files = {name: tmp_path / f"{name}.json" for name in ("deep", "floats", "blank", "store")}
    files["deep"].write_text('{"keys": ' + "[" * 1000 + "]" * 1000 + "}")
    files["floats"].write_text('{"port": 18051.0}')
    files["blank"].write_text('{"host": "   "}')
    files["store"].write_text('{"store": "redis://127.0.0.1:99999/0"}')
    argv = [arg.format(**files) for arg in argv]
    assert main(["serve", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"mockserver serve: {line.format(**files)}")
    assert err.count("\n") == 1
    assert "--host" not in err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["serve", "--config", ""],
            "mockserver serve: argument --config: an empty path is not allowed; give a settings "
            "file (see mockserver serve --help)",
        ),
        (
            ["check-client", "--api", "camb", "m:f", "--seed", "99999999999999999999999999"],
            "mockserver check-client: argument --seed: 99999999999999999999999999 is not "
            "allowed; expected a whole number from -9223372036854775808 to 9223372036854775807 "
            "(see mockserver check-client --help)",
        ),
        (
            ["schemathesis", "--seed", "-99999999999999999999999999"],
            "mockserver schemathesis: argument --seed: -99999999999999999999999999 is not "
            f"allowed; expected a whole number from 0 to {2**128 - 1} "
            "(see mockserver schemathesis --help)",
        ),
    ],
)
def test_an_empty_config_path_and_a_seed_out_of_bounds_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    """`--config ""` (an unset variable in a script) used to serve the defaults; a seed
    past 64 bits was taken by check-client though `serve --seed` refused it."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize("given", ["flag", "file"])
def test_a_token_the_user_gave_is_never_printed(
    given: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The start-up output printed `--admin-token` (or the config's `admin_token`) in full:
    a CI log kept it. Only a generated token is printed (tests/test_security.py)."""
    import gc

    import uvicorn

    monkeypatch.setattr(gc, "freeze", lambda: None)  # this process's collector is left alone
    monkeypatch.setattr("mockserver.collector.collect_when_quiet", lambda app: None)
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets: sockets[0].close())
    (tmp_path / "mock.json").write_text('{"admin_token": "team-secret"}')
    how = ["--admin-token", "team-secret"] if given == "flag" else ["--config", "mock.json"]
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--port", str(free_port()), "--clock", "manual", *how]) == 0
    out = capsys.readouterr().out
    assert "team-secret" not in out
    assert out.splitlines()[1] == (
        "admin API token: the one configured  (send it as X-Mock-Admin-Token)"
    )


@pytest.mark.parametrize(
    ("store", "line"),
    [
        (
            "redis://127.0.0.1:1/abc",
            "store 127.0.0.1:1: database 'abc' is not a whole number "
            "(redis://host:port/db, such as /0)",
        ),
        (
            "redis://:s3cret@127.0.0.1:1/0/extra",
            "store 127.0.0.1:1: database '0/extra' is not a whole number "
            "(redis://host:port/db, such as /0)",
        ),
        ("redis://", "store 'redis://' names no host: use redis://host:port/db"),
    ],
)
def test_a_redis_url_redis_py_would_misread_is_refused_at_start(
    capsys: pytest.CaptureFixture[str], store: str, line: str
) -> None:
    """redis-py reads `/abc` and `/0/extra` as database 0 (another world's keys may be
    there), and `redis://` reached it as `redis:`, refused for a scheme it has."""
    assert main(["serve", "--store", store]) == 2
    assert capsys.readouterr() == ("", f"mockserver serve: {line}\n")


def test_help_says_which_ids_a_seed_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    """It promised the same IDs for the same seed, which the memory store's per-start salt
    does not give; `id_salt` does."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    assert "same IDs and timelines" not in flat
    assert "id_salt" in flat


def test_a_server_keeps_hypothesis_files_in_the_user_cache(tmp_path: Path) -> None:
    """A varied answer is drawn with Hypothesis, which keeps a Unicode table on disk: in the
    user's cache (built once a machine), never in the directory the server was started from."""
    work, cache, port = tmp_path / "work", tmp_path / "cache", free_port()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    env |= {"XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    argv = ["serve", "--port", str(port), "--clock", "manual"]
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver.cli", *argv],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("mockserver on ")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            rule = {"fault": "variety", "operation": "get_status", "payload": "replace"}
            assert client.post("/__mock__/faults", json=rule).status_code == 201
            service = apis.service_class("neuralanalog")
            headers = service.auth_headers(service.api_key("cache-key"))
            link = {"url": "https://example.com/take.mp3"}
            created = client.post("/neuralanalog/from-link", headers=headers, json=link)
            audio_id = created.json()["audio_id"]
            varied = client.get(f"/neuralanalog/status/audio/{audio_id}", headers=headers)
            assert varied.status_code == 200
            assert varied.json().get("object_id") != audio_id  # `replace`: drawn, not the job
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert list(work.iterdir()) == []
    assert (cache / "asyncjob-mockserver" / "hypothesis").is_dir()
