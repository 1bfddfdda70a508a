"""The ways a project loads the pytest plugin, driven as a user drives them: a temporary
project run by pytest, with or without plugin autoloading, with or without its own
`pytest_plugins` line."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USES_THE_SERVER = """
def test_uses_the_server(mockserver):
    assert mockserver.client("camb").get("/audio-separation/x").status_code == 404
"""
NAMES_THE_PLUGIN = 'pytest_plugins = ["mockserver.fixtures.plugin"]\n'
AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


# (autoload, conftest.py, options, the run's outcome): every way to load the plugin loads it
# once; `-p no:mockserver`, the entry point's name, leaves the installed one out, not a
# project's own line, which `-p no:mockserver.fixtures.plugin` blocks
WAYS: list[tuple[bool, str, tuple[str, ...], dict[str, int]]] = [
    (True, "", (), {"passed": 1}),
    (True, NAMES_THE_PLUGIN, (), {"passed": 1}),
    (True, "", ("-p", "mockserver.fixtures.plugin"), {"passed": 1}),
    (True, NAMES_THE_PLUGIN, ("-p", "mockserver.fixtures.plugin"), {"passed": 1}),
    (False, "", (), {"errors": 1}),
    (False, NAMES_THE_PLUGIN, (), {"passed": 1}),
    (False, "", ("-p", "mockserver.fixtures.plugin"), {"passed": 1}),
    (False, "", ("-p", "mockserver"), {"passed": 1}),
    (False, NAMES_THE_PLUGIN, ("-p", "mockserver"), {"passed": 1}),
    (True, "", ("-p", "no:mockserver"), {"errors": 1}),
    (True, NAMES_THE_PLUGIN, ("-p", "no:mockserver"), {"passed": 1}),
    (
        True,
        NAMES_THE_PLUGIN,
        ("-p", "no:mockserver", "-p", "no:mockserver.fixtures.plugin"),
        {"errors": 1},
    ),
]


def test_every_way_of_loading_the_plugin_loads_it_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project's `pytest_plugins = ["mockserver.fixtures.plugin"]` (or `-p` with that
    name) beside the autoloaded plugin used to stop the run before any test: `ValueError:
    Plugin already registered under a different name`. `-p no:mockserver`, the entry point's
    name, still leaves out the whole installed plugin (its module is no longer the plugin's)."""
    pytester.makepyfile(test_user=USES_THE_SERVER)
    for autoload, conftest, options, outcome in WAYS:
        if autoload:
            monkeypatch.delenv(AUTOLOAD, raising=False)
        else:
            monkeypatch.setenv(AUTOLOAD, "1")
        pytester.makeconftest(conftest)
        result = pytester.runpytest("-p", "no:cacheprovider", *options)
        way = f"autoload={autoload} conftest={conftest!r} options={options}"
        assert result.parseoutcomes() == outcome, f"{way}\n{result.stdout.str()[-2000:]}"
        if "errors" in outcome:
            result.stdout.fnmatch_lines(["*fixture 'mockserver' not found*"])

    # and the installed plugin left out is left out whole: its options and markers too
    off = ("-p", "no:cacheprovider", "-p", "no:mockserver")
    pytester.makeconftest("")
    assert "mockserver" not in pytester.runpytest(*off, "--markers").stdout.str()
    assert pytester.runpytest(*off, "--mockserver-strict").ret == pytest.ExitCode.USAGE_ERROR
