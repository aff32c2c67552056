"""Login, logout and sessions with the real npm CLI: web login, adduser, legacy (CouchDB) login."""

from __future__ import annotations

import threading

import pytest

from pytest_npm_registry import NpmRegistry


def _approve_in_background(reg: NpmRegistry, user: str) -> threading.Thread:
    thread = threading.Thread(target=reg.approve_web_login, args=(user,), kwargs={"wait": 20})
    thread.start()
    return thread


def test_web_login_writes_a_token_that_works_for_whoami(npm_registry):
    npm_registry.add_user("alice")
    approver = _approve_in_background(npm_registry, "alice")
    result = npm_registry.npm("login")
    approver.join()
    assert result.returncode == 0, result
    (login,) = npm_registry.web_logins()
    assert result.stdout == (
        f"Login at:\n{npm_registry.url}-/_mock/login/{login.id}\nLogged in on {npm_registry.url}.\n"
    )
    assert result.notices == [f"Log in on {npm_registry.url}"]
    assert npm_registry.npm("whoami").stdout == "alice\n"
    polls = npm_registry.journal.entries(operation="login-poll")
    assert [p.status for p in polls][-1] == 200
    (session,) = npm_registry.user("alice").tokens()
    assert session.kind.value == "session"


def test_adduser_in_the_browser_creates_the_account(npm_registry):
    npm_registry.auto_approve_web_login = "newbie"
    result = npm_registry.npm("adduser")
    assert result.returncode == 0, result
    assert result.stdout.startswith("Create your account at:\n")
    assert npm_registry.npm("whoami").stdout == "newbie\n"
    assert npm_registry.user("newbie").name == "newbie"


def test_web_login_as_unknown_user_is_refused(npm_registry):
    from pytest_npm_registry import UsageError

    npm_registry.auto_approve_web_login = "ghost"
    result = npm_registry.npm("login")
    # The registry refuses to start a login it would complete as nobody (400); npm then falls back
    # to its username and password prompt, and without a terminal exits 1.
    assert result.returncode == 1
    assert npm_registry.journal.entries(operation="login")[-1].reason == "there is no user 'ghost'"
    npm_registry.auto_approve_web_login = None
    with pytest.raises(UsageError, match="no pending web login"):
        npm_registry.approve_web_login("ghost")


def test_session_token_from_login_expires_after_two_hours(npm_registry):
    npm_registry.add_user("alice")
    npm_registry.auto_approve_web_login = "alice"
    assert npm_registry.npm("login").returncode == 0
    npm_registry.clock.advance(2 * 3600 + 1)
    result = npm_registry.npm("whoami")
    assert result.error_code == "E401"


def test_logout_revokes_the_session(npm_registry):
    npm_registry.add_user("alice")
    npm_registry.auto_approve_web_login = "alice"
    assert npm_registry.npm("login").returncode == 0
    (session,) = npm_registry.user("alice").tokens()
    logout = npm_registry.npm("logout")
    assert logout.returncode == 0, logout
    assert session.revoked
    # The token is gone from the config too; used again it is refused.
    assert npm_registry.npm("whoami").error_code == "ENEEDAUTH"
    assert npm_registry.journal.entries(operation="logout")[-1].outcome.value == "accepted"


def test_logout_then_reuse_of_the_old_token_is_e401(npm_registry):
    alice = npm_registry.add_user("alice")
    session = alice.create_token("session")
    assert npm_registry.npm("logout", token=session).returncode == 0
    result = npm_registry.npm("whoami", token=session.key)
    assert result.error_code == "E401"
    assert result.error_lines[1] == f"npm error 401 Unauthorized - GET {npm_registry.url}-/whoami"


# -- legacy (CouchDB) login: needs a terminal ---------------------------------------------------------


def test_legacy_login_on_a_terminal(npm_registry):
    npm_registry.add_user("alice", password="s3cret")
    result = npm_registry.npm(
        "login", "--auth-type=legacy", tty=True, answers=[("Username:", "alice"), ("Password:", "s3cret")]
    )
    assert result.returncode == 0, result
    assert result.stdout.endswith(f"Logged in on {npm_registry.url}.\n")
    assert npm_registry.npm("whoami").stdout == "alice\n"


