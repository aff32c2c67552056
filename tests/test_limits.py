"""Limits: request bodies, tarball paths, malformed framing and slow clients.

- A body past ``max_body`` is refused with ``413 {"error"}`` from the headers alone, before any of
  it is read. The default, 256 MiB, is where the public registry answers ``413 Payload Too Large``
  (publishes of ~230 MB tarballs, i.e. ~300 MB of base64, are refused: npm/cli#4794; 256 MB is the
  figure quoted in npm/feedback#816).
- Tarball paths that climb (``..``), hide a slash (``%2f``) or name another package never serve
  another package's tarball.
- Malformed framing (a ``Content-Length`` that is not a byte count, a bad chunk header, a garbled
  request line) gets a JSON 400 at once, not a hang, a dropped connection or an HTML page.
- Clients that stall mid-headers or mid-body hold only their own thread: every other request is
  answered at once, and the stalled connection is closed after the idle timeout.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_npm_registry import NpmRegistry, UsageError, write_package
from pytest_npm_registry.wire import server as server_module
from pytest_npm_registry.wire.server import RegistryServer
from pytest_npm_registry.wire.settings import DEFAULT_MAX_BODY, MAX_BODY_CEILING

from .conftest import http

# -- helpers ----------------------------------------------------------------------------------------


def exchange(port: int, raw: bytes, *, timeout: float = 5.0, half_close: bool = False) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes; returns the answer and how long it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        started = time.perf_counter()
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), time.perf_counter() - started


def chunked_put(chunk: bytes) -> bytes:
    """``PUT /demo-pkg`` with ``chunk`` as its one chunk, then the last (empty) one."""
    head = b"PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n"


def parse(answer: bytes) -> tuple[int, dict[str, str], object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body) if body else None


@pytest.fixture
def small_server() -> Iterator[NpmRegistry]:
    """A registry of its own with a 4 KiB body limit."""
    server = RegistryServer(max_body=4096)
    reg = NpmRegistry(server=server)
    server.start()
    try:
        yield reg
    finally:
        reg.close()
        server.stop()


@pytest.fixture
def seeded(npm_registry: NpmRegistry) -> NpmRegistry:
    alice = npm_registry.add_user("alice")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.publish("other-pkg", "1.0.0", by=alice)
    npm_registry.publish("@acme/lib", "1.0.0", by=alice, access="public")
    return npm_registry


# -- body size ------------------------------------------------------------------------------------


def test_the_default_limit_is_the_public_registrys() -> None:
    assert DEFAULT_MAX_BODY == 256 * 1024 * 1024
    assert RegistryServer().max_body == DEFAULT_MAX_BODY


def test_an_oversized_body_is_refused_from_its_headers_alone(small_server: NpmRegistry) -> None:
    # 10 GB announced, not one byte sent: the answer cannot have waited for the body.
    raw = b"PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
    answer, seconds = exchange(small_server.server.port, raw)
    status, headers, body = parse(answer)
    assert (status, body) == (413, {"error": "Request body of 10000000000 bytes exceeds the 4096-byte limit"})
    assert headers["connection"] == "close"
    assert seconds < 2


def test_an_oversized_chunked_body_is_refused(small_server: NpmRegistry) -> None:
    status, _, body = parse(exchange(small_server.server.port, chunked_put(b"x" * 5000))[0])
    assert (status, body) == (413, {"error": "Request body exceeds the 4096-byte limit"})


def test_a_body_at_the_limit_is_read(small_server: NpmRegistry) -> None:
    answer = http(small_server, "PUT", "/demo-pkg", data=b" " * 4096, headers={"content-type": "application/json"})
    assert answer.status == 400  # past the size check: refused as JSON, not as too large
    assert answer.json()["error"].startswith("Malformed JSON body")


def test_the_413_carries_the_public_registrys_reason_phrase(small_server: NpmRegistry) -> None:
    raw = b"PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    answer, _ = exchange(small_server.server.port, raw)
    # npm prints it: "413 Payload Too Large - PUT ..." (npm/cli#4794); Python calls 413 otherwise.
    assert answer.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    assert parse(answer)[2] == {"error": "Request body of 5000 bytes exceeds the 4096-byte limit"}


def test_a_413_a_test_handler_sends_has_the_same_reason_phrase(npm_registry: NpmRegistry) -> None:
    npm_registry.server.expect_oneshot_request("/demo-pkg", method="PUT").respond_with_json(
        {"error": "Payload Too Large"}, status=413
    )
    raw = b"PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    answer, _ = exchange(npm_registry.server.port, raw)
    assert answer.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    assert parse(answer)[2] == {"error": "Payload Too Large"}


def test_real_npm_publish_past_the_limit_gets_e413_and_stores_nothing(npm_registry: NpmRegistry, tmp_path) -> None:
    alice = npm_registry.add_user("alice")
    token = alice.create_token(bypass_2fa=True)
    # Random text does not compress: the tarball, base64'd in the publish body, is past 20,000 bytes.
    write_package(tmp_path, "big-pkg", files={"blob.txt": base64.b64encode(os.urandom(30_000)).decode()})
    npm_registry.max_body = 20_000
    refused = npm_registry.npm("publish", cwd=tmp_path, token=token)
    assert refused.returncode == 1
    assert refused.error_code == "E413"
    assert re.search(
        r"^npm error 413 Payload Too Large - PUT http://127\.0\.0\.1:\d+/big-pkg - "
        r"Request body of \d+ bytes exceeds the 20000-byte limit$",
        refused.stderr,
        re.MULTILINE,
    ), refused.stderr
    assert not npm_registry.has_package("big-pkg")
    npm_registry.max_body = 200_000  # the same publish, under a higher limit
    assert npm_registry.npm("publish", cwd=tmp_path, token=token).returncode == 0
    npm_registry.assert_published("big-pkg@1.0.0", by="alice")


def test_a_tests_limit_goes_back_to_the_servers_on_reset(npm_registry: NpmRegistry) -> None:
    npm_registry.max_body = 1234
    assert http(npm_registry, "PUT", "/demo-pkg", data=b" " * 2000).status == 413
    npm_registry.reset()
    assert npm_registry.max_body == DEFAULT_MAX_BODY
    assert http(npm_registry, "PUT", "/demo-pkg", data=b" " * 2000).status == 400  # read, then refused as JSON


def test_none_puts_the_servers_limit_back(npm_registry: NpmRegistry) -> None:
    npm_registry.max_body = 1234
    npm_registry.max_body = None  # type: ignore[assignment]
    assert npm_registry.max_body == DEFAULT_MAX_BODY
    assert npm_registry.server.max_body_override is None


def test_a_registry_made_with_a_limit_keeps_it_across_resets() -> None:
    with NpmRegistry(max_body=4096) as reg:
        reg.reset()
        assert reg.max_body == 4096
        assert http(reg, "PUT", "/demo-pkg", data=b" " * 5000).status == 413


@pytest.mark.parametrize("value", [0, -1, True, "1024", 1.5, MAX_BODY_CEILING + 1, 10**20])
def test_max_body_must_be_a_byte_count_up_to_a_tebibyte(npm_registry: NpmRegistry, value: object) -> None:
    with pytest.raises(UsageError) as raised:
        npm_registry.max_body = value  # type: ignore[assignment]
    assert (
        str(raised.value) == f"max_body must be a whole number of bytes from 1 to 1099511627776 (1 TiB), not {value!r}"
    )
    assert npm_registry.max_body == DEFAULT_MAX_BODY


def test_the_ceiling_itself_is_accepted(npm_registry: NpmRegistry) -> None:
    npm_registry.max_body = MAX_BODY_CEILING
    # A chunked body is read in parts, never by allocating the whole limit (1 TiB here).
    status, _, body = parse(exchange(npm_registry.server.port, chunked_put(b"x" * 5000))[0])
    assert status == 400  # read whole, then refused as JSON
    assert isinstance(body, dict)
    assert body["error"].startswith("Malformed JSON body")


def test_a_limit_set_before_start_or_after_stop_holds_when_the_server_runs() -> None:
    server = RegistryServer()
    server.max_body = 3000  # before start
    reg = NpmRegistry(server=server)
    server.start()
    try:
        assert http(reg, "PUT", "/demo-pkg", data=b" " * 3001).status == 413
        server.stop()
        server.max_body = 2000  # after stop
        server.start()
        assert http(reg, "PUT", "/demo-pkg", data=b" " * 2001).status == 413
        assert http(reg, "PUT", "/demo-pkg", data=b" " * 2000).status == 400
    finally:
        reg.close()
        server.stop()


def test_a_limit_belongs_to_the_server_it_is_given_to() -> None:
    with pytest.raises(UsageError, match=r"give it to RegistryServer\(...\)"):
        NpmRegistry(server=RegistryServer(), max_body=1000)


def test_the_control_api_keeps_its_own_limit(npm_registry: NpmRegistry) -> None:
    npm_registry.max_body = 10
    assert http(npm_registry, "PUT", "/demo-pkg", data=b" " * 11).status == 413
    # A test that set the limit small can still raise it, and seed, through the control API.
    answer = http(
        npm_registry,
        "POST",
        "/-/_mock/api/settings",
        json_body={"max_body": 5000},
        token=npm_registry.admin_token,
    )
    assert answer.status == 200
    assert npm_registry.max_body == 5000


# -- malformed framing ------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"0x10", b"\xb2"])
def test_a_content_length_that_is_not_a_byte_count_gets_a_400_at_once(npm_registry: NpmRegistry, length: bytes) -> None:
    raw = b"PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"
    answer, seconds = exchange(npm_registry.server.port, raw)
    status, _, body = parse(answer)
    assert status == 400
    assert isinstance(body, dict)
    assert body["error"].startswith("Invalid Content-Length header")
    assert seconds < 2  # "-1" used to read to end of stream: a hang until the idle timeout


@pytest.mark.parametrize("chunks", [b"zz\r\nxx\r\n0\r\n\r\n", b"5\r\nxx"], ids=["bad-size", "truncated"])
def test_a_malformed_chunked_body_gets_a_400(npm_registry: NpmRegistry, chunks: bytes) -> None:
    raw = b"PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    status, _, body = parse(exchange(npm_registry.server.port, raw, half_close=True)[0])
    assert status == 400
    assert isinstance(body, dict)
    assert body["error"].startswith("Malformed chunked request body")


@pytest.mark.parametrize(
    ("request_line", "status"),
    [(b"GET /\t\x00 HTTP/1.1", 400), (b"G\x00T / HTTP/1.1", 501), (b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414)],
    ids=["control-chars", "bad-method", "too-long"],
)
def test_a_garbled_request_line_gets_a_json_error(npm_registry: NpmRegistry, request_line: bytes, status: int) -> None:
    answer, _ = exchange(npm_registry.server.port, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    got, headers, body = parse(answer)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert isinstance(body, dict)
    assert isinstance(body["error"], str)


# -- tarball paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/demo-pkg/-/other-pkg-1.0.0.tgz",  # another package's file name
        "/demo-pkg/-/../../other-pkg/-/other-pkg-1.0.0.tgz",
        "/demo-pkg/-/..%2f..%2fother-pkg%2f-%2fother-pkg-1.0.0.tgz",
        "/demo-pkg/-/%2e%2e/other-pkg-1.0.0.tgz",
        "/demo-pkg/-/demo-pkg-..%2fother-pkg-1.0.0.tgz",
        "/demo-pkg/-/sub%2fdemo-pkg-1.0.0.tgz",
        "/demo-pkg/-/@acme/lib-1.0.0.tgz",
        "/@acme/lib/-/demo-pkg-1.0.0.tgz",
        "/@acme%2flib/-/@acme/other-1.0.0.tgz",
        "/@acme%2f..%2fdemo-pkg/-/demo-pkg-1.0.0.tgz",
        "/other-pkg/-/demo-pkg-1.0.0.tgz",
    ],
)
def test_tarball_paths_never_reach_another_packages_file(seeded: NpmRegistry, path: str) -> None:
    answer = http(seeded, "GET", path)
    assert answer.status in (400, 404, 501), (answer.status, answer.body[:200])
    assert answer.headers["content-type"] == "application/json"
    assert isinstance(answer.json()["error"], str)


def test_the_real_tarball_paths_still_work(seeded: NpmRegistry) -> None:
    own = seeded.package("@acme/lib").tarball("1.0.0")
    for path in ("/@acme/lib/-/lib-1.0.0.tgz", "/@acme%2flib/-/@acme/lib-1.0.0.tgz", "/@acme%2Flib/-/lib-1.0.0.tgz"):
        answer = http(seeded, "GET", path)
        assert (answer.status, answer.body) == (200, own), path


FOREIGN_TARBALLS = ["other-pkg-1.0.0.tgz", "..%2fother-pkg%2f-%2fother-pkg-1.0.0.tgz", "@acme/lib-1.0.0.tgz"]


@pytest.mark.parametrize("filename", FOREIGN_TARBALLS)
def test_a_tarball_unpublish_naming_another_package_deletes_nothing(seeded: NpmRegistry, filename: str) -> None:
    alice_token = seeded.user("alice").create_token(bypass_2fa=True)
    rev = http(seeded, "GET", "/demo-pkg?write=true").json()["_rev"]
    http(seeded, "DELETE", f"/demo-pkg/-/{filename}/-rev/{rev}", token=alice_token)
    for name in ("other-pkg", "demo-pkg", "@acme/lib"):
        assert seeded.has_package(name, "1.0.0")
        assert http(seeded, "GET", f"/{name}/-/{name.rsplit('/', 1)[-1]}-1.0.0.tgz").status == 200


@pytest.mark.parametrize("filename", FOREIGN_TARBALLS)
def test_a_tarball_unpublish_naming_another_package_is_refused(seeded: NpmRegistry, filename: str) -> None:
    alice_token = seeded.user("alice").create_token(bypass_2fa=True)
    rev = http(seeded, "GET", "/demo-pkg?write=true").json()["_rev"]
    answer = http(seeded, "DELETE", f"/demo-pkg/-/{filename}/-rev/{rev}", token=alice_token)
    assert answer.status in (400, 404), answer.body


# -- slow clients -----------------------------------------------------------------------------------


STALLS = [
    b"GET /-/ping HT",  # mid request line
    b"GET /-/ping HTTP/1.1\r\nHost: x\r\nAccept: appl",  # mid headers
    b'PUT /demo-pkg HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"name": ',  # mid body
]


def test_stalled_clients_do_not_block_other_requests(seeded: NpmRegistry) -> None:
    port = seeded.server.port
    stalled = []
    try:
        for i in range(30):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(STALLS[i % len(STALLS)])
            stalled.append(sock)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _: http(seeded, "GET", "/demo-pkg").status, range(20)))
        assert answers == [200] * 20
        assert time.perf_counter() - started < 5
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize("stall", STALLS, ids=["request-line", "headers", "body"])
def test_a_stalled_connection_is_closed_after_the_idle_timeout(monkeypatch: pytest.MonkeyPatch, stall: bytes) -> None:
    monkeypatch.setattr(server_module._Handler, "timeout", 0.5)
    with NpmRegistry() as reg:
        answer, seconds = exchange(reg.server.port, stall, timeout=10)
        assert answer == b""  # nothing was complete: nothing to answer
        assert 0.4 < seconds < 5
        assert not reg.server.handler_errors


def test_the_server_is_threaded_with_an_idle_timeout() -> None:
    assert server_module._Handler.timeout == server_module.IDLE_TIMEOUT
    assert 0 < server_module.IDLE_TIMEOUT <= 60
