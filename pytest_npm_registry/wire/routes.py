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
        Route("/-/ping", endpoint="ping", methods=["GET"]),
        Route("/-/whoami", endpoint="whoami", methods=["GET"]),
        Route("/-/npm/v1/security/advisories/bulk", endpoint="audit", methods=["POST"]),
        Route("/-/npm/v1/security/audits/quick", endpoint="audit", methods=["POST"]),
        Route("/-/v1/done/<session_id>", endpoint="web_auth_done", methods=["GET"]),
        Route("/-/v1/login", endpoint="web_login", methods=["POST"]),
        Route("/-/v1/login/done/<login_id>", endpoint="web_login_done", methods=["GET"]),
        Route("/-/user/org.couchdb.user:<user>", endpoint="couch_user", methods=["GET", "PUT"]),
        Route("/-/user/org.couchdb.user:<user>/-rev/<rev>", endpoint="couch_user", methods=["PUT"]),
        Route("/-/user/token/<path:secret>", endpoint="logout", methods=["DELETE"]),
        Route("/-/npm/v1/user", endpoint="profile", methods=["GET", "POST"]),
        Route("/-/npm/v1/tokens", endpoint="tokens", methods=["GET", "POST"]),
        Route("/-/npm/v1/tokens/token/<path:key>", endpoint="token", methods=["DELETE"]),
        Route("/-/package/<package:name>/dist-tags", endpoint="dist_tags", methods=["GET"]),
        Route("/-/package/<package:name>/dist-tags/<tag>", endpoint="dist_tag", methods=["PUT", "POST", "DELETE"]),
        Route("/-/package/<package:name>/visibility", endpoint="visibility", methods=["GET"]),
        Route("/-/package/<package:name>/access", endpoint="access", methods=["POST"]),
        Route("/-/package/<package:name>/collaborators", endpoint="collaborators", methods=["GET"]),
        Route("/-/user/<user>/package", endpoint="user_packages", methods=["GET"]),
        Route("/-/org/<org>/package", endpoint="org_packages", methods=["GET"]),
        Route("/-/org/<org>/user", endpoint="org_members", methods=["GET", "PUT", "DELETE"]),
        Route("/-/org/<org>/team", endpoint="org_teams", methods=["GET", "PUT"]),
        Route("/-/team/<org>/<team>", endpoint="team", methods=["DELETE"]),
        Route("/-/team/<org>/<team>/user", endpoint="team_members", methods=["GET", "PUT", "DELETE"]),
        Route("/-/team/<org>/<team>/package", endpoint="team_packages", methods=["GET", "PUT", "DELETE"]),
        Route("/-/npm/v1/oidc/token/exchange/package/<package:name>", endpoint="oidc_exchange", methods=["POST"]),
        Route("/-/_mock/oidc/github/id-token", endpoint="oidc_id_token", methods=["GET"]),
        Route("/-/_mock/oidc/.well-known/jwks", endpoint="oidc_jwks", methods=["GET"]),
        Route("/-/_mock/oidc/.well-known/openid-configuration", endpoint="oidc_configuration", methods=["GET"]),
        Route("/-/package/<package:name>/trust", endpoint="trust", methods=["GET", "POST"]),
        Route("/-/package/<package:name>/trust/<config_id>", endpoint="trust_config", methods=["DELETE"]),
        Route("/-/stage/package/<package:name>", endpoint="stage_publish", methods=["POST"]),
        Route("/-/stage", endpoint="stages", methods=["GET"]),
        Route("/-/stage/<stage_id>", endpoint="stage", methods=["GET", "DELETE"]),
        Route("/-/stage/<stage_id>/approve", endpoint="stage_approve", methods=["POST"]),
        Route("/-/stage/<stage_id>/tarball", endpoint="stage_tarball", methods=["GET"]),
        # Web pages (pages.py): the approval pages behind loginUrl and authUrl (the one-time id is the
        # guard) and the dashboard (admin token, as the control API).
        Route("/-/_mock/login/<login_id>", endpoint="web_login_page", methods=["GET"]),
        Route("/-/_mock/login/<login_id>/approve", endpoint="web_login_approve", methods=["POST"]),
        Route("/-/_mock/login/<login_id>/deny", endpoint="web_login_deny", methods=["POST"]),
        Route("/-/_mock/auth/<session_id>", endpoint="web_auth_page", methods=["GET"]),
        Route("/-/_mock/auth/<session_id>/approve", endpoint="web_auth_approve", methods=["POST"]),
        Route("/-/_mock/auth/<session_id>/deny", endpoint="web_auth_deny", methods=["POST"]),
        Route("/-/_mock/", endpoint="dashboard", methods=["GET", "POST"]),
        # The control API (admin token required): what the fixture API does, for any language.
        Route("/-/_mock/api/state", endpoint="control_state", methods=["GET"]),
        Route("/-/_mock/api/reset", endpoint="control_reset", methods=["POST"]),
        Route("/-/_mock/api/seed", endpoint="control_seed", methods=["POST"]),
        Route("/-/_mock/api/settings", endpoint="control_settings", methods=["POST"]),
        Route("/-/_mock/api/users", endpoint="control_users", methods=["POST"]),
        Route("/-/_mock/api/users/<name>/otp", endpoint="control_otp", methods=["GET"]),
        Route("/-/_mock/api/users/<name>/emails", endpoint="control_emails", methods=["GET"]),
        Route("/-/_mock/api/users/<name>/tokens", endpoint="control_tokens", methods=["POST"]),
        Route("/-/_mock/api/packages", endpoint="control_packages", methods=["POST"]),
        Route("/-/_mock/api/orgs", endpoint="control_orgs", methods=["POST"]),
        Route("/-/_mock/api/trust", endpoint="control_trust", methods=["POST"]),
        Route("/-/_mock/api/ci/github", endpoint="control_github_job", methods=["POST"]),
        Route("/-/_mock/api/invitations", endpoint="control_invitations", methods=["GET"]),
        Route(
            "/-/_mock/api/invitations/<any(accept, decline):action>", endpoint="control_invitations", methods=["POST"]
        ),
        Route("/-/_mock/api/web-auth", endpoint="control_web_auth", methods=["GET"]),
        Route("/-/_mock/api/web-auth/approve", endpoint="control_web_auth_approve", methods=["POST"]),
        Route("/-/_mock/api/web-logins/approve", endpoint="control_web_login_approve", methods=["POST"]),
        Route("/-/_mock/api/journal", endpoint="control_journal", methods=["GET"]),
        Route("/-/_mock/api/clock", endpoint="control_clock", methods=["GET", "POST"]),
        Route("/-/_mock/api/faults", endpoint="control_faults", methods=["POST", "DELETE"]),
        Route("/", endpoint="root", methods=["PUT"]),
        Route("/<package:name>", endpoint="package", methods=["GET", "PUT"]),
        Route("/<package:name>/-rev/<rev>", endpoint="package_rev", methods=["PUT", "DELETE"]),
        Route("/<package:name>/-/<path:filename>/-rev/<rev>", endpoint="tarball_rev", methods=["DELETE"]),
        Route("/<package:name>/-/<path:filename>", endpoint="tarball", methods=["GET"]),
        Route("/<package:name>/<spec>", endpoint="version", methods=["GET"]),
    ],
    converters={"package": PackageNameConverter},
    strict_slashes=False,
    merge_slashes=False,
)
