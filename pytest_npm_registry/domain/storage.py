"""Optional persistence in SQLite (stdlib ``sqlite3``) for the standalone server.

Every request that may change state is saved before its answer leaves, in one transaction: a
restart (even after ``kill -9``) comes back with exactly the acknowledged state. Versions are
rows of their own and are written once (again only if a deprecate replaced them), so a publish
costs one small row plus its tarball, not a copy of the registry. The rest of the state (users,
tokens, orgs, trust, stages, ...) is small and saved whole. The journal is not persisted: it is
the account of this process's requests.

WAL mode with ``synchronous=NORMAL`` survives a crash of the process (what ``kill -9`` does); it
trades durability against a power cut for speed, which suits a test double.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models import Package, Version

if TYPE_CHECKING:
    from .registry import Registry

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS packages (name TEXT PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version TEXT NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (name, version)
);
"""


class Storage:
    """One SQLite file holding one registry's state."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._saved_packages: dict[str, Package] = {}
        self._saved_versions: dict[tuple[str, str], Version] = {}

    def close(self) -> None:
        self._db.close()

    def load(self, registry: Registry) -> bool:
        """Restore ``registry`` from the file; False when the file holds nothing yet."""
        row = self._db.execute("SELECT blob FROM state WHERE id = 1").fetchone()
        if row is None:
            return False
        state: dict[str, Any] = pickle.loads(row[0])  # noqa: S301 - our own file, written below
        registry.reset(state.pop("policy"))
        clock = state.pop("clock")
        for key, value in state.items():
            setattr(registry.state, key, value)
        registry.clock.restore(clock)
        versions: dict[str, dict[str, Version]] = {}
        for name, version, blob in self._db.execute("SELECT name, version, blob FROM versions"):
            record: Version = pickle.loads(blob)  # noqa: S301
            versions.setdefault(name, {})[version] = record
            self._saved_versions[(name, version)] = record
        for name, blob in self._db.execute("SELECT name, blob FROM packages"):
            shell: Package = pickle.loads(blob)  # noqa: S301
            order = shell.versions  # the shell keeps the version keys, in order
            package = replace(shell, versions={v: versions[name][v] for v in order})
            registry.state.packages[name] = package
            self._saved_packages[name] = package
        return True

    def save(self, registry: Registry) -> None:
        """Write what changed since the last save, in one transaction."""
        with registry.state.lock, self._lock:
            # Packages have rows of their own (a version is written once); the rest is one blob.
            state = {key: value for key, value in registry.data().items() if key != "packages"}
            state["clock"] = registry.clock.snapshot()
            blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            db = self._db
            written: dict[tuple[str, str], Version] = {}
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT OR REPLACE INTO state (id, blob) VALUES (1, ?)", (blob,))
                current = dict(registry.state.packages)
                for name in self._saved_packages.keys() - current.keys():
                    db.execute("DELETE FROM packages WHERE name = ?", (name,))
                    db.execute("DELETE FROM versions WHERE name = ?", (name,))
                for name, package in current.items():
                    if self._saved_packages.get(name) is not package:
                        self._save_package(name, package, written)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")  # and remember nothing: the next save writes it all again
                raise
            # Only now, after COMMIT, do the rows count as saved.
            self._saved_packages = current
            self._saved_versions = {
                key: record
                for key, record in {**self._saved_versions, **written}.items()
                if key[0] in current and key[1] in current[key[0]].versions
            }

    def _save_package(self, name: str, package: Package, written: dict[tuple[str, str], Version]) -> None:
        db = self._db
        # The package row keeps the version keys only; each version (with its tarball) has a row.
        shell = replace(package, versions=dict.fromkeys(package.versions))  # type: ignore[arg-type]
        db.execute("INSERT OR REPLACE INTO packages (name, blob) VALUES (?, ?)", (name, pickle.dumps(shell)))
        for version, record in package.versions.items():
            if self._saved_versions.get((name, version)) is record:
                continue
            db.execute(
                "INSERT OR REPLACE INTO versions (name, version, blob) VALUES (?, ?, ?)",
                (name, version, pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)),
            )
            written[(name, version)] = record
        gone = [v for (n, v) in self._saved_versions if n == name and v not in package.versions]
        for version in gone:
            db.execute("DELETE FROM versions WHERE name = ? AND version = ?", (name, version))
