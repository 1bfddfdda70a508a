"""What a config or a fault rule may say: a store's secrets never shown, YAML keys read as other
than text named as written, rules that could never fire refused, host names a Host header can
carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, configschema, contracts, create_app
from mockserver.configschema import ConfigError, validate
from mockserver.faults import FaultError, FaultRule
from mockserver.stores import MemoryStore, shown
from tests.conftest import Mock

NA = "/neuralanalog"
LINK = {"url": "https://example.com/take.mp3"}
SECRET = "s3cretpw"


# --- a store's password, wherever the store is shown ----------------------------------------


@pytest.mark.parametrize(
    ("url", "seen"),
    [
        (f"redis://127.0.0.1:6379/0?password={SECRET}&prefix=v", "password=***&prefix=v"),
        (f"rediss://h:6380/0?ssl_password={SECRET}", "rediss://h:6380/0?ssl_password=***"),
        (
            f"redis://app:{SECRET}@h:6379/0?password={SECRET}",
            "redis://app:***@h:6379/0?password=***",
        ),
    ],
)
def test_a_password_in_a_store_option_is_masked(url: str, seen: str) -> None:
    """`shown` masked the user part alone: `?password=` (redis-py's AUTH password, beside the
    user part's) and `?ssl_password=` were shown in clear by health and the start line."""
    assert SECRET not in shown(url)
    assert shown(url).endswith(seen)


def test_health_hides_the_password_of_a_store_option() -> None:
    store = f"redis://127.0.0.1:6379/0?password={SECRET}&prefix=v"
    app = create_app(ServerConfig(clock="manual", store=store), store=MemoryStore())
    with TestClient(app) as client:
        health = client.get("/__mock__/health").json()
    assert health["store"] == "redis://127.0.0.1:6379/0?password=***&prefix=v"


def test_a_refused_store_does_not_show_its_password() -> None:
    with pytest.raises(ConfigError) as error:
        validate({"store": f"redis+tls://app:{SECRET}@h:6379/0"}, "mock.yaml")
    assert SECRET not in str(error.value)
    assert "unknown store 'redis+tls://app:***@h:6379/0'" in str(error.value)


# --- a YAML key read as other than text: named as written, every one ----------------------


def test_each_yaml_key_read_as_other_than_text_is_named_as_the_file_writes_it() -> None:
    """The line named the value read: `0123456` read as 42798 said "quote it ('42798')", which
    would revoke another key; `yes` said 'True'; and only the first such key was named."""
    text = "keys:\n  0123456: {status: 403}\n  yes: {status: 401}\n  ok: {status: 401}\n"
    text += "faults: [{1_000: x}]\nnull: 1\n"
    with pytest.raises(ConfigError) as error:
        configschema.check_yaml_keys(text, "mock.yaml")
    assert error.value.lines == [
        "mock.yaml: keys.0123456: the key 0123456 is read as int, not text: quote it "
        "('0123456') on line 2",
        "mock.yaml: keys.yes: the key yes is read as bool, not text: quote it ('yes') on line 3",
        "mock.yaml: faults[0].1_000: the key 1_000 is read as int, not text: quote it ('1_000') "
        "on line 5",
        "mock.yaml: null: the key null is read as null, not text: quote it ('null') on line 6",
    ]


def test_yaml_keys_that_are_text_pass() -> None:
    configschema.check_yaml_keys("keys:\n  '0123456': {status: 403}\n<<: {port: 8000}\n", "m")
    configschema.check_yaml_keys("", "m")


def test_every_key_that_is_not_text_is_one_line() -> None:
    with pytest.raises(ConfigError) as error:
        validate({"keys": {1: {}, 2: {}}}, "config")
    assert error.value.lines == [
        "config: keys.1: the key 1 is read as int, not text: quote it ('1')",
        "config: keys.2: the key 2 is read as int, not text: quote it ('2')",
    ]


# --- fault rules that could never fire ----------------------------------------------------

# written out, not read from the code under test: what each API's handlers do
CREATES = {
    "camb": {"create_audio_separation"},
    "neuralanalog": {
        "import_from_file",
        "import_from_link",
        "upscale_audio",
        "master_audio",
        "create_stems",
        "run_workflow",
    },
    "neurolinker": {"extract", "extract_fields", "extract_fields_from_markdown"},
    "neuraldraft": {
        "create_blog_post",
        "create_image",
        "create_video",
        "create_social_post",
        "create_job",
        "translate_blog_post",
        "translate_content",
        "replace_image",
    },
}
# a redirect, an empty 204, an event stream: no JSON to vary
NOT_JSON = {
    ("neuralanalog", "download_object"),
    ("neuraldraft", "stream_job"),
    ("neuraldraft", "delete_image"),
    ("neuraldraft", "delete_webhook_endpoint"),
}
CALLS = [(api, op.id) for api in apis.names() for op in contracts.load(api).operations]


def _accepted(rule: dict[str, object]) -> bool:
    try:
        FaultRule.parse(rule)
    except FaultError as exc:
        assert "would never fire" in str(exc), exc
        return False
    return True


@pytest.mark.parametrize(("api", "operation"), CALLS)
def test_each_fault_kind_is_refused_exactly_where_it_cannot_act(api: str, operation: str) -> None:
    """A stall acts on the jobs creates start, a variety on 2xx JSON; latency and reset on any
    answer. `stall` on `get_status` and `variety` on `download_object` were taken, and never
    fired."""
    rule = {"api": api, "operation": operation}
    assert _accepted({**rule, "fault": "latency"})
    assert _accepted({**rule, "fault": "reset"})
    assert _accepted({**rule, "fault": "variety"}) == ((api, operation) not in NOT_JSON)
    # a webhook endpoint's create links to its update and delete: no job, no stall
    assert _accepted({**rule, "fault": "stall"}) == (operation in CREATES[api])


def test_a_rule_naming_operations_of_which_one_can_act_is_taken() -> None:
    assert _accepted({"fault": "variety", "operation": ["download_object", "get_status"]})
    assert _accepted({"fault": "stall", "operation": "get_status,import_from_link"})


def test_the_admin_api_refuses_a_stall_on_a_status_read(mock: Mock) -> None:
    rule = {"fault": "stall", "operation": "get_status", "tenant": mock.key}
    answer = mock.client.post("/__mock__/faults", json=rule)
    assert answer.status_code == 422, answer.text
    assert (
        "stall would never fire: no operation named in 'operation' (get_status) starts a job"
        in (answer.json()["error"])
    )
    download = {"fault": "variety", "operation": "download_object"}
    answer = mock.client.post("/__mock__/faults", json=download)
    assert answer.status_code == 422, answer.text
    assert "variety would never fire" in answer.json()["error"]
    assert mock.client.get("/__mock__/faults").json()["faults"] == []


def test_the_scenario_header_refuses_a_stall_on_a_status_read(mock: Mock) -> None:
    headers = {
        **mock.headers("neuralanalog"),
        "X-Mock-Scenario": "completed; fault=stall; operation=get_status",
    }
    answer = mock.client.post(f"{NA}/from-link", headers=headers, json=LINK)
    assert answer.status_code == 400, answer.text
    assert "stall would never fire" in answer.text


def test_a_config_refuses_a_variety_on_a_download() -> None:
    with pytest.raises(ConfigError) as error:
        validate({"faults": [{"fault": "variety", "operation": "download_object"}]}, "mock.yaml")
    assert error.value.lines[0].startswith("mock.yaml: faults[0]: variety would never fire")


# --- admin_hosts: names a Host header can carry --------------------------------------------


@pytest.mark.parametrize("name", ["a b", "", " ", "mock.local\t"])
def test_an_admin_host_no_host_header_carries_is_refused_as_host_is(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate({"admin_hosts": ["mock.local", name]}, "mock.yaml")
    assert error.value.lines == [
        f"mock.yaml: admin_hosts[1]: {name!r} is not allowed; "
        "expected a host name or address, without spaces"
    ]
    validate({"admin_hosts": ["mock.local", "10.0.0.7"]}, "mock.yaml")


def test_a_yaml_config_file_names_a_key_as_it_writes_it(tmp_path: Path) -> None:
    from mockserver.config import read_file

    path = tmp_path / "mock.yaml"
    path.write_text("keys:\n  0123456: {status: 403}\n")
    with pytest.raises(ConfigError) as error:
        read_file(path)
    assert error.value.lines == [
        f"{path}: keys.0123456: the key 0123456 is read as int, not text: quote it "
        "('0123456') on line 2"
    ]


@pytest.mark.parametrize("salt", ["", "  "])
def test_an_empty_id_salt_is_refused_as_it_would_read_as_unset(salt: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate({"id_salt": salt}, "mock.yaml")
    assert error.value.lines == [
        f"mock.yaml: id_salt: {salt!r} is not allowed; expected a text with a character other "
        "than a space"
    ]


def test_a_redis_url_naming_no_host_is_refused_without_its_password() -> None:
    from mockserver.stores import StoreError, open_store

    with pytest.raises(StoreError) as error:
        open_store(f"redis:///0?password={SECRET}")
    assert SECRET not in str(error.value) and "password=***" in str(error.value)


def test_a_password_cut_by_an_unescaped_slash_is_not_quoted_as_a_port() -> None:
    with pytest.raises(ConfigError) as error:
        validate({"store": "redis://:S3cr/et@127.0.0.1:6379/0"}, "mock.yaml")
    assert "S3cr" not in str(error.value.lines) and "percent-encoded" in error.value.lines[0]


@pytest.mark.parametrize("entry", ["mock.internal:8000", "MOCK.internal", "[fd00::5]"])
def test_an_admin_host_entry_matches_as_a_requests_host_is_read(entry: str) -> None:
    app = create_app(ServerConfig(clock="manual", admin_hosts=[entry]))
    host = entry if entry.startswith("[") else entry.split(":")[0].lower()
    with TestClient(app, base_url=f"http://{host}") as client:
        assert client.get("/__mock__/health").status_code == 200
