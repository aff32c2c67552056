"""The web pages over HTTP: approval pages (authUrl, loginUrl) and the dashboard, without a browser."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.domain.packaging import manifest_for, publish_document
from pytest_npm_registry.wire.routes import url_map
from tests.conftest import HttpAnswer, http

FORM = {"content-type": "application/x-www-form-urlencoded"}
NPM_HEADERS = {"npm-auth-type": "web", "npm-command": "publish", "user-agent": "npm/11.6.2 node/v20.19.5 linux x64"}


def _text(answer: HttpAnswer) -> str:
    return answer.body.decode()


def _post_form(reg: NpmRegistry, path: str, **fields: str) -> HttpAnswer:
    """Post a page's form as a browser would: with the CSRF token the page that holds it carries."""
    page = re.sub(r"/(approve|deny)$", "", path)
    html = _text(http(reg, "GET", page))
    # Approve is the form's action, Deny its second button's formaction: one CSRF token for both.
    action = re.escape(path if page == path else f"{page}/approve")
    found = re.search(rf"action='{action}'[^>]*><input type=hidden name=csrf value='(\w+)'>", html)
    if found and "csrf" not in fields:
        fields = {"csrf": found.group(1), **fields}
    return http(reg, "POST", path, data=urlencode(fields).encode(), headers=FORM)


@pytest.fixture
def alice(npm_registry):
    return npm_registry.add_user("alice", tfa="auth-and-writes", password="alice-pw-123")


@pytest.fixture
def challenge(npm_registry, alice):
    """A publish challenged with web 2FA: (session, its token, authUrl path, doneUrl path)."""
    token = alice.create_token("session")
    doc = publish_document(manifest_for("demo-pkg", "1.0.0"))
    answer = http(npm_registry, "PUT", "/demo-pkg", token=token, json_body=doc, headers=NPM_HEADERS)
    assert answer.status == 401
    base = npm_registry.url.rstrip("/")
    (session,) = npm_registry.web_auth_sessions(pending=True)
    return session, token, answer.json()["authUrl"][len(base) :], answer.json()["doneUrl"][len(base) :]


def test_routes_of_the_pages():
    adapter = url_map.bind("registry")
    assert adapter.match("/-/_mock/", method="GET") == ("dashboard.sign_in", {})
    assert adapter.match("/-/_mock/0123abcd/", method="GET") == ("dashboard.show", {"secret": "0123abcd"})
    assert adapter.match("/-/_mock/0123abcd/auth/0123456789abcdef/deny", method="POST") == (
        "pages.admin_auth_deny",
        {"secret": "0123abcd", "session_id": "0123456789abcdef"},
    )
    assert adapter.match("/-/_mock/api/state", method="GET")[0] == "control.state"
    assert adapter.match("/-/_mock/auth/0123456789abcdef/deny", method="POST") == (
        "pages.web_auth_deny",
        {"session_id": "0123456789abcdef"},
    )
    assert adapter.match("/-/_mock/login/0123456789abcdef/deny", method="POST")[0] == "pages.web_login_deny"


def test_auth_page_names_account_operation_and_client(npm_registry, challenge):
    _, _, auth_path, _ = challenge
    page = http(npm_registry, "GET", auth_path)
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-frame-options"] == "DENY"
    html = _text(page)
    assert "<h1>Approve: publish demo-pkg@1.0.0</h1>" in html
    assert "alice (2FA: auth-and-writes)" in html
    assert "npm publish · npm/11.6.2 node/v20.19.5 linux x64" in html
    assert re.search(r"with session npm_\w{4}\.\.\.", html)
    assert f"action='{auth_path}/approve'" in html
    assert f"formaction='{auth_path}/deny'" in html
    assert page.headers["referrer-policy"] == "same-origin"


