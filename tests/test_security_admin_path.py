"""Issue 19: the admin's pages live under a secret per-server path, the admin cookie's ``Path``.

Browsers send a cookie to every port of its host (cookies ignore ports), so a page or script on
another loopback port would receive the admin cookie and could replay it. The cookie's Path is
``/-/_mock/<secret>/``: a browser attaches it only there, and the server accepts it only there.
Checked with ``http.cookiejar`` (the standard cookie policy) and over HTTP: the old path, a wrong
secret, the admin's approval pages (CSRF + Origin), and the secret kept out of the journal and
the request log.
"""

from __future__ import annotations

import json
import re
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode, urlsplit

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.api.assertions import exchanges, format_report
from pytest_npm_registry.api.views import User
from pytest_npm_registry.domain.errors import redact_path
from pytest_npm_registry.domain.packaging import manifest_for, publish_document

from .conftest import HttpAnswer, http

FORM = {"content-type": "application/x-www-form-urlencoded"}
CROSS_SITE = "This form is stale or was sent from another site: reload the page and try again"


def _origin(reg: NpmRegistry) -> str:
    return reg.url.rstrip("/")


def _home(reg: NpmRegistry) -> str:
    return reg.dashboard_url[len(_origin(reg)) :]


def _secret(reg: NpmRegistry) -> str:
    return _home(reg).split("/")[3]


def _cookie(reg: NpmRegistry) -> dict[str, str]:
    signed_in = http(reg, "GET", f"/-/_mock/?token={reg.admin_token}")
    assert signed_in.status == 303
    return {"cookie": signed_in.headers["set-cookie"].split(";", 1)[0]}


def _csrf(html: str, action: str) -> str:
    found = re.search(rf"action='{re.escape(action)}'><input type=hidden name=csrf value='(\w+)'>", html)
    assert found, f"no CSRF field in the form posting to {action}"
    return found.group(1)


def _post(reg: NpmRegistry, path: str, fields: dict[str, str], headers: dict[str, str]) -> HttpAnswer:
    return http(reg, "POST", path, data=urlencode(fields).encode(), headers={**FORM, **headers})


def _start_login(reg: NpmRegistry) -> tuple[str, str]:
    urls = http(reg, "POST", "/-/v1/login", json_body={}).json()
    return urls["loginUrl"][len(_origin(reg)) :], urls["doneUrl"][len(_origin(reg)) :]


@pytest.fixture
def maintainer(npm_registry: NpmRegistry) -> User:
    return npm_registry.add_user("maintainer", password="maint-Pw-42", tfa="auth-and-writes")


@pytest.fixture
def web_challenge(npm_registry: NpmRegistry, maintainer: User) -> tuple[str, str, str]:
    """A publish challenged with web 2FA: (its session token, authUrl path, doneUrl path)."""
    token = maintainer.create_token("session")
    doc = publish_document(manifest_for("demo-pkg", "1.0.0"))
    answer = http(npm_registry, "PUT", "/demo-pkg", token=token, json_body=doc, headers={"npm-auth-type": "web"})
    assert answer.status == 401
    base = _origin(npm_registry)
    return token.key, answer.json()["authUrl"][len(base) :], answer.json()["doneUrl"][len(base) :]


def test_a_browser_sends_the_cookie_only_under_the_secret_path(npm_registry: NpmRegistry) -> None:
    jar = CookieJar()  # DefaultCookiePolicy: what the standard library's clients do
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{npm_registry.url}-/_mock/?token={npm_registry.admin_token}") as answer:
        assert answer.status == 200  # the sign-in's 303 led to the dashboard
        assert answer.geturl() == npm_registry.dashboard_url
        assert answer.headers["referrer-policy"] == "no-referrer"
    home = _home(npm_registry)
    assert re.fullmatch(r"/-/_mock/[0-9a-f]{32}/", home)
    (cookie,) = jar
    assert (cookie.path, cookie.has_nonstandard_attr("HttpOnly")) == (home, True)
    login_path, _ = _start_login(npm_registry)
    port = urlsplit(npm_registry.url).port
    other = f"http://127.0.0.1:{port + 1 if port != 65535 else port - 1}"

    def sent(url: str) -> bool:
        request = urllib.request.Request(url)
        jar.add_cookie_header(request)
        return request.has_header("Cookie")

    base = _origin(npm_registry)
    assert sent(f"{base}{home}")
    assert sent(f"{base}{home}?part=main")
    assert sent(f"{base}{home}login/0123456789abcdef")
    for path in ("/", "/-/_mock/", login_path, f"{login_path}/approve", "/-/_mock/api/state", "/-/whoami"):
        assert not sent(f"{base}{path}"), path  # the public approval page included
        assert not sent(f"{other}{path}"), path  # another port of the same host
    # Cookies ignore ports: another port gets it only at the secret path, which it cannot know.
    assert sent(f"{other}{home}")


