"""Fault injection with names: ``reg.faults.fail_publishes(2, status=503)`` instead of handler plumbing.

Every fault is a rule in one chain, served by a single pytest-httpserver permanent handler that
matches every request. A rule either answers by itself (a 503, a 429) or passes the request on to
the next rule and finally to the registry, and may act on the answer (close the connection half
way, advance the clock). Handlers a test registers itself with pytest-httpserver's own API
(``expect_oneshot_request`` ...) still come first, as pytest-httpserver users expect.

npm retries 5xx and 429 answers (``fetch-retries``, 10 s back-off by default); ``reg.npm`` turns
that off (``fetch-retries=0``), so a fault fails the npm run at once. Tools you run with
``reg.env()`` get the same settings through the user config it writes.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from pytest_httpserver import HTTPServer
from pytest_httpserver.httpserver import METHOD_ALL, RequestHandler
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.attestations import PUBLISH_PREDICATE_TYPE
from pytest_npm_registry.domain.clock import check_span
from pytest_npm_registry.domain.errors import UsageError
from pytest_npm_registry.domain.registry import Registry
from pytest_npm_registry.domain.sigstore import FULCIO_HOST, REKOR_HOST, foreign_signature

from .app import RegistryApp
from .responses import json_response
from .routes import RouteMatcher
from .sigstore import SigstoreApp

#: ``request.environ`` key naming the fault that acted on a request (read by the failure report).
FAULT_KEY = "npm_registry.fault"

Next = Callable[[Request], Response]
PathMatch = str | re.Pattern[str] | None


_ROUTES = RouteMatcher()

#: A response header a fault-injection handler sets to have the connection closed after that many
#: body bytes (the full Content-Length is announced first), or before the status line when
#: negative: a connection dropped mid-response. Never sent.
TRUNCATE_HEADER = "x-npm-registry-truncate-after"


def route_of(request: Request) -> tuple[str | None, dict[str, Any]]:
    """The route table's endpoint for ``request`` and its values (``None, {}`` when no route takes it)."""
    try:
        endpoint, values = _ROUTES.match(request.path, request.method)
    except HTTPException:
        return None, {}
    return endpoint, values


def published_name(request: Request) -> str | None:
    """The package of ``PUT /<name>`` or ``PUT /@scope/name`` (what the route table sends to the
    publish endpoint); None for any other request."""
    endpoint, values = route_of(request)
    return str(values["name"]) if request.method == "PUT" and endpoint == "npm.package" else None


def endpoint_of(request: Request) -> str | None:
    """The route table's endpoint for ``request`` (None when no route takes it)."""
    return route_of(request)[0]


def is_publish(request: Request) -> bool:
    return published_name(request) is not None


@dataclass(eq=False)
class Fault:
    """One injected fault. ``hits`` counts the requests it acted on; ``remaining`` is ``None`` for
    a fault that never runs out."""

    label: str
    remaining: int | None
    matches: Callable[[Request], bool]
    handle: Callable[[Request, Next], Response]
    hits: int = 0
    #: A fault of the mock Sigstore's requests (Fulcio, Rekor), not of the registry's.
    sigstore: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claim(self, request: Request) -> bool:
        """Take one use of this fault for ``request`` if it applies (thread-safe)."""
        if not self.matches(request):
            return False
        with self._lock:
            if self.remaining is not None:
                if self.remaining <= 0:
                    return False
                self.remaining -= 1
            self.hits += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


def _matcher(
    method: str | None, path: PathMatch, extra: Callable[[Request], bool] | None = None
) -> Callable[[Request], bool]:
    def matches(request: Request) -> bool:
        if method is not None and request.method != method.upper():
            return False
        if isinstance(path, str) and request.path != path:
            return False
        if isinstance(path, re.Pattern) and not path.search(request.path):
            return False
        return extra is None or extra(request)

    return matches


def mark(request: Request, label: str) -> None:
    """Note on the request that a fault acted on it: the failure report shows it beside the line."""
    request.environ.setdefault(FAULT_KEY, []).append(label)


def _error(status: int, message: str | None, retry_after: float | None) -> Response:
    phrase = _phrase(status)
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return json_response({"error": message or f"{phrase} (fault injected by the test)"}, status, headers)