def test_approving_in_the_page_completes_the_done_url(npm_registry, alice, challenge):
    session, token, auth_path, done_path = challenge
    assert http(npm_registry, "GET", done_path, token=token).status == 202
    answer = _post_form(npm_registry, f"{auth_path}/approve", password="alice-pw-123", otp=alice.otp())
    assert (answer.status, answer.headers["location"]) == (303, auth_path)
    done = http(npm_registry, "GET", done_path, token=token)
    assert done.status == 200
    otp = done.json()["token"]
    assert otp == session.otp
    # The one-time password works once, as after the fixture's approve_web_auth().
    doc = publish_document(manifest_for("demo-pkg", "1.0.0"))
    assert http(npm_registry, "PUT", "/demo-pkg", token=token, json_body=doc, headers={"npm-otp": otp}).status == 200
    html = _text(http(npm_registry, "GET", auth_path))
    assert "Approved." in html
    assert "id=approve" not in html
    assert otp not in html
    event = npm_registry.journal.entries(operation="web-auth-approve")[-1]
    assert (event.user, event.outcome.value) == ("alice", "accepted")
    assert event.reason == "alice approved publish demo-pkg@1.0.0 in the browser"


def test_denying_in_the_page_ends_the_poll_with_404(npm_registry, alice, challenge):
    session, token, auth_path, done_path = challenge
    assert _post_form(npm_registry, f"{auth_path}/deny", password="alice-pw-123", otp=alice.otp()).status == 303
    done = http(npm_registry, "GET", done_path, token=token)
    assert (done.status, done.json()) == (404, {"error": "Web authentication was denied"})
    assert "Denied." in _text(http(npm_registry, "GET", auth_path))
    late = _post_form(npm_registry, f"{auth_path}/approve")
    assert late.status == 409
    assert "This request was already denied." in _text(late)
    assert not session.approved


def test_deny_after_approve_is_refused(npm_registry, challenge):
    session, _, auth_path, _ = challenge
    npm_registry.approve_web_auth(session.id)
    answer = _post_form(npm_registry, f"{auth_path}/deny")
    assert answer.status == 409
    assert "already approved" in _text(answer)
    assert not session.denied


def test_unknown_and_expired_sessions_say_so(npm_registry, challenge):
    _, _, auth_path, _ = challenge
    unknown = http(npm_registry, "GET", "/-/_mock/auth/0000000000000000")
    assert unknown.status == 404
    assert "No such request" in _text(unknown)
    npm_registry.clock.advance(301)
    expired = http(npm_registry, "GET", auth_path)
    assert expired.status == 410
    assert "This request expired" in _text(expired)
    assert _post_form(npm_registry, f"{auth_path}/approve").status == 410


def _start_login(reg: NpmRegistry, *, create: bool = False) -> tuple[str, str]:
    start = http(reg, "POST", "/-/v1/login", json_body={"create": create}, headers={"user-agent": "npm/11.6.2"})
    base = reg.url.rstrip("/")
    return start.json()["loginUrl"][len(base) :], start.json()["doneUrl"][len(base) :]


def test_login_page_lets_the_person_choose_the_account(npm_registry, alice):
    bob = npm_registry.add_user("bob")
    login_path, done_path = _start_login(npm_registry)
    html = _text(http(npm_registry, "GET", login_path))
    assert "<h1>Log in to the mock npm registry</h1>" in html
    assert "Accounts on this registry: alice, bob." in html
    assert "<option value='alice'>" in html
    unknown = _post_form(npm_registry, f"{login_path}/approve", user="carol")
    assert unknown.status == 400
    assert "There is no user with the username &#x27;carol&#x27;" in _text(unknown)
    # The login id is no proof (whoever starts `npm login` chooses it): the password is.
    wrong = _post_form(npm_registry, f"{login_path}/approve", user="bob", password="guess")
    assert wrong.status == 401
    assert http(npm_registry, "GET", done_path).status == 202
    assert _post_form(npm_registry, f"{login_path}/approve", user="bob", password=bob.password).status == 303
    token = http(npm_registry, "GET", done_path).json()["token"]
    assert http(npm_registry, "GET", "/-/whoami", token=token).json() == {"username": "bob"}
    html = _text(http(npm_registry, "GET", login_path))
    assert "Logged in as <b>bob</b>" in html
    assert token not in html


