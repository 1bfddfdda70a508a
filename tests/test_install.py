"""The kit as a guest: the built wheel installs one import name and coexists with a user's
packages named `fixtures` or `contracts` (PyPI's `fixtures`, a project's `tests/fixtures/`);
its extras add what a user's commands need and nothing of the kit's own tooling."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver.schemathesis_run import UNPARSABLE, quiet_negative_testing

ROOT = Path(__file__).resolve().parent.parent


SOURCES = ("pyproject.toml", "README.md", "mockserver", "contracts", "fixtures")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheel and sdist built as `make dist` builds them (without an isolated build env, which
    would download setuptools for every run), from a copy of the sources: builds in the tree
    itself (its build/ and egg-info) by two xdist workers at once broke each other."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(ROOT / name, source)
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return out


def wheel_of(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def test_wheel_installs_only_the_name_mockserver(dist: Path) -> None:
    names = zipfile.ZipFile(wheel_of(dist)).namelist()
    tops = {name.split("/")[0] for name in names if ".dist-info/" not in name}

    assert tops == {"mockserver"}
    assert "mockserver/py.typed" in names
    assert "mockserver/contracts/neuralanalog.yaml" in names
    assert "mockserver/fixtures/plugin.py" in names
    assert "mockserver/fixtures/entrypoint.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel_of(dist)).read(entry_points).decode()
    assert "mockserver = mockserver.fixtures.entrypoint" in text


def test_twine_finds_nothing_wrong_with_the_distributions(dist: Path) -> None:
    files = sorted(str(path) for path in dist.iterdir())
    assert len(files) == 2  # the wheel and the sdist

    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


USER_FIXTURES = """\
def sample_track() -> str:
    return "demo.wav"
"""

USER_TEST = """\
import httpx
from fixtures import sample_track  # the project's own tests/fixtures/, not the kit


def test_own_fixtures_and_the_mock_side_by_side(mockserver):
    api = "neuralanalog"
    answer = httpx.post(
        mockserver.base_url(api) + "/from-link",
        json={"url": "https://example.com/" + sample_track()},
        headers={"X-API-Key": mockserver.api_key(api)},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "in_progress"
"""


def test_a_user_project_with_its_own_fixtures_package(dist: Path, tmp_path: Path) -> None:
    """A fresh virtualenv with the wheel and PyPI's `fixtures`: both import, and a project with
    its own `tests/fixtures/` package runs its tests on the plugin."""
    env_dir = tmp_path / "venv"
    # no pip of its own: this suite's pip installs into it (`--python`), without compiling
    # what it installs (a fresh pip and precompiled numpy were two thirds of this test's time)
    venv.create(env_dir, with_pip=False)
    python = str(env_dir / "bin" / "python")
    install = ["install", "--quiet", "--no-compile", str(wheel_of(dist)), "fixtures", "pytest"]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, *install],
        check=True,
        capture_output=True,
    )
    project = tmp_path / "project"
    (project / "tests" / "fixtures").mkdir(parents=True)
    (project / "tests" / "fixtures" / "__init__.py").write_text(USER_FIXTURES)
    (project / "tests" / "test_client.py").write_text(USER_TEST)

    pypi_fixtures = subprocess.run(
        [python, "-c", "import fixtures, mockserver.fixtures.plugin; print(fixtures.Fixture)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    run = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
    )

    assert "fixtures.fixture.Fixture" in pypi_fixtures.stdout, pypi_fixtures.stderr
    assert run.returncode == 0, textwrap.indent(run.stdout + run.stderr, "  ")
    assert "1 passed" in run.stdout


def test_the_user_extras_hold_what_their_commands_need_and_no_tooling() -> None:
    """The docs used to send users to the `test` extra for schemathesis: the kit's own
    playwright, mypy, ruff, twine and build with it (a 622 MB venv, pytest 1.5 s slower)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    assert extras["schemathesis"] == ["schemathesis>=4"]
    assert extras["sdks"] == ["camb-sdk==1.6.6", "neurolinker-sdk==0.2.2"]
    assert f"{project['name']}[schemathesis,sdks]" in extras["test"]  # the kit's own, on top
    install = (ROOT / "docs" / "install-and-cli.md").read_text()
    assert '".[test]"' not in install and "[schemathesis,sdks] @ git+" in install


@pytest.fixture
def quiet_loggers() -> Iterator[None]:
    """`quiet_negative_testing()`, undone after the test."""
    uvicorn, multipart = logging.getLogger("uvicorn.error"), logging.getLogger("python_multipart")
    filters, level = list(uvicorn.filters), multipart.level
    quiet_negative_testing()
    yield
    uvicorn.filters[:] = filters
    multipart.setLevel(level)


def test_mockserver_schemathesis_keeps_the_expected_warnings_off_stderr(
    quiet_loggers: None, caplog: pytest.LogCaptureFixture
) -> None:
    """schemathesis' malformed requests used to print uvicorn's `Invalid HTTP request
    received.` and python-multipart's `Found invalid character 13 in header` on stderr."""
    with caplog.at_level(logging.WARNING):
        logging.getLogger("uvicorn.error").warning(UNPARSABLE)
        logging.getLogger("python_multipart.multipart").warning("Found invalid character 13")
        logging.getLogger("uvicorn.error").warning("something else")
        logging.getLogger("python_multipart.multipart").error("a real error")

    assert [record.getMessage() for record in caplog.records] == ["something else", "a real error"]
