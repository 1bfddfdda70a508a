"""Server settings: from CLI flags, a config file (JSON, TOML or YAML), or Python."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    api: str | None = None  # serve one API alone, at the root
    clock: str = "system"  # "system" or "manual"
    time_scale: float = 1.0  # system clock speed: 60 makes a minute last a second
    seed: int | None = None  # same seed, same requests -> same timelines (IDs: see id_salt)
    strict: bool = False  # answer contract violations with a 4xx instead of serving them
    # where state is kept: memory, sqlite:///path/state.db, redis://host:port/db (docs/shared.md)
    store: str = "memory"
    store_capacity: int = 100_000  # past this, the oldest finished jobs are evicted
    journal_size: int = 10_000
    duration_scale: float = 1.0  # multiplies every default job duration
    failure_rate: float = 0.0  # share of default-profile jobs that fail (seeded)
    link_ttl: int = 3600  # seconds a signed download link stays valid
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per key: {"scenario": "failed; after=5"} binds a scenario, {"status": 401 or 403} refuses it
    # Neural Analog: an archive whose zipping would take longer than this is emailed
    archive_email_threshold_seconds: int = 30
    archive_max_file_bytes: int = 500_000_000  # Neural Analog: bigger files are skipped
    # Neural Draft: requests per sliding minute per key, refused with 429 past it; None = not
    # enforced (the X-RateLimit-* headers still count against the documented 60)
    rate_limit: int | None = None
    credits_error_code: str = "out_of_credits"  # Neural Draft's 402 code, or "insufficient_credits"
    faults: list[dict[str, Any]] = field(default_factory=list)
    # --- limits and guards (docs/security-and-limits.md) ---
    max_upload_bytes: int = 100 * 1024 * 1024  # an upload (multipart body) past this is a 413
    upload_limits: dict[str, int] = field(default_factory=dict)  # per API: {"camb": 50_000_000}
    max_json_bytes: int = 1024 * 1024  # any other request body (JSON, admin) past this: 4xx
    max_json_depth: int = 64  # nesting of a JSON body (or a JSON form field) past this: 4xx
    max_render_bytes: int = 100 * 1024 * 1024  # bytes one download may render (audio is cut)
    max_queued_scenarios: int = 10_000  # scenarios waiting in the admin queue, all APIs
    journal_bytes: int = 64 * 1024 * 1024  # past this, the oldest journal entries go
    max_fault_delay: float = 60.0  # seconds a latency fault may hold one answer
    # whether a latency fault moves a manual clock rather than waiting in real time; None: as
    # the runner decides (`serve` waits: its clock is shared; check-client and the pytest
    # plugin, whose server has one client at a time, move it)
    latency_moves_clock: bool | None = None
    admin_token: str | None = None  # required by the admin API when set; generated off loopback
    admin_hosts: list[str] = field(default_factory=list)  # extra Host names the admin API answers
    id_salt: str | None = None  # mixed into the seeded ID streams; `serve` draws one per start

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ServerConfig:
        """Read a config file; keys are the field names above. Raises ConfigError (a
        ValueError) with one line per mistake, naming the file and the key path."""
        from mockserver.configschema import check_clock, validate

        data = read_file(path)
        validate(data, str(path))
        check_clock(data, {}, str(path))
        return cls.from_dict({**data, **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ServerConfig:
        """Settings from a mapping, checked against the config schema (ConfigError)."""
        from mockserver.configschema import validate

        validate(data, source)
        return cls(**data)

    def check(self, source: str = "ServerConfig") -> ServerConfig:
        """This config, or ConfigError naming `source` and the field: one built in code (a
        conftest's fixture) is checked as a file is, before a server runs on it."""
        from mockserver.configschema import validate

        validate({item.name: getattr(self, item.name) for item in fields(self)}, source)
        return self


SEED_LOW, SEED_HIGH = -(2**63), 2**63 - 1  # a seed is a signed 64-bit whole number
MAX_DEPTH = 32  # tables and lists in tables: a config file needs a handful, parsers recurse
MAX_SHOWN = 60  # characters of a value an error line shows: a refused value may be a megabyte
KINDS = {".json": "JSON", ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML"}  # by suffix
# why a `mock.ini` is called no valid JSON
READ_AS = "(a file not named .toml, .yaml or .yml is read as JSON)"


def cut(text: str) -> str:
    """`text` cut to `MAX_SHOWN` characters, so an error line stays one readable line."""
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def checked_seed(value: object) -> int:
    """`value` (a whole number, or its text) as a seed; ValueError saying what is allowed, as
    the config file's `seed` is: the same bounds for every way of giving one."""
    seed: object
    try:
        seed = int(value) if isinstance(value, str) else value
    except ValueError:
        seed = None
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_LOW <= seed <= SEED_HIGH:
        raise ValueError(
            f"{cut(str(value))} is not allowed; expected a whole number from {SEED_LOW} to "
            f"{SEED_HIGH}"
        )
    return seed


def too_deep() -> str:
    """The one line for nesting past `MAX_DEPTH`, found by a parser's recursion or the check."""
    return f"nested deeper than {MAX_DEPTH} levels (tables and lists)"


def read_file(path: str | Path) -> Any:
    """The data of a JSON, TOML or YAML file (by its suffix; JSON otherwise). Raises
    ConfigError for a file that cannot be read or parsed, in one line: a key given twice,
    a YAML alias (a few hundred bytes of them expand to gigabytes) or nesting past
    `MAX_DEPTH` included."""
    from mockserver.configschema import ConfigError, check_yaml_keys

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([f"{path}: cannot read the config file: {reason}"]) from None
    kind = KINDS.get(path.suffix, "JSON")
    try:
        data = _parse(text, kind, path.name)
    except RecursionError:  # the parsers recurse; what parses is checked by `validate`
        raise ConfigError([f"{path}: {too_deep()}"]) from None
    except (ValueError, yaml.YAMLError) as exc:
        read_as = "" if path.suffix in KINDS else f" {READ_AS}"
        reason = " ".join(str(exc).split())
        raise ConfigError([f"{path}: not valid {kind}{read_as}: {reason}"]) from None
    if kind == "YAML":  # keys named as the file writes them (`0123456`), not as YAML reads them
        check_yaml_keys(text, str(path))
    return data


def _parse(text: str, kind: str, name: str) -> Any:
    """The data of `text`; the YAML parser's marks name the file `name`."""
    if kind == "TOML":
        return tomllib.loads(text)
    if kind == "YAML":
        loader = _StrictLoader(text)
        loader.name = name
        try:
            return loader.get_single_data() or {}
        finally:
            loader.dispose()
    return json.loads(text, object_pairs_hook=_unique_pairs)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: last-wins would hide a setting."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {cut(repr(key))}")
        found[key] = value
    return found


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing aliases (`*name`: a few hundred bytes of nested ones
    expand to gigabytes) and a key given twice (last-wins would hide a setting)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(
                None, None, "aliases (*name) are not allowed in a config file", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a table or list as a key: the constructor refuses it
                key = self.construct_object(key_node)
                if key in seen:
                    raise ConstructorError(
                        None, None, f"duplicate key {cut(repr(key))}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)