def test_adduser_page_creates_the_account(npm_registry):
    login_path, done_path = _start_login(npm_registry, create=True)
    html = _text(http(npm_registry, "GET", login_path))
    assert "<h1>Create an account</h1>" in html
    assert "type=password" in html
    bad = _post_form(npm_registry, f"{login_path}/approve", user="_bad")
    assert bad.status == 400
    assert "name cannot start with an underscore" in _text(bad)
    answer = _post_form(npm_registry, f"{login_path}/approve", user="newbie", password="n3w-pass")
    assert answer.status == 303
    assert "newbie" in npm_registry.registry.state.users
    token = http(npm_registry, "GET", done_path).json()["token"]
    assert http(npm_registry, "GET", "/-/whoami", token=token).json() == {"username": "newbie"}


def test_denying_a_login_ends_its_poll(npm_registry, alice):
    login_path, done_path = _start_login(npm_registry)
    proof = {"user": "alice", "password": "alice-pw-123", "otp": alice.otp()}
    answer = _post_form(npm_registry, f"{login_path}/deny", **proof)
    assert answer.status == 200
    assert "Denied." in _text(answer)
    assert http(npm_registry, "GET", done_path).status == 404
    assert http(npm_registry, "GET", login_path).status == 404
    event = npm_registry.journal.entries(operation="login")[-1]
    assert (event.user, event.outcome.value) == ("alice", "rejected")
    assert event.reason == "web login denied in the browser; its done poll now answers 404"


def test_dashboard_needs_the_admin_token(npm_registry):
    home = npm_registry.dashboard_url[len(npm_registry.url) - 1 :]
    assert re.fullmatch(r"/-/_mock/[0-9a-f]{32}/", home)
    signed_out = http(npm_registry, "GET", "/-/_mock/")
    assert signed_out.status == 401
    assert "name=token type=password" in _text(signed_out)
    assert http(npm_registry, "GET", "/-/_mock/?part=main").status == 401
    assert http(npm_registry, "GET", f"{home}?part=main").status == 401
    # The dashboard's address without the cookie: to the sign-in page, the secret not in a Referer.
    sent_away = http(npm_registry, "GET", home)
    assert (sent_away.status, sent_away.headers["location"]) == (303, "/-/_mock/")
    assert sent_away.headers["referrer-policy"] == "no-referrer"
    wrong = http(npm_registry, "GET", "/-/_mock/?token=nope")
    assert wrong.status == 401
    assert "That is not the admin token." in _text(wrong)
    # A script with the bearer token is sent to the secret path, and is served there.
    admin = {"authorization": f"Bearer {npm_registry.admin_token}"}
    redirected = http(npm_registry, "GET", "/-/_mock/", headers=admin)
    assert (redirected.status, redirected.headers["location"]) == (303, home)
    bearer = http(npm_registry, "GET", home, headers=admin)
    assert bearer.status == 200
    assert "<main id=live>" in _text(bearer)
    assert bearer.headers["referrer-policy"] == "no-referrer"

    signed_in = _post_form(npm_registry, "/-/_mock/", token=npm_registry.admin_token)
    assert (signed_in.status, signed_in.headers["location"]) == (303, home)
    assert signed_in.headers["referrer-policy"] == "no-referrer"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert f"Path={home}" in cookie
    assert npm_registry.admin_token not in cookie  # an HMAC of it, useless for the control API
    value = cookie.split(";", 1)[0]
    fragment = http(npm_registry, "GET", f"{home}?part=main", headers={"cookie": value})
    assert fragment.status == 200
    assert _text(fragment).startswith("<div class=summary>")
    assert http(npm_registry, "GET", "/-/_mock/api/state", headers={"cookie": value}).status == 401


