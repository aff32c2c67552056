"""Secrets: stored hashed, compared in constant time, never printed.

The main test runs a failing test under ``pytester`` that creates passwords, tokens, TOTP codes,
recovery codes and a web-2FA one-time token, uses every one of them over HTTP (right and wrong,
Basic and Bearer, in headers, bodies and URL paths), then fails on purpose. Everything a person
could read afterwards is grepped for every secret: pytest's whole output under ``-vv`` (the journal
report section, captured stdout/stderr and log records, the server's own logging at DEBUG), the
per-test journal file (``--npm-registry-journal-dir``), the journal's text and ``as_dict`` forms,
and the body of every error answer. Answers that exist to hand a secret over (a new token, the
``doneUrl`` poll) are the only places a secret may appear.

The registry's state is walked too: no password and no token secret is held in clear. (The TOTP
secret and the recovery codes are, by design: the registry computes codes from the first, and the
fixture hands both to the test.)
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.domain import models as models_module
from pytest_npm_registry.domain import otp as otp_module

from .conftest import http

FLOWS = r"""
import base64, http.client, json, os, secrets as random_secrets
from urllib.parse import urlsplit

def call(reg, method, path, *, token=None, basic=None, otp=None, body=None, web=False):
    parts = urlsplit(reg.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"content-type": "application/json", "npm-auth-type": "web" if web else "legacy"}
    if token:
        headers["authorization"] = "Bearer " + token
    if basic:
        headers["authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    if otp:
        headers["npm-otp"] = otp
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    answer = response.status, response.read()
    conn.close()
    return answer

def test_every_secret_in_use(npm_registry, tmp_path):
    reg = npm_registry
    # Made at run time, so that the test's own source (shown in tracebacks) holds none of them.
    pw = {n: f"{n}-Pw-{random_secrets.token_hex(6)}" for n in ("alice", "bob", "carol", "alice-new")}
    alice = reg.add_user("alice", password=pw["alice"], tfa="auth-and-writes")
    bob = reg.add_user("bob", password=pw["bob"])
    carol = reg.add_user("carol", password=pw["carol"], tfa="auth-and-writes", challenge="web")
    write = alice.create_token(bypass_2fa=True)
    read_only = alice.create_token(read_only=True)
    bob_token = bob.create_token(bypass_2fa=True)
    dead = bob.create_token()
    dead.revoke()
    carol_token = carol.create_token()
    session = alice.create_token("session")
    codes = alice.recovery_codes
    code = alice.otp()
    secrets = {
        "password": [pw["alice"], pw["bob"], pw["carol"], pw["alice-new"]],
        "token": [write.key, read_only.key, bob_token.key, dead.key, carol_token.key, session.key],
        "recovery": codes, "otp": [code], "handed_over": [],
    }
    errors = []

    def go(method, path, expect=None, handed_over=None, **kw):
        status, body = call(reg, method, path, **kw)
        if status >= 400:
            errors.append({"request": f"{method} {path}", "status": status, "body": body.decode()})
        elif handed_over:
            secrets["handed_over"].append(json.loads(body)[handed_over])
        if expect is not None:
            assert status == expect, (method, path, status, body)
        return status, body

    reg.publish("demo-pkg", "1.0.0", by=alice)
    # secrets in query strings: an unknown route (501) and known ones must not echo them
    secrets["token"].append(reg.admin_token)
    go("GET", "/-/_mock/dashboard?token=" + reg.admin_token)
    go("GET", "/-/no/such/route?token=" + write.key + "&password=" + pw["bob"])
    go("GET", "/-/whoami?token=" + session.key)
    go("DELETE", "/-/v1/login?otp=" + code)
    # logins: right and wrong passwords, with and without the OTP
    login = {"name": "alice", "password": pw["alice"]}
    go("PUT", "/-/user/org.couchdb.user:alice", 401, body=login)
    go("PUT", "/-/user/org.couchdb.user:alice", 401, body=login, otp="000000")
    go("PUT", "/-/user/org.couchdb.user:alice", 201, "token", body=login, otp=code)
    go("PUT", "/-/user/org.couchdb.user:alice", 401, body={"name": "alice", "password": pw["alice"] + "-typo"})
    go("PUT", "/-/user/org.couchdb.user:bob", 201, "token", body={"name": "bob", "password": pw["bob"]})
    go("GET", "/-/whoami", 200, basic="bob:" + pw["bob"])
    go("GET", "/-/whoami", basic="bob:" + pw["bob"] + "-typo")
    go("GET", "/-/user/org.couchdb.user:alice", 200)
    # tokens, good and bad, in headers and paths
    for token in (write.key, read_only.key, bob_token.key, dead.key, dead.key[:-1] + "X"):
        go("GET", "/-/whoami", token=token)
        go("GET", "/demo-pkg", token=token)
        go("PUT", "/-/package/demo-pkg/dist-tags/beta", token=token, body="1.0.0")
    go("PUT", "/-/package/demo-pkg/dist-tags/latest", token=session.key, body="1.0.0", otp="123456")
    go("PUT", "/-/package/demo-pkg/dist-tags/latest", 201, token=session.key, body="1.0.0", otp=codes[0])
    go("PUT", "/-/package/demo-pkg/dist-tags/latest", token=session.key, body="1.0.0", otp=codes[0])  # used up
    go("PUT", "/-/package/demo-pkg/dist-tags/latest", 201, token=session.key, body="1.0.0", otp=code)
    go("POST", "/-/npm/v1/tokens", token=session.key, body={"password": "wrong-Pw-0000", "readonly": True}, otp=code)
    go("POST", "/-/npm/v1/tokens", 200, "token", token=session.key, otp=code,
       body={"password": pw["alice"], "readonly": True})
    go("GET", "/-/npm/v1/tokens", 200, token=session.key)
    go("DELETE", "/-/npm/v1/tokens/token/" + read_only.key, token=session.key, otp=code)
    go("DELETE", "/-/npm/v1/tokens/token/" + dead.key, token=bob_token.key)
    go("DELETE", "/-/user/token/" + bob_token.key, token=session.key)
    go("DELETE", "/-/user/token/" + bob_token.key, token=bob_token.key)
    go("POST", "/-/npm/v1/user", token=session.key, otp=code,
       body={"password": {"old": pw["alice"] + "-typo", "new": pw["alice-new"]}})
    go("POST", "/-/npm/v1/user", 200, token=session.key, otp=code,
       body={"password": {"old": pw["alice"], "new": pw["alice-new"]}})
    # web 2FA: the one-time token the doneUrl hands over, then used as an OTP
    reg.publish("carol-pkg", "1.0.0", by=carol)
    status, body = go("PUT", "/-/package/carol-pkg/dist-tags/latest", 401, token=carol_token.key, body="1.0.0",
                      web=True)
    done = urlsplit(json.loads(body)["doneUrl"]).path
    reg.approve_web_auth(user=carol)
    _, polled = go("GET", done, 200, "token", token=carol_token.key)
    web_otp = json.loads(polled)["token"]
    go("PUT", "/-/package/carol-pkg/dist-tags/latest", 201, token=carol_token.key, body="1.0.0", otp=web_otp)
    go("PUT", "/-/package/carol-pkg/dist-tags/latest", token=carol_token.key, body="1.0.0", otp=web_otp)
    secrets["otp"].append(web_otp)

    out = os.environ["SECRETS_OUT"]
    with open(out, "w") as f:
        json.dump({"secrets": secrets, "errors": errors, "journal": reg.journal.format(),
                   "journal_dicts": [e.as_dict() for e in reg.journal]}, f)
    print("the test's own output: nothing secret here")
    assert False, "failing on purpose: the report must carry the journal, without secrets"
"""


def needles(secrets: dict[str, list[str]]) -> dict[str, re.Pattern[str]]:
    """Every secret, and the forms it travels in (Basic credentials in base64), as patterns."""
    found: dict[str, re.Pattern[str]] = {}
    for kind, values in secrets.items():
        for value in values:
            if kind == "otp" and len(value) <= 8:
                # A 6-digit code could match a number by chance: only as a number of its own.
                found[f"{kind} {value}"] = re.compile(rf"(?<![\d.]){re.escape(value)}(?![\d])")
            else:
                found[f"{kind} {value[:6]}..."] = re.compile(re.escape(value))
    for user, password in (("alice", secrets["password"][0]), ("bob", secrets["password"][1])):
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        found[f"basic {user}"] = re.compile(re.escape(encoded))
    return found


def leaks(text: str, patterns: dict[str, re.Pattern[str]]) -> list[str]:
    """Each secret found, with the text around it."""
    found = []
    for name, pattern in patterns.items():
        match = pattern.search(text)
        if match:
            found.append(f"{name}: ...{text[max(0, match.start() - 80) : match.end() + 20]!r}")
    return found


def test_no_secret_reaches_the_report_the_journal_logs_or_error_messages(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "secrets.json"
    journals = tmp_path / "journals"
    monkeypatch.setenv("SECRETS_OUT", str(out))
    pytester.makepyfile(FLOWS)
    result = pytester.runpytest(
        "-vv", "-p", "no:randomly", "--log-level=DEBUG", f"--npm-registry-journal-dir={journals}"
    )
    result.assert_outcomes(failed=1)
    data = json.loads(out.read_text())
    secrets: dict[str, list[str]] = data["secrets"]
    assert len(secrets["handed_over"]) == 4  # the flows ran to the end: 2 logins, a token, a web OTP
    patterns = needles({k: v for k, v in secrets.items() if k != "handed_over"})
    patterns.update({f"handed-over {s[:6]}...": re.compile(re.escape(s)) for s in secrets["handed_over"]})

    output = result.stdout.str() + "\n" + result.stderr.str()
    assert "npm registry journal" in output  # the report section is there to be grepped
    assert "failing on purpose" in output
    assert leaks(output, patterns) == []
    journal_files = list(journals.glob("*"))
    assert journal_files
    assert leaks("\n".join(p.read_text() for p in journal_files), patterns) == []
    assert leaks(data["journal"], patterns) == []
    assert leaks(json.dumps(data["journal_dicts"]), patterns) == []
    assert len(data["errors"]) >= 15  # refusals of every kind: 401, 403, 404, 501
    for error in data["errors"]:
        assert leaks(error["body"], patterns) == [], error


@pytest.mark.parametrize("path", ["/-/user/token/{}", "/-/npm/v1/tokens/token/{}/x", "/-/no/such/route/{}"])
def test_a_token_in_an_unknown_route_is_not_echoed(npm_registry: NpmRegistry, path: str) -> None:
    token = npm_registry.add_user("alice").create_token()
    answer = http(npm_registry, "GET", path.format(token.key), token=token)
    assert answer.status == 501
    assert token.key not in answer.body.decode()
    assert token.key not in npm_registry.journal.format()


# -- storage ----------------------------------------------------------------------------------------


def walk(value: Any, seen: set[int] | None = None) -> Iterator[str]:
    """Every string reachable from ``value`` through dataclasses, dicts, lists, sets and tuples."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(key, seen)
            yield from walk(item, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from walk(item, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk(getattr(value, f.name), seen)


def test_passwords_and_tokens_are_stored_hashed(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice", password="alice-Pw-7f3e9a1c", tfa="auth-and-writes")
    tokens = [alice.create_token(bypass_2fa=True), alice.create_token(read_only=True), alice.create_token("session")]
    login = http(
        npm_registry,
        "POST",
        "/-/npm/v1/tokens",
        token=tokens[2],
        headers={"npm-otp": alice.otp()},
        json_body={"password": "alice-Pw-7f3e9a1c", "readonly": True},
    )
    assert login.status == 200
    secrets = ["alice-Pw-7f3e9a1c", login.json()["token"], *(t.key for t in tokens)]
    state = npm_registry.registry.state
    stored = [s for name in vars(state) for s in walk(getattr(state, name)) if not name.startswith("_")]
    assert stored  # the walk saw the registry's state
    for secret in secrets:
        assert not [s for s in stored if secret in s], f"{secret[:6]}... is stored in clear"
    # What is stored instead: a hash the registry compares against.
    record = state.users["alice"]
    assert record.password_hash != "alice-Pw-7f3e9a1c"
    assert all(t.record.key_hash != t.key and t.record.prefix == t.key[:8] for t in tokens)


def test_the_user_document_carries_nothing_derived_from_the_password(npm_registry: NpmRegistry) -> None:
    npm_registry.add_user("alice", password="alice-Pw-7f3e9a1c")
    answer = http(npm_registry, "GET", "/-/user/org.couchdb.user:alice")  # anonymous
    assert answer.status == 200
    digest = npm_registry.registry.state.users["alice"].password_hash
    assert digest[:16] not in answer.body.decode()


def test_no_secret_in_clear_in_the_storage_file(tmp_path: Path) -> None:
    """The grep of the report, extended to the standalone server's storage file (and its WAL):
    passwords, token secrets, recovery codes, web-2FA codes and session tokens never appear in
    it. (The TOTP secret does, by design: the registry computes codes from it.)"""
    path = tmp_path / "state.sqlite"
    pw = "alice-Pw-5e2d0b7a"
    with NpmRegistry(storage=path) as reg:
        alice = reg.add_user("alice", password=pw, tfa="auth-and-writes", challenge="web")
        bob = reg.add_user("bob")
        reg.publish("demo-pkg", "1.0.0", by=alice)
        tokens = [alice.create_token(bypass_2fa=True), alice.create_token("session"), bob.create_token()]
        # A web-2FA code approved and not yet used, and a login approved and not yet polled.
        challenged = http(
            reg,
            "PUT",
            "/-/package/demo-pkg/dist-tags/latest",
            token=tokens[1],
            json_body="1.0.0",
            headers={"npm-auth-type": "web"},
        )
        assert challenged.status == 401
        (session,) = reg.web_auth_sessions(pending=True)
        reg.approve_web_auth(session.id)
        start = http(reg, "POST", "/-/v1/login", json_body={}).json()
        reg.approve_web_login("bob")
        assert http(reg, "GET", "/-/ping").status == 200
        reg.server.storage.save(reg.registry)  # type: ignore[union-attr]
        polled = http(reg, "GET", start["doneUrl"][len(reg.url.rstrip("/")) :]).json()["token"]
        secrets = {
            "password": [pw, bob.password or ""],
            "token": [t.key for t in tokens] + [polled],
            "recovery": alice.recovery_codes,
            "otp": [session.otp or ""],
            "handed_over": [],
        }
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("state.sqlite*"))
    text = stored.decode("latin-1")
    patterns = needles(secrets)
    assert leaks(text, patterns) == []
    assert alice.totp_secret is not None
    assert alice.totp_secret in text  # the one secret kept on purpose: the grep does see the file


# -- constant-time comparisons ----------------------------------------------------------------------


@pytest.fixture
def compare_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    fake = type("hmac", (), {"compare_digest": staticmethod(spy), "new": hmac.new, "digest": hmac.digest})
    monkeypatch.setattr(models_module, "hmac", fake)  # password_matches
    monkeypatch.setattr(otp_module, "hmac", fake)
    return calls


def test_passwords_and_one_time_codes_are_compared_in_constant_time(
    npm_registry: NpmRegistry, compare_spy: list[tuple[str, str]]
) -> None:
    alice = npm_registry.add_user("alice", password="alice-Pw-7f3e9a1c", tfa="auth-and-writes")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    basic = base64.b64encode(b"alice:alice-Pw-7f3e9a1c-typo").decode()
    assert http(npm_registry, "GET", "/-/whoami", headers={"authorization": f"Basic {basic}"}).status == 401
    assert compare_spy, "the password check did not use hmac.compare_digest"
    compare_spy.clear()
    token = alice.create_token()
    code = alice.recovery_codes[0]
    answer = http(
        npm_registry,
        "PUT",
        "/-/package/demo-pkg/dist-tags/latest",
        token=token,
        json_body="1.0.0",
        headers={"npm-otp": code},
    )
    assert answer.status == 201
    assert any(code in pair for pair in compare_spy), "the recovery code was not compared with hmac.compare_digest"


def test_tokens_are_looked_up_by_hash_not_compared_as_text(npm_registry: NpmRegistry) -> None:
    """A token is found by the SHA-256 of what the client sent (a dict lookup on the digest): no
    comparison of secret text whose duration depends on how many leading characters match."""
    alice = npm_registry.add_user("alice")
    token = alice.create_token()
    assert set(npm_registry.registry.state.tokens) == {token.record.key_hash}
    assert token.key not in npm_registry.registry.state.tokens