def test_legacy_login_with_2fa_asks_for_the_otp(npm_registry):
    alice = npm_registry.add_user("alice", password="s3cret", tfa="auth-only")
    result = npm_registry.npm(
        "login",
        "--auth-type=legacy",
        tty=True,
        answers=[("Username:", "alice"), ("Password:", "s3cret"), ("Enter OTP:", alice.otp)],
    )
    assert result.returncode == 0, result
    assert "This operation requires a one-time password." in result.stdout
    logins = npm_registry.journal.entries(operation="login")
    assert [(e.outcome.value, e.otp.value) for e in logins] == [("challenged", "none"), ("accepted", "totp")]


def test_legacy_login_without_a_terminal_cannot_work(npm_registry):
    npm_registry.add_user("alice")
    result = npm_registry.npm("login", "--auth-type=legacy")
    assert result.returncode == 1
    assert result.stdout.startswith("Username:")
    assert not npm_registry.journal.entries(operation="login")


def test_legacy_login_wrong_password(npm_registry):
    npm_registry.add_user("alice", password="s3cret")
    result = npm_registry.npm(
        "login", "--auth-type=legacy", tty=True, answers=[("Username:", "alice"), ("Password:", "nope")]
    )
    assert result.error_code == "E401"
    assert result.error_lines[1] == (
        f"npm error 401 Unauthorized - PUT {npm_registry.url}-/user/org.couchdb.user:alice"
        " - incorrect username or password"
    )


def test_legacy_login_unknown_user(npm_registry):
    result = npm_registry.npm(
        "login", "--auth-type=legacy", tty=True, answers=[("Username:", "nobody"), ("Password:", "x")]
    )
    assert result.error_code == "E400"
    assert result.error_lines[1] == 'npm error There is no user with the username "nobody".'


def test_legacy_adduser_creates_the_account(npm_registry):
    result = npm_registry.npm(
        "adduser",
        "--auth-type=legacy",
        tty=True,
        answers=[("Username:", "bob"), ("Password:", "pw-bob-1"), ("Email", "bob@example.org")],
    )
    assert result.returncode == 0, result
    assert npm_registry.user("bob").email == "bob@example.org"
    assert npm_registry.npm("whoami").stdout == "bob\n"


def test_legacy_adduser_of_an_existing_name_is_a_conflict(npm_registry):
    npm_registry.add_user("bob", password="pw-bob-1")
    result = npm_registry.npm(
        "adduser",
        "--auth-type=legacy",
        tty=True,
        answers=[("Username:", "bob"), ("Password:", "pw-bob-1"), ("Email", "bob@example.com")],
    )
    assert result.error_code == "E409"
    assert result.error_lines[1] == (
        f"npm error 409 Conflict - PUT {npm_registry.url}-/user/org.couchdb.user:bob - User bob already exists"
    )


def test_couch_login_through_the_rev_path_with_basic_auth(npm_registry):
    # What npm-profile's loginCouch does after a 409: read the user, PUT .../-rev/<rev> with Basic auth.
    import base64

    from tests.conftest import http

    npm_registry.add_user("bob", password="pw-bob-1")
    doc = http(npm_registry, "GET", "/-/user/org.couchdb.user:bob?write=true").json()
    assert (doc["_id"], doc["name"], doc["email"]) == ("org.couchdb.user:bob", "bob", "bob@example.com")
    basic = base64.b64encode(b"bob:pw-bob-1").decode()
    body = {
        "_id": "org.couchdb.user:bob",
        "name": "bob",
        "password": "pw-bob-1",
        "email": "bob@example.com",
        "type": "user",
        "roles": [],
        "_rev": doc["_rev"],
    }
    answer = http(
        npm_registry,
        "PUT",
        f"/-/user/org.couchdb.user:bob/-rev/{doc['_rev']}",
        json_body=body,
        headers={"authorization": f"Basic {basic}"},
    )
    assert answer.status == 201
    token = answer.json()["token"]
    assert http(npm_registry, "GET", "/-/whoami", token=token).json() == {"username": "bob"}


@pytest.mark.parametrize("policy", ["current", "classic"])
def test_session_lifetime_depends_on_the_policy(npm_registry, policy):
    npm_registry.reset(policy)
    alice = npm_registry.add_user("alice")
    session = alice.create_token("session")
    npm_registry.clock.advance(3 * 3600)
    expected = "E401" if policy == "current" else None
    assert npm_registry.npm("whoami", token=session).error_code == expected
