"""Issue 19, item 4 of the probe: anonymous requests must not grow the server's memory without bound.

Before the fix, 30 approvals with a 4 MiB user name added 370 MiB that stayed (the reason copied
the name into the journal, and the request log kept every body). Here a ``serve`` process gets
about 100 MB of anonymous requests of several kinds over loopback; its resident set must end
within 50 MB of where it started. Bounded in time: each request is answered at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import pytest

MIB = 1024 * 1024
BIG = "x" * (4 * MIB)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = json.loads(proc.stdout.readline())["url"]
    yield proc, url
    proc.terminate()
    proc.wait(timeout=10)


def _send(url: str, method: str, path: str, body: bytes) -> int:
    parts = urlsplit(url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request(method, path, body=body, headers={"content-type": "application/json"})
    response = conn.getresponse()
    response.read()  # as a client does: the whole answer (before the fix, 4 MiB of it)
    conn.close()
    return response.status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc for the resident set")
def test_100_mb_of_anonymous_requests_leave_memory_where_it_was(served: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = served
    base = url.rstrip("/")
    # Warm up: the first requests import and allocate what every later one reuses.
    for _ in range(3):
        _send(url, "GET", "/-/ping", b"")
        _send(url, "POST", "/-/v1/login", b"{}")
    time.sleep(0.5)
    before = _rss(proc.pid)
    sent, tried = 0, {"login approve": 0, "publish _id": 0, "couch adduser": 0, "dist-tag": 0, "web login": 0}
    kinds = ["login approve", "publish _id", "login approve", "couch adduser", "login approve", "dist-tag"]
    deadline = time.monotonic() + 120
    while sent < 100 * 1000 * 1000 and time.monotonic() < deadline:
        kind = kinds[(sum(tried.values()) - tried["web login"]) % len(kinds)]
        if kind == "login approve":  # the probe: 30 of these kept 370 MiB
            conn = HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=60)
            conn.request("POST", "/-/v1/login", body=b"{}", headers={"content-type": "application/json"})
            login_url = json.loads(conn.getresponse().read())["loginUrl"]
            conn.close()
            tried["web login"] += 1
            body = json.dumps({"user": BIG}).encode()
            assert _send(url, "POST", login_url[len(base) :] + "/approve", body) == 400
        elif kind == "publish _id":  # 60 of these kept 726 MiB
            body = json.dumps({"_id": BIG, "name": BIG, "versions": {}}).encode()
            assert _send(url, "PUT", "/demo-pkg", body) in (400, 401)
        elif kind == "couch adduser":
            body = json.dumps({"name": "eve", "password": "pw-eve-1", "email": BIG}).encode()
            assert _send(url, "PUT", "/-/user/org.couchdb.user:" + BIG[:2000], body) in (400, 401, 414)
        else:
            body = json.dumps(BIG).encode()
            assert _send(url, "PUT", "/-/package/demo-pkg/dist-tags/" + BIG[:2000], body) in (400, 401, 404, 414)
        tried[kind] += 1
        sent += len(body)
    time.sleep(0.5)
    after = _rss(proc.pid)
    count, grown = sum(tried.values()), f"RSS {before / MIB:.0f} -> {after / MIB:.0f} MiB"
    print(f"sent {sent / 1e6:.0f} MB in {count} requests {tried}; {grown}")
    assert sent >= 100 * 1000 * 1000, "the 120 s budget ran out first"
    assert after - before < 50 * 1000 * 1000, f"RSS grew {(after - before) / MIB:.0f} MiB"
