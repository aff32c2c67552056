"""Issue 19, items 3, 4, 5 (parsing) and 8 (leaks, framing, TOTP reuse): the probes of
``pytest-npm-registry serve`` that got a 500, no answer, a megabyte journal entry or an echoed
secret, each sent again and answered safely."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from urllib.parse import urlsplit

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.domain.errors import MAX_TEXT, cut
from pytest_npm_registry.domain.packaging import make_tarball, manifest_for, publish_document

from .conftest import http

BIG = "x" * (4 * 1024 * 1024)


def _raw(reg: NpmRegistry, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send bytes as they are; read until the server closes (or ``timeout``)."""
    parts = urlsplit(reg.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            pass
    return out


def _json_status(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


# -- item 3: bounded journal, reasons and error bodies ----------------------------------------------


def test_cut_says_what_it_cut() -> None:
    assert cut("short") == "short"
    assert cut("y" * (MAX_TEXT + 5)) == "y" * MAX_TEXT + "... (5 more characters cut)"


def test_a_4_mib_user_name_is_not_kept_whole(npm_registry: NpmRegistry) -> None:
    urls = http(npm_registry, "POST", "/-/v1/login", json_body={}).json()
    approve = urls["loginUrl"][len(npm_registry.url.rstrip("/")) :] + "/approve"
    answer = http(npm_registry, "POST", approve, json_body={"user": BIG})
    assert answer.status == 400
    assert len(answer.body) < 2 * MAX_TEXT
    assert answer.json()["error"].endswith(" more characters cut)")
    entry = npm_registry.journal.entries()[-1]
    assert entry.reason is not None
    assert len(entry.reason) < 2 * MAX_TEXT


def test_a_4_mib_package_id_is_not_kept_whole(npm_registry: NpmRegistry) -> None:
    bot = npm_registry.add_user("bot")
    doc = publish_document(manifest_for("demo-pkg", "1.0.0"))
    doc["_id"] = doc["name"] = BIG
    answer = http(npm_registry, "PUT", "/demo-pkg", token=bot.create_token(bypass_2fa=True), json_body=doc)
    assert answer.status == 400
    assert len(answer.body) < 2 * MAX_TEXT
    for entry in npm_registry.journal.entries():
        assert len(str(entry)) < 4 * MAX_TEXT


def test_the_request_log_drops_large_bodies(npm_registry: NpmRegistry) -> None:
    http(npm_registry, "POST", "/-/v1/login", data=BIG.encode(), headers={"content-type": "application/json"})
    request, _ = npm_registry.server.log[-1]
    assert request.get_data() == b""
    assert request.environ["npm_registry.body_dropped"] == len(BIG)


def test_pending_anonymous_logins_are_capped(npm_registry: NpmRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_npm_registry.domain import logins

    monkeypatch.setattr(logins, "MAX_PENDING_LOGINS", 3)
    for _ in range(3):
        assert http(npm_registry, "POST", "/-/v1/login", json_body={}).status == 200
    refused = http(npm_registry, "POST", "/-/v1/login", json_body={})
    assert (refused.status, refused.headers["retry-after"], refused.json()) == (
        429,
        "60",
        {"error": "Too many logins are waiting: try again later"},
    )
    npm_registry.clock.advance(301)  # the old ones expired: they make room
    assert http(npm_registry, "POST", "/-/v1/login", json_body={}).status == 200


# -- item 4: parsing limits, every one a JSON 4xx -----------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE_INT = b'{"expires": ' + b"9" * 5000 + b"}"


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("PUT", "/demo-pkg", DEEP, "Malformed JSON body: nested deeper than 64 levels"),
        ("PUT", "/-/user/org.couchdb.user:bob", DEEP, "Malformed JSON body: nested deeper than 64 levels"),
        ("PUT", "/-/package/demo-pkg/dist-tags/beta", DEEP, "Malformed JSON body: nested deeper than 64 levels"),
        ("POST", "/-/_mock/api/seed", DEEP, "Malformed JSON body: nested deeper than 64 levels"),
        ("PUT", "/demo-pkg", b"[" * 65 + b"]" * 65, "Malformed JSON body: nested deeper than 64 levels"),
        ("POST", "/-/v1/login", HUGE_INT, "Malformed JSON body: a number has too many digits"),
        ("PUT", "/demo-pkg", HUGE_INT, "Malformed JSON body: a number has too many digits"),
        ("POST", "/-/npm/v1/tokens", HUGE_INT, "Malformed JSON body: a number has too many digits"),
        (
            "PUT",
            "/-/user/org.couchdb.user:eve",
            b'{"name": "eve", "password": "pw-eve-1", "email": "\\ud800@example.com"}',
            "Malformed JSON body: a string holds a lone surrogate (\\ud800-\\udfff)",
        ),
        (
            "PUT",
            "/demo-pkg",
            b'{"_attachments": {"demo-pkg-1.0.0.sigstore": {"data": "\\ud800"}}}',
            "Malformed JSON body: a string holds a lone surrogate (\\ud800-\\udfff)",
        ),
        (
            "PUT",
            "/demo-pkg",
            b'{"\\udfff": 1}',
            "Malformed JSON body: a string holds a lone surrogate (\\ud800-\\udfff)",
        ),
    ],
    ids=[
        "deep-publish",
        "deep-couch-login",
        "deep-dist-tag",
        "deep-control-seed",
        "65-levels",
        "digits-login",
        "digits-publish",
        "digits-tokens",
        "surrogate-email",
        "surrogate-sigstore",
        "surrogate-key",
    ],
)
def test_hostile_json_is_a_json_400(npm_registry: NpmRegistry, method: str, path: str, body: bytes, error: str) -> None:
    bot = npm_registry.add_user("bot")
    token = npm_registry.admin_token if path.startswith("/-/_mock/api/") else bot.create_token(bypass_2fa=True).key
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    answer = http(npm_registry, method, path, data=body, headers=headers)
    assert (answer.status, answer.json()) == (400, {"error": error})
    npm_registry.server.check()  # no 500 was raised in the server


def test_a_surrogate_email_cannot_break_the_dashboard(npm_registry: NpmRegistry) -> None:
    body = b'{"name": "eve", "password": "pw-eve-1", "email": "\\ud800@example.com"}'
    answer = http(npm_registry, "PUT", "/-/user/org.couchdb.user:eve", data=body, headers={})
    assert answer.status == 400
    assert "eve" not in npm_registry.registry.state.users
    admin = {"authorization": f"Bearer {npm_registry.admin_token}"}
    home = npm_registry.dashboard_url[len(npm_registry.url) - 1 :]
    assert http(npm_registry, "GET", home, headers=admin).status == 200


def test_non_ascii_bytes_in_a_basic_header_are_a_json_400(npm_registry: NpmRegistry) -> None:
    answer = _raw(
        npm_registry, b"GET /-/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\xfe\r\nConnection: close\r\n\r\n"
    )
    assert _json_status(answer) == (
        400,
        {"error": "Malformed Basic authorization header: expected base64 of user:password"},
    )
    basic = base64.b64encode(b"\xff\xfe:pw").decode()
    assert http(npm_registry, "GET", "/-/whoami", headers={"authorization": f"Basic {basic}"}).status == 400


def test_a_request_line_without_version_is_answered_and_closed(
    npm_registry: NpmRegistry, capfd: pytest.CaptureFixture[str]
) -> None:
    answer = _raw(npm_registry, b"GET /-/ping\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert _json_status(answer) == (400, {"error": "Malformed request line: expected <METHOD> <path> HTTP/1.1"})
    assert "Traceback" not in capfd.readouterr().err


# -- item 8: framing (RFC 9112 section 6) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        (
            b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
            "Both Transfer-Encoding and Content-Length: send one of them",
        ),
        (b"Content-Length: 2\r\nContent-Length: 3\r\n", "Conflicting Content-Length headers: send one length"),
        (b"Content-Length: 2, 3\r\n", "Conflicting Content-Length headers: send one length"),
        (b"Transfer-Encoding: xchunked\r\n", "Unsupported Transfer-Encoding 'xchunked': only chunked is accepted"),
        (
            b"Transfer-Encoding: chunked, gzip\r\n",
            "Unsupported Transfer-Encoding 'chunked, gzip': only chunked is accepted",
        ),
    ],
    ids=["cl-and-te", "two-lengths", "length-list", "xchunked", "chunked-not-last"],
)
def test_ambiguous_framing_is_refused_and_the_connection_closed(
    npm_registry: NpmRegistry, headers: bytes, error: str
) -> None:
    # A second request smuggled in the "body": it must never be answered.
    smuggled = b"0\r\n\r\nGET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = _raw(npm_registry, b"POST /-/v1/login HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + smuggled)
    assert answer.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in answer
    assert _json_status(answer) == (400, {"error": error})
    assert npm_registry.web_logins() == []


