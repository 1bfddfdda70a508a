"""The config file is checked before serving: one line per mistake, naming the file, the key
path and what is allowed."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from mockserver import ServerConfig
from mockserver.configschema import ConfigError, schema, validate


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "failure_rate: lots",
            "failure_rate: 'lots' is not allowed; expected a number from 0 to 1",
        ),
        ("keys: {k1: {status: 500}}", "keys.k1.status: 500 is not allowed; expected 401 or 403"),
        (
            "clock: Manual",
            "clock: 'Manual' is not allowed; expected system or manual "
            "(these words are lower-case)",
        ),
        ("prot: 8000", "prot: unknown key (allowed: host, port, api, clock, time_scale"),
        ("keys: {k1: {stauts: 401}}", "keys.k1.stauts: unknown key (allowed: scenario, status)"),
        ("port: 99999", "port: 99999 is not allowed; expected a whole number from 1 to 65535"),
        ("port: '8000'", "port: '8000' is not allowed; expected a whole number from 1 to 65535"),
        ("strict: 1", "strict: 1 is not allowed; expected true or false"),
        ("time_scale: .nan", "time_scale: nan is not allowed; expected a number above 0"),
        ("time_scale: 0", "time_scale: 0 is not allowed; expected a number above 0"),
        ("seed: 1.5", "seed: 1.5 is not allowed; expected a whole number"),
        (
            "api: NeuralAnalog",
            "api: 'NeuralAnalog' is not allowed; expected one of: camb, neuralanalog",
        ),
        ("faults: {fault: 500}", "faults: a table is not allowed; expected a list of tables"),
        (
            "faults: [{fault: error, status: 404}]",
            "faults[0]: 'status' must be a whole number from 500 to 599 (got 404)",
        ),
        ("faults: [{fault: boom}]", "faults[0]: unknown fault 'boom'"),
        (
            "keys: {k1: {scenario: 'failed; after'}}",
            "keys.k1.scenario: scenario option 'after' is not of the form name=value",
        ),
        (
            "keys: {k1: {scenario: 'failed; afer=30'}}",
            "keys.k1.scenario: unknown scenario option 'afer' for any API; known: after, code, "
            "delay, failing, fault, message, mode, operation, payload, rate, reason, retry_after, "
            "seed, times",
        ),
        (
            "upload_limits: {neurolinkr: 5}",
            "upload_limits.neurolinkr: unknown key (allowed: camb, neuralanalog, neuraldraft, "
            "neurolinker)",
        ),
        (
            "admin_token: 'my token'",
            "admin_token: 'my token' is not allowed; expected printable ASCII without spaces",
        ),
        ("- port: 1", "expected a table of settings, got a list"),
    ],
)
def test_each_mistake_is_one_line_naming_file_key_and_what_is_allowed(
    tmp_path: Path, text: str, line: str
) -> None:
    file = tmp_path / "mock.yaml"
    file.write_text(text + "\n")
    with pytest.raises(ConfigError) as error:
        ServerConfig.from_file(file)
    assert len(error.value.lines) == 1
    assert error.value.lines[0].startswith(f"{file}: {line}")


def test_every_mistake_of_a_file_is_listed(tmp_path: Path) -> None:
    file = tmp_path / "mock.toml"
    file.write_text('clock = "Manual"\nfailure_rate = 2\n[keys.k1]\nstatus = 500\n')
    with pytest.raises(ConfigError) as error:
        ServerConfig.from_file(file)
    assert [line.split(": ")[1] for line in error.value.lines] == [
        "clock",
        "failure_rate",
        "keys.k1.status",
    ]


def test_scenario_words_are_case_insensitive_as_documented(tmp_path: Path) -> None:
    file = tmp_path / "mock.json"
    file.write_text(json.dumps({"keys": {"k1": {"scenario": "FAILED; after=5"}}}))
    assert ServerConfig.from_file(file).keys == {"k1": {"scenario": "FAILED; after=5"}}


def test_a_valid_file_of_every_format_is_read(tmp_path: Path) -> None:
    settings = {"port": 9100, "seed": None, "failure_rate": 0.5, "keys": {"k": {"status": 403}}}
    (tmp_path / "a.json").write_text(json.dumps(settings))
    (tmp_path / "a.yaml").write_text(
        "port: 9100\nseed: null\nfailure_rate: 0.5\nkeys: {k: {status: 403}}\n"
    )
    (tmp_path / "a.toml").write_text("port = 9100\nfailure_rate = 0.5\n[keys.k]\nstatus = 403\n")
    for name in ("a.json", "a.yaml", "a.toml"):
        config = ServerConfig.from_file(tmp_path / name)
        assert (config.port, config.failure_rate, config.keys) == (
            9100,
            0.5,
            {"k": {"status": 403}},
        )


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("missing.yaml", None, "cannot read the config file: No such file or directory"),
        ("bad.json", "{", "not valid JSON: Expecting property name"),
        ("bad.toml", "port = ", "not valid TOML: Invalid value"),
        ("bad.yaml", "a: [", "not valid YAML: while parsing a flow node"),
    ],
)
def test_an_unreadable_file_is_one_line(
    tmp_path: Path, name: str, content: str | None, line: str
) -> None:
    file = tmp_path / name
    if content is not None:
        file.write_text(content)
    with pytest.raises(ConfigError) as error:
        ServerConfig.from_file(file)
    (only,) = error.value.lines
    assert only.startswith(f"{file}: {line}")


def test_the_schema_covers_every_field_of_server_config() -> None:
    properties = schema()["properties"]
    assert list(properties) == [item.name for item in fields(ServerConfig)]
    for name, spec in properties.items():
        assert "type" in spec or "enum" in spec, name
    defaults = {item.name: getattr(ServerConfig(), item.name) for item in fields(ServerConfig)}
    validate(defaults)  # the defaults are allowed values


def test_from_dict_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^config: journal_size: 0 is not allowed"):
        ServerConfig.from_dict({"journal_size": 0})
