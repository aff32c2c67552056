"""The floor of ``bench/tail.py``: a minimal registry on plain threaded werkzeug, nothing of ours.

    python bench/floor.py --seed packuments.json            # werkzeug defaults (HTTP/1.0)
    python bench/floor.py --seed packuments.json --http11   # the same with keep-alive

``werkzeug.serving.make_server(threaded=True)`` with its stock ``WSGIRequestHandler`` (only its
per-request stderr line silenced), an app written against ``werkzeug.Request``. It keeps packuments
in a dict of serialised bytes: ``GET /<name>`` answers them (404 otherwise); ``PUT /<name>`` with
a JSON body and a known ``Bearer`` token merges the document's versions and dist-tags into the
packument and keeps the decoded attachments; the next GET serialises the packument again. No journal, no
request log, no policy: what "a plain werkzeug registry" costs.

Stock werkzeug answers HTTP/1.0 and closes every connection, so a keep-alive client (wrk, npm)
reconnects for each request; ``--http11`` sets ``protocol_version`` (and ``TCP_NODELAY``, without
which every keep-alive answer's body waits ~40 ms for a delayed ACK) to show what that costs.

Prints one JSON line ``{"url", "pid", "token"}`` once it listens; serves until stdin closes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

TOKEN = "npm_floorfloorfloorfloorfloorfloorfloor"
JSON = "application/json"


class FloorRegistry:
    def __init__(self, packuments: dict[str, Any], tokens: set[str]) -> None:
        self.docs = packuments
        self.bytes = {name: json.dumps(doc).encode() for name, doc in self.docs.items()}
        self.tarballs: dict[str, bytes] = {}
        self.tokens = tokens
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)  # what werkzeug's Request.application does
        with request:
            return self.app(request)(environ, start_response)

    def app(self, request: Request) -> Response:
        name = request.path[1:]
        if request.method in ("GET", "HEAD"):
            body = self.bytes.get(name)
            if body is None:
                with self.lock:
                    if name not in self.docs:
                        return Response(b'{"error":"Not found"}', 404, content_type=JSON)
                    body = self.bytes[name] = json.dumps(self.docs[name]).encode()
            return Response(body, content_type=JSON)
        if request.method != "PUT":
            return Response(b'{"error":"Method not allowed"}', 405, content_type=JSON)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return Response(b'{"error":"Unauthorized"}', 401, content_type=JSON)
        try:
            doc = json.loads(request.get_data())
            versions, tags = doc["versions"], doc.get("dist-tags", {})
            files = {k: base64.b64decode(v["data"]) for k, v in doc.get("_attachments", {}).items()}
        except (ValueError, KeyError, TypeError):
            return Response(b'{"error":"Bad request"}', 400, content_type=JSON)
        with self.lock:
            current = self.docs.setdefault(name, {"_id": name, "name": name, "versions": {}, "dist-tags": {}})
            if any(v in current["versions"] for v in versions):
                return Response(b'{"error":"cannot publish over"}', 403, content_type=JSON)
            current["versions"].update(versions)
            current["dist-tags"].update(tags)
            self.tarballs.update(files)
            self.bytes.pop(name, None)  # serialised again by the next GET
        return Response(b'{"success":true}', 200, content_type=JSON)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class QuietHandler11(QuietHandler):
    protocol_version = "HTTP/1.1"
    # werkzeug writes headers and body in two sends: with Nagle on, the body of a keep-alive
    # answer waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", help="JSON file {name: packument}")
    parser.add_argument("--http11", action="store_true", help="keep-alive: protocol_version HTTP/1.1")
    args = parser.parse_args()
    packuments = json.loads(Path(args.seed).read_text()) if args.seed else {}
    app = FloorRegistry(packuments, {TOKEN})
    handler = QuietHandler11 if args.http11 else QuietHandler
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    server.daemon_threads = True  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.port}/"
    print(json.dumps({"url": url, "pid": os.getpid(), "token": TOKEN}), flush=True)
    sys.stdin.read()  # serve until the driver closes our stdin


if __name__ == "__main__":
    main()
