"""The package's modules import each other without a cycle, and no test module imports another.

A cycle works only while every module in it happens to be imported in the right order (app.py
importing web/routes.py that imported app.py for one constant did), and breaks the day someone
imports the other one first. The graph is read from the source: every import of a module of the
package, at the top of a module or inside a function (a deferred import that avoids a cycle is
still one), but not those under `if TYPE_CHECKING:`, which never run.

What tests share lives in the helper modules of tests/ (api, factories, servers, live_map, ...)
and in conftest.py's fixtures; a test module that imports another runs that module's tests'
imports and module-level code, and ties one test file's helpers to another's.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "reservations"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE
TESTS_DIR = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(other)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _import_nodes(child)


def _imported(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that importing `module` runs: each one named, and the packages
    above it (their __init__ runs first), except the packages `module` itself is inside, which
    are already being imported when it runs."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        targets.add(base)
        # `from package import submodule` imports the submodule.
        targets.update(f"{base}.{alias.name}" for alias in node.names)
    ancestors = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)}
    ancestors.add(package)
    found: set[str] = set()
    for target in targets:
        parts = target.split(".")
        for n in range(1, len(parts) + 1):
            name = ".".join(parts[:n])
            if name in modules and name not in ancestors and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _describe(cycle: list[str], graph: dict[str, set[str]]) -> str:
    members = set(cycle)
    edges = [
        f"    {source} -> {target}"
        for source in cycle
        for target in sorted(graph[source] & members)
    ]
    return "\n".join([", ".join(cycle), *edges])


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_the_graph_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_the_graph_reads_relative_and_deferred_imports() -> None:
    graph = import_graph()
    assert "reservations.db" in graph["reservations.booking.seat_map"]
    # cli.py imports the server inside its command, which is still an edge.
    assert "reservations.server" in graph["reservations.cli"]
    # Annotations only: context.py imports the hub under TYPE_CHECKING.
    assert "reservations.live.hub" not in graph["reservations.context"]


def test_the_pages_import_first() -> None:
    """The old cycle's entry point, in a fresh interpreter: the pages before the app."""
    result = subprocess.run(
        [sys.executable, "-c", "import reservations.web.routes, reservations.web"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def imported_test_modules(path: Path) -> set[str]:
    """The test modules (tests/**/test_*.py) and conftest that the file at `path` imports,
    anywhere in it and however it names them."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(filter(None, ["tests" if node.level else "", node.module or ""]))
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "tests":
                continue
            for index, part in enumerate(parts[1:], start=1):
                if part.startswith("test_") or part == "conftest":
                    found.add(".".join(parts[: index + 1]))
                    break
    return found


def test_no_test_module_imports_another() -> None:
    imports = {
        str(path.relative_to(TESTS_DIR)): sorted(imported_test_modules(path))
        for path in sorted(TESTS_DIR.rglob("*.py"))
    }
    offending = {name: modules for name, modules in imports.items() if modules}
    assert not offending, (
        "move what these share into a helper module of tests/ or a conftest.py fixture: "
        + repr(offending)
    )


def test_the_check_sees_every_way_of_importing_a_test_module(tmp_path: Path) -> None:
    source = tmp_path / "test_example.py"
    source.write_text(
        "from tests.test_live import watch\n"
        "from tests import test_browser as shared\n"
        "import tests.test_posters\n"
        "from .conftest import ROOT\n"
        "from tests.factories import create_hall\n"
        "def later():\n"
        "    from tests.test_operations import stop\n"
        "from tests.areas.booking.test_holds import when\n"
    )
    assert imported_test_modules(source) == {
        "tests.test_live",
        "tests.test_browser",
        "tests.test_posters",
        "tests.conftest",
        "tests.test_operations",
        "tests.areas.booking.test_holds",
    }
