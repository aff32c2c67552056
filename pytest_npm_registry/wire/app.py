"""HTTP in front of the registry: parse the request, call the domain, serialise the answer.

``render_error`` is the one place a :class:`RegistryError` becomes a response. Packuments are
serialised once per revision and origin and then served from a cache, so reads cost a dict lookup.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain import identity
from pytest_npm_registry.domain.clock import iso
from pytest_npm_registry.domain.errors import BadRequest, MalformedBody, NotImplementedByMock, RegistryError, UsageError
from pytest_npm_registry.domain.governance import OwnersChange
from pytest_npm_registry.domain.models import Call, Credential, Operation, Package
from pytest_npm_registry.domain.registry import Registry

from . import documents
from .dashboard import DashboardMixin
from .responses import JSON, json_response, render_error
from .routes import url_map

_CACHE_LIMIT = 2048


_OPERATIONS = {
    ("package", "GET"): Operation.READ_PACKAGE,
    ("package", "PUT"): Operation.PUBLISH,
    ("root", "PUT"): Operation.PUBLISH,
    ("version", "GET"): Operation.READ_VERSION,
    ("tarball", "GET"): Operation.DOWNLOAD,
    ("dist_tags", "GET"): Operation.LIST_DIST_TAGS,
    ("dist_tag", "PUT"): Operation.ADD_DIST_TAG,
    ("dist_tag", "POST"): Operation.ADD_DIST_TAG,
    ("dist_tag", "DELETE"): Operation.REMOVE_DIST_TAG,
    ("whoami", "GET"): Operation.WHOAMI,
    ("ping", "GET"): Operation.PING,
    ("audit", "POST"): Operation.AUDIT,
    ("visibility", "GET"): Operation.VISIBILITY,
    ("access", "POST"): Operation.SET_ACCESS,
    ("collaborators", "GET"): Operation.LIST_COLLABORATORS,
    ("user_packages", "GET"): Operation.LIST_PACKAGES,
    ("org_packages", "GET"): Operation.LIST_PACKAGES,
    ("team_packages", "GET"): Operation.LIST_PACKAGES,
    ("team_packages", "PUT"): Operation.GRANT,
    ("team_packages", "DELETE"): Operation.REVOKE_GRANT,
    ("org_members", "GET"): Operation.ORG_MEMBERS,
    ("org_members", "PUT"): Operation.SET_ORG_MEMBER,
    ("org_members", "DELETE"): Operation.REMOVE_ORG_MEMBER,
    ("org_teams", "GET"): Operation.TEAM_MEMBERS,
    ("org_teams", "PUT"): Operation.CREATE_TEAM,
    ("team", "DELETE"): Operation.DESTROY_TEAM,
    ("team_members", "GET"): Operation.TEAM_MEMBERS,
    ("team_members", "PUT"): Operation.ADD_TEAM_MEMBER,
    ("team_members", "DELETE"): Operation.REMOVE_TEAM_MEMBER,
    ("package_rev", "PUT"): Operation.CHANGE_OWNERS,
    ("package_rev", "DELETE"): Operation.UNPUBLISH,
    ("tarball_rev", "DELETE"): Operation.UNPUBLISH,
    ("oidc_exchange", "POST"): Operation.OIDC_EXCHANGE,
    ("oidc_id_token", "GET"): Operation.OIDC_ID_TOKEN,
    ("trust", "GET"): Operation.LIST_TRUST,
    ("trust", "POST"): Operation.ADD_TRUST,
    ("trust_config", "DELETE"): Operation.REVOKE_TRUST,
    ("stage_publish", "POST"): Operation.STAGE,
    ("stages", "GET"): Operation.LIST_STAGES,
    ("stage", "GET"): Operation.VIEW_STAGE,
    ("stage", "DELETE"): Operation.REJECT_STAGE,
    ("stage_approve", "POST"): Operation.APPROVE_STAGE,
    ("stage_tarball", "GET"): Operation.VIEW_STAGE,
    ("web_auth_done", "GET"): Operation.WEB_AUTH_POLL,
    ("web_auth_approve", "POST"): Operation.WEB_AUTH_APPROVE,
    ("web_login", "POST"): Operation.LOGIN,
    ("web_login_done", "GET"): Operation.LOGIN_POLL,
    ("couch_user", "GET"): Operation.READ_USER,
    ("couch_user", "PUT"): Operation.LOGIN,
    ("logout", "DELETE"): Operation.LOGOUT,
    ("profile", "GET"): Operation.READ_PROFILE,
    ("profile", "POST"): Operation.SET_PROFILE,
    ("tokens", "GET"): Operation.LIST_TOKENS,
    ("tokens", "POST"): Operation.CREATE_TOKEN,
    ("token", "DELETE"): Operation.REVOKE_TOKEN,
}


def _operation(endpoint: str, method: str) -> Operation:
    return _OPERATIONS.get((endpoint, method), Operation.UNKNOWN)


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


def _paging(request: Request) -> tuple[int, int]:
    """``?page=&perPage=`` of the token and stage listings (the range is the domain's to check)."""
    try:
        return int(request.args.get("page", 0)), int(request.args.get("perPage", 100))
    except ValueError:
        raise BadRequest("Invalid paging: page and perPage are integers") from None


class RegistryApp(DashboardMixin):  # which brings the pages and the control API
    """A callable from a werkzeug :class:`Request` to a :class:`Response`."""

    def __init__(self, registry: Registry, *, on_internal_error: Callable[[Exception], None] | None = None) -> None:
        self.registry = registry
        self.on_internal_error = on_internal_error
        #: Pretend every request comes from this address (to exercise CIDR allow-lists on loopback).
        self.client_ip: str | None = None
        self._adapter = url_map.bind("registry")
        #: (name, variant, origin) -> (the package revision, the people revision, the bytes)
        self._cache: dict[tuple[str, str, str], tuple[Package, int, bytes]] = {}
        self._cache_lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        # Always plain HTTP on loopback; request.host_url would re-validate the host on every call.
        environ = request.environ
        origin = "http://" + (environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}")
        client_ip = self.client_ip or request.remote_addr or ""
        endpoint, call = "unknown", Call(client_ip=client_ip)  # until the headers are parsed
        args: Mapping[str, Any] = {}
        try:
            try:
                endpoint, args = self._adapter.match(request.path, method=request.method)
            except RouteNotFound:
                raise NotImplementedByMock(request.method, request.full_path.rstrip("?")) from None
            except MethodNotAllowed as exc:
                raise NotImplementedByMock(
                    request.method, request.path, allow=tuple(sorted(exc.valid_methods or ()))
                ) from None
            call = self._call(request, origin, client_ip)
            handler: Callable[..., Response] = getattr(self, f"on_{endpoint}")
            return handler(request, call, origin, **args)
        except RegistryError as error:
            self.registry.state.refuse(_operation(endpoint, request.method), call, args.get("name"), error)
            return render_error(error, origin)
        except (UsageError, KeyError, ValueError, TypeError) as error:
            if endpoint.startswith("control_"):  # a malformed control call: say what is wrong
                detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
                return json_response({"error": f"control API: {detail}"}, 400)
            return self._internal_error(error)  # a test misused the fixture API inside a request
        except Exception as exc:  # a bug in the mock: answer, and make the test fail loudly
            return self._internal_error(exc)

    def _internal_error(self, exc: Exception) -> Response:
        if self.on_internal_error is not None:
            self.on_internal_error(exc)
        detail = traceback.format_exception_only(exc)[-1].strip()
        return json_response({"error": f"internal error in the mock registry: {detail}"}, 500)

    @staticmethod
    def _call(request: Request, origin: str, client_ip: str) -> Call:
        headers = request.headers
        return Call(
            credential=parse_credential(headers.get("authorization")),
            otp=headers.get("npm-otp"),
            auth_type=headers.get("npm-auth-type"),
            client_ip=client_ip,
            command=headers.get("npm-command"),
            host=urlsplit(origin).hostname or "",
        )

    @staticmethod
    def _json_body(request: Request) -> Any:
        data = request.get_data()
        if not data:
            raise MalformedBody("Malformed request: the body is empty, expected JSON")
        try:
            return json.loads(data, parse_constant=_not_json)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedBody(f"Malformed JSON body: {exc}") from None

    # -- endpoints ---------------------------------------------------------------------------------

    def on_ping(self, request: Request, call: Call, origin: str) -> Response:
        self.registry.reads.ping(call)
        return json_response({})

    def on_whoami(self, request: Request, call: Call, origin: str) -> Response:
        return json_response({"username": self.registry.accounts.whoami(call)})

    def on_audit(self, request: Request, call: Call, origin: str) -> Response:
        # `npm install` audits after every install; an empty report keeps it quiet.
        self.registry.reads.note(call, Operation.AUDIT)
        return json_response({})

    def on_visibility(self, request: Request, call: Call, origin: str, name: str) -> Response:
        return json_response({"public": self.registry.governance.visibility(call, name)})

    def on_root(self, request: Request, call: Call, origin: str) -> Response:
        # `PUT /` is a publish with an empty name: refuse it as the naming rules say, not as a gap.
        return self.on_package(request, call, origin, "")

    def on_package(self, request: Request, call: Call, origin: str, name: str) -> Response:
        if request.method == "PUT":
            self.registry.publishing.put_package(call, name, self._json_body(request))
            return json_response({"success": True})
        package = self.registry.reads.read_package(call, name)
        accept = request.headers.get("accept", "")
        corgi = documents.CORGI in accept and request.args.get("write") != "true"
        variant = documents.CORGI if corgi else JSON
        return Response(self._document(package, variant, origin), content_type=variant)

    def _document(self, package: Package, variant: str, origin: str) -> bytes:
        key = (package.name, variant, origin)
        people = self.registry.state.people_rev  # packuments show maintainers' e-mails
        cached = self._cache.get(key)
        if cached is not None and cached[0] is package and cached[1] == people:
            return cached[2]
        if variant == documents.CORGI:
            doc = documents.corgi(package, origin)
        else:
            doc = documents.packument(package, origin, self.registry.state.users)
        body = json.dumps(doc).encode()
        with self._cache_lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = (package, people, body)
        return body

    def on_version(self, request: Request, call: Call, origin: str, name: str, spec: str) -> Response:
        package, version = self.registry.reads.read_version(call, name, spec)
        return json_response(documents.manifest(package, version, origin, self.registry.state.users))

    def on_tarball(self, request: Request, call: Call, origin: str, name: str, filename: str) -> Response:
        version = self.registry.reads.download(call, name, filename)
        return Response(version.tarball, content_type="application/octet-stream")

    def on_dist_tags(self, request: Request, call: Call, origin: str, name: str) -> Response:
        return json_response(self.registry.reads.dist_tags(call, name))

    def on_dist_tag(self, request: Request, call: Call, origin: str, name: str, tag: str) -> Response:
        if request.method == "DELETE":
            package = self.registry.reads.remove_dist_tag(call, name, tag)
            return json_response({"ok": True, "dist-tags": package.dist_tags})
        # npm sends the version as a JSON string: "1.0.0"
        package = self.registry.reads.add_dist_tag(call, name, tag, self._json_body(request))
        return json_response({"ok": True, "dist-tags": package.dist_tags}, 201)

    def on_web_auth_done(self, request: Request, call: Call, origin: str, session_id: str) -> Response:
        return self._poll_answer(self.registry.challenges.poll_web_auth(call, session_id))

    # -- accounts: login, logout, profile, tokens ----------------------------------------------------

    @staticmethod
    def _poll_answer(token: str | None) -> Response:
        # A 202 needs a JSON body (an empty one crashes npm) and Retry-After (without it npm polls
        # in a tight loop); 200 carries {"token"}.
        if token is None:
            return json_response({}, 202, {"Retry-After": "1"})
        return json_response({"token": token})

    def on_web_login(self, request: Request, call: Call, origin: str) -> Response:
        body = self._json_body(request) if request.get_data() else {}
        create = isinstance(body, dict) and body.get("create") is True
        login = self.registry.logins.begin_web_login(call, create=create)
        return json_response({"loginUrl": origin + login.login_path, "doneUrl": origin + login.done_path})

    def on_web_login_done(self, request: Request, call: Call, origin: str, login_id: str) -> Response:
        return self._poll_answer(self.registry.logins.poll_web_login(call, login_id))

    def on_couch_user(self, request: Request, call: Call, origin: str, user: str, rev: str | None = None) -> Response:
        if request.method == "GET":
            return json_response(documents.couch_user(self.registry.logins.couch_user(call, user)))
        token = self.registry.logins.couch_login(call, user, self._json_body(request))
        return json_response(
            {"ok": True, "id": f"org.couchdb.user:{user}", "rev": "_we_dont_use_revs_any_more", "token": token}, 201
        )

    def on_logout(self, request: Request, call: Call, origin: str, secret: str) -> Response:
        self.registry.logins.logout(call, secret)
        return json_response({"ok": True})

    def on_profile(self, request: Request, call: Call, origin: str) -> Response:
        if request.method == "GET":
            user = self.registry.profiles.profile(call)
            return json_response(documents.profile(user, self.registry.profiles.tfa_state(user)))
        user, tfa = self.registry.profiles.set_profile(call, self._json_body(request))
        return json_response(documents.profile(user, tfa))

    def on_tokens(self, request: Request, call: Call, origin: str) -> Response:
        if request.method == "POST":
            record, secret = self.registry.profiles.create_token_api(call, self._json_body(request))
            return json_response(documents.token(record, secret))
        page, per_page = _paging(request)
        listing = self.registry.profiles.list_tokens(call, page=page, per_page=per_page)
        urls = {}
        if listing.next_page is not None:
            urls["next"] = f"{origin}/-/npm/v1/tokens?page={listing.next_page}&perPage={listing.per_page}"
        objects = [documents.token(t) for t in listing.tokens]
        return json_response({"objects": objects, "total": listing.total, "urls": urls})

    def on_token(self, request: Request, call: Call, origin: str, key: str) -> Response:
        self.registry.profiles.revoke_token_api(call, key)
        return Response(status=204)

    # -- package governance: owners, access, deprecate, unpublish ----------------------------------

    def on_package_rev(self, request: Request, call: Call, origin: str, name: str, rev: str) -> Response:
        if request.method == "DELETE":
            self.registry.governance.unpublish_package(call, name, rev)
            return json_response({"ok": True})
        change = self.registry.governance.change_package(call, name, rev, self._json_body(request))
        headers = {}
        if isinstance(change, OwnersChange) and change.invited:
            # What the public registry says when `npm owner add` sends an invitation.
            headers["npm-notice"] = " ".join(
                f"INFO: User {i.user} invited to package {name} successfully." for i in change.invited
            )
        return json_response({"ok": True}, headers=headers)

    def on_tarball_rev(self, request: Request, call: Call, origin: str, name: str, filename: str, rev: str) -> Response:
        self.registry.governance.delete_tarball(call, name, filename, rev)
        return json_response({"ok": True})

    def on_access(self, request: Request, call: Call, origin: str, name: str) -> Response:
        self.registry.governance.set_access(call, name, self._json_body(request))
        return json_response({"ok": True})

    def on_collaborators(self, request: Request, call: Call, origin: str, name: str) -> Response:
        return json_response(self.registry.governance.collaborators(call, name))

    def on_user_packages(self, request: Request, call: Call, origin: str, user: str) -> Response:
        return json_response(self.registry.governance.user_packages(call, user))

    def on_org_packages(self, request: Request, call: Call, origin: str, org: str) -> Response:
        return json_response(self.registry.orgs.org_packages(call, org))

    # -- orgs and teams ------------------------------------------------------------------------------

    def on_org_members(self, request: Request, call: Call, origin: str, org: str) -> Response:
        if request.method == "GET":
            return json_response({u: r.value for u, r in self.registry.orgs.org_members(call, org).items()})
        if request.method == "DELETE":
            self.registry.orgs.remove_org_member(call, org, self._json_body(request))
            return json_response({})
        record, user, role, invited = self.registry.orgs.set_org_member(call, org, self._json_body(request))
        headers = {"npm-notice": f"INFO: User {user} invited to org {org} successfully."} if invited else {}
        return json_response(
            {"org": {"name": org, "size": len(record.members)}, "user": user, "role": role.value}, headers=headers
        )

    def on_org_teams(self, request: Request, call: Call, origin: str, org: str) -> Response:
        if request.method == "PUT":
            team = self.registry.orgs.create_team(call, org, self._json_body(request))
            return json_response({"name": team.name, "description": team.description}, 201)
        return json_response(self.registry.orgs.teams(call, org))

    def on_team(self, request: Request, call: Call, origin: str, org: str, team: str) -> Response:
        self.registry.orgs.destroy_team(call, org, team)
        return json_response({})

    def on_team_members(self, request: Request, call: Call, origin: str, org: str, team: str) -> Response:
        if request.method == "GET":
            return json_response(self.registry.orgs.team_members(call, org, team))
        add = request.method == "PUT"
        self.registry.orgs.change_team_member(call, org, team, self._json_body(request), add=add)
        return json_response({}, 201 if add else 200)

    def on_team_packages(self, request: Request, call: Call, origin: str, org: str, team: str) -> Response:
        if request.method == "GET":
            return json_response(self.registry.orgs.team_packages(call, org, team))
        revoke = request.method == "DELETE"
        self.registry.orgs.grant(call, org, team, self._json_body(request), revoke=revoke)
        return json_response({}, 200 if revoke else 201)

    # -- trusted publishing and staging ------------------------------------------------------------------

    def on_oidc_exchange(self, request: Request, call: Call, origin: str, name: str) -> Response:
        record, secret = self.registry.trust.exchange_oidc(call, name)
        created = iso(record.created)
        expires = iso(record.expires or record.created)
        return json_response({"token": secret, "token_type": "oidc", "created": created, "expires": expires}, 201)

    def on_oidc_id_token(self, request: Request, call: Call, origin: str) -> Response:
        token = self.registry.trust.issue_id_token(call, request.args.get("audience"))
        return json_response({"count": 1, "value": token})

    def on_oidc_jwks(self, request: Request, call: Call, origin: str) -> Response:
        return json_response(identity.jwks())

    def on_oidc_configuration(self, request: Request, call: Call, origin: str) -> Response:
        issuer = f"{origin}/-/_mock/oidc"
        return json_response(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/.well-known/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def on_trust(self, request: Request, call: Call, origin: str, name: str) -> Response:
        if request.method == "POST":
            return json_response(self.registry.trust.create_trust(call, name, self._json_body(request)).as_dict())
        return json_response([c.as_dict() for c in self.registry.trust.list_trust(call, name)])

    def on_trust_config(self, request: Request, call: Call, origin: str, name: str, config_id: str) -> Response:
        self.registry.trust.revoke_trust(call, name, config_id)
        return Response(status=204)

    def on_stage_publish(self, request: Request, call: Call, origin: str, name: str) -> Response:
        stage = self.registry.stages.stage_publish(call, name, self._json_body(request))
        return json_response({"message": "Package version staged successfully.", "stageId": stage.id}, 201)

    def on_stages(self, request: Request, call: Call, origin: str) -> Response:
        page, per_page = _paging(request)
        items, total = self.registry.stages.list_stages(
            call, package=request.args.get("package"), page=page, per_page=per_page
        )
        return json_response(
            {"items": [documents.stage_item(s) for s in items], "page": page, "perPage": per_page, "total": total}
        )

    def on_stage(self, request: Request, call: Call, origin: str, stage_id: str) -> Response:
        if request.method == "DELETE":
            self.registry.stages.reject_stage(call, stage_id)
            return Response(status=204)
        return json_response(documents.stage_item(self.registry.stages.view_stage(call, stage_id)))

    def on_stage_approve(self, request: Request, call: Call, origin: str, stage_id: str) -> Response:
        self.registry.stages.approve_stage(call, stage_id)
        return json_response({"message": "Package version approved and published successfully."}, 201)

    def on_stage_tarball(self, request: Request, call: Call, origin: str, stage_id: str) -> Response:
        stage = self.registry.stages.view_stage(call, stage_id)
        return Response(stage.version.tarball, content_type="application/octet-stream")


def _not_json(constant: str) -> Any:
    # Python's json reads NaN, Infinity and -Infinity; JSON has no such values, and they would go
    # on to break a date or hang a wait.
    raise MalformedBody(f"Malformed JSON body: {constant} is not a JSON value")
