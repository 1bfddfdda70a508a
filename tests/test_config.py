"""The config file is checked before serving: one line per mistake, naming the file, the key
path and what is allowed."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from mockserver import ServerConfig, create_app
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
            "faults: [{fault: error, status: '503'}]",
            "faults[0]: 'status' must be a number (got '503'): a JSON one, not text",
        ),
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
        # whole numbers given as floats: 8000.0 is an integer to JSON Schema, not to a socket
        ("port: 18051.0", "port: 18051.0 is not allowed; expected a whole number from 1 to"),
        ("journal_size: 5.0", "journal_size: 5.0 is not allowed; expected a whole number"),
        ("max_queued_scenarios: 2.0", "max_queued_scenarios: 2.0 is not allowed; expected a whole"),
        ("upload_limits: {camb: 5.0}", "upload_limits.camb: 5.0 is not allowed; expected a whole"),
        ("keys: {k: {status: 403.0}}", "keys.k.status: 403.0 is not allowed; expected 401 or 403"),
        # a key's scenario is refused at start, not on every request made with the key
        (
            "keys: {k: {scenario: 'failed; after=nan'}}",
            "keys.k.scenario: scenario option after='nan' must be a number from 0 to 315360000",
        ),
        (
            "keys: {k: {scenario: 'failed; after=1e99'}}",
            "keys.k.scenario: scenario option after='1e99' must be a number from 0 to 315360000",
        ),
        # ... read as a request's header is, for each API it applies to: every option, its
        # values and combination, its fault (these started the server, then were dropped or
        # refused on every request with the key)
        (
            "keys: {k: {scenario: 'completed; fault=bogus'}}",
            "keys.k.scenario: unknown fault 'bogus' in 'fault'; known: latency",
        ),
        (
            "keys: {k: {scenario: 'completed; fault=503; delay=2'}}",
            "keys.k.scenario: 'delay' does not apply to error faults; they take status",
        ),
        (
            "keys: {k: {scenario: 'ERROR; reason=BOGUS'}}",
            "keys.k.scenario: reason='BOGUS' is not a camb exception_reason; known: ",
        ),
        (
            "keys: {k: {scenario: 'partial; failing=0'}}",
            "keys.k.scenario: scenario option failing=0 must be a positive integer (for "
            "neurolinker, the API it applies to)",
        ),
        (
            "keys: {k: {scenario: 'completed; failing=1'}}",
            "keys.k.scenario: failing= applies to partial only (how many documents a partial "
            "request fails), not to completed (for neurolinker, the API it applies to)",
        ),
        (
            "keys: {k: {scenario: 'stalled; message=x'}}",
            "keys.k.scenario: message= applies to ERROR, TIMEOUT, PAYMENT_REQUIRED only (the "
            "failure message a client reads), not to stalled (for camb, one of the APIs it "
            "applies to: camb, neuralanalog, neuraldraft, neurolinker)",
        ),
        (
            "keys: {k: {scenario: 'failed; reason=SOURCE_TOO_LONG'}}",
            "keys.k.scenario: unknown scenario option 'reason' for neuralanalog; known: after, ",
        ),
        (
            "keys: {k: {scenario: 'completed; times=2'}}",
            "keys.k.scenario: scenario option times= describes a fault, and none is named",
        ),
        (
            "keys: {k: {scenario: 'failed; after=5; after=600'}}",
            "keys.k.scenario: scenario option after= is given twice",
        ),
        (
            "keys: {k: {scenario: bogus}}",
            "keys.k.scenario: unknown outcome 'bogus' for any API; known: cancelled, completed, "
            "error, failed,",
        ),
        (
            "max_json_depth: 9007199254740992",
            "max_json_depth: 9007199254740992 is not allowed; expected a whole number from 0 "
            "to 256",
        ),
        (
            "credits_error_code: bogus",
            "credits_error_code: 'bogus' is not allowed; expected out_of_credits or "
            "insufficient_credits",
        ),
        ("host: '   '", "host: '   ' is not allowed; expected a host name or address, without"),
        ("store: redis://127.0.0.1:99999/0", "store: Port out of range 0-65535"),
        ("keys: {123: {status: 401}}", "keys.123: the key 123 is read as int, not text: quote it"),
        ("a: &x 1\nb: *x", "not valid YAML: aliases (*name) are not allowed in a config file"),
        ("port: 1\nport: 2", "not valid YAML: duplicate key 'port'"),
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


def test_a_key_scenario_of_one_api_starts_the_server(tmp_path: Path) -> None:
    """`code=` is Neural Draft's alone: a `failed` key scenario with it is for Neural Draft,
    as `ERROR` is for camb; a scenario no API takes is the one refused."""
    file = tmp_path / "mock.yaml"
    file.write_text("keys: {k: {scenario: 'failed; code=content_policy_violation'}}\n")
    assert ServerConfig.from_file(file).keys["k"]["scenario"].startswith("failed")
    file.write_text("keys: {k: {scenario: 'failed; reason=SOURCE_TOO_LONG'}}\n")
    with pytest.raises(ConfigError, match="no API knows both 'failed' and every option given"):
        ServerConfig.from_file(file)


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


def deep(levels: int) -> dict[str, object]:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return {"keys": value}


@pytest.mark.parametrize("levels", [40, 1000, 100_000])
@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_a_deeply_nested_file_is_one_line_not_a_recursion_error(
    tmp_path: Path, suffix: str, levels: int
) -> None:
    file = tmp_path / f"deep{suffix}"
    text = "[" * levels + "1" + "]" * levels
    file.write_text(f"keys = {text}\n" if suffix == ".toml" else f'{{"keys": {text}}}')
    with pytest.raises(ConfigError) as error:
        ServerConfig.from_file(file)
    assert error.value.lines == [f"{file}: nested deeper than 32 levels (tables and lists)"]


def test_a_deeply_nested_mapping_is_one_line_too() -> None:
    with pytest.raises(ConfigError, match=r"^config: nested deeper than 32 levels"):
        ServerConfig.from_dict(deep(5000))


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Nine levels of aliases, a few hundred bytes, used to expand to gigabytes."""
    file = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    file.write_text("\n".join(lines) + "\nadmin_hosts: *a9\n")
    with pytest.raises(ConfigError) as error:
        ServerConfig.from_file(file)
    (line,) = error.value.lines
    assert "aliases (*name) are not allowed in a config file" in line
    assert len(line) < 300


