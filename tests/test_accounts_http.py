"""Account endpoints at the HTTP level: exact answers to bad input, and what npm never sends."""

from __future__ import annotations

import pytest

from pytest_npm_registry import UsageError
from tests.conftest import http


@pytest.fixture
def alice(npm_registry):
    return npm_registry.add_user("alice", password="s3cret", tfa="auth-and-writes")


@pytest.fixture
def session(alice):
    return alice.create_token("session")


def test_web_login_answers_urls_on_our_origin_and_polls(npm_registry, alice):
    start = http(npm_registry, "POST", "/-/v1/login", json_body={})
    assert start.status == 200
    urls = start.json()
    base = npm_registry.url.rstrip("/")
    assert urls["loginUrl"].startswith(f"{base}/-/_mock/login/")
    assert urls["doneUrl"].startswith(f"{base}/-/v1/login/done/")
    done_path = urls["doneUrl"][len(base) :]
    pending = http(npm_registry, "GET", done_path)
    assert (pending.status, pending.headers["retry-after"], pending.json()) == (202, "1", {})
    approve_path = urls["loginUrl"][len(base) :] + "/approve"
    refused = http(npm_registry, "POST", approve_path, json_body={"user": "alice"})  # no password
    assert (refused.status, refused.json()) == (401, {"error": "incorrect username or password"})
    no_otp = http(npm_registry, "POST", approve_path, json_body={"user": "alice", "password": "s3cret"})
    assert no_otp.status == 401  # alice has 2FA: the page asks for her code too (issue 19)
    proof = {"user": "alice", "password": "s3cret", "otp": alice.otp()}
    assert http(npm_registry, "POST", approve_path, json_body=proof).status == 200
    token = http(npm_registry, "GET", done_path).json()["token"]
    assert http(npm_registry, "GET", "/-/whoami", token=token).json() == {"username": "alice"}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "alice"}, 400, "Invalid login body"),
        ({"name": "bob", "password": "x"}, 400, "expected {name, password} matching the URL"),
        ({"name": "alice", "password": "wrong"}, 401, "incorrect username or password"),
    ],
)
def test_couch_login_refusals(npm_registry, alice, body, status, fragment):
    answer = http(npm_registry, "PUT", "/-/user/org.couchdb.user:alice", json_body=body)
    assert answer.status == status
    assert fragment in answer.json()["error"]
    assert "www-authenticate" not in answer.headers


def test_couch_login_of_2fa_account_is_a_classic_challenge(npm_registry, alice):
    body = {"name": "alice", "password": "s3cret", "type": "user", "roles": []}
    answer = http(
        npm_registry, "PUT", "/-/user/org.couchdb.user:alice", json_body=body, headers={"npm-auth-type": "legacy"}
    )
    assert (answer.status, answer.headers["www-authenticate"]) == (401, "OTP")
    ok = http(npm_registry, "PUT", "/-/user/org.couchdb.user:alice", json_body=body, headers={"npm-otp": alice.otp()})
    assert ok.status == 201
    assert ok.json()["rev"] == "_we_dont_use_revs_any_more"


