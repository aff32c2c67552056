"""The one route table of the registry.

Werkzeug unquotes ``%2f`` before routing, so ``/@scope%2fname`` arrives as ``/@scope/name``: the
``package`` converter matches an unscoped name or ``@scope/name`` as one value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import BaseConverter, Map, Rule


class PackageNameConverter(BaseConverter):
    """``name`` or ``@scope/name``. Never starts with ``-``: ``/-/...`` is the registry's own space.

    Matching is loose on purpose (``.hidden`` or ``UPPER`` still route), so a bad name gets the
    registry's 400 naming the rule it breaks instead of a 501.
    """

    regex = r"@[^/]+/[^/]+|[^/@\-][^/]*"
    part_isolating = False
    weight = 200


class Route(Rule):
    """A werkzeug rule whose URL builders are compiled on first use, not when the map is made.

    Werkzeug compiles two builder functions per rule through ``ast``: about 10 ms for this table,
    most of the import time of this module and a tenth of ``serve``'s start. The registry only
    matches URLs; building still works, it pays on its first call.
    """

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:
                compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            return compiled(**values)

        return build


url_map = Map(
    [
        Route("/-/ping", endpoint="npm.ping", methods=["GET"]),
        Route("/-/whoami", endpoint="npm.whoami", methods=["GET"]),
        Route("/-/npm/v1/security/advisories/bulk", endpoint="npm.audit", methods=["POST"]),
        Route("/-/npm/v1/security/audits/quick", endpoint="npm.audit", methods=["POST"]),
        Route("/-/v1/done/<session_id>", endpoint="npm.web_auth_done", methods=["GET"]),
        Route("/-/v1/login", endpoint="npm.web_login", methods=["POST"]),
        Route("/-/v1/login/done/<login_id>", endpoint="npm.web_login_done", methods=["GET"]),
        Route("/-/user/org.couchdb.user:<user>", endpoint="npm.couch_user", methods=["GET", "PUT"]),
        Route("/-/user/org.couchdb.user:<user>/-rev/<rev>", endpoint="npm.couch_user", methods=["PUT"]),
        Route("/-/user/token/<path:secret>", endpoint="npm.logout", methods=["DELETE"]),
        Route("/-/npm/v1/user", endpoint="npm.profile", methods=["GET", "POST"]),
        Route("/-/npm/v1/tokens", endpoint="npm.tokens", methods=["GET", "POST"]),
        Route("/-/npm/v1/tokens/token/<path:key>", endpoint="npm.token", methods=["DELETE"]),
        Route("/-/package/<package:name>/dist-tags", endpoint="npm.dist_tags", methods=["GET"]),
        Route("/-/package/<package:name>/dist-tags/<tag>", endpoint="npm.dist_tag", methods=["PUT", "POST", "DELETE"]),
        Route("/-/package/<package:name>/visibility", endpoint="npm.visibility", methods=["GET"]),
        Route("/-/npm/v1/attestations/<path:spec>", endpoint="npm.attestations", methods=["GET"]),
        Route("/-/npm/v1/keys", endpoint="npm.keys", methods=["GET"]),
        Route("/-/package/<package:name>/access", endpoint="npm.access", methods=["POST"]),
        Route("/-/package/<package:name>/collaborators", endpoint="npm.collaborators", methods=["GET"]),
        Route("/-/user/<user>/package", endpoint="npm.user_packages", methods=["GET"]),
        Route("/-/org/<org>/package", endpoint="npm.org_packages", methods=["GET"]),
        Route("/-/org/<org>/user", endpoint="npm.org_members", methods=["GET", "PUT", "DELETE"]),
        Route("/-/org/<org>/team", endpoint="npm.org_teams", methods=["GET", "PUT"]),
        Route("/-/team/<org>/<team>", endpoint="npm.team", methods=["DELETE"]),
        Route("/-/team/<org>/<team>/user", endpoint="npm.team_members", methods=["GET", "PUT", "DELETE"]),
        Route("/-/team/<org>/<team>/package", endpoint="npm.team_packages", methods=["GET", "PUT", "DELETE"]),
        Route("/-/npm/v1/oidc/token/exchange/package/<package:name>", endpoint="npm.oidc_exchange", methods=["POST"]),
        Route("/-/_mock/oidc/github/id-token", endpoint="npm.oidc_id_token", methods=["GET"]),
        Route("/-/_mock/oidc/.well-known/jwks", endpoint="npm.oidc_jwks", methods=["GET"]),
        Route("/-/_mock/oidc/.well-known/openid-configuration", endpoint="npm.oidc_configuration", methods=["GET"]),
        Route("/-/package/<package:name>/trust", endpoint="npm.trust", methods=["GET", "POST"]),
        Route("/-/package/<package:name>/trust/<config_id>", endpoint="npm.trust_config", methods=["DELETE"]),
        Route("/-/stage/package/<package:name>", endpoint="npm.stage_publish", methods=["POST"]),
        Route("/-/stage", endpoint="npm.stages", methods=["GET"]),
        Route("/-/stage/<stage_id>", endpoint="npm.stage", methods=["GET", "DELETE"]),
        Route("/-/stage/<stage_id>/approve", endpoint="npm.stage_approve", methods=["POST"]),
        Route("/-/stage/<stage_id>/tarball", endpoint="npm.stage_tarball", methods=["GET"]),
        # Web pages (pages.py): the approval pages behind loginUrl and authUrl (public: npm prints
        # them; answering takes the account's proof) and the dashboard (admin token, as the control API).
        Route("/-/_mock/login/<login_id>", endpoint="pages.web_login_page", methods=["GET"]),
        Route("/-/_mock/login/<login_id>/approve", endpoint="pages.web_login_approve", methods=["POST"]),
        Route("/-/_mock/login/<login_id>/deny", endpoint="pages.web_login_deny", methods=["POST"]),
        Route("/-/_mock/auth/<session_id>", endpoint="pages.web_auth_page", methods=["GET"]),
        Route("/-/_mock/auth/<session_id>/approve", endpoint="pages.web_auth_approve", methods=["POST"]),
        Route("/-/_mock/auth/<session_id>/deny", endpoint="pages.web_auth_deny", methods=["POST"]),
        # The admin's pages live under a per-server secret segment, the dashboard cookie's Path
        # (host.AdminToken): ``/-/_mock/`` only signs in and redirects there.
        Route("/-/_mock/", endpoint="dashboard.sign_in", methods=["GET", "POST"]),
        Route("/-/_mock/<secret>/", endpoint="dashboard.show", methods=["GET"]),
        Route("/-/_mock/<secret>/login/<login_id>", endpoint="pages.admin_login_page", methods=["GET"]),
        Route("/-/_mock/<secret>/login/<login_id>/approve", endpoint="pages.admin_login_approve", methods=["POST"]),
        Route("/-/_mock/<secret>/login/<login_id>/deny", endpoint="pages.admin_login_deny", methods=["POST"]),
        Route("/-/_mock/<secret>/auth/<session_id>", endpoint="pages.admin_auth_page", methods=["GET"]),
        Route("/-/_mock/<secret>/auth/<session_id>/approve", endpoint="pages.admin_auth_approve", methods=["POST"]),
        Route("/-/_mock/<secret>/auth/<session_id>/deny", endpoint="pages.admin_auth_deny", methods=["POST"]),
        # The control API (admin token required): what the fixture API does, for any language.
        Route("/-/_mock/api/state", endpoint="control.state", methods=["GET"]),
        Route("/-/_mock/api/reset", endpoint="control.reset", methods=["POST"]),
        Route("/-/_mock/api/seed", endpoint="control.seed", methods=["POST"]),
        Route("/-/_mock/api/settings", endpoint="control.settings", methods=["POST"]),
        Route("/-/_mock/api/users", endpoint="control.users", methods=["POST"]),
        Route("/-/_mock/api/users/<name>/otp", endpoint="control.otp", methods=["GET"]),
        Route("/-/_mock/api/users/<name>/emails", endpoint="control.emails", methods=["GET"]),
        Route("/-/_mock/api/users/<name>/tokens", endpoint="control.tokens", methods=["POST"]),
        Route("/-/_mock/api/packages", endpoint="control.packages", methods=["POST"]),
        Route("/-/_mock/api/orgs", endpoint="control.orgs", methods=["POST"]),
        Route("/-/_mock/api/trust", endpoint="control.trust", methods=["POST"]),
        Route("/-/_mock/api/ci/github", endpoint="control.github_job", methods=["POST"]),
        Route("/-/_mock/api/invitations", endpoint="control.invitations", methods=["GET"]),
        Route(
            "/-/_mock/api/invitations/<any(accept, decline):action>", endpoint="control.invitations", methods=["POST"]
        ),
        Route("/-/_mock/api/web-auth", endpoint="control.web_auth", methods=["GET"]),
        Route("/-/_mock/api/web-auth/approve", endpoint="control.web_auth_approve", methods=["POST"]),
        Route("/-/_mock/api/web-logins/approve", endpoint="control.web_login_approve", methods=["POST"]),
        Route("/-/_mock/api/journal", endpoint="control.journal", methods=["GET"]),
        Route("/-/_mock/api/clock", endpoint="control.clock", methods=["GET", "POST"]),
        Route("/-/_mock/api/faults", endpoint="control.faults", methods=["GET", "POST", "DELETE"]),
        Route("/", endpoint="npm.root", methods=["PUT"]),
        Route("/<package:name>", endpoint="npm.package", methods=["GET", "PUT"]),
        Route("/<package:name>/-rev/<rev>", endpoint="npm.package_rev", methods=["PUT", "DELETE"]),
        Route("/<package:name>/-/<path:filename>/-rev/<rev>", endpoint="npm.tarball_rev", methods=["DELETE"]),
        Route("/<package:name>/-/<path:filename>", endpoint="npm.tarball", methods=["GET"]),
        Route("/<package:name>/<spec>", endpoint="npm.version", methods=["GET"]),
    ],
    converters={"package": PackageNameConverter},
    strict_slashes=False,
    merge_slashes=False,
)


class RouteMatcher:
    """``url_map.bind("registry").match``, remembered per (path, method).

    Werkzeug's ``StateMachineMatcher.match`` defines a recursive ``_match`` closure on every call;
    it refers to itself through its cell, so each match leaves ~9 objects that only the cyclic
    garbage collector frees. A hit here is a dict lookup and leaves nothing behind. Only successful
    matches are kept (misses raise as before); the table is static, so an entry never goes stale.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._adapter = url_map.bind("registry")
        self._limit = limit
        self._cache: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def match(self, path: str, method: str) -> tuple[str, dict[str, Any]]:
        key = (path, method)
        hit = self._cache.get(key)
        if hit is None:
            endpoint, args = self._adapter.match(path, method=method)
            if len(self._cache) >= self._limit:  # package and file names are open-ended
                self._cache.clear()
            hit = self._cache[key] = (str(endpoint), dict(args))
        return hit[0], dict(hit[1])  # callers may keep or change the arguments
