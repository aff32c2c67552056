"""The one route table of the registry.

Werkzeug unquotes ``%2f`` before routing, so ``/@scope%2fname`` arrives as ``/@scope/name``: the
``package`` converter matches an unscoped name or ``@scope/name`` as one value.
"""

from __future__ import annotations

from werkzeug.routing import BaseConverter, Map, Rule


class PackageNameConverter(BaseConverter):
    """``name`` or ``@scope/name``. Never starts with ``-``: ``/-/...`` is the registry's own space.

    Matching is loose on purpose (``.hidden`` or ``UPPER`` still route), so a bad name gets the
    registry's 400 naming the rule it breaks instead of a 501.
    """

    regex = r"@[^/]+/[^/]+|[^/@\-][^/]*"
    part_isolating = False
    weight = 200


url_map = Map(
    [
        Rule("/-/ping", endpoint="ping", methods=["GET"]),
        Rule("/-/whoami", endpoint="whoami", methods=["GET"]),
        Rule("/-/npm/v1/security/advisories/bulk", endpoint="audit", methods=["POST"]),
        Rule("/-/npm/v1/security/audits/quick", endpoint="audit", methods=["POST"]),
        Rule("/-/v1/done/<session_id>", endpoint="web_auth_done", methods=["GET"]),
        Rule("/-/v1/login", endpoint="web_login", methods=["POST"]),
        Rule("/-/v1/login/done/<login_id>", endpoint="web_login_done", methods=["GET"]),
        Rule("/-/user/org.couchdb.user:<user>", endpoint="couch_user", methods=["GET", "PUT"]),
        Rule("/-/user/org.couchdb.user:<user>/-rev/<rev>", endpoint="couch_user", methods=["PUT"]),
        Rule("/-/user/token/<path:secret>", endpoint="logout", methods=["DELETE"]),
        Rule("/-/npm/v1/user", endpoint="profile", methods=["GET", "POST"]),
        Rule("/-/npm/v1/tokens", endpoint="tokens", methods=["GET", "POST"]),
        Rule("/-/npm/v1/tokens/token/<path:key>", endpoint="token", methods=["DELETE"]),
        Rule("/-/package/<package:name>/dist-tags", endpoint="dist_tags", methods=["GET"]),
        Rule("/-/package/<package:name>/dist-tags/<tag>", endpoint="dist_tag", methods=["PUT", "POST", "DELETE"]),
        Rule("/-/package/<package:name>/visibility", endpoint="visibility", methods=["GET"]),
        Rule("/-/package/<package:name>/access", endpoint="access", methods=["POST"]),
        Rule("/-/package/<package:name>/collaborators", endpoint="collaborators", methods=["GET"]),
        Rule("/-/user/<user>/package", endpoint="user_packages", methods=["GET"]),
        Rule("/-/org/<org>/package", endpoint="org_packages", methods=["GET"]),
        Rule("/-/org/<org>/user", endpoint="org_members", methods=["GET", "PUT", "DELETE"]),
        Rule("/-/org/<org>/team", endpoint="org_teams", methods=["GET", "PUT"]),
        Rule("/-/team/<org>/<team>", endpoint="team", methods=["DELETE"]),
        Rule("/-/team/<org>/<team>/user", endpoint="team_members", methods=["GET", "PUT", "DELETE"]),
        Rule("/-/team/<org>/<team>/package", endpoint="team_packages", methods=["GET", "PUT", "DELETE"]),
        Rule("/-/npm/v1/oidc/token/exchange/package/<package:name>", endpoint="oidc_exchange", methods=["POST"]),
        Rule("/-/_mock/oidc/github/id-token", endpoint="oidc_id_token", methods=["GET"]),
        Rule("/-/_mock/oidc/.well-known/jwks", endpoint="oidc_jwks", methods=["GET"]),
        Rule("/-/_mock/oidc/.well-known/openid-configuration", endpoint="oidc_configuration", methods=["GET"]),
        Rule("/-/package/<package:name>/trust", endpoint="trust", methods=["GET", "POST"]),
        Rule("/-/package/<package:name>/trust/<config_id>", endpoint="trust_config", methods=["DELETE"]),
        Rule("/-/stage/package/<package:name>", endpoint="stage_publish", methods=["POST"]),
        Rule("/-/stage", endpoint="stages", methods=["GET"]),
        Rule("/-/stage/<stage_id>", endpoint="stage", methods=["GET", "DELETE"]),
        Rule("/-/stage/<stage_id>/approve", endpoint="stage_approve", methods=["POST"]),
        Rule("/-/stage/<stage_id>/tarball", endpoint="stage_tarball", methods=["GET"]),
        # Web pages (pages.py): the approval pages behind loginUrl and authUrl (the one-time id is the
        # guard) and the dashboard (admin token, as the control API).
        Rule("/-/_mock/login/<login_id>", endpoint="web_login_page", methods=["GET"]),
        Rule("/-/_mock/login/<login_id>/approve", endpoint="web_login_approve", methods=["POST"]),
        Rule("/-/_mock/login/<login_id>/deny", endpoint="web_login_deny", methods=["POST"]),
        Rule("/-/_mock/auth/<session_id>", endpoint="web_auth_page", methods=["GET"]),
        Rule("/-/_mock/auth/<session_id>/approve", endpoint="web_auth_approve", methods=["POST"]),
        Rule("/-/_mock/auth/<session_id>/deny", endpoint="web_auth_deny", methods=["POST"]),
        Rule("/-/_mock/", endpoint="dashboard", methods=["GET", "POST"]),
        # The control API (admin token required): what the fixture API does, for any language.
        Rule("/-/_mock/api/state", endpoint="control_state", methods=["GET"]),
        Rule("/-/_mock/api/reset", endpoint="control_reset", methods=["POST"]),
        Rule("/-/_mock/api/seed", endpoint="control_seed", methods=["POST"]),
        Rule("/-/_mock/api/settings", endpoint="control_settings", methods=["POST"]),
        Rule("/-/_mock/api/users", endpoint="control_users", methods=["POST"]),
        Rule("/-/_mock/api/users/<name>/otp", endpoint="control_otp", methods=["GET"]),
        Rule("/-/_mock/api/users/<name>/emails", endpoint="control_emails", methods=["GET"]),
        Rule("/-/_mock/api/users/<name>/tokens", endpoint="control_tokens", methods=["POST"]),
        Rule("/-/_mock/api/packages", endpoint="control_packages", methods=["POST"]),
        Rule("/-/_mock/api/orgs", endpoint="control_orgs", methods=["POST"]),
        Rule("/-/_mock/api/trust", endpoint="control_trust", methods=["POST"]),
        Rule("/-/_mock/api/ci/github", endpoint="control_github_job", methods=["POST"]),
        Rule("/-/_mock/api/invitations", endpoint="control_invitations", methods=["GET"]),
        Rule(
            "/-/_mock/api/invitations/<any(accept, decline):action>", endpoint="control_invitations", methods=["POST"]
        ),
        Rule("/-/_mock/api/web-auth", endpoint="control_web_auth", methods=["GET"]),
        Rule("/-/_mock/api/web-auth/approve", endpoint="control_web_auth_approve", methods=["POST"]),
        Rule("/-/_mock/api/web-logins/approve", endpoint="control_web_login_approve", methods=["POST"]),
        Rule("/-/_mock/api/journal", endpoint="control_journal", methods=["GET"]),
        Rule("/-/_mock/api/clock", endpoint="control_clock", methods=["GET", "POST"]),
        Rule("/-/_mock/api/faults", endpoint="control_faults", methods=["POST", "DELETE"]),
        Rule("/", endpoint="root", methods=["PUT"]),
        Rule("/<package:name>", endpoint="package", methods=["GET", "PUT"]),
        Rule("/<package:name>/-rev/<rev>", endpoint="package_rev", methods=["PUT", "DELETE"]),
        Rule("/<package:name>/-/<path:filename>/-rev/<rev>", endpoint="tarball_rev", methods=["DELETE"]),
        Rule("/<package:name>/-/<path:filename>", endpoint="tarball", methods=["GET"]),
        Rule("/<package:name>/<spec>", endpoint="version", methods=["GET"]),
    ],
    converters={"package": PackageNameConverter},
    strict_slashes=False,
    merge_slashes=False,
)
