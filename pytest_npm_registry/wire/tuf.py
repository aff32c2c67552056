"""The TUF repository's HTTP face, served behind the egress proxy as ``tuf-repo-cdn.sigstore.dev``.

What npm's TUF client asks (tuf-js ``updater.js``, ``@sigstore/tuf`` mirror
``https://tuf-repo-cdn.sigstore.dev``): ``GET /<n>.root.json`` for ``n`` one above its cached
root until a 404 (a root rotation), ``GET /timestamp.json``, then ``/<v>.snapshot.json`` and
``/<v>.targets.json`` (consistent snapshots), then ``GET /targets/<dir>/<sha256>.<name>`` for a
target. The targets are ``<registry host>/keys.json`` for each name the registry is reached by
(``verify-signatures.js`` ``setKeys``: ``${host}${pathname}/keys.json``) and ``trusted_root.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.registry import Registry
from pytest_npm_registry.domain.tuf import TUF_HOST, Published, trusted_root

from .responses import json_response

__all__ = ["TUF_HOST", "TufApp", "target_names"]


def target_names(registry_url: str) -> list[str]:
    """The ``keys.json`` target names npm computes for the registry at ``registry_url``
    (``http://127.0.0.1:<port>/``): its host and, for a client configured with ``localhost``,
    that spelling too."""
    host = registry_url.split("://", 1)[-1].split("/", 1)[0]
    names = [host]
    if host.startswith("127.0.0.1:"):
        names.append("localhost:" + host.split(":", 1)[1])
    return [f"{name}/keys.json" for name in names]


def _body(value: dict[str, Any]) -> bytes:
    return json.dumps(value, indent=2).encode()


class TufApp:
    """The WSGI app serving the registry's TUF repository (``registry.tuf``)."""

    def __init__(self, registry: Registry, registry_url: Callable[[], str]) -> None:
        self.registry = registry
        self._registry_url = registry_url
        #: ``(method, path, status)`` of every request, for tests and failure reports.
        self.requests: list[tuple[str, str, int]] = []
        #: List the registry's ``keys.json``, as Sigstore's repository does for the public
        #: registry (the default). False: as for any other registry, which npm then asks for
        #: ``/-/npm/v1/keys`` itself after a warning. Back to True on reset.
        self.registry_keys = True

    def published(self) -> Published:
        """The repository as served now (signed anew only when a target changed)."""
        keys = _body(self.registry.signatures.tuf_keys())
        targets = dict.fromkeys(target_names(self._registry_url()) if self.registry_keys else [], keys)
        targets["trusted_root.json"] = _body(trusted_root(self.registry.sigstore))
        return self.registry.tuf.publish(targets)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        self.requests.append((request.method, request.path[:200], response.status_code))
        del self.requests[:-200]
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return json_response({"message": f"{request.method} {request.path[:200]}: Method Not Allowed"}, 405)
        data = self.published().files.get(request.path.lstrip("/"))
        if data is None:
            # tuf-js takes a 403/404 for a root version as "no newer root" (updater.js:183).
            return json_response({"message": f"{request.path[:200]}: Not Found"}, 404)
        return Response(data, content_type="application/json")
