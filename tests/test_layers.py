"""The package's layers, read from its own imports: ``domain/`` <- ``wire/`` <- ``api/`` <- entry points.

Every ``import`` and ``from ... import`` of every module counts, those under ``TYPE_CHECKING``
too: a type-only import upward is still a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_npm_registry"
ROOT = "pytest_npm_registry"
#: Which layers a layer may import (itself included).
ALLOWED = {
    "domain": {"domain"},
    "wire": {"domain", "wire"},
    "api": {"domain", "wire", "api"},
    "": {"domain", "wire", "api", ""},  # plugin, cli, options, demo, __init__
}


def module_name(path: Path) -> str:
    parts = [ROOT, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's own modules that ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target in known and target != name:
                found.add(target)
    return found


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ("domain", "wire", "api") else ""


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    # A package's __init__ re-exports; importing "pytest_npm_registry" alone is not an edge.
    return {
        name: imports_of(name, path, known) - {ROOT, f"{ROOT}.domain", f"{ROOT}.wire", f"{ROOT}.api"}
        for name, path in mods.items()
    }


def test_the_three_layers_are_folders():
    for folder in ("domain", "wire", "api"):
        assert (PACKAGE / folder / "__init__.py").is_file()
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "demo.py", "options.py", "plugin.py"]


def test_imports_point_down_only():
    wrong = [
        f"{name} ({layer(name) or 'entry point'}) imports {target} ({layer(target) or 'entry point'})"
        for name, targets in graph().items()
        for target in sorted(targets)
        if layer(target) not in ALLOWED[layer(name)]
    ]
    assert wrong == []


def test_the_domain_imports_no_werkzeug_and_no_pytest():
    for path in sorted((PACKAGE / "domain").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in ("werkzeug", "pytest", "_pytest", "pytest_httpserver"), (
                    f"{path.name} imports {name}"
                )


def test_no_module_imports_in_a_circle():
    edges = graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert circles == []


def test_no_domain_component_inherits_from_another():
    """Components are built around one state and take each other in their constructors."""
    bases = {}
    for path in sorted((PACKAGE / "domain").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [ast.unparse(b) for b in node.bases]
    components = (
        "Accounts",
        "Challenges",
        "Logins",
        "Profiles",
        "Orgs",
        "Governance",
        "Publishing",
        "Trust",
        "Stages",
        "Reads",
        "Registry",
        "RegistryState",
    )
    for name in components:
        assert bases[name] == [], f"{name} inherits from {bases[name]}"
