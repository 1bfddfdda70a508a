"""Server settings: from CLI flags, a config file (JSON, TOML or YAML), or Python."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    api: str | None = None  # serve one API alone, at the root
    clock: str = "system"  # "system" or "manual"
    time_scale: float = 1.0  # system clock speed: 60 makes a minute last a second
    seed: int | None = None  # same seed, same requests -> same IDs and timelines
    strict: bool = False  # answer contract violations with a 4xx instead of serving them
    store_capacity: int = 100_000  # past this, the oldest finished jobs are evicted
    journal_size: int = 10_000
    duration_scale: float = 1.0  # multiplies every default job duration
    failure_rate: float = 0.0  # share of default-profile jobs that fail (seeded)
    link_ttl: int = 3600  # seconds a signed download link stays valid
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per key: {"scenario": "failed; after=5"} binds a scenario, {"status": 401 or 403} refuses it
    archive_email_threshold_bytes: int = 1_000_000_000  # Neural Analog: bigger archives are emailed
    archive_max_file_bytes: int = 500_000_000  # Neural Analog: bigger files are skipped
    rate_limit: int | None = None  # Neural Draft: requests per minute per key; None = off
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
    # a server with one client alone (check-client) may let latency move its manual clock
    latency_moves_clock: bool = False
    admin_token: str | None = None  # required by the admin API when set; generated off loopback
    admin_hosts: list[str] = field(default_factory=list)  # extra Host names the admin API answers
    id_salt: str = ""  # mixed into the seeded ID streams; `serve` draws one per start

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ServerConfig:
        """Read a config file; keys are the field names above, unknown keys are an error."""
        path = Path(path)
        text = path.read_text()
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        return cls.from_dict({**data, **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**data)