def test_the_old_path_and_a_wrong_secret_do_not_take_the_cookie(npm_registry: NpmRegistry) -> None:
    cookie, home = _cookie(npm_registry), _home(npm_registry)
    old = http(npm_registry, "GET", "/-/_mock/", headers=cookie)
    assert old.status == 401
    assert "name=token type=password" in old.body.decode()
    part = http(npm_registry, "GET", "/-/_mock/?part=main", headers=cookie)
    assert (part.status, part.body) == (401, b"sign in again")
    secret = _secret(npm_registry)
    wrong = "0" * 32 if secret != "0" * 32 else "1" * 32
    for path in (f"/-/_mock/{wrong}/", f"/-/_mock/{secret.upper()}/", f"/-/_mock/{secret[:-1]}/", "/-/_mock/x/"):
        answer = http(npm_registry, "GET", path, headers=cookie)
        assert (answer.status, answer.json()) == (404, {"error": "Not found"}), path
    login_path, done_path = _start_login(npm_registry)
    forged = _post(npm_registry, f"/-/_mock/{wrong}{login_path[8:]}/approve", {"user": "x"}, cookie)
    assert (forged.status, forged.json()) == (404, {"error": "Not found"})
    assert http(npm_registry, "GET", done_path).status == 202
    # Without the slash the address is outside the cookie's Path: sent to the one with it.
    bare = http(npm_registry, "GET", home.rstrip("/"), headers=cookie)
    assert (bare.status, bare.headers["location"]) == (303, home)
    assert http(npm_registry, "GET", f"{home}?part=main", headers=cookie).status == 200


def test_the_admin_approves_a_login_from_its_own_pages(npm_registry: NpmRegistry, maintainer: User) -> None:
    cookie, home = _cookie(npm_registry), _home(npm_registry)
    login_path, done_path = _start_login(npm_registry)
    admin_path = f"{home}{login_path[len('/-/_mock/') :]}"
    dashboard = http(npm_registry, "GET", f"{home}?part=main", headers=cookie).body.decode()
    assert f"<a href='{admin_path}'><span class=\"tag warn\">waiting: answer</span></a>" in dashboard
    page = http(npm_registry, "GET", admin_path, headers=cookie)
    assert page.status == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.body.decode()
    assert "id=password" not in html  # the admin needs no password
    assert f"formaction='{admin_path}/deny'" in html
    csrf = _csrf(html, f"{admin_path}/approve")
    # Under no-referrer a browser posts the page's forms with ``Origin: null``.
    answer = _post(
        npm_registry, f"{admin_path}/approve", {"user": "maintainer", "csrf": csrf}, {**cookie, "origin": "null"}
    )
    assert (answer.status, answer.headers["location"]) == (303, admin_path)
    assert answer.headers["referrer-policy"] == "no-referrer"
    token = http(npm_registry, "GET", done_path).json()["token"]
    assert http(npm_registry, "GET", "/-/whoami", token=token).json() == {"username": "maintainer"}
    entry = npm_registry.journal.entries(operation="login")[-1]
    assert entry.reason == "web login approved by the admin in the browser as maintainer"


def test_the_admin_denies_a_login_without_a_name(npm_registry: NpmRegistry, maintainer: User) -> None:
    cookie, home = _cookie(npm_registry), _home(npm_registry)
    login_path, done_path = _start_login(npm_registry)
    admin_path = f"{home}{login_path[len('/-/_mock/') :]}"
    csrf = _csrf(http(npm_registry, "GET", admin_path, headers=cookie).body.decode(), f"{admin_path}/approve")
    headers = {**cookie, "origin": _origin(npm_registry)}
    denied = _post(npm_registry, f"{admin_path}/deny", {"user": "", "csrf": csrf}, headers)
    assert denied.status == 200
    assert "Denied." in denied.body.decode()
    assert http(npm_registry, "GET", done_path).status == 404
    entry = npm_registry.journal.entries(operation="login")[-1]
    assert entry.reason == "web login denied by the admin in the browser; its done poll now answers 404"


