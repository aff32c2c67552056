"""Serving the registry: a pytest-httpserver ``HTTPServer`` whose unmatched requests go to the registry.

Handlers a test registers (``expect_oneshot_request(...).respond_with_json(..., status=503)``) are
tried first: that is fault injection with the API pytest-httpserver users know. Everything else is
answered by the registry app.

Two things differ from a stock pytest-httpserver: the request log is bounded (it keeps every
request and response forever otherwise), and connections are kept alive (werkzeug's development
server closes every connection, which costs a TCP handshake and a thread per request).
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any, NamedTuple

from pytest_httpserver import HTTPServer
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.errors import cut
from pytest_npm_registry.domain.journal import Journal
from pytest_npm_registry.domain.policy import Policy
from pytest_npm_registry.domain.registry import Registry
from pytest_npm_registry.domain.storage import Storage

from .app import RegistryApp
from .control import ControlViews
from .egress import EgressProxy
from .faults import TRUNCATE_HEADER, Faults
from .responses import json_response
from .routes import RouteMatcher
from .settings import DEFAULT_MAX_BODY, Settings, check_max_body

DEFAULT_LOG_LIMIT = 200
#: ``request.environ`` key holding the :class:`JournalSpan` of an exchange in ``server.log``.
JOURNAL_SPAN_KEY = "npm_registry.journal_span"
#: Chunked bodies are read in parts of this size.
CHUNKED_READ = 1 << 16
#: Where the control API answers. It keeps at least ``DEFAULT_MAX_BODY`` as its body limit: a test
#: that set ``max_body`` small must still be able to raise it again.
CONTROL_PREFIX = "/-/_mock/api/"
#: Reason phrases as the public registry sends them, where Python's differ; npm prints the phrase
#: (``413 Payload Too Large - PUT ...``, npm/cli#4794), and Python renames it between versions.
_REASONS = {413: "Payload Too Large"}
#: Responses up to this size leave in the same write as their headers.
SMALL_RESPONSE = 64 * 1024
#: Idle keep-alive connections are closed after this many seconds.
IDLE_TIMEOUT = 30.0
#: How long the end of a test waits for requests still in flight (``RegistryServer.drain``).
DRAIN_TIMEOUT = 2.0
#: ``request.environ`` key: the server generation (``RegistryServer.generation``) a request began in.
GENERATION_KEY = "npm_registry.generation"


class _Request(Request):
    """A request that does not put itself into its environ (``environ["werkzeug.request"]``).

    That back-reference makes each request and its environ a reference cycle, which reference
    counting never frees: kept in the request log for 200 requests, each one reaches the oldest
    generation and waits there for a full collection (tens of ms with the GIL held).
    """

    def __init__(self, environ: Any, populate_request: bool = False, shallow: bool = False) -> None:
        super().__init__(environ, populate_request=populate_request, shallow=shallow)


class BoundedLog(list[tuple[Request, Response]]):
    """pytest-httpserver's ``log``, keeping only the newest ``limit`` exchanges."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def append(self, item: tuple[Request, Response]) -> None:
        super().append(item)
        # One out for each one in (a memmove of `limit` pointers): trimming in batches let ~15
        # objects per request pile up between trims, and that climb is what runs the collector.
        if len(self) > self.limit:
            del self[: len(self) - self.limit]


#: GET endpoints that change the registry: a download counts toward the unpublish rule's weekly
#: downloads; a done poll hands its token or one-time password out once.
_STATEFUL_GETS = frozenset({"npm.tarball", "npm.web_login_done", "npm.web_auth_done"})
_ROUTES = RouteMatcher()


def _changes_state(request: Request) -> bool:
    """Whether a request may have changed the registry, so storage must save before answering."""
    if request.method not in ("GET", "HEAD"):
        return True
    try:
        endpoint, _ = _ROUTES.match(request.path, "GET")
    except HTTPException:
        return False
    return endpoint in _STATEFUL_GETS


#: Request bodies larger than this are not kept in the request log: 200 logged 4 MiB bodies from
#: anonymous clients would be 800 MiB that stays (issue 19). The log keeps method, path, headers.
LOGGED_BODY_LIMIT = 16 * 1024
#: ``request.environ`` key: the size of a body the log dropped.
BODY_DROPPED_KEY = "npm_registry.body_dropped"


