"""What a request carries, parsed: the credential, a JSON body, paging arguments.

Every malformed input becomes the registry's :class:`MalformedBody` / :class:`BadRequest` (a JSON
4xx naming the problem), never an exception the application would have to interpret.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request

from pytest_npm_registry.domain.errors import BadRequest, MalformedBody
from pytest_npm_registry.domain.models import Call, Credential


def parse_credential(header: str | None) -> Credential | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return Credential(token=value)
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise MalformedBody("Malformed Basic authorization header: expected base64 of user:password") from None
        username, _, password = decoded.partition(":")
        return Credential(username=username, password=password)
    raise MalformedBody(f"Unsupported authorization scheme {scheme!r}: use Bearer <token> or Basic <base64>")


def parse_call(request: Request, origin: str, client_ip: str) -> Call:
    """The domain's view of a request: credential, OTP, auth type, client and command."""
    headers = request.headers
    return Call(
        credential=parse_credential(headers.get("authorization")),
        otp=headers.get("npm-otp"),
        auth_type=headers.get("npm-auth-type"),
        client_ip=client_ip,
        command=headers.get("npm-command"),
        host=urlsplit(origin).hostname or "",
    )


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


def json_body(request: Request) -> Any:
    data = request.get_data()
    if not data:
        raise MalformedBody("Malformed request: the body is empty, expected JSON")
    try:
        return json.loads(data, parse_constant=_not_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBody(f"Malformed JSON body: {exc}") from None


def paging(request: Request) -> tuple[int, int]:
    """``?page=&perPage=`` of the token and stage listings (the range is the domain's to check)."""
    try:
        return int(request.args.get("page", 0)), int(request.args.get("perPage", 100))
    except ValueError:
        raise BadRequest("Invalid paging: page and perPage are integers") from None


def _not_json(constant: str) -> Any:
    # Python's json reads NaN, Infinity and -Infinity; JSON has no such values, and they would go
    # on to break a date or hang a wait.
    raise MalformedBody(f"Malformed JSON body: {constant} is not a JSON value")
