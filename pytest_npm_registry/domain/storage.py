"""Optional persistence in SQLite (stdlib ``sqlite3``) for the standalone server.

Every request that may change state is saved before its answer leaves, in one transaction: a
restart (even after ``kill -9``) comes back with exactly the acknowledged state. Versions are
rows of their own and are written once (again only if a deprecate replaced them), so a publish
costs one small row plus its tarball, not a copy of the registry. The rest of the state (users,
tokens, orgs, trust, stages, ...) is small and saved whole. The journal is not persisted: it is
the account of this process's requests.

The rows hold JSON (``to_dict`` / ``from_dict`` below), never pickles: reading a file must not run
code, and only the registry's own record classes are rebuilt from it. A ``meta`` table names the
format and its version, so a damaged, foreign or older file is refused with a message instead of a
traceback. One process writes a file: an exclusive lock on ``<file>.lock`` is held while it is
open (two servers on one file both acknowledged publishes, and a restart lost some). The file is
created ``0600``; secrets are kept only in the form the registry needs (token and password hashes;
one-time codes as SHA-256 (``STORED_HASH``); an approved login's session token is minted at its poll, never stored).

WAL mode with ``synchronous=NORMAL`` survives a crash of the process (what ``kill -9`` does); it
trades durability against a power cut for speed, which suits a test double.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import fcntl
import ipaddress
import json
import os
import sqlite3
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import models
from .errors import UsageError
from .models import Package, Version
from .otp import stored_form
from .policy import DirectPublish, Policy
from .state import Hidden

if TYPE_CHECKING:
    from .registry import Registry

#: What the ``meta`` table says: which program wrote the file, and in which layout.
FORMAT = "pytest-npm-registry"
FORMAT_VERSION = 2  # 1: pickled rows (refused: unpickling a crafted file runs its code)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS packages (name TEXT PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version TEXT NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (name, version)
);
"""


class StorageError(UsageError):
    """The storage file cannot be used: locked by another server, damaged, foreign or empty."""


# -- records as JSON ------------------------------------------------------------------------------------

_RECORDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in vars(models).values()
    if isinstance(cls, type) and cls.__module__ == models.__name__ and dataclasses.is_dataclass(cls)
}
_RECORDS[Policy.__name__] = Policy
_RECORDS[Hidden.__name__] = Hidden
_ENUMS: dict[str, type[enum.Enum]] = {
    cls.__name__: cls
    for cls in vars(models).values()
    if isinstance(cls, type) and cls.__module__ == models.__name__ and issubclass(cls, enum.Enum)
}
_ENUMS[DirectPublish.__name__] = DirectPublish


def register_record(cls: type[Any]) -> None:
    """Let ``from_dict`` rebuild ``cls`` (a dataclass kept in the state outside ``models.py``)."""
    _RECORDS[cls.__name__] = cls


