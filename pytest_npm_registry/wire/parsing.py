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
from pytest_npm_registry.domain.models import Call, Credential, OrgRole, Permission, TokenRequest


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
        except (binascii.Error, ValueError):  # not base64, not UTF-8, or bytes past ASCII in the header
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
        port=_port(origin),
    )


def _port(origin: str) -> int | None:
    try:
        return urlsplit(origin).port
    except ValueError:  # a Host header like "127.0.0.1:x": no port to speak of
        return None


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


#: Deeper JSON is refused: no npm body nests more than a few levels, and the domain walks
#: documents recursively (deep copies, the dashboard's claims).
MAX_JSON_DEPTH = 64


def json_body(request: Request) -> Any:
    data = request.get_data()
    if not data:
        raise MalformedBody("Malformed request: the body is empty, expected JSON")
    try:
        value = json.loads(data, parse_constant=_not_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBody(f"Malformed JSON body: {exc}") from None
    except RecursionError:
        raise MalformedBody(f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # Python refuses integers of more than 4,300 digits
        raise MalformedBody("Malformed JSON body: a number has too many digits") from None
    check_document(value)
    return value


def check_document(value: Any) -> None:
    """Refuse what ``json.loads`` accepts but the registry cannot keep: nesting past
    ``MAX_JSON_DEPTH`` and lone surrogates (``"\ud800"`` is no character: encoding it to UTF-8
    later, for a page or a tarball, raises)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise MalformedBody(f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedBody("Malformed JSON body: a string holds a lone surrogate (\\ud800-\\udfff)") from None


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


def user_and_role(body: Any) -> tuple[str, OrgRole]:
    """``{"user": "<name>", "role": "developer"}``: what ``npm org`` and ``npm team`` send."""
    if not isinstance(body, dict) or not isinstance(body.get("user"), str) or not body["user"]:
        raise MalformedBody('Expected {"user": "<name>"}')
    try:
        role = OrgRole(body.get("role") or OrgRole.DEVELOPER)
    except ValueError:
        raise BadRequest(f"Invalid role {body.get('role')!r}: use developer, admin or owner") from None
    return body["user"], role


def token_request(body: Any) -> TokenRequest:
    """The body ``npm token create`` (or npm-profile) sends to ``POST /-/npm/v1/tokens``."""
    if not isinstance(body, dict):
        raise MalformedBody("Invalid token request: expected a JSON object")

    def strings(key: str) -> tuple[str, ...] | None:
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise BadRequest(f"Invalid {key}: expected a list of names")
        return tuple(value)

    permission = body.get("packages_and_scopes_permission")
    if permission is not None and permission not in TOKEN_PERMISSIONS:
        raise BadRequest(
            f"Invalid packages_and_scopes_permission {permission!r}: use read-only, read-write or read-write-stage-only"
        )
    orgs_permission = body.get("orgs_permission")
    if orgs_permission is not None and orgs_permission not in ("read-only", "read-write"):
        raise BadRequest(f"Invalid orgs_permission {orgs_permission!r}: use read-only or read-write")
    expires = body.get("expires", body.get("expires_in_days"))
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int) or expires < 1):
        raise BadRequest(f"Invalid expires {expires!r}: a whole number of days, at least 1")
    scopes = strings("scopes")
    for scope in scopes or ():
        if not scope.startswith("@") or "/" in scope:
            raise BadRequest(f"Invalid scope {scope!r}: expected @scope")
    password = body.get("password")
    return TokenRequest(
        password=password if isinstance(password, str) else None,
        readonly=body.get("readonly") is True,
        permission=TOKEN_PERMISSIONS.get(permission or ""),
        granular=any(k in body for k in ("packages", "scopes", "orgs", "packages_and_scopes_permission", "bypass_2fa")),
        bypass_2fa=bool(body.get("bypass_2fa")),
        packages=None if body.get("packages_all") else strings("packages"),
        scopes=scopes,
        orgs=strings("orgs"),
        orgs_permission=TOKEN_PERMISSIONS.get(orgs_permission or ""),
        cidr=strings("cidr_whitelist") or strings("cidr"),
        expires_in_days=expires,
        name=body.get("name") if isinstance(body.get("name"), str) else None,
        description=body.get("description", body.get("token_description")),
    )


#: ``packages_and_scopes_permission`` and ``orgs_permission`` values.
TOKEN_PERMISSIONS = {
    "read-only": Permission.READ_ONLY,
    "read-write": Permission.READ_WRITE,
    "read-write-stage-only": Permission.STAGE_ONLY,  # npm >= 11.20 / 12.1
}
