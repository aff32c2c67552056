"""JSON responses, and the one place a registry error becomes one."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from pytest_npm_registry.domain.errors import RegistryError

JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type=JSON)


def render_error(error: RegistryError, origin: str) -> Response:
    """The only place a registry error turns into HTTP: status, exact body, protocol headers."""
    return json_response(error.body(origin), error.status, error.headers(origin))