def test_the_admin_answers_web_2fa_from_its_own_pages(
    npm_registry: NpmRegistry, maintainer: User, web_challenge: tuple[str, str, str]
) -> None:
    token, auth_path, done_path = web_challenge
    cookie, home = _cookie(npm_registry), _home(npm_registry)
    admin_path = f"{home}{auth_path[len('/-/_mock/') :]}"
    assert f"href='{admin_path}'" in http(npm_registry, "GET", f"{home}?part=main", headers=cookie).body.decode()
    html = http(npm_registry, "GET", admin_path, headers=cookie).body.decode()
    assert "As the admin: no password needed." in html
    csrf = _csrf(html, f"{admin_path}/approve")
    answer = _post(npm_registry, f"{admin_path}/deny", {"csrf": csrf}, {**cookie, "origin": "null"})
    assert (answer.status, answer.headers["location"]) == (303, admin_path)
    assert http(npm_registry, "GET", done_path, token=token).status == 404
    entry = npm_registry.journal.entries(operation="web-auth-approve")[-1]
    assert entry.reason == (
        "maintainer denied publish demo-pkg@1.0.0 by the admin in the browser; npm's poll answers 404"
    )


def test_the_admins_pages_refuse_without_the_cookie_csrf_or_our_origin(
    npm_registry: NpmRegistry, maintainer: User, web_challenge: tuple[str, str, str]
) -> None:
    token, auth_path, done_path = web_challenge
    cookie, home = _cookie(npm_registry), _home(npm_registry)
    admin_path = f"{home}{auth_path[len('/-/_mock/') :]}"
    signed_out = http(npm_registry, "GET", admin_path)
    assert signed_out.status == 401
    assert "This page is the admin's: sign in first." in signed_out.body.decode()
    csrf = _csrf(http(npm_registry, "GET", admin_path, headers=cookie).body.decode(), f"{admin_path}/approve")
    approve = f"{admin_path}/approve"
    assert _post(npm_registry, approve, {"csrf": csrf}, {"origin": "null"}).status == 401  # no cookie
    other_port = f"http://127.0.0.1:{urlsplit(npm_registry.url).port + 1}"
    forged = _post(npm_registry, approve, {"csrf": csrf}, {**cookie, "origin": other_port})
    assert (forged.status, forged.json()) == (403, {"error": CROSS_SITE})
    entry = npm_registry.journal.entries(operation="web-auth-approve")[-1]
    assert entry.reason == f"a form posted from {other_port} to /-/_mock/...{auth_path[8:]}/approve"
    referer = {**cookie, "referer": f"{other_port}/"}
    assert _post(npm_registry, approve, {"csrf": csrf}, referer).status == 403
    assert _post(npm_registry, approve, {}, {**cookie, "origin": "null"}).status == 403  # no CSRF token
    scripted = http(npm_registry, "POST", approve, json_body={}, headers=cookie)
    assert scripted.status == 400
    assert scripted.json()["error"].startswith("The admin's pages take their own forms")
    assert http(npm_registry, "GET", done_path, token=token).status == 202  # still waiting


def test_the_secret_stays_out_of_the_journal_and_the_request_log(
    npm_registry: NpmRegistry, maintainer: User, web_challenge: tuple[str, str, str]
) -> None:
    _, auth_path, _ = web_challenge
    cookie, home, secret = _cookie(npm_registry), _home(npm_registry), _secret(npm_registry)
    admin_path = f"{home}{auth_path[len('/-/_mock/') :]}"
    http(npm_registry, "GET", home, headers=cookie)
    _post(npm_registry, f"{admin_path}/approve", {"csrf": "forged"}, {**cookie, "origin": "null"})  # 403, journaled
    unknown = http(npm_registry, "GET", f"{home}no/such/page", headers=cookie)
    assert unknown.status == 501
    assert unknown.json() == {"error": "not implemented by the mock registry: GET /-/_mock/.../no/such/page"}
    assert redact_path(f"{admin_path}/approve?x=1") == f"/-/_mock/...{auth_path[8:]}/approve?x=..."
    journal = [str(entry) for entry in npm_registry.journal.entries()]
    assert any("/-/_mock/.../auth/" in line for line in journal)
    over_http = http(npm_registry, "GET", "/-/_mock/api/journal", token=npm_registry.admin_token).body.decode()
    state = http(npm_registry, "GET", "/-/_mock/api/state", token=npm_registry.admin_token).body.decode()
    report = format_report(exchanges(npm_registry.server, npm_registry.registry), verbose=True)
    assert "GET /-/_mock/.../ -> 200" in report
    rows = [json.dumps(row.as_dict()) for row in exchanges(npm_registry.server, npm_registry.registry)]
    for text in [*journal, over_http, state, report, *rows]:
        assert secret not in text
