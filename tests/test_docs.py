"""Every runnable code block of docs/*.md runs, so none goes stale (the convention is in
docs/README.md).

Each page gets its own live server on a manual clock; its blocks run in order against it,
with `http://127.0.0.1:8000` (where `make serve` listens) replaced by the server's URL.
```sh blocks run with `bash -e`; ```python blocks run in one namespace per page, and blocks
that define `test_*` functions run as a pytest file with the kit's plugin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mockserver import ServerConfig, create_app
from mockserver.live import LiveServer

DOCS = Path(__file__).parent.parent / "docs"
SERVE_URL = "http://127.0.0.1:8000"  # `make serve`'s address, as the pages write it
RUNNABLE = ("python", "sh")
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXPECT = re.compile(r'expect="([^"]+)"')  # a test block's pytest summary, when not all pass


@dataclass
class Block:
    page: str
    line: int
    language: str
    code: str
    expect: str | None = None


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(
            page.name,
            text.count("\n", 0, found.start()) + 1,
            found[1],
            found[3],
            (expect := EXPECT.search(found[2])) and expect[1],
        )
        for found in FENCE.finditer(text)
        if found[1] in RUNNABLE
    ]


PAGES = sorted(page for page in DOCS.glob("*.md") if blocks(page))
# pages whose toml, yaml and json blocks are server config files
CONFIG_PAGES = ("command-line.md", "install-and-cli.md", "security-and-limits.md")
CONFIG_PAGES += ("fault-injection.md",)


def run_sh(block: Block, url: str, where: Path) -> str:
    """`python` and `mockserver` are this environment's, as in an activated venv. Returns
    what the block printed."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code.replace(SERVE_URL, url)],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    assert done.returncode == 0, f"{block.page}:{block.line}\n{done.stdout}\n{done.stderr}"
    return done.stdout


# the pages' Hypothesis tests, with fewer examples: the suite checks that they run
HYPOTHESIS_PROFILE = """
from hypothesis import HealthCheck, settings

settings.register_profile(
    "docs", max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("docs")
"""


def run_tests(tests: list[Block], where: Path) -> None:
    """The blocks as test files of one pytest run (one process per page: they start slowly)."""
    (where / "conftest.py").write_text(HYPOTHESIS_PROFILE)
    paths = []
    for block in tests:
        path = where / f"test_{Path(block.page).stem.replace('-', '_')}_{block.line}.py"
        path.write_text(block.code)
        paths.append(str(path))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(where),
            *paths,
        ],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(where)},
    )
    where_ = f"{tests[0].page}:{[b.line for b in tests]}\n{done.stdout[-3000:]}"
    if tests[0].expect is None:
        assert done.returncode == 0, where_
    else:  # one block that shows a failure
        assert tests[0].expect in done.stdout.splitlines()[-1], where_


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_runnable_block_of_the_page_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with LiveServer(create_app(ServerConfig(clock="manual"))) as server:
        namespace: dict[str, object] = {}
        tests = [b for b in blocks(page) if re.search(r"^(async )?def test_", b.code, re.M)]
        for block in blocks(page):
            if block.language == "sh":
                run_sh(block, server.url, tmp_path)
            elif block in tests:
                continue
            else:
                code = compile(
                    block.code.replace(SERVE_URL, server.url), f"{page}:{block.line}", "exec"
                )
                exec(code, namespace)
        passing = [b for b in tests if b.expect is None]
        for batch in [passing] * bool(passing) + [[b] for b in tests if b.expect is not None]:
            run_tests(batch, tmp_path)


@pytest.mark.parametrize("page", CONFIG_PAGES)
def test_every_config_example_is_taken_as_written(page: str, tmp_path: Path) -> None:
    """A config shown on a page is one `mockserver serve --config` starts with (a misspelt
    key is refused at start, naming it)."""
    text = (DOCS / page).read_text()
    found = [f for f in FENCE.finditer(text) if f[1] in ("toml", "yaml", "json")]
    assert found, f"{page} shows no config file"
    for example in found:
        path = tmp_path / f"line-{text.count(chr(10), 0, example.start()) + 1}.{example[1]}"
        path.write_text(example[3])
        ServerConfig.from_file(path)


def test_the_runner_finds_blocks_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```text\nnot run\n```\n\n```sh\nfalse\n```\n")
    found = blocks(page)
    assert [(b.language, b.line) for b in found] == [("python", 1), ("sh", 9)]
    with pytest.raises(AssertionError, match="page.md:9"):
        run_sh(found[1], SERVE_URL, tmp_path)
    assert shutil.which("bash")


def test_every_webhook_example_subscribes_documented_topics() -> None:
    """neuraldraft.md's example subscribed `image.failed`, which the API refuses (422)."""
    import yaml

    from mockserver.apis import service_class

    contract = yaml.safe_load(service_class("neuraldraft").contract_path.read_text())
    topics = set(contract["components"]["schemas"]["EventType"]["enum"])
    found = [
        (page.name, json.loads(f"[{listed}]"))
        for page in DOCS.glob("*.md")
        for listed in re.findall(r'"events":\s*\[([^\]]*)\]', page.read_text())
    ]
    assert ("neuraldraft.md", ["image.generated", "blog_post.published"]) in found
    for page, events in found:
        assert set(events) <= topics, (page, sorted(set(events) - topics))
