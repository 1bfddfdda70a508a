"""Settings `mockserver serve` used to take without a word though they could not do what they
said: an empty admin token (the admin API stayed open), API keys no request can send (a
"revoked" key went on working), a time scale on a manual clock. And a flag a subcommand does
not know named `mockserver` and its help, not the subcommand's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from mockserver import ServerConfig, create_app
from mockserver.cli import main
from mockserver.configschema import ConfigError

ADVANCE = "which moves only by POST /__mock__/clock/advance"
TOKEN = "'' is not allowed; expected printable ASCII without spaces, at least one character"


@pytest.fixture
def refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., str]:
    """`mockserver serve ARGV`, which must be refused: what it wrote to stderr. The server is
    never built: a setting taken would fail here rather than serve for ever."""

    def served(config: object) -> NoReturn:
        raise AssertionError("the settings were taken")

    monkeypatch.setattr("mockserver.cli.build_app", served)

    def run(*argv: str) -> str:
        try:
            code = main(["serve", *argv])
        except SystemExit as exit_info:
            code = exit_info.code
        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        return err

    return run


def test_an_empty_admin_token_flag_is_refused(refused: Callable[..., str]) -> None:
    """`--admin-token "$UNSET"` left the admin API open, and the banner said nothing."""
    assert refused("--admin-token", "") == f"mockserver serve: --admin-token: {TOKEN}\n"


def test_an_empty_admin_token_in_a_file_is_refused(
    refused: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "mock.json"
    path.write_text('{"admin_token": ""}')
    assert refused("--config", str(path)) == f"mockserver serve: {path}: admin_token: {TOKEN}\n"
    with pytest.raises(ConfigError, match=f"^ServerConfig: admin_token: {TOKEN}$"):
        create_app(ServerConfig(clock="manual", admin_token=""))


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (" padded ", "an API reads a key without the whitespace around it (write 'padded')"),
        ("revoked\t", "an API reads a key without the whitespace around it (write 'revoked')"),
        ("", "a blank key is none (a request without one gets a 401)"),
        ("   ", "a blank key is none (a request without one gets a 401)"),
        ("a\x01b", "no header carries a control character ('\\x01')"),
        ("a\x7fb", "no header carries a control character ('\\x7f')"),
        ("k\u20acy", "a header is read as Latin-1 bytes, which have no '\u20ac'"),
        ("k" * 4097, "an API refuses a key longer than 4096 characters (401)"),
    ],
)
def test_a_key_no_request_can_send_is_refused_naming_it(
    refused: Callable[..., str], tmp_path: Path, key: str, why: str
) -> None:
    """HTTP drops the whitespace around a header's value: such a key never matched, so a key
    configured as revoked went on working. The admin API refuses such a `tenant` (422)."""
    path = tmp_path / "mock.json"
    path.write_text(json.dumps({"keys": {key: {"status": 403}, "fine": {"status": 401}}}))
    shown = repr(key) if len(key) <= 60 else repr(key)[:60] + "..."
    line = f"{path}: keys: {shown} can never match a request: {why}"
    assert refused("--config", str(path)) == f"mockserver serve: {line}\n"
    with pytest.raises(ConfigError) as error:
        create_app(ServerConfig(clock="manual", keys={key: {"status": 403}}))
    assert error.value.lines == [f"ServerConfig: keys: {shown} can never match a request: {why}"]


def test_only_keys_a_request_can_send_are_taken(tmp_path: Path) -> None:
    """Spaces and tabs between words, and Latin-1 letters, are a header's to carry."""
    path = tmp_path / "mock.json"
    sendable = {key: {"status": 403} for key in ("a b", "a\tb", "cl\xe9", "k" * 4096)}
    path.write_text(json.dumps({"keys": sendable}))
    assert ServerConfig.from_file(path).keys == sendable
    path.write_text(json.dumps({"keys": {**sendable, "a b ": {"status": 403}}}))
    with pytest.raises(ConfigError, match="^[^\n]*: keys: 'a b ' can never match a request"):
        ServerConfig.from_file(path)


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["serve", "--prot", "1"], "--prot 1"),
        (["check-client", "--api", "camb", "--jsn", "m:f"], "--jsn"),
        (["schemathesis", "--max-exampels=5"], "--max-exampels=5"),
    ],
)
def test_an_unknown_flag_names_its_subcommand(
    capsys: pytest.CaptureFixture[str], argv: list[str], unknown: str
) -> None:
    """It said `mockserver: unrecognized arguments: --prot 1 (see mockserver --help)`, while
    every other mistake of a subcommand names it and its own help."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    command = f"mockserver {argv[0]}"
    assert capsys.readouterr().err == (
        f"{command}: unrecognized arguments: {unknown} (see {command} --help)\n"
    )


def test_a_stray_word_for_schemathesis_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """`mockserver schemathesis 5` passed the `5` on to `schemathesis run`, which read it as
    its schema; its own options go after `--`."""
    with pytest.raises(SystemExit) as exit_info:
        main(["schemathesis", "5"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "mockserver schemathesis: unrecognized arguments: 5 (schemathesis run's own options go "
        "after --) (see mockserver schemathesis --help)\n"
    )


def test_a_time_scale_beside_manual_clock_flags_is_refused(refused: Callable[..., str]) -> None:
    """`--clock manual --time-scale 60` started a clock that stood still without a word."""
    assert refused("--clock", "manual", "--time-scale", "60") == (
        f"mockserver serve: --time-scale: 60 means nothing on a manual clock (--clock manual), "
        f"{ADVANCE}\n"
    )


def test_a_time_scale_beside_a_manual_clock_in_a_file_is_refused(
    refused: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text("clock: manual\ntime_scale: 0.5\n")
    message = f"{path}: time_scale: 0.5 means nothing on a manual clock (clock: manual), {ADVANCE}"
    assert refused("--config", str(path)) == f"mockserver serve: {message}\n"
    with pytest.raises(ConfigError) as error:  # the pytest plugin's way in, too
        ServerConfig.from_file(path)
    assert error.value.lines == [message]


def test_a_time_scale_flag_for_a_files_manual_clock_is_refused(
    refused: Callable[..., str], tmp_path: Path
) -> None:
    """A file's time scale is another matter: it was for the file's clock, which a flag's
    overrides."""
    from mockserver.cli import build_parser, config_from

    path = tmp_path / "mock.yaml"
    path.write_text("clock: manual\n")
    assert refused("--config", str(path), "--time-scale", "60") == (
        f"mockserver serve: --time-scale: 60 means nothing on a manual clock "
        f"({path}: clock: manual), {ADVANCE}\n"
    )
    path.write_text("clock: system\ntime_scale: 60\n")
    args = build_parser().parse_args(["serve", "--config", str(path), "--clock", "manual"])
    assert config_from(args).clock == "manual"
