"""HTTP in front of the registry: the dispatch table from endpoint to view, and the one place
where a refused operation is journaled and rendered (``responses.render_error``)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.errors import NotImplementedByMock, RegistryError, UsageError, cut
from pytest_npm_registry.domain.models import Call, Operation
from pytest_npm_registry.domain.registry import Registry

from .dashboard import DashboardViews
from .host import AdminToken, Host
from .npm import NpmViews
from .pages import PageViews
from .parsing import parse_call
from .responses import json_response, render_error
from .routes import RouteMatcher, url_map

_OPERATIONS = {
    ("npm.package", "GET"): Operation.READ_PACKAGE,
    ("npm.package", "PUT"): Operation.PUBLISH,
    ("npm.root", "PUT"): Operation.PUBLISH,
    ("npm.version", "GET"): Operation.READ_VERSION,
    ("npm.attestations", "GET"): Operation.READ_VERSION,
    ("npm.tarball", "GET"): Operation.DOWNLOAD,
    ("npm.dist_tags", "GET"): Operation.LIST_DIST_TAGS,
    ("npm.dist_tag", "PUT"): Operation.ADD_DIST_TAG,
    ("npm.dist_tag", "POST"): Operation.ADD_DIST_TAG,
    ("npm.dist_tag", "DELETE"): Operation.REMOVE_DIST_TAG,
    ("npm.whoami", "GET"): Operation.WHOAMI,
    ("npm.ping", "GET"): Operation.PING,
    ("npm.audit", "POST"): Operation.AUDIT,
    ("npm.visibility", "GET"): Operation.VISIBILITY,
    ("npm.access", "POST"): Operation.SET_ACCESS,
    ("npm.collaborators", "GET"): Operation.LIST_COLLABORATORS,
    ("npm.user_packages", "GET"): Operation.LIST_PACKAGES,
    ("npm.org_packages", "GET"): Operation.LIST_PACKAGES,
    ("npm.team_packages", "GET"): Operation.LIST_PACKAGES,
    ("npm.team_packages", "PUT"): Operation.GRANT,
    ("npm.team_packages", "DELETE"): Operation.REVOKE_GRANT,
    ("npm.org_members", "GET"): Operation.ORG_MEMBERS,
    ("npm.org_members", "PUT"): Operation.SET_ORG_MEMBER,
    ("npm.org_members", "DELETE"): Operation.REMOVE_ORG_MEMBER,
    ("npm.org_teams", "GET"): Operation.TEAM_MEMBERS,
    ("npm.org_teams", "PUT"): Operation.CREATE_TEAM,
    ("npm.team", "DELETE"): Operation.DESTROY_TEAM,
    ("npm.team_members", "GET"): Operation.TEAM_MEMBERS,
    ("npm.team_members", "PUT"): Operation.ADD_TEAM_MEMBER,
    ("npm.team_members", "DELETE"): Operation.REMOVE_TEAM_MEMBER,
    ("npm.package_rev", "PUT"): Operation.CHANGE_OWNERS,
    ("npm.package_rev", "DELETE"): Operation.UNPUBLISH,
    ("npm.tarball_rev", "DELETE"): Operation.UNPUBLISH,
    ("npm.oidc_exchange", "POST"): Operation.OIDC_EXCHANGE,
    ("npm.oidc_id_token", "GET"): Operation.OIDC_ID_TOKEN,
    ("npm.trust", "GET"): Operation.LIST_TRUST,
    ("npm.trust", "POST"): Operation.ADD_TRUST,
    ("npm.trust_config", "DELETE"): Operation.REVOKE_TRUST,
    ("npm.stage_publish", "POST"): Operation.STAGE,
    ("npm.stages", "GET"): Operation.LIST_STAGES,
    ("npm.stage", "GET"): Operation.VIEW_STAGE,
    ("npm.stage", "DELETE"): Operation.REJECT_STAGE,
    ("npm.stage_approve", "POST"): Operation.APPROVE_STAGE,
    ("npm.stage_tarball", "GET"): Operation.VIEW_STAGE,
    ("npm.web_auth_done", "GET"): Operation.WEB_AUTH_POLL,
    ("pages.web_auth_approve", "POST"): Operation.WEB_AUTH_APPROVE,
    ("pages.web_auth_deny", "POST"): Operation.WEB_AUTH_APPROVE,
    ("pages.admin_auth_approve", "POST"): Operation.WEB_AUTH_APPROVE,
    ("pages.admin_auth_deny", "POST"): Operation.WEB_AUTH_APPROVE,
    ("pages.admin_login_approve", "POST"): Operation.LOGIN,
    ("pages.admin_login_deny", "POST"): Operation.LOGIN,
    ("npm.web_login", "POST"): Operation.LOGIN,
    ("npm.web_login_done", "GET"): Operation.LOGIN_POLL,
    ("npm.couch_user", "GET"): Operation.READ_USER,
    ("npm.couch_user", "PUT"): Operation.LOGIN,
    ("npm.logout", "DELETE"): Operation.LOGOUT,
    ("npm.profile", "GET"): Operation.READ_PROFILE,
    ("npm.profile", "POST"): Operation.SET_PROFILE,
    ("npm.tokens", "GET"): Operation.LIST_TOKENS,
    ("npm.tokens", "POST"): Operation.CREATE_TOKEN,
    ("npm.token", "DELETE"): Operation.REVOKE_TOKEN,
}


def _operation(endpoint: str, method: str) -> Operation:
    return _OPERATIONS.get((endpoint, method), Operation.UNKNOWN)


#: A view: the request, the domain's ``Call`` for it, the origin, then the route's arguments.
View = Callable[..., Response]


class RegistryApp:
    """A callable from a werkzeug :class:`Request` to a :class:`Response`: match the route, look
    the endpoint up in the dispatch table, call its view, render a refusal.

    Endpoints are module-qualified (``npm.publish``, ``pages.web_login_page``, ``control.reset``):
    the part before the dot names a group of views, the part after a method of it. ``mount`` adds a
    group (the Python API mounts the control API; the npm endpoints, pages and dashboard are here).
    """

    def __init__(
        self,
        registry: Registry,
        host: Host,
        *,
        admin: AdminToken | None = None,
        on_internal_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.registry = registry
        self.admin = admin or AdminToken()
        self.on_internal_error = on_internal_error
        #: Pretend every request comes from this address (to exercise CIDR allow-lists on loopback).
        self.client_ip: str | None = None
        #: Whether a request belongs to a test that has ended (set by the server): it is then
        #: answered without reaching the registry.
        self.stale: Callable[[Request], bool] = lambda _request: False
        self._routes = RouteMatcher()
        self.views: dict[str, View] = {}
        pages = PageViews(registry, host, self.admin)
        self.mount("npm", NpmViews(registry))
        self.mount("pages", pages)
        self.mount("dashboard", DashboardViews(registry, self.admin))

    def mount(self, group: str, views: object) -> None:
        """Serve every route ``<group>.<name>`` with ``views.<name>``."""
        for rule in url_map.iter_rules():
            prefix, _, name = str(rule.endpoint).partition(".")
            if prefix == group:
                self.views[rule.endpoint] = getattr(views, name)

    def __call__(self, request: Request) -> Response:
        if self.stale(request):
            # 410, not 5xx: npm retries 5xx, and the retry would land in the next test.
            return json_response({"error": "dropped: the test that sent this request has ended"}, 410)
        # Always plain HTTP on loopback; request.host_url would re-validate the host on every call.
        environ = request.environ
        origin = "http://" + (environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}")
        client_ip = self.client_ip or request.remote_addr or ""
        endpoint, call = "unknown", Call(client_ip=client_ip)  # until the headers are parsed
        args: Mapping[str, Any] = {}
        try:
            try:
                endpoint, args = self._routes.match(request.path, request.method)
            except RouteNotFound:
                raise NotImplementedByMock(request.method, request.full_path.rstrip("?")) from None
            except MethodNotAllowed as exc:
                raise NotImplementedByMock(
                    request.method, request.path, allow=tuple(sorted(exc.valid_methods or ()))
                ) from None
            view = self.views.get(endpoint)
            if view is None:  # a group nobody mounted: a server without the control API, say
                raise NotImplementedByMock(request.method, request.path)
            call = parse_call(request, origin, client_ip)
            return view(request, call, origin, **args)
        except RegistryError as error:
            self.registry.state.refuse(_operation(endpoint, request.method), call, args.get("name"), error)
            return render_error(error, origin)
        except (UsageError, KeyError, ValueError, TypeError) as error:
            if endpoint.startswith("control."):  # a malformed control call: say what is wrong
                detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
                return json_response({"error": cut(f"control API: {detail}")}, 400)
            return self._internal_error(error)  # a test misused the fixture API inside a request
        except Exception as exc:  # a bug in the mock: answer, and make the test fail loudly
            return self._internal_error(exc)

    def _internal_error(self, exc: Exception) -> Response:
        if self.on_internal_error is not None:
            self.on_internal_error(exc)
        detail = cut(traceback.format_exception_only(exc)[-1].strip())
        return json_response({"error": f"internal error in the mock registry: {detail}"}, 500)