def test_a_repeated_equal_content_length_is_accepted(npm_registry: NpmRegistry) -> None:
    answer = _raw(
        npm_registry,
        b"POST /-/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_one_100_continue_and_none_before_a_413(npm_registry: NpmRegistry) -> None:
    big = _raw(
        npm_registry,
        b"PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 999999999999\r\n\r\n",
    )
    assert b"100 Continue" not in big
    assert big.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    small = _raw(
        npm_registry,
        b"POST /-/v1/login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}",
    )
    assert small.count(b"100 Continue") == 1
    assert small.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")


# -- item 8: small leaks ---------------------------------------------------------------------------------


def test_a_query_string_token_is_not_echoed(npm_registry: NpmRegistry) -> None:
    secret = npm_registry.admin_token
    answer = http(npm_registry, "GET", f"/-/_mock/api/dashboard?token={secret}&x=1")
    assert (answer.status, answer.json()) == (
        501,
        {"error": "not implemented by the mock registry: GET /-/_mock/api/dashboard?token=...&x=..."},
    )
    # Under a wrong secret path (``/-/_mock/<secret>/``): a 404 that quotes nothing.
    wrong = http(npm_registry, "GET", f"/-/_mock/dashboard/?token={secret}")
    assert (wrong.status, wrong.json()) == (404, {"error": "Not found"})
    assert secret not in npm_registry.journal.format()
    assert secret not in json.dumps([e.as_dict() for e in npm_registry.journal])


def test_a_refused_totp_secret_is_not_echoed(npm_registry: NpmRegistry) -> None:
    secret = "NOTBASE32!!" + "A" * 30
    admin = {"authorization": f"Bearer {npm_registry.admin_token}"}
    body = {"name": "alice", "tfa": "auth-and-writes", "totp_secret": secret}
    answer = http(npm_registry, "POST", "/-/_mock/api/users", json_body=body, headers=admin)
    assert answer.status == 400
    assert secret not in answer.body.decode()
    assert secret not in npm_registry.journal.format()
    assert "Invalid totp_secret (41 characters)" in answer.body.decode()


def test_a_totp_code_is_reused_within_its_window_as_on_the_public_registry(npm_registry: NpmRegistry) -> None:
    """The public registry accepts one code for several publishes while it is current: monorepo
    tools publish package after package with one ``--otp`` and fail only once it expires
    (material-components/material-components-web#3720, lerna/lerna#1091, lerna-lite PR #1034);
    docs/coverage.md records this departure from RFC 6238 section 5.2."""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", challenge="classic")
    session = alice.create_token("session")
    code = alice.otp()
    for number in range(3):
        manifest = manifest_for(f"pkg-{number}", "1.0.0")
        doc = publish_document(manifest, make_tarball(manifest))
        answer = http(npm_registry, "PUT", f"/pkg-{number}", token=session, json_body=doc, headers={"npm-otp": code})
        assert answer.status == 200, answer.body
    npm_registry.clock.advance(91)  # past the window (one step either side)
    manifest = manifest_for("pkg-late", "1.0.0")
    doc = publish_document(manifest, make_tarball(manifest))
    late = http(npm_registry, "PUT", "/pkg-late", token=session, json_body=doc, headers={"npm-otp": code})
    assert late.status == 401


def test_a_client_that_never_handshakes_does_not_stop_the_mock_sigstore(npm_registry: NpmRegistry) -> None:
    """The TLS end of the egress proxy handshook inside its accept loop: one loopback connection
    that sent nothing held every other client (5 s timeouts measured). Now the handshake is the
    connection's own thread's work."""
    egress = npm_registry.server.egress
    with socket.create_connection(("127.0.0.1", egress.tls_port)) as _stalled:
        context = ssl.create_default_context(cafile=str(egress.ca_file))
        with (
            socket.create_connection(("127.0.0.1", egress.tls_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="rekor.sigstore.dev") as tls,
        ):
            tls.sendall(b"GET /api/v1/log/publicKey HTTP/1.1\r\nHost: rekor.sigstore.dev\r\nConnection: close\r\n\r\n")
            assert tls.recv(64).startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("password", [[1], 5, {"x": 1}])
def test_an_approval_whose_password_is_not_text_is_a_400(npm_registry: NpmRegistry, password: object) -> None:
    """Found by review: an adduser link's JSON approve with ``"password": [1]`` was a 500."""
    origin = npm_registry.url.rstrip("/")
    urls = http(npm_registry, "POST", "/-/v1/login", json_body={"create": True}).json()
    approve = urls["loginUrl"][len(origin) :] + "/approve"
    answer = http(npm_registry, "POST", approve, json_body={"user": "newbie", "password": password})
    assert (answer.status, answer.json()) == (400, {"error": '"password" and "otp" must be strings'})
    assert "newbie" not in npm_registry.registry.state.users


def test_the_egress_proxy_answers_odd_ports_and_stays_quiet(npm_registry: NpmRegistry, capfd) -> None:
    """Found by review: ``CONNECT host:²`` ("²".isdigit() is True, int("²") raises) got no answer
    and a traceback on stderr."""
    port = int(npm_registry.server.egress.url.rsplit(":", 1)[1].rstrip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall("CONNECT example.org:\u00b2 HTTP/1.1\r\nHost: example.org\r\n\r\n".encode("latin-1"))
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"example.org:\xb2" not in answer or b"is not reachable from a test" in answer
    assert "Traceback" not in capfd.readouterr().err


def test_a_call_prints_no_credential() -> None:
    from pytest_npm_registry.domain.models import Call, Credential

    printed = repr(Call(credential=Credential(token="npm_" + "S" * 36, username="u", password="hunter2")))
    assert "npm_SSSS" not in printed
    assert "hunter2" not in printed
    assert "username='u'" in printed
