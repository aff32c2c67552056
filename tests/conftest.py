"""Shared helpers for the test suite. The fixtures themselves come from the plugin (pytest11)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_npm_registry import NpmRegistry, Token, write_package
from pytest_npm_registry.api.clients import token_key


@dataclass
class HttpAnswer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


_ABSENT = object()


def http(
    reg: NpmRegistry,
    method: str,
    path: str,
    *,
    token: Token | str | None = None,
    json_body: Any = _ABSENT,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    """One raw HTTP request to the registry, with exactly the path given (no re-quoting).
    ``json_body=None`` sends JSON ``null``; leave it out to send no JSON."""
    parts = urlsplit(reg.url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
    sent = dict(headers or {})
    if token is not None:
        sent["authorization"] = f"Bearer {token_key(token)}"
    if json_body is not _ABSENT:
        data = json.dumps(json_body).encode()
        sent.setdefault("content-type", "application/json")
    conn.request(method, path, body=data, headers=sent)
    response = conn.getresponse()
    answer = HttpAnswer(
        response.status, response.reason, {k.lower(): v for k, v in response.getheaders()}, response.read()
    )
    conn.close()
    return answer


@pytest.fixture
def package_dir(tmp_path: Path) -> Callable[..., Path]:
    """``package_dir("name", "1.0.0", **package_json_fields)`` writes a package folder for npm."""
    counter = 0

    def make(name: str, version: str = "1.0.0", **fields: Any) -> Path:
        nonlocal counter
        counter += 1
        return write_package(tmp_path / f"pkg{counter}", name, version, **fields)

    return make
