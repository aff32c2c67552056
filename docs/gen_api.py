"""Write docs/api.md from the package's docstrings: ``python docs/gen_api.py``.

The reference is generated so it cannot drift from the code; the prose pages link to it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_npm_registry import (
    Journal,
    JournalEntry,
    NpmRegistry,
    NpmResult,
    PackageView,
    Provenance,
    Token,
    User,
    install_tool,
    plugin,
    write_package,
)
from pytest_npm_registry.api import versions
from pytest_npm_registry.options import SETTINGS
from pytest_npm_registry.wire.faults import Fault, Faults

FIXTURES = ("npm_registry", "npm_registry_policy", "npm_registry_server")
CLASSES = (NpmRegistry, User, Token, PackageView, Provenance, Faults, Fault, NpmResult, Journal, JournalEntry)
#: Functions a message names (the pnpm/yarn "not on PATH" error names install_tool).
FUNCTIONS = (install_tool, write_package)


def _doc(obj: object) -> str:
    return inspect.cleandoc(inspect.getdoc(obj) or "(no docstring)")


def _members(cls: type) -> list[str]:
    lines = []
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or name in ("args", "returncode", "stdout", "stderr", "duration", "tty"):
            continue
        target = member.fget if isinstance(member, property) else member
        if not (inspect.isfunction(target) or isinstance(member, property)):
            continue
        head = f"`{name}` (property)" if isinstance(member, property) else f"`{name}{_signature(target)}`"
        doc = inspect.getdoc(target)
        lines.append(f"- {head}" + (f"  \n  {_indent(inspect.cleandoc(doc))}" if doc else ""))
    return lines


def _signature(function: Callable[..., Any]) -> str:
    signature = str(inspect.signature(function)).replace("(self, ", "(").replace("(self)", "()")
    return re.sub(r"(: |-> )'([^']*)'", r"\1\2", signature)  # postponed annotations


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def render() -> str:
    out = ["# API reference", "", "Generated from the docstrings by `python docs/gen_api.py`; do not edit by hand.", ""]
    out += ["## Fixtures", ""]
    for name in FIXTURES:
        function = getattr(plugin, name)
        wrapped = getattr(function, "__wrapped__", function)
        out += [f"### `{name}`", "", _doc(wrapped), ""]
    out += ["## Marker", "", "`@pytest.mark.npm_registry(*, policy=None, users=(), packages=())`", ""]
    out += [_doc(plugin._marker_signature), ""]
    out += ["## Options", "", "| command line | environment | ini | default | meaning |", "|---|---|---|---|---|"]
    out += [f"| `{s.flag}` | `{s.env}` | `{s.dest}` | {s.default or '-'} | {s.help} |" for s in SETTINGS]
    out.append("")
    out += ["## Functions", ""]
    for function in FUNCTIONS:
        out += [f"### `{function.__name__}{_signature(function)}`", "", _doc(function), ""]
    out += ["## Pinned clients (`version=`, `node=`)", "", inspect.cleandoc(versions.__doc__ or ""), ""]
    out += ["| client | pinned versions | needs Node | lock folder |", "|---|---|---|---|"]
    for pinned in versions.pins():
        needs = "-" if pinned.client == "node" else f">= {pinned.min_node}" if pinned.min_node else "the machine's"
        out.append(f"| {pinned.client} | {pinned.version} | {needs} | `pins/{pinned.folder.name}` |")
    out.append("")
    for cls in CLASSES:
        out += [f"## `{cls.__name__}`", "", _doc(cls), "", *_members(cls), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    Path(__file__).with_name("api.md").write_text(render())
