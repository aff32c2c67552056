"""What the wire needs of the server that runs it: the narrow ``Host`` protocol.

Pages and the control API read the server's request log and the admin token through this, never
through the Python facade; :class:`~pytest_npm_registry.wire.server.RegistryServer` implements it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Protocol

from werkzeug.wrappers import Request, Response

from .parsing import bearer

COOKIE = "npm_registry_dashboard"
#: The shortest admin token a server accepts: it is all that keeps a shared CI network from
#: resetting someone's registry, so no "a" or "test".
MIN_ADMIN_TOKEN_LENGTH = 16


class Host(Protocol):
    """The server around the application."""

    @property
    def url(self) -> str: ...

    @property
    def log(self) -> Iterable[tuple[Request, Response]]: ...


class AdminToken:
    """The admin token every control call carries, and the dashboard's cookie that stands for it."""

    def __init__(self, token: str = "") -> None:
        self.token = token

    def is_token(self, given: str) -> bool:
        """Whether ``given`` is the admin token (compared in constant time); never when there is none."""
        return bool(self.token) and hmac.compare_digest(given.encode(), self.token.encode())

    def cookie_value(self) -> str:
        return hmac.new(self.token.encode(), b"dashboard-cookie", hashlib.sha256).hexdigest()

    def is_admin(self, request: Request) -> bool:
        """The admin token as a bearer token, or the dashboard's cookie."""
        given = bearer(request)
        if given is not None:
            return self.is_token(given)
        return bool(self.token) and hmac.compare_digest(
            request.cookies.get(COOKIE, "").encode(), self.cookie_value().encode()
        )
