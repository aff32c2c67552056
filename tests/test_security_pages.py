"""Issue 19, items 1 and 3 of the probe: approval pages act only for the account or the admin.

The probes: a form served from another loopback port auto-submits the admin's browser to
``/-/_mock/login/<id>/approve`` with ``user=maintainer`` (the admin's cookie rides along, were a
client to send it there: browsers do not, its Path is the secret one, see
``test_security_admin_path.py``); the same as a ``text/plain`` JSON post; ``POST
<authUrl>/approve`` with no credential; the admin's cookie replayed to another server; a deny
without the account's proof (it needs what approve needs). Each must be refused and leave the
session waiting.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.api.views import User
from pytest_npm_registry.domain.packaging import manifest_for, publish_document
from pytest_npm_registry.wire.host import AdminToken, cookie_name

from .conftest import HttpAnswer, http

FORM = {"content-type": "application/x-www-form-urlencoded"}
CROSS_SITE = "This form is stale or was sent from another site: reload the page and try again"


def _origin(reg: NpmRegistry) -> str:
    return reg.url.rstrip("/")


def _other_port(reg: NpmRegistry) -> str:
    port = urlsplit(reg.url).port or 80
    return f"http://127.0.0.1:{port + 1}"


def _admin_cookie(reg: NpmRegistry) -> str:
    signed_in = http(reg, "GET", f"/-/_mock/?token={reg.admin_token}")
    assert signed_in.status == 303
    return signed_in.headers["set-cookie"].split(";", 1)[0]


def _home(reg: NpmRegistry) -> str:
    """``/-/_mock/<secret>/``: where the admin's pages live (and the cookie's Path)."""
    return reg.dashboard_url[len(_origin(reg)) :]


def _start_login(reg: NpmRegistry) -> tuple[str, str]:
    urls = http(reg, "POST", "/-/v1/login", json_body={}).json()
    return urls["loginUrl"][len(_origin(reg)) :], urls["doneUrl"][len(_origin(reg)) :]


def _csrf(html: str, action: str) -> str:
    found = re.search(rf"action='{re.escape(action)}'><input type=hidden name=csrf value='(\w+)'>", html)
    assert found, f"no CSRF field in the form posting to {action}"
    return found.group(1)


def _post(reg: NpmRegistry, path: str, fields: dict[str, str], headers: dict[str, str]) -> HttpAnswer:
    return http(reg, "POST", path, data=urlencode(fields).encode(), headers={**FORM, **headers})


@pytest.fixture
def maintainer(npm_registry: NpmRegistry) -> User:
    return npm_registry.add_user("maintainer", password="maint-Pw-42", tfa="auth-and-writes")


def test_a_cross_site_form_cannot_approve_a_login_with_the_admins_cookie(
    npm_registry: NpmRegistry, maintainer: User
) -> None:
    cookie = _admin_cookie(npm_registry)
    login_path, done_path = _start_login(npm_registry)
    # The attacker can read the page (and its CSRF token) themselves: they started the login.
    token = _csrf(http(npm_registry, "GET", login_path).body.decode(), f"{login_path}/approve")
    forged = _post(
        npm_registry,
        f"{login_path}/approve",
        {"user": "maintainer", "csrf": token},
        {"cookie": cookie, "origin": _other_port(npm_registry)},
    )
    assert forged.status == 403
    assert CROSS_SITE in forged.body.decode()
    assert http(npm_registry, "GET", done_path).status == 202  # still waiting: no token handed out
    entry = npm_registry.journal.entries(operation="login")[-1]
    assert (entry.status, entry.reason) == (
        403,
        f"a form posted from {_other_port(npm_registry)} to {login_path}/approve",
    )


def test_the_admins_cookie_is_no_credential_on_the_public_pages(npm_registry: NpmRegistry, maintainer: User) -> None:
    # A browser never sends it here (its Path is the secret one); a client that does gains nothing.
    cookie = _admin_cookie(npm_registry)
    login_path, done_path = _start_login(npm_registry)
    page = http(npm_registry, "GET", login_path, headers={"cookie": cookie}).body.decode()
    assert "id=password" in page  # the page asks for the proof: it does not see an admin
    token = _csrf(page, f"{login_path}/approve")
    for headers in ({"cookie": cookie}, {"cookie": cookie, "origin": _origin(npm_registry)}):
        answer = _post(npm_registry, f"{login_path}/approve", {"user": "maintainer", "csrf": token}, headers)
        assert answer.status == 401
        assert "maintainer: incorrect username or password" in answer.body.decode()
    assert http(npm_registry, "GET", done_path).status == 202


def test_a_cross_site_text_plain_json_post_is_refused(npm_registry: NpmRegistry, maintainer: User) -> None:
    cookie = _admin_cookie(npm_registry)
    login_path, done_path = _start_login(npm_registry)
    body = b'{"user": "maintainer"}'
    headers = {"content-type": "text/plain", "cookie": cookie, "origin": _other_port(npm_registry)}
    answer = http(npm_registry, "POST", f"{login_path}/approve", data=body, headers=headers)
    assert (answer.status, answer.json()) == (403, {"error": CROSS_SITE})
    # Without an Origin (a script) the cookie is no credential on the JSON endpoint: the password is.
    script = http(npm_registry, "POST", f"{login_path}/approve", data=body, headers={"cookie": cookie})
    assert (script.status, script.json()) == (401, {"error": "incorrect username or password"})
    assert http(npm_registry, "GET", done_path).status == 202


def test_a_2fa_account_is_approved_only_with_password_and_otp(npm_registry: NpmRegistry, maintainer: User) -> None:
    login_path, done_path = _start_login(npm_registry)
    path = f"{login_path}/approve"
    password_only = http(npm_registry, "POST", path, json_body={"user": "maintainer", "password": "maint-Pw-42"})
    assert password_only.status == 401
    assert password_only.json() == {
        "error": "Prove you are maintainer: enter the account's password and the code from its authenticator app"
    }
    wrong = {"user": "maintainer", "password": "maint-Pw-42", "otp": "000000"}
    assert http(npm_registry, "POST", path, json_body=wrong).status == 401
    good = {"user": "maintainer", "password": "maint-Pw-42", "otp": maintainer.otp()}
    assert http(npm_registry, "POST", path, json_body=good).status == 200
    assert http(npm_registry, "GET", done_path).status == 200


@pytest.fixture
def web_challenge(npm_registry: NpmRegistry, maintainer: User) -> tuple[str, str, str]:
    """A publish challenged with web 2FA: (its session token, authUrl path, doneUrl path)."""
    token = maintainer.create_token("session")
    doc = publish_document(manifest_for("demo-pkg", "1.0.0"))
    answer = http(npm_registry, "PUT", "/demo-pkg", token=token, json_body=doc, headers={"npm-auth-type": "web"})
    assert answer.status == 401
    base = _origin(npm_registry)
    return token.key, answer.json()["authUrl"][len(base) :], answer.json()["doneUrl"][len(base) :]


def test_web_2fa_is_not_approved_by_whoever_triggered_it(
    npm_registry: NpmRegistry, maintainer: User, web_challenge: tuple[str, str, str]
) -> None:
    token, auth_path, done_path = web_challenge
    bare = http(npm_registry, "POST", f"{auth_path}/approve", json_body={})
    assert bare.status == 401
    assert http(npm_registry, "POST", f"{auth_path}/approve").status == 401  # no body at all
    assert http(npm_registry, "GET", done_path, token=token).status == 202
    form = _post(npm_registry, f"{auth_path}/approve", {}, {})  # no CSRF token, no proof
    assert form.status == 403
    page = http(npm_registry, "GET", auth_path).body.decode()
    assert "id=password" in page
    assert "id=otp" in page
    csrf = _csrf(page, f"{auth_path}/approve")
    guessed = _post(npm_registry, f"{auth_path}/approve", {"csrf": csrf, "password": "maintainer-password"}, {})
    assert guessed.status == 401
    assert http(npm_registry, "GET", done_path, token=token).status == 202
    proof = {"csrf": csrf, "password": "maint-Pw-42", "otp": maintainer.otp()}
    approved = _post(npm_registry, f"{auth_path}/approve", proof, {"origin": _origin(npm_registry)})
    assert approved.status == 303
    assert http(npm_registry, "GET", done_path, token=token).status == 200


def test_web_2fa_approval_by_the_admin_and_the_fixture_stays(
    npm_registry: NpmRegistry, maintainer: User, web_challenge: tuple[str, str, str]
) -> None:
    token, auth_path, done_path = web_challenge
    admin = {"authorization": f"Bearer {npm_registry.admin_token}"}
    assert http(npm_registry, "POST", f"{auth_path}/approve", json_body={}, headers=admin).status == 200
    assert http(npm_registry, "GET", done_path, token=token).status == 200


def test_the_dashboard_cookie_is_this_servers_only(npm_registry: NpmRegistry) -> None:
    home = _home(npm_registry)
    signed_in = http(npm_registry, "GET", f"/-/_mock/?token={npm_registry.admin_token}")
    set_cookie = signed_in.headers["set-cookie"]
    name = cookie_name(_origin(npm_registry))
    assert name.endswith(f"_{urlsplit(npm_registry.url).port}")
    assert set_cookie.startswith(f"{name}=")
    assert f"Path={home}" in set_cookie
    assert "HttpOnly" in set_cookie
    cookie = set_cookie.split(";", 1)[0]
    assert http(npm_registry, "GET", f"{home}?part=main", headers={"cookie": cookie}).status == 200
    # Sent along by a page of another site (another port): not accepted.
    foreign = {"cookie": cookie, "referer": _other_port(npm_registry) + "/-/_mock/"}
    assert http(npm_registry, "GET", f"{home}?part=main", headers=foreign).status == 401
    # The cookie another server (same admin token, another port) would set is no good here.
    other = AdminToken(npm_registry.admin_token).cookie_value(_other_port(npm_registry))
    replayed = {"cookie": f"{name}={other}"}
    assert http(npm_registry, "GET", f"{home}?part=main", headers=replayed).status == 401


def test_the_dashboard_sign_in_form_needs_its_csrf_token(npm_registry: NpmRegistry) -> None:
    fields = {"token": npm_registry.admin_token}
    assert _post(npm_registry, "/-/_mock/", fields, {}).status == 401
    page = http(npm_registry, "GET", "/-/_mock/").body.decode()
    fields["csrf"] = _csrf(page, "/-/_mock/")
    assert _post(npm_registry, "/-/_mock/", fields, {"origin": _other_port(npm_registry)}).status == 401
    assert _post(npm_registry, "/-/_mock/", fields, {}).status == 303


# -- issue 19, item 2: deny needs the same proof as approve ---------------------------------------


def test_web_2fa_is_not_denied_without_the_accounts_proof(
    npm_registry: NpmRegistry, maintainer: User, web_challenge: tuple[str, str, str]
) -> None:
    token, auth_path, done_path = web_challenge
    page = http(npm_registry, "GET", auth_path).body.decode()
    csrf = _csrf(page, f"{auth_path}/approve")  # one form: Deny is its second button
    assert f"<button class=danger id=deny formaction='{auth_path}/deny'>Deny</button>" in page
    for fields in ({}, {"password": "maint-Pw-42"}, {"password": "maint-Pw-42", "otp": "000000"}):
        approve = _post(npm_registry, f"{auth_path}/approve", {"csrf": csrf, **fields}, {})
        deny = _post(npm_registry, f"{auth_path}/deny", {"csrf": csrf, **fields}, {})
        assert (deny.status, _error(deny)) == (approve.status, _error(approve)) == (401, _error(approve)), fields
    for body in ({}, {"password": "maint-Pw-42"}):
        approve = http(npm_registry, "POST", f"{auth_path}/approve", json_body=body)
        deny = http(npm_registry, "POST", f"{auth_path}/deny", json_body=body)
        assert (deny.status, deny.json()) == (approve.status, approve.json()), body
        assert deny.status == 401
    assert http(npm_registry, "GET", done_path, token=token).status == 202  # still waiting
    entry = npm_registry.journal.entries(operation="web-auth-approve")[-1]
    assert (entry.status, entry.reason) == (401, "approval page for maintainer with no one-time password")
    # With the proof (a recovery code will do, and is used up) the deny goes through.
    code = maintainer.recovery_codes[0]
    denied = _post(npm_registry, f"{auth_path}/deny", {"csrf": csrf, "password": "maint-Pw-42", "otp": code}, {})
    assert denied.status == 303
    assert http(npm_registry, "GET", done_path, token=token).status == 404
    assert code not in maintainer.recovery_codes


def test_a_web_login_is_not_denied_without_the_accounts_proof(npm_registry: NpmRegistry, maintainer: User) -> None:
    login_path, done_path = _start_login(npm_registry)
    csrf = _csrf(http(npm_registry, "GET", login_path).body.decode(), f"{login_path}/approve")
    for fields in ({"user": "maintainer"}, {"user": "maintainer", "password": "maint-Pw-42"}):
        approve = _post(npm_registry, f"{login_path}/approve", {"csrf": csrf, **fields}, {})
        deny = _post(npm_registry, f"{login_path}/deny", {"csrf": csrf, **fields}, {})
        assert (deny.status, _error(deny)) == (approve.status, _error(approve)), fields
        assert deny.status == 401
    nameless = _post(npm_registry, f"{login_path}/deny", {"csrf": csrf}, {})
    assert nameless.status == 400
    assert "Type the user name to deny this login as (with its password)." in nameless.body.decode()
    for body in ({"user": "maintainer"}, {"user": "maintainer", "password": "maint-Pw-42", "otp": "000000"}):
        approve = http(npm_registry, "POST", f"{login_path}/approve", json_body=body)
        deny = http(npm_registry, "POST", f"{login_path}/deny", json_body=body)
        assert (deny.status, deny.json()) == (approve.status, approve.json()), body
    empty = http(npm_registry, "POST", f"{login_path}/deny", json_body={})
    assert (empty.status, empty.json()) == (400, {"error": "Type the user name (and its password) to deny this login"})
    assert http(npm_registry, "GET", done_path).status == 202  # still waiting
    proof = {"csrf": csrf, "user": "maintainer", "password": "maint-Pw-42", "otp": maintainer.otp()}
    assert _post(npm_registry, f"{login_path}/deny", proof, {}).status == 200
    assert http(npm_registry, "GET", done_path).status == 404


def test_a_script_with_the_admin_token_denies_without_proof(
    npm_registry: NpmRegistry, maintainer: User, web_challenge: tuple[str, str, str]
) -> None:
    token, auth_path, done_path = web_challenge
    admin = {"authorization": f"Bearer {npm_registry.admin_token}"}
    assert http(npm_registry, "POST", f"{auth_path}/deny", json_body={}, headers=admin).json() == {
        "id": auth_path.rsplit("/", 1)[1],
        "denied": True,
    }
    assert http(npm_registry, "GET", done_path, token=token).status == 404
    login_path, login_done = _start_login(npm_registry)
    assert http(npm_registry, "POST", f"{login_path}/deny", json_body={}, headers=admin).status == 200
    assert http(npm_registry, "GET", login_done).status == 404
    entry = npm_registry.journal.entries(operation="login")[-1]
    assert entry.reason == "web login denied by the admin; its done poll now answers 404"


def _error(answer: HttpAnswer) -> str:
    """The refusal a page shows (``<p class=error id=error>``)."""
    found = re.search(r"<p class=error id=error>(.*?)</p>", answer.body.decode())
    assert found, answer.body[:300]
    return found.group(1)
