"""docs/fault-injection.md's session prints what the server answers: tests/test_docs.py runs
its blocks but reads no output, and the payload variety example had drifted from it."""

from __future__ import annotations

import re
from pathlib import Path

from mockserver import ServerConfig, create_app
from mockserver.live import LiveServer
from tests.test_docs import blocks, run_sh

PAGE = Path(__file__).parent.parent / "docs" / "fault-injection.md"
VARIED = "curl -s $M/neuralanalog/status/audio/$AUDIO -H 'X-API-Key: demo-key'"


def shown_after(code: str, command: str) -> str:
    """The answer the page shows for `command`: the comment lines after it, joined (a line
    goes on after `#` and its indentation). `$AUDIO` stands for the import's ID, which a
    server draws anew at each start."""
    lines = code.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == command) + 1
    shown = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        shown.append(line.lstrip("# "))
    return "".join(shown)


def test_the_payload_variety_example_shows_the_served_answer(tmp_path: Path) -> None:
    [session] = [block for block in blocks(PAGE) if VARIED in block.code]
    expected = shown_after(session.code, VARIED)
    assert expected.startswith("{") and "..." not in expected  # the whole answer, as served
    first, then, *rest = re.escape(expected).split(re.escape("$AUDIO"))
    pattern = f"{first}(?P<audio>[0-9a-f-]{{36}}){then}" + "".join(f"(?P=audio){p}" for p in rest)
    with LiveServer(create_app(ServerConfig(clock="manual"))) as server:
        printed = run_sh(session, server.url, tmp_path)
    assert re.search(pattern, printed), printed
