"""The package's shape: no import cycle, and the runtime never loads the pytest plugin."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
FOLDERS = {
    "mockserver": ROOT / "mockserver",
    "mockserver.contracts": ROOT / "contracts",
    "mockserver.fixtures": ROOT / "fixtures",
}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name | ast.Attribute) and "TYPE_CHECKING" in ast.unparse(
        node.test
    )


def imports_at_load(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules `name` imports when it is loaded: module-level imports outside
    `if TYPE_CHECKING:`, with the packages each one loads first."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert not node.level, f"{name}: relative import"  # the kit imports by name
                base = node.module or ""
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)

    visit(tree.body)
    loaded = set()
    for target in found:
        parts = target.split(".")
        loaded.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    return {m for m in loaded if m in known and m not in own}  # its packages load before it


def cycle() -> list[str] | None:
    found = modules()
    graph = {name: imports_at_load(path, name, set(found)) for name, path in found.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found_cycle := visit(nxt)):
                return found_cycle
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found_cycle := visit(name)):
            return found_cycle
    return None


def test_no_import_cycle() -> None:
    assert cycle() is None, " -> ".join(cycle() or [])


def test_the_runtime_does_not_import_the_pytest_plugin() -> None:
    code = (
        "import sys, mockserver, mockserver.clientcheck, mockserver.cli\n"
        "loaded = [m for m in sys.modules if m.startswith('mockserver.fixtures')]\n"
        "loaded += [m for m in sys.modules if m == 'pytest']\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
