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
    # Neural Analog: an archive whose zipping would take longer than this is emailed
    archive_email_threshold_seconds: int = 30
    archive_max_file_bytes: int = 500_000_000  # Neural Analog: bigger files are skipped
    rate_limit: int | None = None  # Neural Draft: requests per minute per key; None = off
    faults: list[dict[str, Any]] = field(default_factory=list)

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
