"""The only way out for a client the fixture runs: a loopback proxy that goes nowhere.

Every client run gets ``HTTPS_PROXY``/``HTTP_PROXY`` pointing here (``NO_PROXY`` keeps the registry
direct). A ``CONNECT`` to one of Sigstore's public names is relayed to our own TLS server, which
presents a certificate for that name from a local CA (Node trusts it through
``NODE_EXTRA_CA_CERTS``) and serves the mock Fulcio and Rekor, and the registry's own TUF
repository in place of Sigstore's (``npm audit signatures`` reads it first). Any other host gets ``403`` with a
reason and nothing else: no public name is ever resolved, no socket leaves loopback. The proxy's
client (``https-proxy-agent``, under make-fetch-happen) sends the target name in ``CONNECT`` and
does not resolve it itself.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from pytest_npm_registry.domain.sigstore import SIGSTORE_HOSTS, TUF_HOST, Authority, pem
from pytest_npm_registry.domain.tuf import TUF_CACHE_DIR

from .sigstore import SigstoreApp
from .tuf import TufApp

if TYPE_CHECKING:
    from pytest_npm_registry.domain.registry import Registry

#: The request line and headers of a proxy request may not exceed this.
MAX_HEAD = 8192
RELAY_CHUNK = 1 << 16
HTTPS_PORT = 443


class Connect(NamedTuple):
    """One request the proxy saw: the host it was asked for, and whether it was served."""

    method: str
    host: str
    port: int
    allowed: bool


#: Hosts a client reaches directly, never through the proxy (``NO_PROXY``, npm's ``noproxy``).
LOOPBACK = "127.0.0.1,localhost,::1"
#: sigstore-js's own data folder under HOME (``appDataPath('sigstore-js')`` without XDG_DATA_HOME).
SIGSTORE_JS_DATA = Path(".local/share/sigstore-js")


class _QuietHandler(WSGIRequestHandler):
    #: A client that connects and stalls (mid-handshake or mid-request) holds only its own thread.
    timeout = 30

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: ARG002 - werkzeug's signature
        return


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                chunk = sock.recv(4096)
            except OSError:  # a client that stalls 30 s, or resets: nothing to answer, no traceback
                return
            if not chunk:
                return
            head += chunk
            if len(head) > MAX_HEAD:
                self._refuse(sock, 431, "request head too large")
                return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = line.partition(" ")
        target = rest.rsplit(" ", 1)[0]
        host, port = _target(method, target)
        allowed = method == "CONNECT" and host in SIGSTORE_HOSTS and port == HTTPS_PORT
        self.server.egress.record(Connect(method[:10], host[:100], port, allowed))
        if not allowed:
            self._refuse(
                sock,
                403,
                f"pytest-npm-registry: {host[:100]}:{port} is not reachable from a test (nothing leaves this"
                f" machine; only {', '.join(SIGSTORE_HOSTS)} are served, by the mock Sigstore)",
            )
            return
        with socket.create_connection(("127.0.0.1", self.server.egress.tls_port), timeout=30) as upstream:
            sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest_of_head = head.split(b"\r\n\r\n", 1)[1]
            if rest_of_head:
                upstream.sendall(rest_of_head)
            _relay(sock, upstream)

    @staticmethod
    def _refuse(sock: socket.socket, status: int, reason: str) -> None:
        # https-proxy-agent hands a refused CONNECT's answer to the request as its response, so
        # npm prints it like a registry error: JSON with ``error`` (npm 11) and ``message``.
        body = json.dumps({"error": reason, "message": reason}).encode()
        phrase = {403: "Forbidden", 431: "Request Header Fields Too Large"}[status]
        with contextlib.suppress(OSError):
            sock.sendall(
                f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + body
            )


def _target(method: str, target: str) -> tuple[str, int]:
    """``host, port`` of ``CONNECT host:port`` or of ``GET http://host[:port]/...``."""
    if method != "CONNECT":
        target = target.split("://", 1)[-1].split("/", 1)[0]
    # ASCII digits only: "²".isdigit() is True and int("²") raises.
    tail = target.rpartition(":")[2]
    host, _, port = target.rpartition(":") if tail.isascii() and tail.isdigit() else (target, "", "")
    return host.strip("[]").lower(), int(port) if port else (443 if method == "CONNECT" else 80)


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes (plain sockets: TLS ends at our server)."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(RELAY_CHUNK):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True, name="egress-relay")
    other.start()
    pump(a, b)
    other.join(timeout=30)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, egress: EgressProxy) -> None:
        self.egress = egress
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class EgressProxy:
    """The loopback proxy and the TLS server behind it, started with the registry server."""

    def __init__(self, registry: Registry, registry_url: Callable[[], str]) -> None:
        self.registry = registry
        self.app = SigstoreApp(registry.sigstore)
        #: The TUF repository under Sigstore's name, listing this registry's keys.
        self.tuf = TufApp(registry, registry_url)
        #: What clients asked the proxy for, newest last (bounded).
        self.log: deque[Connect] = deque(maxlen=500)
        self._lock = threading.Lock()
        self._proxy: _ProxyServer | None = None
        self._tls: BaseWSGIServer | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: Path | None = None

    def record(self, connect: Connect) -> None:
        with self._lock:
            self.log.append(connect)

    def connects(self) -> list[Connect]:
        with self._lock:
            return list(self.log)

    def clear(self) -> None:
        """Forget what was asked (the server's ``reset``: each test sees its own runs)."""
        with self._lock:
            self.log.clear()
            self.app.requests.clear()
            self.tuf.requests.clear()
            self.tuf.registry_keys = True

    @property
    def url(self) -> str:
        assert self._proxy is not None, "EgressProxy.start() first"
        return f"http://127.0.0.1:{self._proxy.server_address[1]}/"

    @property
    def tls_port(self) -> int:
        assert self._tls is not None
        return int(self._tls.port)

    def client_env(self) -> dict[str, str]:
        """What a client process needs to go through us: the proxy in every spelling Node's
        agents read (``@npmcli/agent`` lower-cases the names) and our CA for the TLS end."""
        names = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "npm_config_proxy", "npm_config_https_proxy")
        # npm's own requests follow its config (``npm_config_*`` outranks the user .npmrc);
        # Sigstore's client and other Node tools read the standard variables. Node's own
        # ``fetch`` ignores them unless NODE_USE_ENV_PROXY is set (Node 22.21+/24; older Nodes
        # ignore the variable): npm 12's TUF client fetches with it, and without this
        # `npm audit signatures` on npm 12 resolves tuf-repo-cdn.sigstore.dev itself.
        return {
            **dict.fromkeys(names, self.url),
            "NODE_EXTRA_CA_CERTS": str(self.ca_file),
            "NODE_USE_ENV_PROXY": "1",
        }

    @property
    def tuf_root_file(self) -> Path:
        """Our TUF root as a file, for scripts outside Python (``serve`` prints where it goes):
        what :meth:`seed_tuf_cache` writes. Made when first asked: the TUF keys cost a start that
        never audits about 50 ms."""
        assert self._dir is not None, "EgressProxy.start() first"
        path = Path(self._dir.name) / "tuf-root.json"
        if not path.is_file():
            path.write_bytes(self.registry.tuf.root())
        return path

    def script_env(self, registry_url: str) -> dict[str, str]:
        """What a script is given (``reg.ci_env()``, ``serve``): :meth:`client_env`'s standard
        variables, not npm's ``npm_config_*proxy`` (they would outrank the script's own
        ``~/.npmrc``), and ``NO_PROXY`` keeping the registry direct."""
        host = urlsplit(registry_url).hostname or ""
        direct = LOOPBACK if host in LOOPBACK.split(",") else f"{LOOPBACK},{host}"
        standard = {k: v for k, v in self.client_env().items() if not k.startswith("npm_config_")}
        return {**standard, "NO_PROXY": direct, "no_proxy": direct}

    def seed_tuf_cache(self, npm_cache: Path, data_home: Path | None = None) -> Path:
        """Put our TUF root where npm's TUF client looks first (``<npm cache>/_tuf/<mirror>/root.json``):
        seen there, it is trusted instead of the production root ``@sigstore/tuf`` embeds, which
        would make npm refuse every metadata file of ours. With ``data_home`` (``$XDG_DATA_HOME``,
        else ``~/.local/share``), also where sigstore-js keeps its own cache when npm calls it
        without options (``publish --provenance-file``: libnpmpublish's ``sigstore.verify(bundle)``
        reads ``<data_home>/sigstore-js``). Returns npm's file."""
        data = self.registry.tuf.root()
        targets = [npm_cache / TUF_CACHE_DIR / "root.json"]
        if data_home is not None:
            targets.append(data_home / "sigstore-js" / TUF_HOST / "root.json")
        for root in targets:
            if not root.is_file() or root.read_bytes() != data:
                root.parent.mkdir(parents=True, exist_ok=True)
                root.write_bytes(data)
        return targets[0]

    def start(self) -> None:
        if self._proxy is not None:
            return
        now = self.registry.clock.now()
        # The TLS names' CA is the proxy's own, not Fulcio's: a client trusting it for HTTPS
        # must not thereby trust it as a code-signing root.
        authority = Authority.create("pytest-npm-registry egress CA", "pytest-npm-registry", now)
        cert, key = authority.issue_tls(SIGSTORE_HOSTS, now)
        self._dir = tempfile.TemporaryDirectory(prefix="npm-registry-egress-")
        folder = Path(self._dir.name)
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_text(pem(authority.cert))
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - only when serving

        (folder / "server.pem").write_text(pem(cert))
        encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
        (folder / "server.key").write_bytes(key.private_bytes(encoding, private, serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "server.pem", folder / "server.key")
        self._tls = tls = make_server("127.0.0.1", 0, self._by_host, threaded=True, request_handler=_QuietHandler)
        # Wrapped here rather than by werkzeug (``ssl_context=``), which handshakes inside
        # accept(): one connection that never sends its ClientHello would stop the mock Sigstore
        # for everybody. Without the handshake on accept, OpenSSL does it on the first read, in
        # the connection's own thread.
        tls.socket = context.wrap_socket(tls.socket, server_side=True, do_handshake_on_connect=False)
        tls.ssl_context = context  # werkzeug's handler then says wsgi.url_scheme = https
        tls.daemon_threads = True  # type: ignore[attr-defined]
        self._proxy = proxy = _ProxyServer(self)
        for name, server in (("sigstore", tls), ("egress", proxy)):
            poll = {"poll_interval": 0.05}
            threading.Thread(target=server.serve_forever, kwargs=poll, daemon=True, name=name).start()

    def _by_host(self, environ: dict[str, Any], start_response: Any) -> Any:
        # One TLS server for every name (its certificate lists them all): the Host header decides.
        host = str(environ.get("HTTP_HOST", "")).split(":", 1)[0].lower()
        app = self.tuf if host == TUF_HOST else self.app
        return app(environ, start_response)

    def stop(self) -> None:
        servers = [server for server in (self._proxy, self._tls) if server is not None]
        # Both at once: each shutdown() waits out its serve_forever's poll interval, and one
        # after the other that was 100 ms of every registry's close.
        stoppers = [threading.Thread(target=server.shutdown) for server in servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in servers:
            server.server_close()
        self._proxy = self._tls = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
