"""Lock files of the clients the contract tests run (one folder per tool), and where they install.

Each folder pins one tool with a ``package.json`` and ``package-lock.json`` resolved against the
public registry. :func:`tool_bin` installs it on first use (``npm ci`` into a cache keyed by the
lock file, shared by the xdist workers) and returns its ``node_modules/.bin``. To upgrade a tool,
edit the pin and run ``npm install --package-lock-only --userconfig ../npmrc`` in its folder.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pytest_npm_registry.api.tools import install_tool
from pytest_npm_registry.api.versions import PINS

CLIENTS = Path(__file__).resolve().parent
#: Clients the package itself pins (``reg.pnpm(version="10")``), under their old names here.
_PINNED = {"pnpm": "pnpm10", "yarn": "yarn4"}


@cache
def tool_bin(name: str) -> Path:
    """The ``node_modules/.bin`` of the tool pinned in ``tests/clients/<name>`` (or, for pnpm and
    yarn, in the package's ``pins/``), installed once."""
    if name in _PINNED:
        return install_tool(PINS / _PINNED[name], npmrc=PINS / "npmrc")
    return install_tool(CLIENTS / name, npmrc=CLIENTS / "npmrc")
