"""What the wire needs of the server that runs it: the narrow ``Host`` protocol.

Pages and the control API read the server's request log and the admin token through this, never
through the Python facade; :class:`~pytest_npm_registry.wire.server.RegistryServer` implements it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from .parsing import bearer

#: The dashboard cookie's name; the server's port follows it (``npm_registry_dashboard_4873``):
#: cookies carry no port, so two servers on one host must not read each other's.
COOKIE = "npm_registry_dashboard"
#: The shortest admin token a server accepts: it is all that keeps a shared CI network from
#: resetting someone's registry, so no "a" or "test".
MIN_ADMIN_TOKEN_LENGTH = 16
#: The hidden field every state-changing page form carries.
CSRF_FIELD = "csrf"
#: Where the admin signs in (``?token=`` or the form); the admin's pages themselves live under
#: ``/-/_mock/<secret>/`` (``AdminToken.home``).
SIGN_IN_PATH = "/-/_mock/"
#: Hex digits of the secret path segment: 128 bits, as many as a session cookie's.
_SECRET_LENGTH = 32


class Host(Protocol):
    """The server around the application."""

    @property
    def url(self) -> str: ...

    @property
    def log(self) -> Iterable[tuple[Request, Response]]: ...


def cookie_name(origin: str) -> str:
    """``npm_registry_dashboard_<port>``: the cookie of the server at ``origin``."""
    port = urlsplit(origin).port or 80
    return f"{COOKIE}_{port}"


def foreign_origin(request: Request, origin: str, *, null_ok: bool = False) -> str | None:
    """The other site a browser says this request came from, or None when it came from our own
    pages (or from no browser at all: scripts send neither header). Django's CSRF check: the
    ``Origin`` header, else the ``Referer``'s origin, must be ours, port included.

    ``null_ok``: the admin's pages send ``Referrer-Policy: no-referrer`` (their address holds the
    secret), and under it a browser posts their forms with ``Origin: null`` (Fetch: "append a
    request Origin header"), so there ``null`` is ours; their forms also need the CSRF token bound
    to the admin's cookie, which no other page can read."""
    sent = request.headers.get("Origin")
    if sent is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return None
        parts = urlsplit(referer)
        sent = f"{parts.scheme}://{parts.netloc}"
    if sent == origin or (null_ok and sent == "null"):
        return None
    return sent[:100]


def csrf_scope(path: str) -> str:
    """The page a form belongs to: ``.../approve`` and ``.../deny`` share their page's token, so
    one form can carry the proof fields and both buttons (``formaction``)."""
    for answer in ("/approve", "/deny"):
        if path.endswith(answer):
            return path[: -len(answer)]
    return path


class AdminToken:
    """The admin token every control call carries, the dashboard's cookie that stands for it, the
    secret path the admin's pages live under, and the CSRF tokens of the page forms.

    Browsers send a cookie to every port of its host (RFC 6265 §8.5: cookies ignore ports), so a
    page on another loopback port would receive the admin's cookie. Its ``Path`` is therefore
    ``/-/_mock/<secret>/``: a browser attaches it only under that path, which another port cannot
    know, and the server accepts it nowhere else. The secret is an HMAC of the admin token and
    this server's origin: no one without the token can derive it, and it outlives a restart with
    the same token (a bookmark and the cookie stay good), as the cookie's value already does.
    """

    def __init__(self, token: str = "") -> None:
        self.token = token
        #: Signs CSRF tokens; new per process, so a form outlives no restart.
        self._csrf_key = secrets.token_bytes(32)

    def is_token(self, given: str) -> bool:
        """Whether ``given`` is the admin token (compared in constant time); never when there is none."""
        return bool(self.token) and hmac.compare_digest(given.encode(), self.token.encode())

    def _mac(self, purpose: str, origin: str) -> str:
        return hmac.new(self.token.encode(), f"{purpose} {origin}".encode(), hashlib.sha256).hexdigest()

    def secret(self, origin: str) -> str:
        """The path segment of the admin's pages on the server at ``origin``."""
        return self._mac("dashboard-path", origin)[:_SECRET_LENGTH]

    def home(self, origin: str) -> str:
        """``/-/_mock/<secret>/``: the dashboard, and the Path of its cookie."""
        return f"{SIGN_IN_PATH}{self.secret(origin)}/"

    def is_secret(self, given: str, origin: str) -> bool:
        """Whether ``given`` is this server's secret segment; never when there is no admin token."""
        return bool(self.token) and hmac.compare_digest(given.encode(), self.secret(origin).encode())

    def in_admin_space(self, request: Request, origin: str) -> bool:
        """Whether the request is for a page under ``/-/_mock/<secret>/``."""
        path = request.path
        if not path.startswith(SIGN_IN_PATH):
            return False
        segment, slash, _ = path[len(SIGN_IN_PATH) :].partition("/")
        return bool(slash) and self.is_secret(segment, origin)

    def cookie_value(self, origin: str) -> str:
        """An HMAC of the token bound to this server's origin (port included), never the token."""
        return self._mac("dashboard-cookie", origin)

    def set_cookie(self, response: Response, origin: str) -> None:
        response.set_cookie(
            cookie_name(origin), self.cookie_value(origin), path=self.home(origin), httponly=True, samesite="Strict"
        )

    def has_cookie(self, request: Request, origin: str) -> bool:
        """The dashboard's cookie for this origin, on a page under the secret path, from a request
        no other site sent. Anywhere else (the public approval pages, the sign-in page) it is no
        credential even when a client sends it: a browser would not have."""
        given = request.cookies.get(cookie_name(origin), "")
        return (
            bool(self.token)
            and bool(given)
            and self.in_admin_space(request, origin)
            and foreign_origin(request, origin, null_ok=True) is None
            and hmac.compare_digest(given.encode(), self.cookie_value(origin).encode())
        )

    def is_admin(self, request: Request, origin: str, *, cookie: bool = True) -> bool:
        """The admin token as a bearer token, or (``cookie``) the dashboard's cookie."""
        given = bearer(request)
        if given is not None:
            return self.is_token(given)
        return cookie and self.has_cookie(request, origin)

    def csrf_token(self, request: Request, origin: str, scope: str) -> str:
        """The CSRF token of the forms of the page at ``scope`` (``csrf_scope``), for the browser
        that asks: bound to the page and to the admin cookie it holds, so a token read by another
        client (which lacks the cookie) does not act as the admin."""
        session = self.cookie_value(origin) if self.has_cookie(request, origin) else ""
        return hmac.new(self._csrf_key, f"{scope} {session}".encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, request: Request, origin: str) -> bool:
        """Whether a form post carries its page's CSRF token and comes from no other site."""
        admin_space = self.in_admin_space(request, origin)
        if foreign_origin(request, origin, null_ok=admin_space) is not None:
            return False
        given = request.form.get(CSRF_FIELD, "")
        expected = self.csrf_token(request, origin, csrf_scope(request.path))
        return hmac.compare_digest(given.encode(), expected.encode())
