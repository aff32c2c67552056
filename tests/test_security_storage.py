"""Issue 19, item 5: the storage file has one writer, refuses damaged, foreign, empty and pickled
files with a message, is created 0600, and holds secrets only in the form the registry needs."""

from __future__ import annotations

import json
import pickle
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.domain.storage import Storage, StorageError

from .conftest import http


def _stored_text(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        rows = [r[0] for t in ("state", "packages", "versions") for r in db.execute(f"SELECT blob FROM {t}")]  # noqa: S608
    finally:
        db.close()
    return "\n".join(bytes(r).decode() for r in rows)


def test_a_second_server_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with NpmRegistry(storage=path):
        with pytest.raises(StorageError, match=r"is in use by another server .* one server per storage file"):
            NpmRegistry(storage=path)
        # The command line says so and exits (2), no traceback.
        cli = subprocess.run(
            [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--storage", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert cli.returncode == 2
        assert "is in use by another server" in cli.stderr
        assert "Traceback" not in cli.stderr
    NpmRegistry(storage=path).close()  # free again once the first one closed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"\0" * 4096, r"is damaged or not an SQLite file"),
        (b"SQLite format 3\0" + b"\x13" * 200, r"is damaged or not an SQLite file"),
        (b"hello, this is a text file\n" * 50, r"is damaged or not an SQLite file"),
    ],
    ids=["zero-bytes", "zeroed", "truncated", "text"],
)
def test_damaged_files_get_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(content)
    with pytest.raises(StorageError, match=message):
        NpmRegistry(storage=path)
    assert path.read_bytes() == content  # left as found


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StorageError, match=r"is not a pytest-npm-registry storage file .*tables: photos"):
        NpmRegistry(storage=path)


def test_a_pickled_file_is_never_unpickled(tmp_path: Path) -> None:
    """The old format: a crafted pickle in the state row ran ``os.system`` at start."""
    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (__import__("os").system, (f"touch {marker}",))

    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), blob BLOB NOT NULL)")
    db.execute("CREATE TABLE packages (name TEXT PRIMARY KEY, blob BLOB NOT NULL)")
    db.execute("CREATE TABLE versions (name TEXT, version TEXT, blob BLOB, PRIMARY KEY (name, version))")
    db.execute("INSERT INTO state VALUES (1, ?)", (pickle.dumps(Boom()),))
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="older files held pickles and are not read"):
        NpmRegistry(storage=path)
    assert not marker.exists()


def test_a_json_row_naming_an_unknown_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with NpmRegistry(storage=path) as reg:
        reg.add_user("alice")
        assert http(reg, "GET", "/-/ping").status == 200
        reg.server.storage.save(reg.registry)  # type: ignore[union-attr]
    db = sqlite3.connect(path)
    db.execute("UPDATE state SET blob = ?", (json.dumps({"$t": "rec", "c": "Popen", "v": {}}).encode(),))
    db.commit()
    db.close()
    with pytest.raises(StorageError, match=r"is damaged: ValueError: unknown record 'Popen'"):
        NpmRegistry(storage=path)


def test_the_file_is_private_and_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with NpmRegistry(storage=path) as reg:
        alice = reg.add_user("alice", password="alice-Pw-7f3e9a1c", tfa="auth-and-writes")
        reg.publish("demo-pkg", "1.0.0", by=alice)
        token = alice.create_token(bypass_2fa=True)
        codes = alice.recovery_codes
        reg.server.storage.save(reg.registry)  # type: ignore[union-attr]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = _stored_text(path)
        for row in text.splitlines():
            json.loads(row)  # every row is JSON
        assert "alice-Pw-7f3e9a1c" not in text
        assert token.key not in text
        for code in codes:
            assert code not in text, "a recovery code is stored in clear"
    # After a restart the hashed recovery codes still work, once.
    with NpmRegistry(storage=path) as again:
        session = again.add_user("bob").create_token("session")
        assert session
        record = again.registry.state.users["alice"]
        assert all(c.startswith("sha256:") for c in record.recovery_codes)
        alice_session = again.operator.create_token("alice", "session")[1]
        tag = {"authorization": f"Bearer {alice_session}", "npm-otp": codes[0], "content-type": "application/json"}
        answer = http(again, "PUT", "/-/package/demo-pkg/dist-tags/latest", data=b'"1.0.0"', headers=tag)
        assert answer.status == 201
        again_answer = http(again, "PUT", "/-/package/demo-pkg/dist-tags/latest", data=b'"1.0.0"', headers=tag)
        assert again_answer.status == 401


def test_an_approved_but_unpolled_login_holds_no_session_token(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with NpmRegistry(storage=path) as reg:
        bob = reg.add_user("bob")
        start = http(reg, "POST", "/-/v1/login", json_body={}).json()
        base = reg.url.rstrip("/")
        approve = {"user": "bob", "password": bob.password}
        assert http(reg, "POST", start["loginUrl"][len(base) :] + "/approve", json_body=approve).status == 200
        before = set(reg.registry.state.tokens)
        login = next(iter(reg.registry.state.web_logins.values()))
        assert login.token is None  # nothing to steal from memory or the file
        token = http(reg, "GET", start["doneUrl"][len(base) :]).json()["token"]
        assert set(reg.registry.state.tokens) - before  # minted at the poll
        assert http(reg, "GET", "/-/whoami", token=token).json() == {"username": "bob"}
        assert token not in _stored_text(path)


def test_a_storage_round_trip_keeps_every_record(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with NpmRegistry(storage=path) as reg:
        alice = reg.add_user("alice", tfa="auth-and-writes", paid=True)
        reg.add_org("acme", owner="alice")
        reg.publish("@acme/lib", "1.0.0", by=alice, access="public")
        alice.create_token(read_only=True, cidr=["10.0.0.0/8"], packages=["@acme/lib"])
        reg.server.storage.save(reg.registry)  # type: ignore[union-attr]
        before = reg.registry.data()
    storage = Storage(path)
    try:
        fresh = NpmRegistry()
        assert storage.load(fresh.registry)
        after = fresh.registry.data()
        assert after.keys() == before.keys()
        for key in before:
            if key != "users":  # recovery codes are hashed in the file
                assert after[key] == before[key], key
    finally:
        storage.close()