def test_dashboard_shows_the_registry_and_no_secret(npm_registry, alice, challenge):
    session, session_token, _, done_path = challenge
    bot = npm_registry.add_user("bot", password="bot-pw-456", email="<script>alert(1)</script>@example.com")
    ci = bot.create_token(bypass_2fa=True, packages=["lib"], cidr=["10.0.0.0/8"], expires_in_days=30, name="ci")
    npm_registry.publish("lib", "1.0.0", by=alice, tag="latest")
    npm_registry.publish("lib", "2.0.0-beta.1", by=alice, tag="next")
    npm_registry.trust("lib", github={"repository": "acme/lib", "workflow": "release.yml"})
    npm_registry.approve_web_auth(session.id)
    web_otp = http(npm_registry, "GET", done_path, token=session_token).json()["token"]
    npm_registry.client_ip = "10.1.2.3"  # inside the token's allow-list
    refused = http(npm_registry, "PUT", "/lib", token=ci, json_body=publish_document(manifest_for("lib", "1.1.0")))
    assert refused.status == 403

    admin = {"authorization": f"Bearer {npm_registry.admin_token}"}
    answer = http(npm_registry, "GET", npm_registry.dashboard_url[len(npm_registry.url) - 1 :], headers=admin)
    html = _text(answer)
    assert answer.status == 200
    assert any(alice.otp(offset_steps=step) in html for step in (-1, 0))
    for fragment in (
        "auth-and-writes",
        "bypasses 2FA",
        "packages: lib",
        "10.0.0.0/8",
        "in 30 d",
        f"{ci.record.prefix}…",
        "next → 2.0.0-beta.1",
        "github: repository=acme/lib, workflow_ref.file=release.yml (createPackage)",
        "automation: 2FA or a bypass token",
        "publish demo-pkg@1.0.0",
        "&lt;script&gt;alert(1)&lt;/script&gt;@example.com",
        "403 rejected",
    ):
        assert fragment in html, fragment
    reason = npm_registry.journal.entries(operation="publish")[-1].reason
    assert reason
    assert reason.replace("'", "&#x27;") in html
    assert "<script>alert" not in html
    assert alice.totp_secret is not None
    secrets = [ci.key, session_token.key, web_otp, alice.totp_secret, npm_registry.admin_token, *alice.recovery_codes]
    secrets += ["alice-pw-123", "bot-pw-456"]
    for secret in secrets:
        assert secret not in html


def test_every_way_of_answering_web_2fa_is_journaled(npm_registry, challenge):
    # The domain journals the answer, so approvals by the test (or the control API) show too, not
    # only those made in the browser.
    session, _, _, _ = challenge
    npm_registry.approve_web_auth(session.id)
    event = npm_registry.journal.entries(operation="web-auth-approve")[-1]
    assert (event.user, event.outcome.value) == ("alice", "accepted")
    assert event.reason == "alice approved publish demo-pkg@1.0.0 by the test"


def test_a_login_approved_already_cannot_be_denied_over_json(npm_registry, alice):
    login_path, _ = _start_login(npm_registry)
    proof = {"password": "alice-pw-123", "otp": alice.otp()}  # alice has 2FA: the page asks for both
    assert _post_form(npm_registry, f"{login_path}/approve", user="alice", **proof).status == 303
    event = npm_registry.journal.entries(operation="login")[-1]
    assert (event.user, event.reason) == ("alice", "web login approved in the browser as alice")
    answer = http(npm_registry, "POST", f"{login_path}/deny", json_body={})
    assert (answer.status, answer.json()) == (409, {"error": "This login was already approved."})
    missing = http(npm_registry, "POST", "/-/_mock/login/0000000000000000/deny", json_body={})
    assert missing.status == 404


def test_the_approval_page_names_the_credential_that_asked(npm_registry, challenge):
    session, token, auth_path, _ = challenge
    assert session.credential == f"session {token.key[:8]}..."
    assert f"with session {token.key[:8]}..." in _text(http(npm_registry, "GET", auth_path))
