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


def foreign_origin(request: Request, origin: str) -> str | None:
    """The other site a browser says this request came from, or None when it came from our own
    pages (or from no browser at all: scripts send neither header). Django's CSRF check: the
    ``Origin`` header, else the ``Referer``'s origin, must be ours, port included."""
    sent = request.headers.get("Origin")
    if sent is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return None
        parts = urlsplit(referer)
        sent = f"{parts.scheme}://{parts.netloc}"
    return None if sent == origin else sent[:100]


class AdminToken:
    """The admin token every control call carries, the dashboard's cookie that stands for it, and
    the CSRF tokens of the page forms."""

    def __init__(self, token: str = "") -> None:
        self.token = token
        #: Signs CSRF tokens; new per process, so a form outlives no restart.
        self._csrf_key = secrets.token_bytes(32)

    def is_token(self, given: str) -> bool:
        """Whether ``given`` is the admin token (compared in constant time); never when there is none."""
        return bool(self.token) and hmac.compare_digest(given.encode(), self.token.encode())

    def cookie_value(self, origin: str) -> str:
        """An HMAC of the token bound to this server's origin (port included), never the token."""
        return hmac.new(self.token.encode(), f"dashboard-cookie {origin}".encode(), hashlib.sha256).hexdigest()

    def set_cookie(self, response: Response, origin: str, path: str) -> None:
        response.set_cookie(cookie_name(origin), self.cookie_value(origin), path=path, httponly=True, samesite="Strict")

    def has_cookie(self, request: Request, origin: str) -> bool:
        """The dashboard's cookie for this origin, from a request no other site sent."""
        given = request.cookies.get(cookie_name(origin), "")
        return (
            bool(self.token)
            and bool(given)
            and foreign_origin(request, origin) is None
            and hmac.compare_digest(given.encode(), self.cookie_value(origin).encode())
        )

    def is_admin(self, request: Request, origin: str, *, cookie: bool = True) -> bool:
        """The admin token as a bearer token, or (``cookie``) the dashboard's cookie."""
        given = bearer(request)
        if given is not None:
            return self.is_token(given)
        return cookie and self.has_cookie(request, origin)

    def csrf_token(self, request: Request, origin: str, action: str) -> str:
        """The CSRF token of the form posting to ``action``, for the browser that asks: bound to
        the path and to the admin cookie it holds, so a token read by another client (which
        lacks the cookie) does not act as the admin."""
        session = self.cookie_value(origin) if self.has_cookie(request, origin) else ""
        return hmac.new(self._csrf_key, f"{action} {session}".encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, request: Request, origin: str) -> bool:
        """Whether a form post carries this path's CSRF token and comes from no other site."""
        if foreign_origin(request, origin) is not None:
            return False
        given = request.form.get(CSRF_FIELD, "")
        return hmac.compare_digest(given.encode(), self.csrf_token(request, origin, request.path).encode())
