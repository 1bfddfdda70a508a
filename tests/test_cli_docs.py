"""The docs name every command and flag `mockserver --help` lists, and no other: the synopsis
of docs/command-line.md (every command) and the flag table of docs/install-and-cli.md
(`serve`'s). The tests before listed flags by hand (tests/test_cli.py's help tests), so
`--admin-token`, `--max-upload-bytes`, `--loop`, `--http` and `mockserver schemathesis` were
added to the parser and missed by both pages; here both sides come from the text."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from mockserver.cli import main

DOCS = Path(__file__).parent.parent / "docs"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")  # `--` alone (schemathesis's own options) is none


def usage(*argv: str) -> str:
    """The usage block of `mockserver ARGV --help`: every option, and nothing else."""
    with pytest.raises(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:
        main([*argv, "--help"])
    return out.getvalue().split("\n\n")[0]


def commands() -> list[str]:
    (choices,) = re.findall(r"\{([^}]*)\}", usage())
    return choices.split(",")


def synopsis() -> dict[str, str]:
    """command-line.md's first block, by command: its line and the ones indented under it."""
    text = (DOCS / "command-line.md").read_text()
    block = text.split("```\n", 2)[1]
    found: dict[str, str] = {}
    command = ""
    for line in block.splitlines():
        if line.startswith("mockserver "):
            command = line.split()[1]
            found[command] = ""
        found[command] += line + "\n"
    return found


def test_the_synopsis_names_every_command_with_each_of_its_flags() -> None:
    documented = synopsis()
    assert list(documented) == commands()
    for command, text in documented.items():
        assert set(FLAG.findall(text)) == set(FLAG.findall(usage(command))), command


def test_the_flag_table_names_every_flag_of_serve() -> None:
    text = (DOCS / "install-and-cli.md").read_text()
    table = re.findall(r"^\| `(--[a-z-]+)[^|]*\| [^|]+ \| [^|]+ \|$", text, re.MULTILINE)
    assert sorted(table) == sorted(set(FLAG.findall(usage("serve"))))
