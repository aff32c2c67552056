"""Fulcio's and Rekor's HTTP faces, served behind the egress proxy under their public host names.

The routes are matched on the ``Host`` header (``fulcio.sigstore.dev`` / ``rekor.sigstore.dev``):
the egress proxy hands both to one TLS server, and the name the client asked for decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.sigstore import FULCIO_HOST, REKOR_HOST, Sigstore, SigstoreRefusal, pem, public_pem

from .responses import json_response

ROUTES = Map(
    [
        Rule("/api/v2/signingCert", host=FULCIO_HOST, endpoint="fulcio.signing_cert", methods=["POST"]),
        Rule("/api/v2/trustBundle", host=FULCIO_HOST, endpoint="fulcio.trust_bundle", methods=["GET"]),
        Rule("/api/v1/rootCert", host=FULCIO_HOST, endpoint="fulcio.root_cert", methods=["GET"]),
        Rule("/api/v1/log/entries", host=REKOR_HOST, endpoint="rekor.create_entry", methods=["POST"]),
        Rule("/api/v1/log/entries/<uuid>", host=REKOR_HOST, endpoint="rekor.get_entry", methods=["GET"]),
        Rule("/api/v1/log", host=REKOR_HOST, endpoint="rekor.log_info", methods=["GET"]),
        Rule("/api/v1/log/publicKey", host=REKOR_HOST, endpoint="rekor.public_key", methods=["GET"]),
    ],
    host_matching=True,
)
#: Request bodies beyond this are refused: a signing request or a log entry is a few kilobytes.
MAX_BODY = 1 << 20

#: What stands in front of the routes when a test injects a Sigstore fault (``reg.faults.fulcio``):
#: it answers itself or passes the request on to the routes (``wire/faults.py``).
Intercept = Callable[[Request, Callable[[Request], Response]], Response]


class SigstoreApp:
    """The WSGI app of the mock Fulcio and Rekor."""

    def __init__(self, sigstore: Sigstore) -> None:
        self.sigstore = sigstore
        #: ``(method, host, path, status)`` of every request, for tests and failure reports.
        self.requests: list[tuple[str, str, str, int]] = []
        #: Set by the server's faults; None serves every request as is.
        self.intercept: Intercept | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        intercept = self.intercept
        response = self.dispatch(request) if intercept is None else intercept(request, self.dispatch)
        host = request.host.split(":", 1)[0]
        self.requests.append((request.method, host[:100], request.path[:200], response.status_code))
        del self.requests[:-200]
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = ROUTES.bind_to_environ(request.environ, server_name=request.host.split(":", 1)[0])
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            status = exc.code or 404
            message = f"{request.method} {request.path[:200]}: {exc.name}"
            return json_response({"code": status, "message": message}, status)
        try:
            return getattr(self, str(endpoint).replace(".", "_"))(request, **args)  # type: ignore[no-any-return]
        except SigstoreRefusal as exc:
            return json_response({"code": exc.status, "message": exc.message}, exc.status)

    def _json(self, request: Request) -> dict[str, Any]:
        if (request.content_length or 0) > MAX_BODY:
            raise SigstoreRefusal(413, "request body too large")
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            raise SigstoreRefusal(400, "the request body is not a JSON object")
        return body

    def fulcio_signing_cert(self, request: Request) -> Response:
        body = self._json(request)
        try:
            token = str(body["credentials"]["oidcIdentityToken"])
            key = body["publicKeyRequest"]["publicKey"]["content"]
            proof = body["publicKeyRequest"]["proofOfPossession"]
            chain = self.sigstore.fulcio.signing_certificate(token, str(key), str(proof))
        except (KeyError, TypeError):
            raise SigstoreRefusal(400, "the signing request lacks credentials or publicKeyRequest") from None
        # Answered as Fulcio does: 201, an embedded-SCT chain, leaf first (``signer/fulcio/ca.js``).
        return json_response({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}, 201)

    def fulcio_trust_bundle(self, request: Request) -> Response:  # noqa: ARG002
        root = pem(self.sigstore.fulcio.authority.cert)
        return json_response({"chains": [{"certificates": [root]}]})

    def fulcio_root_cert(self, request: Request) -> Response:  # noqa: ARG002
        return Response(pem(self.sigstore.fulcio.authority.cert), mimetype="application/pem-certificate-chain")

    def rekor_create_entry(self, request: Request) -> Response:
        return json_response(self.sigstore.rekor.add(self._json(request)), 201)

    def rekor_get_entry(self, request: Request, uuid: str) -> Response:  # noqa: ARG002
        return json_response(self.sigstore.rekor.get(uuid))

    def rekor_log_info(self, request: Request) -> Response:  # noqa: ARG002
        return json_response(self.sigstore.rekor.log_info())

    def rekor_public_key(self, request: Request) -> Response:  # noqa: ARG002
        return Response(public_pem(self.sigstore.rekor.key.public_key()), mimetype="application/x-pem-file")