def _forget_large_body(request: Request) -> None:
    environ = request.environ
    size = int(environ.get("CONTENT_LENGTH") or 0)
    if size <= LOGGED_BODY_LIMIT:
        return
    environ["wsgi.input"] = io.BytesIO(b"")
    environ["CONTENT_LENGTH"] = "0"
    environ[BODY_DROPPED_KEY] = size
    for cached in ("_cached_data", "stream", "form", "files", "values", "_cached_json"):
        request.__dict__.pop(cached, None)


class JournalSpan(NamedTuple):
    """The journal entries one request produced: cursors ``start`` to ``end`` (``Journal.total``).

    Journal entries carry no HTTP method or path; this ties them to the request for the failure
    report. ``exact`` is false when another request overlapped this one (the span may mix both).
    """

    journal: Journal
    start: int
    end: int
    exact: bool


class _Handler(WSGIRequestHandler):
    """A keep-alive request handler: reads each body whole, then answers with a Content-Length."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # Headers and a large body go out in two writes; without TCP_NODELAY the second waits ~40 ms
    # for the client's delayed ACK (bench: 180 -> 3,700 GETs/s).
    disable_nagle_algorithm = True
    server: Any

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # werkzeug logs every request to stderr; the journal says more

    def log(self, type: str, message: str, *args: Any) -> None:
        pass

    def handle_expect_100(self) -> bool:
        # http.server answers ``100 Continue`` while parsing the headers, before anyone knows whether
        # the body will be read; ``_read_body`` sends it once the size and framing are accepted.
        return True

    def run_wsgi(self) -> None:
        if self.request_version == "HTTP/0.9":
            # ``GET /-/ping`` with no version: http.server takes it for HTTP/0.9 and keeps no headers
            # buffer, so writing an answer raised AttributeError. Answer in HTTP/1.0 and close.
            self.request_version = "HTTP/1.0"
            self.close_connection = True
            self._send(400, {"error": "Malformed request line: expected <METHOD> <path> HTTP/1.1"})
            return
        refusal = self._framing_refusal()
        if refusal is not None:
            self.close_connection = True  # the body's length is unknown: this connection is done
            self._send(400, {"error": refusal})
            return
        environ = self.environ = self.make_environ()
        if not self._read_body(environ):
            return

        status_line = "500 INTERNAL SERVER ERROR"
        headers: list[tuple[str, str]] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:  # noqa: ARG001
            nonlocal status_line, headers
            status_line, headers = status, response_headers
            return lambda _data: None

        try:
            chunks = self.server.app(environ, start_response)
            try:
                payload = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # a fault-injection handler raised: pytest-httpserver keeps it for check()
            self.close_connection = True
            self._send(500, {"error": f"internal error in the mock registry: {exc!r}"})
            return
        truncate = next((int(v) for k, v in headers if k.lower() == TRUNCATE_HEADER), None)
        if truncate is not None:
            self.close_connection = True  # the fault: announce the whole body, send part, hang up
            if truncate < 0:
                return  # hang up before the status line: the client sees a reset socket
        # Standard reason phrases ("Forbidden", not werkzeug's "FORBIDDEN"): npm prints them.
        code = int(status_line.split(" ", 1)[0])
        self.send_response(code, _REASONS.get(code))
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection", TRUNCATE_HEADER):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection and truncate is None:
            self.send_header("Connection", "close")
        body = b"" if self.command == "HEAD" else payload if truncate is None else payload[:truncate]
        if len(body) <= SMALL_RESPONSE:
            # One write for headers and body: one system call, one packet.
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()
        else:
            self.end_headers()
            self.wfile.write(body)

    def _framing_refusal(self) -> str | None:
        """Why the body's length cannot be trusted (RFC 9112 section 6), or None. A message with both
        Transfer-Encoding and Content-Length, several different lengths or a coding other than
        ``chunked`` is how one request is smuggled inside another."""
        lengths = self.headers.get_all("Content-Length") or []
        codings = self.headers.get_all("Transfer-Encoding") or []
        if codings and lengths:
            return "Both Transfer-Encoding and Content-Length: send one of them"
        if codings:
            coding = ",".join(codings).strip().lower()
            if coding != "chunked":
                return f"Unsupported Transfer-Encoding {cut(coding, 40)!r}: only chunked is accepted"
        values = {v.strip() for value in lengths for v in value.split(",")}
        if len(values) > 1:
            return "Conflicting Content-Length headers: send one length"
        return None

    def _read_body(self, environ: dict[str, Any]) -> bool:
        """Read the whole body into the environ, or answer 400 / 413 and return False."""
        declared = (environ.get("CONTENT_LENGTH") or "0").strip()
        if not (declared.isascii() and declared.isdigit()):
            # int() would raise (no answer, a traceback on stderr) or accept "-1" (read to EOF: hang).
            self.close_connection = True
            self._send(400, {"error": f"Invalid Content-Length header {declared[:40]!r}: expected a byte count"})
            return False
        length = int(declared)
        limit: int = self.server.max_body
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            limit = max(limit, DEFAULT_MAX_BODY)
        if length > limit:
            self.close_connection = True  # the body stays unread: this connection is done
            self._send(413, {"error": f"Request body of {length} bytes exceeds the {limit}-byte limit"})
            return False
        chunked = bool(environ.get("wsgi.input_terminated"))
        if (length or chunked) and self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # once, and only for a body we read
        if chunked:  # chunked upload
            # In parts: read(limit + 1) would allocate the whole limit up front (MemoryError at 1 TiB).
            parts: list[bytes] = []
            size = 0
            try:
                while part := environ["wsgi.input"].read(CHUNKED_READ):
                    size += len(part)
                    if size > limit:
                        self.close_connection = True
                        self._send(413, {"error": f"Request body exceeds the {limit}-byte limit"})
                        return False
                    parts.append(part)
            except (OSError, ValueError) as exc:  # a malformed chunk size or a truncated chunk
                self.close_connection = True
                self._send(400, {"error": f"Malformed chunked request body: {exc}"})
                return False
            body = b"".join(parts)
        else:
            body = self.rfile.read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        # The body is whole: werkzeug must not wrap (and copy) it again.
        environ["wsgi.input_terminated"] = True
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:  # noqa: ARG002
        # http.server refuses a malformed request line or an over-long header with an HTML page;
        # every answer of ours is JSON whose "error" npm can print.
        self.close_connection = True
        self._send(code, {"error": f"{code} {message or self.responses.get(code, ('Bad Request',))[0]}"})

    def _send(self, status: int, body: dict[str, str]) -> None:
        response = json_response(body, status)
        payload = response.get_data()
        self.send_response(status, _REASONS.get(status))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


class RegistryServer(HTTPServer):
    """A threaded loopback server: test-registered handlers first, then the registry."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        registry: Registry | None = None,
        log_limit: int = DEFAULT_LOG_LIMIT,
        max_body: int = DEFAULT_MAX_BODY,
        storage: Storage | None = None,
    ) -> None:
        super().__init__(host, port, threaded=True)
        self.registry = registry or Registry()
        self.app = RegistryApp(self.registry, self, on_internal_error=self.handler_errors_append)
        #: The switches tests and the control API flip; ``reset`` puts them back.
        self.settings = Settings(self.registry, self.app, self)
        #: Injected failures (``reg.faults``): handlers that run before the registry.
        self.faults = Faults(self, self.app, self.registry)
        self.app.mount("control", ControlViews(self.registry, self, self.app.admin))
        #: The clients' only way out: a loopback proxy serving the mock Sigstore, refusing the rest.
        self.egress = EgressProxy(self.registry, lambda: self.url)
        self.log_limit = log_limit
        self._max_body_override: int | None = None
        self.max_body = max_body
        #: With a storage, every request that may write is saved before it is answered.
        self.storage = storage
        self.log = BoundedLog(log_limit)
        self._span_lock = threading.Lock()
        self._idle = threading.Condition(self._span_lock)
        self._in_flight = 0
        self._started = 0
        #: Bumped by ``reset`` and ``drain``: a request started in an older generation (a test that
        #: ended while it was in flight) is answered without reaching the registry.
        self.generation = 0
        self.app.stale = self._stale

    @property
    def max_body(self) -> int:
        """This server's largest request body, in bytes; a larger one gets 413 before it is read."""
        return self._max_body

    @max_body.setter
    def max_body(self, value: int) -> None:
        self._max_body = check_max_body(value)
        self._apply_body_limit()

    @property
    def max_body_override(self) -> int | None:
        """A limit that stands in for ``max_body`` until set back to None: what one test sets
        (``NpmRegistry.max_body``) without changing the server the session shares."""
        return self._max_body_override

    @max_body_override.setter
    def max_body_override(self, value: int | None) -> None:
        self._max_body_override = None if value is None else check_max_body(value)
        self._apply_body_limit()

    @property
    def body_limit(self) -> int:
        """The limit in force: the override if there is one, else ``max_body``."""
        return self._max_body if self._max_body_override is None else self._max_body_override

    def _apply_body_limit(self) -> None:
        if self.server is not None:  # running: the request handler reads it from the socket server
            self.server.max_body = self.body_limit  # type: ignore[attr-defined]

    def handler_errors_append(self, exc: Exception) -> None:
        self.handler_errors.append(exc)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``: the registry URL npm is configured with."""
        return self.url_for("/")

    def start(self) -> None:
        if self.is_running():
            return
        wsgi = _Request.application(self.application)
        self.server = make_server(self.host, self.port, wsgi, threaded=True, request_handler=_Handler)
        self.server.max_body = self.body_limit  # type: ignore[attr-defined]
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self.port = self.server.port
        self.server_thread = threading.Thread(target=self.thread_target, name="npm-registry", daemon=True)
        self.server_thread.start()
        self.egress.start()

    def stop(self) -> None:
        # The egress proxy's servers stop while the registry's does: each waits out a poll.
        egress = threading.Thread(target=self.egress.stop, name="npm-registry-egress-stop")
        egress.start()
        super().stop()
        egress.join()

    def thread_target(self) -> None:
        # pytest-httpserver polls for shutdown every 0.5 s; stop() should not cost that long.
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)

    def clear_log(self) -> None:
        self.log = BoundedLog(self.log_limit)

    def _stale(self, request: Request) -> bool:
        started = request.environ.get(GENERATION_KEY)
        return started is not None and started != self.generation

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> tuple[int, int, float]:
        """Wait up to ``timeout`` seconds for requests in flight to finish (the end of a test).

        Returns (requests that were in flight, requests still running when the wait ended, seconds
        waited). Those still running are cut: the generation moves on, so when they reach the
        registry they are answered 410 and change nothing (they must not land in the next test).
        """
        began = time.monotonic()
        with self._idle:
            busy = self._in_flight
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)
            left = self._in_flight
            if left:
                self.generation += 1
        return busy, left, time.monotonic() - began

    def reset(self, policy: str | Policy | None = None) -> None:
        """Back to an empty registry: no faults or test handlers, an empty request log, and the
        settings at their defaults (or what ``configure(..., keep=True)`` set)."""
        with self._span_lock:
            self.generation += 1  # what is still in flight belonged to the state being dropped
        self.registry.reset(policy or self.registry.policy)
        # Not clear(): errors raised in the server thread stay for the test's check().
        self.clear_all_handlers()
        self.permanently_failed = False  # an ordered handler's failure goes with the handlers
        self.clear_log()
        self.egress.clear()
        self.settings.reset()

    def application(self, request: Request) -> Response:
        journal = self.registry.journal
        with self._span_lock:
            self._in_flight += 1
            self._started += 1
            start, started, alone = journal.total, self._started, self._in_flight == 1
            request.environ[GENERATION_KEY] = self.generation
        try:
            response = self.dispatch(request)
            if self.storage is not None and _changes_state(request):
                # Durable before the answer leaves: an acknowledged write survives a crash.
                self.storage.save(self.registry)
        finally:
            with self._span_lock:
                self._in_flight -= 1
                exact = alone and self._started == started
                end = journal.total
                if self._in_flight == 0:
                    self._idle.notify_all()
        request.environ[JOURNAL_SPAN_KEY] = JournalSpan(journal, start, end, exact)
        _forget_large_body(request)
        self.log.append((request, response))
        return response

    def dispatch(self, request: Request) -> Response:
        if self.permanently_failed or self._has_handler_for(request):
            return super().dispatch(request)
        return self.app(request)

    def respond_nohandler(self, request: Request, extra_message: str = "") -> Response:  # noqa: ARG002
        # A one-shot handler can be taken by another thread between our check and pytest-httpserver's
        # own match: the request then belongs to the registry, not to a "no handler" failure.
        return self.app(request)

    def _has_handler_for(self, request: Request) -> bool:
        if self.ordered_handlers and self.ordered_handlers[0].matcher.match(request):
            return True
        if self.oneshot_handlers and self.oneshot_handlers.match(request):
            return True
        return bool(self.handlers) and self.handlers.match(request) is not None
