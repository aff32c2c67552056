"""Fuzzing: generated requests at every endpoint; the registry answers each one and stays consistent.

Every example resets a registry of its own, seeds it (two users, three kinds of token, two packages,
an org), then sends one to four generated requests over raw sockets: any method, paths built from
the route table with valid, encoded and garbage segments (``..``, ``%2f``, odd unicode, 2,000-char
names), any credential (valid, read-only, another user's, revoked, garbage Basic), OTPs, and bodies
that are truncated JSON, random JSON of the wrong types, binary noise, or a valid publish document
with one to three things broken (names and versions that disagree, base64 garbage, huge strings).

After each answer (``check_answer``):
- never a 5xx, except the documented ``501 {"error": "not implemented by the mock registry: ..."}``;
- a body that is JSON, except the tarball bytes and the two HTML pages of ``/-/_mock/``;
- every 4xx carries ``{"error": "<text>"}``, except the shapes WIRE.md prescribes (``ALLOWED``);
- nothing reached the server's internal-error hook (``server.handler_errors``).
After each example (``check_invariants``): every version has its tarball with matching integrity,
shasum and packument ``dist``; every dist-tag points at an existing version; no package without
maintainers or versions; and the packument served over HTTP says the same.

Requests may carry the admin cookie and an ``Origin``, and paths include the admin's pages under
``/-/_mock/<secret>/`` (the real secret or a wrong one). The issue-19 probes at the end are fixed:
hostile JSON, framing, a deny without the account's proof (refused as an approve is, the session
left waiting), and the admin cookie's secret Path (``http.cookiejar`` sends it nowhere else, on any
port; sent elsewhere by hand it changes no answer).

A third test sends the control API (``/-/_mock/api/``, with the admin token) JSON bodies whose
fields are the ones each endpoint takes, valued with JSON of any type or plausible values: never a
5xx, every 4xx an ``{"error"}``, a refused call leaves the registry exactly as it was, and the reads
that follow (state, journal, clock, token list) all answer.

Profiles (hypothesis): ``NPM_REGISTRY_FUZZ=ci`` (default: derandomized, bounded, no example
database, what ``.ci/run`` runs: 300 examples per test, about 3,450 requests, 7 s on 2 cores) or
``NPM_REGISTRY_FUZZ=long`` (random, ``NPM_REGISTRY_FUZZ_EXAMPLES`` examples per test, default
5,000: about 17,000 requests, 1.5 minutes; failures kept in ``.hypothesis/``)::

    NPM_REGISTRY_FUZZ=long python -m pytest tests/test_fuzz.py -p no:xdist -s

With ``-s`` the module prints how many requests it sent.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import inspect
import json
import os
import socket
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_npm_registry import NpmRegistry, User
from pytest_npm_registry.domain.packaging import make_tarball, manifest_for, publish_document
from pytest_npm_registry.wire.control import FAULT_KINDS
from pytest_npm_registry.wire.faults import Faults
from pytest_npm_registry.wire.host import cookie_name
from pytest_npm_registry.wire.routes import url_map
from pytest_npm_registry.wire.settings import SETTINGS

from .conftest import http as http_call

# -- profiles ---------------------------------------------------------------------------------------

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "npm-registry-fuzz-ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_QUIET,
    print_blob=True,
)
settings.register_profile(
    "npm-registry-fuzz-long",
    max_examples=int(os.environ.get("NPM_REGISTRY_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=_QUIET,
    print_blob=True,
)
PROFILE = settings.get_profile(f"npm-registry-fuzz-{os.environ.get('NPM_REGISTRY_FUZZ', 'ci')}")

# -- the seeded registry ----------------------------------------------------------------------------

ALICE_PASSWORD = "alice-Pa55word"
#: Placeholders the strategies use; ``Seeded.resolve`` swaps in this example's secrets.
#: Also ``@SECRET@``: the admin pages' secret path segment; ``@ADMIN_COOKIE@``: the admin cookie (``name=value``).
SECRETS = ("@ALICE_TOKEN@", "@ALICE_RO_TOKEN@", "@BOB_TOKEN@", "@REVOKED_TOKEN@", "@ALICE_OTP@", "@ALICE_KEY@")


@dataclass
class Seeded:
    reg: NpmRegistry
    values: dict[str, str] = field(default_factory=dict)

    def resolve(self, text: bytes) -> bytes:
        for placeholder, value in self.values.items():
            text = text.replace(placeholder.encode(), value.encode())
        return text


def seed(reg: NpmRegistry) -> Seeded:
    reg.reset()
    alice = reg.add_user("alice", password=ALICE_PASSWORD, tfa="auth-and-writes", paid=True)
    bob = reg.add_user("bob")
    write = alice.create_token(bypass_2fa=True)
    read_only = alice.create_token(read_only=True)
    revoked = bob.create_token()
    revoked.revoke()
    bob_token = bob.create_token(bypass_2fa=True)
    reg.add_org("acme", owner=alice, members={"bob": "developer"})
    reg.publish("demo-pkg", "1.0.0", by=alice)
    reg.publish("demo-pkg", "1.1.0-beta.1", by=alice, tag="next")
    reg.publish("@acme/lib", "2.0.0", by=alice, access="public")
    return Seeded(
        reg,
        {
            "@ALICE_TOKEN@": write.key,
            "@ALICE_RO_TOKEN@": read_only.key,
            "@BOB_TOKEN@": bob_token.key,
            "@REVOKED_TOKEN@": revoked.key,
            "@ALICE_OTP@": alice.otp(),
            "@ALICE_KEY@": write.id,
            "@SECRET@": reg.server.app.admin.secret(_origin(reg)),
            "@ADMIN_COOKIE@": f"{cookie_name(_origin(reg))}={reg.server.app.admin.cookie_value(_origin(reg))}",
        },
    )


def _origin(reg: NpmRegistry) -> str:
    """What the server sees as its origin: ``send_raw`` sends ``Host: 127.0.0.1:<port>``."""
    return f"http://127.0.0.1:{reg.server.port}"


# -- raw HTTP ---------------------------------------------------------------------------------------

SENT = {"requests": 0, "examples": 0}
#: Answers by status, to see that the examples reach past the first refusal (printed with ``-s``).
STATUSES: Counter[int] = Counter()


@dataclass(frozen=True)
class Req:
    method: str
    path: bytes
    headers: tuple[tuple[str, bytes], ...]
    body: bytes | None

    def describe(self) -> str:
        size = "no body" if self.body is None else f"{len(self.body)}-byte body {self.body[:120]!r}"
        return f"{self.method} {self.path[:200]!r} headers={[(k, v[:60]) for k, v in self.headers]} {size}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send_raw(port: int, req: Req, seeded: Seeded) -> Answer:
    """One request on its own connection, bytes exactly as generated (http.client would refuse many)."""
    lines = [req.method.encode() + b" " + seeded.resolve(req.path) + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port]
    lines += [name.encode() + b": " + seeded.resolve(value) for name, value in req.headers]
    body = b"" if req.body is None else seeded.resolve(req.body)
    if req.body is not None:
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        response = http.client.HTTPResponse(sock, method=req.method)
        response.begin()
        answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    SENT["requests"] += 1
    STATUSES[answer.status] += 1
    return answer


# -- strategies -------------------------------------------------------------------------------------

ODD_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
)  # emoji, RTL marks, combining characters, NUL...
_VALID_NAMES = st.sampled_from(["demo-pkg", "@acme/lib", "new-pkg", "@acme/new", "@other/pkg", "missing"])
NAMES = st.one_of(
    _VALID_NAMES,
    _VALID_NAMES,
    _VALID_NAMES,
    _VALID_NAMES,
    st.sampled_from(["..", ".", "../demo-pkg", "_private", "UPPER", "node_modules", "http", "a" * 215, "@acme", "@/x"]),
    st.sampled_from(["demo-pkg%00", "demo%2fpkg", "%2e%2e", "@acme%2f..%2flib", "demo-pkg\u202e", "d\u00e9mo"]),
    ODD_TEXT.filter(bool),
    st.just("x" * 2000),
)
_VALID_VERSIONS = st.sampled_from(["1.0.0", "1.1.0-beta.1", "2.0.0", "latest", "next"])
VERSIONS = st.one_of(
    _VALID_VERSIONS,
    _VALID_VERSIONS,
    st.sampled_from(["3.0.0", "9.9.9", "1.0", "01.0.0", "v1.0.0"]),
    ODD_TEXT,
)
TAGS = st.one_of(st.sampled_from(["latest", "next", "beta", "1.x", "^1", "", "a" * 300]), ODD_TEXT)
IDS = st.one_of(st.sampled_from(["@ALICE_KEY@", "@ALICE_TOKEN@", "0" * 16, "deadbeef", ".."]), ODD_TEXT)
SEGMENTS = {
    "name": NAMES,
    "version": VERSIONS,
    "tag": TAGS,
    "id": IDS,
    "user": st.sampled_from(["alice", "bob", "zed"]),
    "secret": st.one_of(st.just("@SECRET@"), st.just("@SECRET@"), st.sampled_from(["0" * 32, "api", "login"]), IDS),
    "org": st.sampled_from(["acme", "other", "@acme"]),
    "team": st.sampled_from(["developers", "ops"]),
}

#: The route table as templates (``routes.py``), plus paths no route has.
TEMPLATES = [
    "/-/ping",
    "/-/whoami",
    "/-/npm/v1/security/advisories/bulk",
    "/-/npm/v1/security/audits/quick",
    "/-/v1/done/{id}",
    "/-/v1/login",
    "/-/v1/login/done/{id}",
    "/-/_mock/login/{id}",
    "/-/_mock/login/{id}/approve",
    "/-/user/org.couchdb.user:{user}",
    "/-/user/org.couchdb.user:{user}/-rev/{id}",
    "/-/user/token/{id}",
    "/-/npm/v1/user",
    "/-/npm/v1/tokens",
    "/-/npm/v1/tokens?page={id}&perPage={id}",
    "/-/npm/v1/tokens/token/{id}",
    "/-/_mock/auth/{id}",
    "/-/_mock/auth/{id}/approve",
    "/-/_mock/auth/{id}/deny",
    "/-/package/{name}/dist-tags",
    "/-/package/{name}/dist-tags/{tag}",
    "/-/package/{name}/visibility",
    "/-/package/{name}/access",
    "/-/package/{name}/collaborators",
    "/-/user/{user}/package",
    "/-/org/{org}/package",
    "/-/org/{org}/user",
    "/-/org/{org}/team",
    "/-/team/{org}/{team}",
    "/-/team/{org}/{team}/user",
    "/-/team/{org}/{team}/package",
    "/-/npm/v1/oidc/token/exchange/package/{name}",
    "/-/_mock/oidc/github/id-token",
    "/-/_mock/oidc/.well-known/jwks",
    "/-/_mock/oidc/.well-known/openid-configuration",
    "/-/package/{name}/trust",
    "/-/package/{name}/trust/{id}",
    "/-/stage/package/{name}",
    "/-/stage",
    "/-/stage/{id}",
    "/-/stage/{id}/approve",
    "/-/stage/{id}/tarball",
    "/",
    "/{name}",
    "/{name}?write=true",
    "/{name}/-rev/{id}",
    "/{name}/-/{name}-{version}.tgz",
    "/{name}/-/{name}-{version}.tgz/-rev/{id}",
    "/{name}/{version}",
    "/{name}/-/../../{name}",
    "/-/all",
    "/-/v1/search?text={name}",
    "/-/_mock/{id}",
    "/-/_mock/",
    "/-/_mock/{secret}/",
    "/-/_mock/{secret}/?part=main",
    "/-/_mock/{secret}/login/{id}",
    "/-/_mock/{secret}/login/{id}/approve",
    "/-/_mock/{secret}/login/{id}/deny",
    "/-/_mock/{secret}/auth/{id}",
    "/-/_mock/{secret}/auth/{id}/approve",
    "/-/_mock/{secret}/auth/{id}/deny",
    "/-/_mock/login/{id}/deny",
    "/-/_mock/api/state",
    "/-/_mock/api/reset",
    "/-/_mock/api/users/{user}/otp",
    "/-/_mock/api/journal",
    "/-/_mock/api/{id}",
    "//{name}",
    "/{name}//{version}",
]
METHODS = st.one_of(
    st.sampled_from(["GET", "PUT", "POST", "DELETE"]),
    st.sampled_from(["HEAD", "PATCH", "OPTIONS", "TRACE", "BREW", "get", "PROPFIND"]),
)


def _encode_segment(value: str, style: int) -> str:
    """A path segment as some client might send it: quoted (``/`` kept or not, ``%2F``), or raw."""
    if style == 0:
        return quote(value, safe="@/")
    if style == 1:
        return quote(value, safe="@")  # @scope%2fname, as npm does
    if style == 2:
        return quote(value, safe="@").replace("%2F", "%2f")
    return "".join(c if 0x20 < ord(c) < 0x7F and c not in "%?#" else quote(c) for c in value)


@st.composite
def paths(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:  # anything at all, raw (spaces, non-ASCII, control-free)
        raw = draw(st.binary(min_size=0, max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b))
        return b"/" + raw.replace(b" ", b"%20")
    template = draw(st.sampled_from(TEMPLATES))
    style = draw(st.integers(0, 3))
    out = template
    for key, strategy in SEGMENTS.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", _encode_segment(draw(strategy), style), 1)
    return out.encode("utf-8", "surrogatepass")


HEADER_VALUE = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60),
    st.just("x" * 8000),
).map(lambda s: s.encode("latin-1"))
AUTH = st.one_of(
    st.none(),
    st.sampled_from(
        [
            b"Bearer @ALICE_TOKEN@",
            b"Bearer @ALICE_RO_TOKEN@",
            b"Bearer @BOB_TOKEN@",
            b"Bearer @REVOKED_TOKEN@",
            b"Bearer npm_" + b"A" * 36,
            b"Bearer ",
            b"Basic " + base64.b64encode(f"alice:{ALICE_PASSWORD}".encode()),
            b"Basic " + base64.b64encode(b"alice:wrong"),
            b"Basic " + base64.b64encode(b"no-colon"),
            b"Basic !!!notbase64",
            b"Basic " + base64.b64encode("\u00e9:\u00ff".encode("latin-1")),
            b"Digest x",
            b"bearer",
        ]
    ),
    HEADER_VALUE,
)
OTP = st.one_of(st.none(), st.sampled_from([b"@ALICE_OTP@", b"000000", b"1234567890123456", b""]), HEADER_VALUE)
COOKIE = st.one_of(
    st.none(), st.none(), st.sampled_from([b"@ADMIN_COOKIE@", b"npm_registry_dashboard_1=x"]), HEADER_VALUE
)
ORIGIN = st.one_of(st.none(), st.none(), st.sampled_from([b"null", b"http://127.0.0.1:1", b"http://evil.example"]))
ACCEPT = st.sampled_from(
    [None, b"application/json", b"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*", b"*/*"]
)


@st.composite
def header_sets(draw: st.DrawFn) -> tuple[tuple[str, bytes], ...]:
    headers: list[tuple[str, bytes]] = []
    for name, strategy in (("Authorization", AUTH), ("npm-otp", OTP), ("Accept", ACCEPT)):
        value = draw(strategy)
        if value is not None:
            headers.append((name, value))
    auth_type = draw(st.sampled_from([None, b"web", b"legacy", b"\xff"]))
    if auth_type is not None:
        headers.append(("npm-auth-type", auth_type))
    headers.append(("npm-command", draw(st.sampled_from([b"publish", b"install", b"dist-tag", b""]))))
    if draw(st.booleans()):
        headers.append(("Content-Type", draw(st.sampled_from([b"application/json", b"text/plain", b"\x00"]))))
    # The admin's cookie (valid here only under the secret path) and a browser's Origin.
    for name, strategy in (("Cookie", COOKIE), ("Origin", ORIGIN)):
        value = draw(strategy)
        if value is not None:
            headers.append((name, value))
    if draw(st.integers(0, 4)) == 0:
        headers.append((draw(st.sampled_from(["X-Odd", "Expect", "Transfer-Encoding-X"])), draw(HEADER_VALUE)))
    return tuple(headers)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ODD_TEXT, children, max_size=4),
    max_leaves=12,
)
#: Keys of a publish document, top level and inside the version (``"v."``) and its ``dist`` (``"d."``).
DOC_KEYS = [
    "_id",
    "name",
    "versions",
    "dist-tags",
    "access",
    "_attachments",
    "description",
    "v.name",
    "v.version",
    "v.dist",
    "d.integrity",
    "d.shasum",
    "d.tarball",
    "a.data",
    "a.length",
    "a.content_type",
    "a",
]


def publish_doc(name: str, version: str) -> dict[str, Any]:
    meta = manifest_for(name, version)
    return publish_document(meta, make_tarball(meta), access="public" if name.startswith("@") else None)


@st.composite
def broken_publish(draw: st.DrawFn) -> bytes:
    """A valid npm publish body with one to three things wrong (or nothing: it must then land)."""
    name = draw(st.sampled_from(["demo-pkg", "@acme/lib", "new-pkg", "@acme/new"]))
    version = draw(st.sampled_from(["1.0.0", "2.0.0", "3.0.0", "1.1.0-beta.1"]))
    doc = publish_doc(name, version)
    (vkey,) = doc["versions"]
    (akey,) = doc["_attachments"]
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(DOC_KEYS))
        value = draw(
            st.one_of(
                JSON_VALUES,
                st.sampled_from(["demo-pkg", "@acme/lib", "other", "1.0.0", "9.9.9", "x" * 100_000]),
                st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode() + "!="),
                st.just("not base64 at all \u00e9"),
            )
        )
        manifest = doc["versions"].get(vkey) if isinstance(doc["versions"], dict) else None
        if key.startswith("v.") and isinstance(manifest, dict):
            manifest[key[2:]] = value
        elif key.startswith("d.") and isinstance(manifest, dict) and isinstance(manifest.get("dist"), dict):
            manifest["dist"][key[2:]] = value
        elif key == "a":
            doc["_attachments"] = {draw(st.sampled_from([akey, "other-1.0.0.tgz", "../x.tgz", "x.sigstore"])): value}
        elif key.startswith("a.") and isinstance(doc["_attachments"], dict) and doc["_attachments"]:
            attachment = next(iter(doc["_attachments"].values()))
            if isinstance(attachment, dict):
                attachment[key[2:]] = value
        elif key.startswith(("v.", "d.", "a.")):
            pass  # the part it would break is already broken
        else:
            doc[key] = value
    return json.dumps(doc).encode()


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return None
    if kind == 1:
        return b""
    if kind == 2:
        return draw(st.binary(max_size=200))
    if kind == 3:
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == 4:  # truncated JSON
        whole = json.dumps(publish_doc("demo-pkg", "2.0.0")).encode()
        return whole[: draw(st.integers(1, len(whole) - 1))]
    if kind == 5:  # a JSON string: a dist-tag body
        return json.dumps(draw(VERSIONS)).encode()
    return draw(broken_publish())


_ROUTES = url_map.bind("127.0.0.1")


@st.composite
def requests(draw: st.DrawFn) -> Req:
    path = draw(paths())
    # Mostly a method the route takes, so most requests get past routing to the registry's rules.
    try:
        allowed = sorted(_ROUTES.allowed_methods(unquote(path.decode("utf-8", "replace").split("?")[0])))
    except Exception:  # a path werkzeug cannot even look at: any method will do
        allowed = []
    method = draw(st.sampled_from(allowed)) if allowed and draw(st.integers(0, 3)) else draw(METHODS)
    return Req(method, path, draw(header_sets()), draw(bodies()))


# -- checks -----------------------------------------------------------------------------------------

NOT_IMPLEMENTED = "not implemented by the mock registry: "
#: Non-JSON success bodies: tarballs and the pages a person opens.
BINARY_OK = ("application/octet-stream", "text/html")


def _is_browser_page(path: bytes) -> bool:
    """The pages a person opens (approval pages, the dashboard) answer HTML, errors included; the
    control API and the mock OIDC provider under the same prefix answer JSON like the rest."""
    path = path.split(b"?", 1)[0]
    admin = b"/-/_mock/@SECRET@/"  # the admin's pages, when the example used the real secret
    return path in (b"/-/_mock/", admin) or path.startswith((b"/-/_mock/auth/", b"/-/_mock/login/", admin))


def _allowed_without_error(req: Req, answer: Answer, body: Any) -> bool:
    """Error bodies WIRE.md prescribes without ``{"error"}`` (the allow-list):

    - 401 ``{"authUrl", "doneUrl"}`` + ``www-authenticate: OTP``: the web 2FA challenge (WIRE.md §3);
    - 401 ``{"message"}`` without ``www-authenticate``: the plain 401 of ``/-/whoami`` for a dead
      token, and of a wrong Basic password (npm must print no detail, WIRE.md §2);
    - 4xx ``{"message"}`` from ``POST /-/npm/v1/oidc/token/exchange/...`` (OIDC exchange errors).
    """
    if not isinstance(body, dict):
        return False
    if answer.status == 401 and answer.headers.get("www-authenticate", "").lower() == "otp":
        return set(body) == {"authUrl", "doneUrl"} and all(isinstance(v, str) for v in body.values())
    if answer.status == 401 and "www-authenticate" not in answer.headers:
        return set(body) == {"message"} and isinstance(body["message"], str)
    if b"/-/npm/v1/oidc/token/exchange/" in req.path:
        return set(body) == {"message"} and isinstance(body["message"], str)
    return False


def check_answer(req: Req, answer: Answer) -> None:
    where = f"{req.describe()}\n-> {answer.status} {answer.headers} {answer.body[:500]!r}"
    if answer.status >= 500:
        assert answer.status == 501, where
        assert req.method == "HEAD" or json.loads(answer.body)["error"].startswith(NOT_IMPLEMENTED), where
        return
    if answer.status == 204 or req.method == "HEAD":
        assert answer.body == b"" or req.method == "HEAD", where
        return
    content_type = answer.headers.get("content-type", "")
    if answer.status < 300 and content_type.startswith(BINARY_OK):
        return
    if 300 <= answer.status < 400:  # a browser form's redirect back to its page
        assert "location" in answer.headers, where
        return
    if content_type.startswith("text/html") and _is_browser_page(req.path):
        return
    assert content_type.startswith("application/json"), where
    body = json.loads(answer.body)  # a JSON body, always
    if answer.status >= 400 and not _allowed_without_error(req, answer, body):
        assert isinstance(body, dict), where
        assert isinstance(body.get("error"), str), where
        assert body["error"], where
        assert "Traceback" not in body["error"], where
        assert "internal error" not in body["error"], where


def check_invariants(reg: NpmRegistry) -> None:
    """Every version has its tarball and matching integrity; dist-tags point to existing versions;
    every package has maintainers; the packument over HTTP agrees."""
    state = reg.registry.state
    if not state.packages:  # nothing to check (a control API reset also removed alice)
        return
    # Read as alice (restricted packages are hidden from strangers) with a token the example never saw.
    reader = reg.user("alice").create_token(read_only=True).key
    for name, package in list(state.packages.items()):
        assert package.versions, f"{name} has no versions"
        assert package.maintainers, f"{name} has no maintainers"
        for tag, version in package.dist_tags.items():
            assert version in package.versions, f"{name}: dist-tag {tag} -> missing {version}"
        for number, version in package.versions.items():
            digest = "sha512-" + base64.b64encode(hashlib.sha512(version.tarball).digest()).decode()
            assert version.integrity == digest, f"{name}@{number}: integrity does not match the tarball"
            assert version.shasum == hashlib.sha1(version.tarball).hexdigest(), f"{name}@{number}: shasum"  # noqa: S324
        doc = json.loads(_get(reg, "/" + quote(name, safe="@"), reader))
        assert set(doc["versions"]) == set(package.versions), name
        assert doc["dist-tags"] == package.dist_tags, name
        for number, manifest in doc["versions"].items():
            assert manifest["dist"]["integrity"] == package.versions[number].integrity, f"{name}@{number}"


def _get(reg: NpmRegistry, path: str, token: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", reg.server.port, timeout=30)
    try:
        conn.request("GET", path, headers={"accept": "application/json", "authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body[:300])
        return body
    finally:
        conn.close()


# -- fixtures and tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_registry() -> Iterator[NpmRegistry]:
    with NpmRegistry() as reg:
        yield reg
    if SENT["requests"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(STATUSES.items()))
        print(f"\nfuzz: {SENT['requests']} requests in {SENT['examples']} examples ({statuses})", file=sys.stderr)


def run_example(reg: NpmRegistry, batch: list[Req]) -> None:
    seeded = seed(reg)
    SENT["examples"] += 1
    for req in batch:
        answer = send_raw(reg.server.port, req, seeded)
        assert not reg.server.handler_errors, f"{req.describe()}\n-> internal error {reg.server.handler_errors!r}"
        check_answer(req, answer)
    check_invariants(reg)


@PROFILE
@given(batch=st.lists(requests(), min_size=1, max_size=4))
def test_any_request_gets_a_documented_answer_and_state_stays_consistent(
    fuzz_registry: NpmRegistry, batch: list[Req]
) -> None:
    run_example(fuzz_registry, batch)


@PROFILE
@given(
    name=st.sampled_from(["demo-pkg", "@acme/lib", "new-pkg", "@acme/new"]),
    body=broken_publish(),
    auth=st.sampled_from([b"Bearer @ALICE_TOKEN@", b"Bearer @BOB_TOKEN@", b"Bearer @ALICE_RO_TOKEN@"]),
)
def test_broken_publishes_are_refused_whole(fuzz_registry: NpmRegistry, name: str, body: bytes, auth: bytes) -> None:
    """A publish either lands whole (the version, its tarball, its tag) or leaves no trace."""
    path = ("/" + quote(name, safe="@")).encode()
    req = Req("PUT", path, (("Authorization", auth), ("Content-Type", b"application/json")), body)
    seeded = seed(fuzz_registry)
    before = {n: (set(p.versions), dict(p.dist_tags)) for n, p in fuzz_registry.registry.state.packages.items()}
    answer = send_raw(fuzz_registry.server.port, req, seeded)
    assert not fuzz_registry.server.handler_errors
    check_answer(req, answer)
    after = {n: (set(p.versions), dict(p.dist_tags)) for n, p in fuzz_registry.registry.state.packages.items()}
    if answer.status == 200:
        doc = json.loads(body)
        (version,) = doc["versions"]
        assert version in after[name][0], "accepted but not stored"
        stored = fuzz_registry.registry.state.packages[name].versions[version]
        (attachment,) = [a for k, a in doc["_attachments"].items() if k.endswith(".tgz")]
        assert stored.tarball == base64.b64decode(attachment["data"])
        assert {n: v for n, v in after.items() if n != name} == {n: v for n, v in before.items() if n != name}
    else:
        assert after == before, "a refused publish changed the registry"
    SENT["examples"] += 1


# -- the control API --------------------------------------------------------------------------------


def _keywords(method: Any) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(method).parameters if p != "self")


#: The fields each control endpoint takes: the parameters of the fixture API method it calls
#: (docs/standalone.md), and for the rest what the endpoint reads.
CONTROL_FIELDS: dict[str, tuple[str, ...]] = {
    "users": _keywords(NpmRegistry.add_user),
    "users/alice/tokens": _keywords(User.create_token),
    "packages": (*_keywords(NpmRegistry.publish)[:-1], "description"),  # **manifest: any package.json field
    "orgs": _keywords(NpmRegistry.add_org),
    "trust": _keywords(NpmRegistry.trust),
    "ci/github": _keywords(NpmRegistry.github_actions_env),
    "invitations/accept": _keywords(NpmRegistry.accept_invitation),
    "invitations/decline": _keywords(NpmRegistry.decline_invitation),
    "web-auth/approve": ("id", "user"),
    "web-logins/approve": _keywords(NpmRegistry.approve_web_login),
    "clock": ("advance",),
    "settings": (*SETTINGS, "keep"),
    "reset": ("policy", "empty"),
    "seed": ("policy", "users", "orgs", "packages", "tokens", "trust"),
    "faults": tuple(sorted({"kind", *(p for name in FAULT_KINDS for p in _keywords(getattr(Faults, name)))})),
}
_WORDS = st.sampled_from(
    [
        "alice",
        "bob",
        "demo-pkg",
        "@acme/lib",
        "acme",
        "1.0.0",
        "latest",
        "granular",
        "automation",
        "session",
        "auth-and-writes",
        "none",
        "web",
        "public",
        "publish",
        "current",
        "10.0.0.0/8",
        "203.0.113.9",
        "fail_publishes",
        "delay",
        "owner",
        "acme/fauxauth",
    ]
)
PLAUSIBLE = st.one_of(
    _WORDS,
    st.lists(_WORDS, max_size=3),
    st.dictionaries(_WORDS, _WORDS, max_size=2),
    st.booleans(),
    st.integers(-2, 600),
    st.sampled_from([0.5, 1e308, float("inf"), -1e9, 2**64]),
)


#: Fields whose accepted values make the call (or later requests) wait that long: kept short, with
#: the refused values around them.
TIMED = {
    "wait": st.sampled_from([0, 0.01, -1, 300.5, 1e9, "1", None]),
    "seconds": st.sampled_from([0, 0.001, 30, -1, 3601, 1e300, -1e300, "5", None]),
}


@st.composite
def control_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    path = draw(st.sampled_from(sorted(CONTROL_FIELDS)))
    fields = draw(st.lists(st.sampled_from([*CONTROL_FIELDS[path], "colour", "self"]), unique=True, max_size=4))
    return path, {field: draw(TIMED.get(field, st.one_of(PLAUSIBLE, PLAUSIBLE, JSON_VALUES))) for field in fields}


def read_back(reg: NpmRegistry) -> None:
    """Reads that show what a control call may have set (dates, tokens, settings): none may fail."""
    admin = (("Authorization", f"Bearer {reg.admin_token}".encode()),)
    reads = [Req("GET", f"/-/_mock/api/{path}".encode(), admin, None) for path in ("state", "journal", "clock")]
    reads += [Req("GET", b"/-/_mock/api/invitations", admin, None), Req("GET", b"/-/_mock/api/web-auth", admin, None)]
    if "alice" in reg.registry.state.users:
        session = reg.user("alice").create_token("session").key
        auth = (("Authorization", f"Bearer {session}".encode()), ("npm-otp", reg.user("alice").otp().encode()))
        reads += [Req("GET", b"/-/npm/v1/tokens", auth, None), Req("GET", b"/-/whoami", auth, None)]
    for req in reads:
        answer = send_raw(reg.server.port, req, Seeded(reg))
        assert not reg.server.handler_errors, f"{req.describe()}\n-> {reg.server.handler_errors!r}"
        check_answer(req, answer)


def registry_state(reg: NpmRegistry) -> str:
    """Everything a control call could change, as text to compare."""
    state = reg.registry.state
    parts = (
        state.policy.name,
        state.users,
        state.tokens,
        state.packages,
        state.orgs,
        state.invitations,
        state.trust,
        state.stages,
        state.web_auth,
        state.web_logins,
        state.unpublished,
        state.retired_versions,
        state.clock.now(),
        reg.settings(),
        [fault.label for fault in reg.faults.active],
    )
    return repr(parts)


@PROFILE
@given(call=control_calls())
def test_a_refused_control_call_changes_nothing(fuzz_registry: NpmRegistry, call: tuple[str, dict[str, Any]]) -> None:
    path, body = call
    seed(fuzz_registry)
    fuzz_registry.clock.freeze()
    req = Req(
        "POST",
        f"/-/_mock/api/{path}".encode(),
        (("Authorization", f"Bearer {fuzz_registry.admin_token}".encode()), ("Content-Type", b"application/json")),
        json.dumps(body).encode(),
    )
    before = registry_state(fuzz_registry)
    answer = send_raw(fuzz_registry.server.port, req, Seeded(fuzz_registry))
    SENT["examples"] += 1
    assert not fuzz_registry.server.handler_errors, f"{req.describe()}\n-> {fuzz_registry.server.handler_errors!r}"
    check_answer(req, answer)
    if answer.status >= 400:
        assert registry_state(fuzz_registry) == before, f"{req.describe()}\n-> {answer.status} {answer.body[:300]!r}"
    fuzz_registry.faults.clear()  # a generated delay must not hold up the checks
    read_back(fuzz_registry)
    fuzz_registry.clock.unfreeze()
    check_invariants(fuzz_registry)


# -- issue 19: the hostile probes of `serve`, kept fixed ---------------------------------------------
#
# Each probe found a 500, no answer or a smuggled request before issue 19: JSON nested past the
# limit, integers of more than 4,300 digits and lone surrogates at every JSON endpoint; non-ASCII
# bytes in a Basic header; ambiguous framing (RFC 9112 section 6). Every one must be a JSON 400
# and, for framing, the only answer on its connection.

_PROBES = settings(PROFILE, max_examples=min(PROFILE.max_examples, 100))
_JSON_TARGETS = [
    ("PUT", b"/demo-pkg", b"Bearer @ALICE_TOKEN@"),
    ("PUT", b"/-/user/org.couchdb.user:eve", None),
    ("PUT", b"/-/package/demo-pkg/dist-tags/beta", b"Bearer @ALICE_TOKEN@"),
    ("POST", b"/-/v1/login", None),
    ("POST", b"/-/npm/v1/tokens", b"Bearer @ALICE_TOKEN@"),
    ("POST", b"/-/_mock/api/seed", b"Bearer @ADMIN@"),
    ("POST", b"/-/_mock/login/0000000000000000/approve", None),
    ("POST", b"/-/_mock/auth/0000000000000000/approve", None),
]


def hostile_json() -> st.SearchStrategy[bytes]:
    deep = st.integers(65, 20_000).map(lambda n: b"[" * n + b"]" * n)
    deep_objects = st.integers(65, 5_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
    digits = st.integers(4_301, 20_000).map(lambda n: b'{"expires": ' + b"7" * n + b"}")
    lone = st.sampled_from(["\\ud800", "\\udfff", "x\\udbffy", "\\ude00\\ud83d"])
    shapes = st.sampled_from(['{{"name": "{}"}}', '["{}"]', '{{"{}": 1}}', '{{"email": "{}@example.com"}}'])
    surrogates = st.tuples(shapes, lone).map(lambda p: p[0].format(p[1]).encode())
    return st.one_of(deep, deep_objects, digits, surrogates)


@_PROBES
@given(target=st.sampled_from(_JSON_TARGETS), body=hostile_json())
def test_hostile_json_is_a_json_400_at_every_json_endpoint(
    fuzz_registry: NpmRegistry, target: tuple[str, bytes, bytes | None], body: bytes
) -> None:
    method, path, auth = target
    seeded = seed(fuzz_registry)
    seeded.values["@ADMIN@"] = fuzz_registry.admin_token
    headers = (("Content-Type", b"application/json"),) + ((("Authorization", auth),) if auth else ())
    req = Req(method, path, headers, body)
    answer = send_raw(fuzz_registry.server.port, req, seeded)
    SENT["examples"] += 1
    assert not fuzz_registry.server.handler_errors, f"{req.describe()}\n-> {fuzz_registry.server.handler_errors!r}"
    check_answer(req, answer)
    assert answer.status == 400, f"{req.describe()}\n-> {answer.status} {answer.body[:300]!r}"
    assert json.loads(answer.body)["error"].startswith("Malformed JSON body: "), answer.body[:300]


@_PROBES
@given(junk=st.binary(min_size=1, max_size=40).filter(lambda b: any(c > 0x7F for c in b)))
def test_non_ascii_bytes_in_a_basic_header_are_a_json_400(fuzz_registry: NpmRegistry, junk: bytes) -> None:
    junk = junk.replace(b"\r", b"").replace(b"\n", b"") or b"\xff"
    req = Req("GET", b"/-/whoami", (("Authorization", b"Basic " + junk),), None)
    answer = send_raw(fuzz_registry.server.port, req, Seeded(fuzz_registry))
    SENT["examples"] += 1
    assert not fuzz_registry.server.handler_errors
    check_answer(req, answer)
    assert answer.status == 400, f"{req.describe()}\n-> {answer.status} {answer.body[:300]!r}"


_FRAMING = st.one_of(
    st.tuples(st.integers(0, 9), st.sampled_from(["chunked", "Chunked", " chunked "])).map(
        lambda p: f"Content-Length: {p[0]}\r\nTransfer-Encoding: {p[1]}\r\n"
    ),
    st.tuples(st.integers(0, 9), st.integers(10, 99)).map(
        lambda p: f"Content-Length: {p[0]}\r\nContent-Length: {p[1]}\r\n"
    ),
    st.tuples(st.integers(0, 9), st.integers(10, 99)).map(lambda p: f"Content-Length: {p[0]}, {p[1]}\r\n"),
    st.sampled_from(["xchunked", "chunked, gzip", "gzip", "identity", "chunked;q=1", "chunkedx"]).map(
        lambda te: f"Transfer-Encoding: {te}\r\n"
    ),
)


@_PROBES
@given(framing=_FRAMING, method=st.sampled_from(["POST", "PUT"]))
def test_ambiguous_framing_gets_one_json_400_and_a_closed_connection(
    fuzz_registry: NpmRegistry, framing: str, method: str
) -> None:
    smuggled = b"0\r\n\r\nGET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n"
    head = f"{method} /-/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n".encode()
    with socket.create_connection(("127.0.0.1", fuzz_registry.server.port), timeout=30) as sock:
        sock.sendall(head + smuggled)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    SENT["requests"] += 1
    SENT["examples"] += 1
    where = f"{framing!r} -> {data[:300]!r}"
    assert data.count(b"HTTP/1.1 ") == 1, where
    status = int(data.split(b" ", 2)[1])
    STATUSES[status] += 1
    assert status == 400, where
    assert json.loads(data.partition(b"\r\n\r\n")[2])["error"], where
    assert not fuzz_registry.server.handler_errors


# -- issue 19: the admin cookie's secret Path, and no answer without proof, kept fixed ----------------


def _pending(reg: NpmRegistry) -> tuple[str, str]:
    """A fresh pending web login and web-2FA session (alice's publish): their page paths."""
    base = reg.url.rstrip("/")
    login = http_call(reg, "POST", "/-/v1/login", json_body={}).json()["loginUrl"][len(base) :]
    doc = publish_document(manifest_for("demo-pkg", "3.0.0"))
    token = reg.user("alice").create_token("session")
    challenged = http_call(reg, "PUT", "/demo-pkg", token=token, json_body=doc, headers={"npm-auth-type": "web"})
    return login, challenged.json()["authUrl"][len(base) :]


_NO_PROOF = st.fixed_dictionaries(
    {},
    optional={
        "user": st.sampled_from(["", "alice", "bob", "zed", "x" * 300]),
        "password": st.sampled_from(["", "wrong", ALICE_PASSWORD]),
        "otp": st.sampled_from(["", "00000", "1234567890123456", "not-a-code"]),  # never alice's current code
    },
)


@_PROBES
@given(
    kind=st.sampled_from(["login", "auth"]),
    fields=_NO_PROOF,
    encoding=st.sampled_from(["form", "form without csrf", "json", "text/plain"]),
    cookie=st.booleans(),
    origin=st.sampled_from([None, "ours", "null", "another port"]),
)
def test_a_deny_without_proof_is_refused_as_an_approve_is(
    fuzz_registry: NpmRegistry, kind: str, fields: dict[str, str], encoding: str, cookie: bool, origin: str | None
) -> None:
    """Whoever holds an approval link (who started the login, who triggered the challenge) must not
    end it: deny takes the proof approve takes, with or without the admin's cookie riding along."""
    seeded = seed(fuzz_registry)
    login_path, auth_path = _pending(fuzz_registry)
    page = login_path if kind == "login" else auth_path
    headers: list[tuple[str, bytes]] = []
    if cookie:
        headers.append(("Cookie", seeded.resolve(b"@ADMIN_COOKIE@")))
    port = fuzz_registry.server.port
    sender = {"ours": f"http://127.0.0.1:{port}", "null": "null", "another port": f"http://127.0.0.1:{port + 1}"}
    if origin is not None:
        headers.append(("Origin", sender[origin].encode()))
    if encoding.startswith("form"):
        html = http_call(fuzz_registry, "GET", page).body.decode()
        csrf = html.split("name=csrf value='", 1)[1].split("'", 1)[0]
        sent = fields if encoding == "form without csrf" else {"csrf": csrf, **fields}
        body = "&".join(f"{quote(k)}={quote(v)}" for k, v in sent.items()).encode()
        headers.append(("Content-Type", b"application/x-www-form-urlencoded"))
    else:
        body = json.dumps(fields).encode()
        headers.append(("Content-Type", encoding.replace("json", "application/json").encode()))
    answers = {}
    for answer in ("approve", "deny"):
        req = Req("POST", f"{page}/{answer}".encode(), tuple(headers), body)
        answers[answer] = send_raw(port, req, seeded)
        assert not fuzz_registry.server.handler_errors
        check_answer(req, answers[answer])
    where = f"{kind} {encoding} {fields} cookie={cookie} origin={origin}: " + ", ".join(
        f"{k} {a.status} {a.body[-200:]!r}" for k, a in answers.items()
    )
    assert answers["deny"].status == answers["approve"].status, where
    assert answers["deny"].status in (400, 401, 403), where
    state, now = fuzz_registry.registry.state, fuzz_registry.clock.now()
    ident = page.rsplit("/", 1)[1]
    if kind == "login":
        assert state.web_logins[ident].pending(now), where
    else:
        assert state.web_auth[ident].pending(now), where


_COOKIE_JARS: dict[int, tuple[CookieJar, str]] = {}


def _signed_in(reg: NpmRegistry) -> tuple[CookieJar, str]:
    """A cookie jar holding the admin cookie, as a browser's after signing in; the dashboard path."""
    if reg.server.port not in _COOKIE_JARS:
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{reg.url}-/_mock/?token={reg.admin_token}") as answer:
            assert answer.status == 200
        _COOKIE_JARS[reg.server.port] = jar, reg.dashboard_url[len(reg.url) - 1 :]
    return _COOKIE_JARS[reg.server.port]


@_PROBES
@given(path=paths(), another_port=st.booleans())
def test_the_admin_cookie_is_sent_and_taken_only_under_the_secret_path(
    fuzz_registry: NpmRegistry, path: bytes, another_port: bool
) -> None:
    """A browser (``http.cookiejar``'s standard policy) attaches the admin cookie to no URL outside
    ``/-/_mock/<secret>/``, on this port or another (cookies ignore ports: the path is the guard);
    and a client that sends it anyway elsewhere gets the same answer as without it."""
    seeded = seed(fuzz_registry)
    jar, home = _signed_in(fuzz_registry)
    resolved = seeded.resolve(path).decode("latin-1")
    target = "".join(c if 0x20 < ord(c) < 0x7F else quote(c.encode("latin-1")) for c in resolved)
    port = fuzz_registry.server.port + (1 if another_port else 0)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{target}")
    jar.add_cookie_header(request)
    assert request.has_header("Cookie") == target.startswith(home), target
    if another_port or target.startswith(home):
        return
    with_cookie = Req("GET", path, (("Cookie", b"@ADMIN_COOKIE@"),), None)
    without = Req("GET", path, (), None)
    answers = [send_raw(fuzz_registry.server.port, req, seeded) for req in (without, with_cookie)]
    assert not fuzz_registry.server.handler_errors
    for req, answer in zip((without, with_cookie), answers, strict=True):
        check_answer(req, answer)
    assert answers[0].status == answers[1].status, f"{target}: {answers[0].status} without, {answers[1].status} with"