def test_a_json_key_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "mock.json"
    file.write_text('{"port": 9100, "port": 9200}')
    with pytest.raises(ConfigError) as error:
        ServerConfig.from_file(file)
    assert error.value.lines == [f"{file}: not valid JSON: duplicate key 'port'"]


def test_a_huge_value_is_cut_short_in_its_line(tmp_path: Path) -> None:
    file = tmp_path / "mock.json"
    file.write_text(json.dumps({"port": "x" * 1_000_000, "x" * 100_000: 1}))
    with pytest.raises(ConfigError) as error:
        ServerConfig.from_file(file)
    assert len(error.value.lines) == 2
    assert all(len(line) < 1000 for line in error.value.lines)
    unknown, port = error.value.lines
    assert port.startswith(f"{file}: port: 'xxx")
    assert port.endswith("x... is not allowed; expected a whole number from 1 to 65535")
    assert "x...: unknown key (allowed: host, port, api, clock, " in unknown


@pytest.mark.parametrize("depth", [0, 64, 256])
def test_max_json_depth_takes_up_to_its_documented_maximum(depth: int) -> None:
    assert ServerConfig.from_dict({"max_json_depth": depth}).max_json_depth == depth


def test_a_config_built_in_code_is_checked_by_check() -> None:
    """A conftest's `ServerConfig(...)` is not read from a file: `check` reads it the same way."""
    assert ServerConfig(clock="manual", seed=1).check().seed == 1
    bad = ServerConfig(
        clock="manual",
        failure_rate=float("nan"),
        duration_scale=-2,
        link_ttl=-5,
        time_scale=float("inf"),
    )
    with pytest.raises(ConfigError) as error:
        bad.check("conftest")
    assert error.value.lines == [
        "conftest: duration_scale: -2 is not allowed; expected a number from 0 to 1000000",
        "conftest: failure_rate: nan is not allowed; expected a number from 0 to 1",
        "conftest: link_ttl: -5 is not allowed; expected a whole number from 1 to 315360000",
        "conftest: time_scale: inf is not allowed; expected a number above 0 up to 1000000",
    ]


def test_create_app_checks_a_config_built_in_code() -> None:
    """Every way in: a negative duration scale gave jobs that finished before they began."""
    with pytest.raises(ConfigError, match="ServerConfig: duration_scale: -2 is not allowed"):
        create_app(ServerConfig(clock="manual", duration_scale=-2))
    instant = create_app(ServerConfig(clock="manual", duration_scale=0))  # jobs end at once
    assert instant.state.mock.config.duration_scale == 0


def test_the_credits_codes_are_those_neural_draft_takes() -> None:
    """The schema writes Neural Draft's CREDITS_CODES out: each must start a server, and be
    one of its scenario words (what `CREDITS_CODES` adds to its outcomes)."""
    from mockserver import apis, create_app

    service = apis.service_class("neuraldraft")
    codes = schema()["properties"]["credits_error_code"]["enum"]
    # the credit words: not the outcomes, and not `plan_required` (a plan, not credits)
    assert set(codes) == service.scenario_words() - {*service.outcomes, "stalled", "plan_required"}
    for code in codes:
        create_app(ServerConfig(clock="manual", credits_error_code=code))


def test_a_config_past_the_fault_rule_bound_names_its_file_and_key(tmp_path: Path) -> None:
    """`mockserver serve: at most 1000 fault rules (got 1001)` named neither."""
    path = tmp_path / "mock.json"
    path.write_text(json.dumps({"faults": [{"fault": "503"}] * 1001}))
    with pytest.raises(ConfigError) as refused:
        ServerConfig.from_file(path)
    assert refused.value.lines == [f"{path}: faults: at most 1000 fault rules (got 1001)"]


def test_a_file_of_another_kind_is_told_how_it_was_read(tmp_path: Path) -> None:
    """A `.ini` file was "not valid JSON", without saying why it was read as JSON."""
    path = tmp_path / "mock.ini"
    path.write_text("[server]\nport = 8000\n")
    with pytest.raises(ConfigError) as refused:
        ServerConfig.from_file(path)
    assert refused.value.lines[0].startswith(
        f"{path}: not valid JSON (a file not named .toml, .yaml or .yml is read as JSON): "
    )
