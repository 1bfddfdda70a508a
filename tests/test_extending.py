"""A user's own API, installed from its own package, gets everything the built-in ones get.

The sample package (tests/sample_api) is copied to a temporary folder with the metadata a
`pip install` would write (a dist-info whose entry_points.txt registers it in the
`mockserver.apis` group), and its tests run in a fresh process that has that folder on its
path: routes, the served contract, the fixtures' base URL and key, `check-client`,
strategies and schemathesis, with no file of the kit edited. (One process start, ~5 s: the
only honest way to show entry-point discovery without touching this environment.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).parent / "sample_api"
ROOT = Path(__file__).parent.parent


def install(target: Path) -> None:
    """What `pip install` of a package registering the sample API leaves on the path."""
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    info = target / "sampleapi-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sampleapi\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mockserver.apis]\nsample = sampleapi:Sample\n")


def test_an_installed_package_adds_an_api_with_routes_fixtures_check_and_schemathesis(
    tmp_path: Path,
) -> None:
    install(tmp_path / "site")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path / "site" / "sample_tests.py"),  # not test_*.py: the suite skips it
        ],
        cwd=tmp_path / "site",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "5 passed" in done.stdout