def test_unknown_couch_user_is_404(npm_registry):
    answer = http(npm_registry, "GET", "/-/user/org.couchdb.user:ghost")
    assert (answer.status, answer.json()) == (404, {"error": "User not found: ghost"})


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"password": "s3cret", "expires": 0}, "Invalid expires 0"),
        ({"password": "s3cret", "expires": "30"}, "Invalid expires '30'"),
        ({"password": "s3cret", "cidr_whitelist": ["::1/128"]}, "Invalid CIDR entry '::1/128'"),
        ({"password": "s3cret", "cidr_whitelist": "10.0.0.0/8"}, "Invalid cidr_whitelist"),
        ({"password": "s3cret", "packages_and_scopes_permission": "admin"}, "Invalid packages_and_scopes_permission"),
        ({"password": "s3cret", "orgs_permission": "owner"}, "Invalid orgs_permission"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_token_create_bad_options(npm_registry, alice, session, body, fragment):
    answer = http(
        npm_registry, "POST", "/-/npm/v1/tokens", token=session, json_body=body, headers={"npm-otp": alice.otp()}
    )
    assert answer.status == 400
    assert fragment in answer.json()["error"]
    assert [t for t in alice.tokens() if t.kind.value == "granular"] == []
    assert npm_registry.journal.entries(operation="token-create")[-1].outcome.value == "rejected"


def test_token_create_and_revoke_need_a_session_not_an_access_token(npm_registry, alice):
    granular = alice.create_token()
    answer = http(
        npm_registry,
        "POST",
        "/-/npm/v1/tokens",
        token=granular,
        json_body={"password": "s3cret"},
        headers={"npm-otp": alice.otp()},
    )
    assert (answer.status, answer.json()) == (403, {"error": "Only a logged-in session (npm login) can create tokens."})


def test_token_revoke_by_key_and_by_secret(npm_registry, alice, session):
    first, second = alice.create_token(), alice.create_token()
    otp = {"npm-otp": alice.otp()}
    assert http(npm_registry, "DELETE", f"/-/npm/v1/tokens/token/{first.id}", token=session, headers=otp).status == 204
    assert (
        http(npm_registry, "DELETE", f"/-/npm/v1/tokens/token/{second.key}", token=session, headers=otp).status == 204
    )
    assert first.record.revoked
    assert second.record.revoked
    again = http(npm_registry, "DELETE", f"/-/npm/v1/tokens/token/{first.id}", token=session, headers=otp)
    assert again.status == 404


def test_profile_refuses_unknown_fields_and_bad_2fa_requests(npm_registry, alice, session):
    otp = {"npm-otp": alice.otp()}
    unknown = http(npm_registry, "POST", "/-/npm/v1/user", token=session, json_body={"admin": True}, headers=otp)
    assert (unknown.status, unknown.json()) == (400, {"error": "Unknown profile field(s): admin"})
    mode = http(
        npm_registry,
        "POST",
        "/-/npm/v1/user",
        token=session,
        json_body={"tfa": {"mode": "always", "password": "s3cret"}},
    )
    assert mode.status == 400
    confirm = http(npm_registry, "POST", "/-/npm/v1/user", token=session, json_body={"tfa": ["123456"]})
    assert confirm.json() == {
        "error": "No two-factor authentication set-up is pending: send {tfa: {mode, password}} first"
    }


def test_2fa_enable_flow_over_http(npm_registry):
    import pyotp

    bob = npm_registry.add_user("bob", password="pw-bob-1")
    session = bob.create_token("session")
    start = http(
        npm_registry,
        "POST",
        "/-/npm/v1/user",
        token=session,
        json_body={"tfa": {"mode": "auth-only", "password": "pw-bob-1"}},
    ).json()
    assert start["tfa"].startswith("otpauth://totp/npm:bob?secret=")
    secret = start["tfa"].split("secret=")[1].split("&")[0]
    assert http(npm_registry, "GET", "/-/npm/v1/user", token=session).json()["tfa"] == {
        "pending": True,
        "mode": "auth-only",
    }
    wrong = http(npm_registry, "POST", "/-/npm/v1/user", token=session, json_body={"tfa": ["000000"]})
    assert wrong.status == 400
    done = http(
        npm_registry,
        "POST",
        "/-/npm/v1/user",
        token=session,
        json_body={"tfa": [pyotp.TOTP(secret).at(int(npm_registry.clock.now()))]},
    ).json()
    assert done["tfa"] == bob.recovery_codes
    assert bob.otp() == pyotp.TOTP(secret).at(int(npm_registry.clock.now()))


def test_logout_of_someone_elses_token_is_refused(npm_registry, alice, session):
    bob_token = npm_registry.add_user("bob").create_token("session")
    answer = http(npm_registry, "DELETE", f"/-/user/token/{bob_token.key}", token=session)
    assert answer.status == 404
    assert not bob_token.record.revoked


def test_a_web_2fa_answer_cannot_be_reversed(npm_registry, alice, session):
    from pytest_npm_registry import make_tarball, publish_document
    from pytest_npm_registry.domain.packaging import manifest_for

    manifest = manifest_for("demo", "1.0.0")
    http(
        npm_registry,
        "PUT",
        "/demo",
        token=session,
        json_body=publish_document(manifest, make_tarball(manifest)),
        headers={"npm-auth-type": "web"},
    )
    (pending,) = npm_registry.web_auth_sessions(pending=True)
    # Denying takes the same proof as approving: the account's password and code.
    proofless = http(npm_registry, "POST", f"{pending.auth_path}/deny", json_body={})
    assert (proofless.status, proofless.json()) == (401, {"error": "incorrect username or password"})
    assert pending.pending(npm_registry.clock.now())
    proof = {"password": "s3cret", "otp": alice.otp()}
    assert http(npm_registry, "POST", f"{pending.auth_path}/deny", json_body=proof).status == 200
    again = http(npm_registry, "POST", f"{pending.auth_path}/approve", json_body={})
    assert (again.status, again.json()) == (409, {"error": "This request was already denied."})
    assert not pending.approved
    assert alice.record.web_otps == []


def test_expired_web_2fa_sessions_are_not_pending(npm_registry, alice, session):
    from pytest_npm_registry import make_tarball, publish_document
    from pytest_npm_registry.domain.packaging import manifest_for

    manifest = manifest_for("demo", "1.0.0")
    body = publish_document(manifest, make_tarball(manifest))
    http(npm_registry, "PUT", "/demo", token=session, json_body=body, headers={"npm-auth-type": "web"})
    npm_registry.clock.advance(301)
    fresh_session = alice.create_token("session")
    http(npm_registry, "PUT", "/demo", token=fresh_session, json_body=body, headers={"npm-auth-type": "web"})
    (approved,) = npm_registry.approve_web_auth(user=alice)  # the stale one is skipped, not an error
    assert approved.created == max(s.created for s in npm_registry.web_auth_sessions())


def test_a_stage_only_token_governs_nothing(npm_registry, alice):
    # Like read-only tokens: a stage-only token may stage versions, not change the account.
    stage_only = alice.create_token(stage_only=True)
    answer = http(npm_registry, "POST", "/-/npm/v1/user", token=stage_only, json_body={"fullname": "Alice"})
    assert (answer.status, answer.json()) == (403, {"error": "You may not perform that action with these credentials."})
    reason = npm_registry.journal.entries()[-1].reason
    assert reason == "alice's read-write-stage-only granular token may not change the profile"


def test_an_expired_web_login_is_no_longer_pending_anywhere(npm_registry, alice):
    """One rule (``WebLogin.pending``) for the facade, the control API and the approval."""
    urls = http(npm_registry, "POST", "/-/v1/login", json_body={}).json()
    (login,) = npm_registry.web_logins(pending=True)
    state = http(npm_registry, "GET", "/-/_mock/api/state", token=npm_registry.admin_token).json()
    assert state["pending_web_logins"] == [login.id]
    npm_registry.clock.advance(301)  # the links live 300 s
    assert npm_registry.web_logins(pending=True) == []
    assert [w.id for w in npm_registry.web_logins()] == [login.id]  # still known, just not pending
    state = http(npm_registry, "GET", "/-/_mock/api/state", token=npm_registry.admin_token).json()
    assert state["pending_web_logins"] == []
    with pytest.raises(UsageError, match="no pending web login to approve"):
        npm_registry.approve_web_login("alice")
    base = npm_registry.url.rstrip("/")
    assert http(npm_registry, "GET", urls["doneUrl"][len(base) :]).status == 404