def to_dict(value: Any) -> Any:
    """``value`` as JSON-ready data: records, enums, bytes, tuples, sets and deques tagged with
    ``$t`` so that :func:`from_dict` rebuilds exactly them and nothing else."""
    if value is None or (isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum)):
        return value
    if isinstance(value, enum.Enum):
        return {"$t": "enum", "c": type(value).__name__, "v": value.value}
    if isinstance(value, list):
        return [to_dict(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and "$t" not in value:
            return {k: to_dict(v) for k, v in value.items()}
        return {"$t": "dict", "v": [[to_dict(k), to_dict(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$t": "tuple", "v": [to_dict(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {"$t": "set", "v": [to_dict(v) for v in value]}
    if isinstance(value, deque):
        return {"$t": "deque", "v": [to_dict(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, bytes):
        return {"$t": "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return {"$t": "net", "v": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if _RECORDS.get(name) is not type(value):
            raise TypeError(f"storage cannot write a {name}: register_record() it")
        fields = {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return {"$t": "rec", "c": name, "v": fields}
    raise TypeError(f"storage cannot write a {type(value).__name__}")


def from_dict(data: Any) -> Any:
    """The inverse of :func:`to_dict`; anything it did not write raises ``ValueError``."""
    if isinstance(data, list):
        return [from_dict(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get("$t")
    if tag is None:
        return {k: from_dict(v) for k, v in data.items()}
    value: Any = data.get("v")
    if tag == "enum":
        return _ENUMS[data["c"]](value)
    if tag == "dict":
        return {from_dict(k): from_dict(v) for k, v in value}
    if tag == "tuple":
        return tuple(from_dict(v) for v in value)
    if tag == "set":
        return {from_dict(v) for v in value}
    if tag == "deque":
        return deque((from_dict(v) for v in value), maxlen=data.get("maxlen"))
    if tag == "bytes":
        return base64.b64decode(value, validate=True)
    if tag == "net":
        return ipaddress.ip_network(value)
    if tag == "rec":
        cls = _RECORDS.get(data.get("c", ""))
        if cls is None:
            raise ValueError(f"unknown record {data.get('c')!r}")
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        if not isinstance(value, dict) or not set(value) <= names:
            raise ValueError(f"record {cls.__name__} with unknown fields")
        return cls(**{k: from_dict(v) for k, v in value.items()})
    raise ValueError(f"unknown tag {tag!r}")


def _dump(value: Any) -> bytes:
    return json.dumps(to_dict(value), separators=(",", ":")).encode()


def _load(blob: bytes) -> Any:
    return from_dict(json.loads(blob))


def _stored_state(state: dict[str, Any]) -> dict[str, Any]:
    """The state as the file keeps it: one-time codes (recovery codes, web-2FA codes) as hashes,
    which is all ``otp.check_second_factor`` needs to accept them; no code waiting for a poll."""
    users = {
        name: replace(
            user,
            recovery_codes=[stored_form(c) for c in user.recovery_codes],
            web_otps=[stored_form(c) for c in user.web_otps],
        )
        for name, user in state.get("users", {}).items()
    }
    # The one-time password an approved web-2FA session hands to its poll is a secret in clear: it
    # is not written. After a restart such a session waits again (approve it again); a code
    # already polled still works, through the user's hashed ``web_otps``.
    sessions = {
        key: replace(session, approved=False, otp=None) if session.otp else session
        for key, session in state.get("web_auth", {}).items()
    }
    return {**state, "users": users, "web_auth": sessions}


def _lock(path: Path) -> IO[str]:
    """Hold ``<file>.lock`` exclusively, or say which file is in use."""
    handle = open(f"{path}.lock", "a", encoding="utf-8")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StorageError(
            f"{path} is in use by another server (locked through {path}.lock): one server per storage file"
        ) from None
    return handle


class Storage:
    """One SQLite file holding one registry's state."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock_file = _lock(self.path)
        try:
            self._db = self._open()
        except BaseException:
            self._lock_file.close()
            raise
        self._lock = threading.Lock()
        self._saved_packages: dict[str, Package] = {}
        self._saved_versions: dict[tuple[str, str], Version] = {}

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if path.exists() and path.stat().st_size == 0:
            raise StorageError(f"{path} is empty (0 bytes), not a registry storage file: delete it to start afresh")
        # Created by us, readable by the owner only: it holds TOTP secrets.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                raise StorageError(
                    f"{path} is not a pytest-npm-registry storage file of format {FORMAT_VERSION} "
                    f"(tables: {', '.join(sorted(tables))}); older files held pickles and are not read"
                )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("format", FORMAT), ("version", str(FORMAT_VERSION))],
                )
            elif meta.get("format") != FORMAT or meta.get("version") != str(FORMAT_VERSION):
                raise StorageError(
                    f"{path} is not a pytest-npm-registry storage file of format {FORMAT_VERSION} "
                    f"(it says {meta.get('format')!r} version {meta.get('version')!r})"
                )
        except sqlite3.DatabaseError as exc:
            db.close()
            message = f"{path} is damaged or not an SQLite file ({exc}): not a registry storage file"
            raise StorageError(message) from None
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()
        self._lock_file.close()  # releases the lock

    def load(self, registry: Registry) -> bool:
        """Restore ``registry`` from the file; False when the file holds nothing yet."""
        try:
            return self._load_into(registry)
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"{self.path} is damaged: {type(exc).__name__}: {exc}"[:400]) from None

    def _load_into(self, registry: Registry) -> bool:
        row = self._db.execute("SELECT blob FROM state WHERE id = 1").fetchone()
        if row is None:
            return False
        state: dict[str, Any] = _load(row[0])
        registry.reset(state.pop("policy"))
        clock = state.pop("clock")
        known = set(registry.state.state())
        for key, value in state.items():
            if key not in known:
                raise ValueError(f"unknown state field {key!r}")
            setattr(registry.state, key, value)
        registry.clock.restore(tuple(clock))
        versions: dict[str, dict[str, Version]] = {}
        for name, version, blob in self._db.execute("SELECT name, version, blob FROM versions"):
            record: Version = _load(blob)
            versions.setdefault(name, {})[version] = record
            self._saved_versions[(name, version)] = record
        for name, blob in self._db.execute("SELECT name, blob FROM packages"):
            shell: Package = _load(blob)
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
            blob = _dump(_stored_state(state))
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
        db.execute("INSERT OR REPLACE INTO packages (name, blob) VALUES (?, ?)", (name, _dump(shell)))
        for version, record in package.versions.items():
            if self._saved_versions.get((name, version)) is record:
                continue
            db.execute(
                "INSERT OR REPLACE INTO versions (name, version, blob) VALUES (?, ?, ?)",
                (name, version, _dump(record)),
            )
            written[(name, version)] = record
        gone = [v for (n, v) in self._saved_versions if n == name and v not in package.versions]
        for version in gone:
            db.execute("DELETE FROM versions WHERE name = ? AND version = ?", (name, version))
