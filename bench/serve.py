"""A server under test, in its own process (so the benchmark driver never shares its GIL).

    python bench/serve.py registry                  # our registry, seeded: alice, a token, demo-pkg
    python bench/serve.py stub-werkzeug --canned F  # RegistryServer with a do-nothing app
    python bench/serve.py stub-stdlib --canned F    # a minimal stdlib keep-alive http.server

Prints one JSON line ``{"url", "pid", "token"}`` on stdout once the server listens, then serves
until its stdin closes (or it is terminated).

The stubs are the floor: they answer the same URLs with canned bytes. ``--canned`` is a JSON file
``{path: body}``; a GET/HEAD of a listed path answers 200 with that body, any other GET/HEAD
answers 404 ``{"error":"Not found"}`` (what the public registry says before a first publish), and
every other method answers 200 ``{"ok":true}`` after reading the body.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.api.registry import NpmRegistry
from pytest_npm_registry.wire.server import RegistryServer

JSON = "application/json"
NOT_FOUND = b'{"error":"Not found"}'
OK = b'{"ok":true}'


def _load_canned(path: str | None) -> dict[str, bytes]:
    if not path:
        return {}
    return {key: value.encode() for key, value in json.loads(Path(path).read_text()).items()}


def serve_registry() -> tuple[str, str | None, object]:
    reg = NpmRegistry("current")
    reg.start()
    alice = reg.add_user("alice")
    token = alice.create_token(bypass_2fa=True)
    reg.publish("demo-pkg", "1.0.0", by=alice)
    return reg.url, token.key, reg


def make_stub_app(canned: dict[str, bytes]) -> Callable[[Request], Response]:
    """The do-nothing app that replaces ``RegistryServer.app``: a dict lookup and a fixed Response."""

    def app(request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            body = canned.get(request.path)
            if body is None:
                return Response(NOT_FOUND, status=404, content_type=JSON)
            return Response(body, status=200, content_type=JSON)
        return Response(OK, status=200, content_type=JSON)

    return app


def make_stub_werkzeug(canned: dict[str, bytes]) -> RegistryServer:
    """Same serving stack as ours (RegistryServer, its handler, dispatch and log); trivial app."""
    server = RegistryServer()
    server.app = make_stub_app(canned)  # type: ignore[assignment]
    return server


def serve_stub_werkzeug(canned: dict[str, bytes]) -> tuple[str, str | None, object]:
    server = make_stub_werkzeug(canned)
    server.start()
    return server.url, None, server


class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    canned: dict[str, bytes] = {}  # noqa: RUF012 - each server gets a subclass with its own

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, *, head: bool = False) -> None:
        reason = {200: "OK", 404: "Not Found"}[status]
        header = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {JSON}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.wfile.write(header if head else header + body)  # one write: no Nagle stall

    def _get(self, *, head: bool) -> None:
        body = self.canned.get(self.path.split("?", 1)[0])
        if body is None:
            self._answer(404, NOT_FOUND, head=head)
        else:
            self._answer(200, body, head=head)

    def do_GET(self) -> None:
        self._get(head=False)

    def do_HEAD(self) -> None:
        self._get(head=True)

    def _write(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(200, OK)

    do_PUT = do_POST = do_DELETE = _write


def make_stub_stdlib(canned: dict[str, bytes]) -> ThreadingHTTPServer:
    """A minimal keep-alive ``http.server`` answering canned bytes (not started)."""
    handler = type("StubHandler", (_StubHandler,), {"canned": canned})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    return httpd


def serve_stub_stdlib(canned: dict[str, bytes]) -> tuple[str, str | None, object]:
    httpd = make_stub_stdlib(canned)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/", None, httpd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["registry", "stub-werkzeug", "stub-stdlib"])
    parser.add_argument("--canned", help="JSON file {path: body} for the stubs")
    args = parser.parse_args()
    canned = _load_canned(args.canned)
    if args.kind == "registry":
        url, token, keep = serve_registry()
    elif args.kind == "stub-werkzeug":
        url, token, keep = serve_stub_werkzeug(canned)
    else:
        url, token, keep = serve_stub_stdlib(canned)
    print(json.dumps({"url": url, "pid": os.getpid(), "token": token}), flush=True)
    sys.stdin.read()  # serve until the driver closes our stdin
    del keep


if __name__ == "__main__":
    main()