#: The longest ``delay``: an hour is slower than any registry a client would wait for.
MAX_DELAY = 3600.0


@dataclass(frozen=True)
class SigstoreStep:
    """A signing step npm's Sigstore client takes: the host and the request a fault acts on."""

    name: str
    host: str
    path: str

    def matches(self, request: Request) -> bool:
        return request.method == "POST" and request.path == self.path and request.host.split(":", 1)[0] == self.host


#: Fulcio's certificate and Rekor's log entry (``@sigstore/sign``: ``ca.js``, ``tlog/client.js``).
FULCIO = SigstoreStep("fulcio", FULCIO_HOST, "/api/v2/signingCert")
REKOR = SigstoreStep("rekor", REKOR_HOST, "/api/v1/log/entries")
#: How long a Sigstore timeout fault holds a request by default: longer than a test waits.
HOLD = 60.0


class Faults:
    """The faults injected into one registry; reach it as ``reg.faults``.

    Faults last until they run out (``times``) or the registry is reset, which drops them all.
    """

    def __init__(self, server: HTTPServer, app: RegistryApp, registry: Registry) -> None:
        self._server = server  # its handlers carry the faults: they run before the registry
        self._app = app
        self._registry = registry
        self._rules: list[Fault] = []
        self._lock = threading.Lock()
        self._handler: RequestHandler | None = None

    # -- the chain ---------------------------------------------------------------------------------

    def _add(self, fault: Fault) -> Fault:
        if fault.remaining is not None:  # times=0 would be a fault that never acts, accepted silently
            _positive(fault.remaining, "times")
        with self._lock:
            if self._handler is None or self._handler not in self._server.handlers:
                # First fault, or the registry was reset (server.clear() dropped our handler).
                self._rules = []
                self._handler = self._server.expect_request(re.compile(""), method=METHOD_ALL)
                self._handler.respond_with_handler(self._dispatch)
            self._rules.append(fault)
        return fault

    def _dispatch(self, request: Request) -> Response:
        with self._lock:
            rules = [rule for rule in self._rules if not rule.sigstore]
        return self._run(rules, 0, request, self._app)

    def _dispatch_sigstore(self, request: Request, serve: Next) -> Response:
        """The Sigstore app's intercept: its own faults, then its routes (``serve``)."""
        with self._lock:
            live = self._handler is not None and self._handler in self._server.handlers
            rules = [rule for rule in self._rules if rule.sigstore] if live else []
        return self._run(rules, 0, request, serve)

    def _run(self, rules: list[Fault], index: int, request: Request, serve: Next) -> Response:
        for position in range(index, len(rules)):
            rule = rules[position]
            if rule.claim(request):
                return rule.handle(request, self._next(rules, position + 1, serve))
        return serve(request)

    def _next(self, rules: list[Fault], index: int, serve: Next) -> Next:
        return lambda request: self._run(rules, index, request, serve)

    def _in_force(self, fault: Fault) -> bool:
        """Not cleared, and the registry not reset, since ``fault`` was added."""
        with self._lock:
            return fault in self._rules and self._handler is not None and self._handler in self._server.handlers

    @property
    def active(self) -> list[Fault]:
        """The faults still in force, in the order they are tried."""
        with self._lock:
            if self._handler is None or self._handler not in self._server.handlers:
                return []
            return [rule for rule in self._rules if not rule.exhausted]

    def clear(self) -> None:
        """Remove every injected fault; requests go straight to the registry again."""
        with self._lock:
            self._rules = []

    # -- the faults --------------------------------------------------------------------------------

    def fail_publishes(
        self,
        times: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        error: str | None = None,
        package: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` publishes (of ``package``, or of any package) with ``status``
        and a JSON ``error``, plus ``Retry-After`` if given. The registry never sees them."""
        _positive(times, "times")

        def extra(request: Request) -> bool:
            return (name := published_name(request)) is not None and package in (None, name)

        label = f"fail_publishes status={status}" + (f" package={package}" if package else "")

        def handle(request: Request, _forward: Next) -> Response:
            mark(request, label)
            return _error(status, error, retry_after)

        return self._add(Fault(label, times, extra, handle))

    def fail_requests(
        self,
        times: int = 1,
        *,
        method: str | None = None,
        path: PathMatch = None,
        status: int = 503,
        retry_after: float | None = None,
        error: str | None = None,
    ) -> Fault:
        """Like :meth:`fail_publishes` for any request: ``path`` is exact (``/-/whoami``) or a regex."""
        _positive(times, "times")
        label = f"fail_requests {method or '*'} {_describe(path)} status={status}"

        def handle(request: Request, _forward: Next) -> Response:
            mark(request, label)
            return _error(status, error, retry_after)

        return self._add(Fault(label, times, _matcher(method, path), handle))

    def delay(
        self, seconds: float, *, method: str | None = None, path: PathMatch = None, times: int | None = None
    ) -> Fault:
        """Hold matching requests ``seconds`` before the registry answers (a slow registry); every
        request unless ``method`` / ``path`` / ``times`` narrow it."""
        if not (0 <= seconds <= MAX_DELAY):  # NaN fails too: time.sleep would raise in the server thread
            raise UsageError(f"delay(seconds={seconds}): give a latency from 0 to {MAX_DELAY:g} seconds")

        label = f"delay {seconds:g}s"

        def handle(request: Request, forward: Next) -> Response:
            mark(request, label)
            time.sleep(seconds)
            return forward(request)

        return self._add(Fault(label, times, _matcher(method, path), handle))

    def drop_connection(
        self, times: int = 1, *, method: str | None = None, path: PathMatch = None, after_bytes: int | None = None
    ) -> Fault:
        """Let the registry act on the request, then hang up: before the status line (default; npm
        sees a reset socket), or after announcing the whole body and sending ``after_bytes`` of it
        (a truncated packument). What a proxy or load balancer dying mid-response looks like.

        The registry has acted (a publish is stored), so this also tests what a release script
        does when it cannot know whether its write went through."""
        _positive(times, "times")
        if after_bytes is not None and after_bytes < 0:
            raise UsageError(f"after_bytes={after_bytes}: give a byte count, or None to hang up before any byte")
        label = "drop_connection " + ("before the response" if after_bytes is None else f"after {after_bytes} bytes")

        def handle(request: Request, forward: Next) -> Response:
            response = forward(request)
            mark(request, label)
            response.headers[TRUNCATE_HEADER] = str(-1 if after_bytes is None else after_bytes)
            return response

        return self._add(Fault(label, times, _matcher(method, path), handle))

    def throttle_otp_failures(self, after: int, *, retry_after: float = 60, status: int = 429) -> Fault:
        """After ``after`` requests whose OTP the registry refused (401 with an ``npm-otp`` header),
        answer every later request that carries an OTP with ``status`` (429 Too Many Requests) and
        ``Retry-After``, as a registry rate-limiting OTP guesses would."""
        _positive(after, "after")
        failures = 0
        lock = threading.Lock()

        def handle(request: Request, forward: Next) -> Response:
            nonlocal failures
            with lock:
                throttled = failures >= after
            if throttled:
                mark(request, f"throttle_otp_failures: {after} OTP failures, throttled")
                return _error(status, f"Too many failed one-time passwords: retry in {retry_after:g} s", retry_after)
            response = forward(request)
            if response.status_code == 401:
                with lock:
                    failures += 1
                    count = failures
                mark(request, f"throttle_otp_failures: OTP failure {count} of {after}")
            return response

        return self._add(Fault(f"throttle_otp_failures after={after}", None, lambda r: "npm-otp" in r.headers, handle))

    def advance_clock_after_publish(self, seconds: float, *, times: int | None = None) -> Fault:
        """Move the registry clock ``seconds`` forward after each publish the registry answers: a
        monorepo release publishing package after package with one ``--otp`` outlives the code."""
        check_span(seconds, "advance_clock_after_publish")

        def handle(request: Request, forward: Next) -> Response:
            response = forward(request)
            if self._app.stale(request):
                return response  # its test ended: the next test's clock is not this fault's
            self._registry.clock.advance(seconds)
            mark(request, f"then clock +{seconds:g}s")
            return response

        return self._add(Fault(f"advance_clock_after_publish {seconds:g}s", times, is_publish, handle))

    def visibility_delay(self, low: float, high: float, *, times: int | None = None, seed: int | None = None) -> Fault:
        """Each publish (``npm publish``, ``npm stage approve``) becomes visible after a delay
        drawn between ``low`` and ``high`` seconds of registry time, as the public registry's
        read path lags its write path: a monorepo that installs what it just published meets it
        at random. ``seed`` makes the draws repeatable."""
        if not (0 <= low <= high <= 365 * 86400):
            raise UsageError(f"visibility_delay({low!r}, {high!r}): 0 <= low <= high <= one year, in seconds")
        rng = random.Random(seed)  # noqa: S311 - a test's repeatable draws, not a secret
        state = self._registry.state

        def handle(request: Request, forward: Next) -> Response:
            delay = rng.uniform(low, high)
            with self._registry.exclusive():  # the publish runs in this thread, under this lock
                before, state.visibility_delay = state.visibility_delay, delay
                try:
                    response = forward(request)
                finally:
                    state.visibility_delay = before
            mark(request, f"visible after {delay:.1f}s")
            return response

        def claims(request: Request) -> bool:
            return is_publish(request) or endpoint_of(request) == "npm.stage_approve"

        return self._add(Fault(f"visibility_delay {low:g}-{high:g}s", times, claims, handle))

    def tamper_signature(self, name: str, version: str, *, times: int | None = None) -> Fault:
        """Serve ``name@version`` with a registry signature that does not verify, as a mirror or
        proxy that altered the package would: its ``dist.signatures[].sig`` in the packument
        (both shapes) and in ``GET /<name>/<version>`` becomes the registry key's signature over
        another integrity. ``npm audit signatures`` then reports ``1 package has an invalid
        registry signature:`` and exits 1 (pacote's ``EINTEGRITYSIGNATURE``); ``npm install`` does
        not check signatures and still installs. The stored package and its keys are untouched."""
        label = f"tamper_signature {name}@{version}"
        signer = self._registry.signatures
        forged = signer.sign(name, version, "sha512-tampered")

        def extra(request: Request) -> bool:
            endpoint, values = route_of(request)
            return endpoint in ("npm.package", "npm.version") and request.method == "GET" and values["name"] == name

        def handle(request: Request, forward: Next) -> Response:
            response = forward(request)
            if response.status_code != 200:
                return response
            doc = json.loads(response.get_data())
            manifest = doc.get("versions", {}).get(version) if "versions" in doc else doc
            if not isinstance(manifest, dict) or manifest.get("version") != version:
                return response
            for signature in manifest.get("dist", {}).get("signatures", []):
                signature["sig"] = forged
            response.set_data(json.dumps(doc).encode())
            mark(request, label)
            return response

        return self._add(Fault(label, times, extra, handle))

    def tamper_attestation(self, name: str, version: str, *, kind: str = "publish", times: int | None = None) -> Fault:
        """Serve ``name@version``'s attestations (``GET /-/npm/v1/attestations/<name>@<version>``)
        with one whose DSSE envelope another key signed: ``kind="publish"`` the registry's own
        publish attestation, ``"provenance"`` the client's SLSA bundle. The log entry no longer
        matches the envelope, so ``npm audit signatures`` exits 1 with ``1 package has an invalid
        attestation:`` (pacote's ``EATTESTATIONVERIFY``, ``tlog entry signature mismatch``). The
        stored bundles are untouched."""
        if kind not in ("publish", "provenance"):
            raise UsageError(f"tamper_attestation(kind={kind!r}): give 'publish' or 'provenance'")
        label = f"tamper_attestation {kind} {name}@{version}"

        def extra(request: Request) -> bool:
            endpoint, values = route_of(request)
            return endpoint == "npm.attestations" and values["spec"] == f"{name}@{version}"

        def handle(request: Request, forward: Next) -> Response:
            response = forward(request)
            if response.status_code != 200:
                return response
            doc = json.loads(response.get_data())
            for attestation in doc.get("attestations", []):
                is_publish = attestation.get("predicateType") == PUBLISH_PREDICATE_TYPE
                if is_publish == (kind == "publish"):
                    envelope = attestation["bundle"]["dsseEnvelope"]
                    envelope["signatures"][0]["sig"] = foreign_signature(envelope)
            response.set_data(json.dumps(doc).encode())
            mark(request, label)
            return response

        return self._add(Fault(label, times, extra, handle))

    # -- the mock Sigstore's steps: Fulcio's certificate, Rekor's log entry ------------------------------

    def fulcio(self, times: int = 1, *, status: int = 500, message: str | None = None) -> Fault:
        """Fulcio refuses the next ``times`` signing-certificate requests (``POST
        /api/v2/signingCert``) with ``status`` and a JSON ``message``: npm prints
        ``error creating signing certificate - (<status>) <message>`` and publishes nothing."""
        return self._sigstore_error(FULCIO, times, status, message)

    def rekor(self, times: int = 1, *, status: int = 500, message: str | None = None) -> Fault:
        """Rekor refuses the next ``times`` new log entries (``POST /api/v1/log/entries``): npm
        prints ``error creating tlog entry - (<status>) <message>`` and publishes nothing."""
        return self._sigstore_error(REKOR, times, status, message)

    def fulcio_timeout(self, times: int = 1, *, seconds: float = HOLD) -> Fault:
        """Fulcio does not answer a signing-certificate request for ``seconds`` (see :meth:`rekor_timeout`)."""
        return self._sigstore_hold(FULCIO, times, seconds)

    def rekor_timeout(self, times: int = 1, *, seconds: float = HOLD) -> Fault:
        """Rekor does not answer a new log entry for ``seconds``, then says ``504``. npm's Sigstore
        client waits npm's ``fetch-timeout`` (5 minutes by default) and does not retry with
        ``fetch-retries=0``: give npm ``--fetch-timeout=1000`` to see its own timeout in a second
        (``error creating tlog entry``, cause ``network timeout at: ...``). A reset or
        :meth:`clear` lets a held request go at once."""
        return self._sigstore_hold(REKOR, times, seconds)

    def _sigstore_error(self, step: SigstoreStep, times: int, status: int, message: str | None) -> Fault:
        _positive(times, "times")
        if not 400 <= status <= 599:
            raise UsageError(f"{step.name}(status={status}): give an error status, 400 to 599")
        label = f"{step.name} status={status}"

        def handle(request: Request, _forward: Next) -> Response:
            mark(request, label)
            # Fulcio's and Rekor's error body: ``@sigstore/sign`` prints its ``message``.
            text = message[:300] if message else f"{_phrase(status)} (fault injected by the test)"
            return json_response({"code": status, "message": text}, status)

        return self._add_sigstore(Fault(label, times, step.matches, handle, sigstore=True))

    def _sigstore_hold(self, step: SigstoreStep, times: int, seconds: float) -> Fault:
        _positive(times, "times")
        if not (0 <= seconds <= MAX_DELAY):
            raise UsageError(f"{step.name}_timeout(seconds={seconds}): give a hold from 0 to {MAX_DELAY:g} seconds")
        label = f"{step.name}_timeout {seconds:g}s"
        fault: Fault

        def handle(request: Request, _forward: Next) -> Response:
            mark(request, label)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and self._in_force(fault):
                time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
            # What a gateway in front of a hung service answers, if the client is still there.
            return json_response({"code": 504, "message": "Gateway Timeout (fault injected by the test)"}, 504)

        fault = Fault(label, times, step.matches, handle, sigstore=True)
        return self._add_sigstore(fault)

    def _add_sigstore(self, fault: Fault) -> Fault:
        # The server builds its egress proxy, whose TLS end serves the mock Sigstore, after its
        # faults, and server.py imports this module: reach the app through the server.
        app = getattr(getattr(self._server, "egress", None), "app", None)
        if not isinstance(app, SigstoreApp):
            raise UsageError("Sigstore faults need a RegistryServer: its egress proxy serves the mock Sigstore")
        app.intercept = self._dispatch_sigstore
        return self._add(fault)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _positive(value: int, name: str) -> None:
    if value < 1:
        raise UsageError(f"{name}={value}: give a count of at least 1")


def _describe(path: PathMatch) -> str:
    if path is None:
        return "*"
    return path if isinstance(path, str) else f"/{path.pattern}/"
