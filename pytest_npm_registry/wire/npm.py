"""The npm registry's own endpoints: one view per route of ``routes.py`` named ``npm.<view>``.

Each view parses what the request carries, calls one domain operation and serialises its answer;
refusals are raised as :class:`RegistryError` and rendered by the application (``app.py``).
Packuments are serialised once per revision and origin and then served from a cache, so reads
cost a dict lookup.
"""

from __future__ import annotations

import json
import threading

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain import identity
from pytest_npm_registry.domain.clock import iso
from pytest_npm_registry.domain.errors import NotFound
from pytest_npm_registry.domain.governance import OwnersChange
from pytest_npm_registry.domain.logins import COUCH_LOGIN_STATUS
from pytest_npm_registry.domain.models import POLL_PENDING_STATUS, Call, Operation, Package
from pytest_npm_registry.domain.registry import Registry

from . import documents
from .parsing import json_body, paging, token_request, user_and_role
from .responses import JSON, json_response

_CACHE_LIMIT = 2048


class NpmViews:
    """The views of the npm endpoints, around the registry they serve."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        #: (name, variant, origin) -> (the package revision, the people revision, the bytes)
        self._cache: dict[tuple[str, str, str], tuple[Package, int, bytes]] = {}
        self._cache_lock = threading.Lock()

    # -- endpoints ---------------------------------------------------------------------------------

    def ping(self, request: Request, call: Call, origin: str) -> Response:
        self.registry.reads.ping(call)
        return json_response({})

    def whoami(self, request: Request, call: Call, origin: str) -> Response:
        return json_response({"username": self.registry.accounts.whoami(call)})

    def audit(self, request: Request, call: Call, origin: str) -> Response:
        # `npm install` audits after every install; an empty report keeps it quiet.
        self.registry.reads.note(call, Operation.AUDIT)
        return json_response({})

    def visibility(self, request: Request, call: Call, origin: str, name: str) -> Response:
        return json_response({"public": self.registry.governance.visibility(call, name)})

    def root(self, request: Request, call: Call, origin: str) -> Response:
        # `PUT /` is a publish with an empty name: refuse it as the naming rules say, not as a gap.
        return self.package(request, call, origin, "")

    def package(self, request: Request, call: Call, origin: str, name: str) -> Response:
        if request.method == "PUT":
            self.registry.publishing.put_package(call, name, json_body(request))
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
            doc = documents.corgi(package, origin, self.registry.signatures)
        else:
            doc = documents.packument(package, origin, self.registry.state.users, self.registry.signatures)
        body = json.dumps(doc).encode()
        with self._cache_lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = (package, people, body)
        return body

    def version(self, request: Request, call: Call, origin: str, name: str, spec: str) -> Response:
        package, version = self.registry.reads.read_version(call, name, spec)
        users, signer = self.registry.state.users, self.registry.signatures
        return json_response(documents.manifest(package, version, origin, users, signer))

    def attestations(self, request: Request, call: Call, origin: str, spec: str) -> Response:
        name, _, version_spec = spec.rpartition("@")
        package, version = self.registry.reads.read_version(call, name or spec, version_spec if name else "")
        listed = documents.attestations(version)
        if listed is None:
            raise NotFound("Not Found", reason=f"{package.name}@{version.version} has no attestations")
        return json_response(listed)

    def keys(self, request: Request, call: Call, origin: str) -> Response:
        # The registry's signing keys, readable by anyone (npm audit signatures asks without a
        # token when Sigstore's TUF repository does not list them).
        return json_response(self.registry.signatures.keys())

    def tarball(self, request: Request, call: Call, origin: str, name: str, filename: str) -> Response:
        version = self.registry.reads.download(call, name, filename)
        return Response(version.tarball, content_type="application/octet-stream")

    def dist_tags(self, request: Request, call: Call, origin: str, name: str) -> Response:
        return json_response(self.registry.reads.dist_tags(call, name))

    def dist_tag(self, request: Request, call: Call, origin: str, name: str, tag: str) -> Response:
        if request.method == "DELETE":
            package = self.registry.reads.remove_dist_tag(call, name, tag)
            return json_response({"ok": True, "dist-tags": package.dist_tags})
        # npm sends the version as a JSON string: "1.0.0"
        package = self.registry.reads.add_dist_tag(call, name, tag, json_body(request))
        return json_response({"ok": True, "dist-tags": package.dist_tags}, Operation.ADD_DIST_TAG.accepted_status)

    def web_auth_done(self, request: Request, call: Call, origin: str, session_id: str) -> Response:
        return self._poll_answer(self.registry.challenges.poll_web_auth(call, session_id))

    # -- accounts: login, logout, profile, tokens ----------------------------------------------------

    @staticmethod
    def _poll_answer(token: str | None) -> Response:
        # A 202 needs a JSON body (an empty one crashes npm) and Retry-After (without it npm polls
        # in a tight loop); 200 carries {"token"}.
        if token is None:
            return json_response({}, POLL_PENDING_STATUS, {"Retry-After": "1"})
        return json_response({"token": token})

    def web_login(self, request: Request, call: Call, origin: str) -> Response:
        body = json_body(request) if request.get_data() else {}
        create = isinstance(body, dict) and body.get("create") is True
        login = self.registry.logins.begin_web_login(call, create=create)
        return json_response({"loginUrl": origin + login.login_path, "doneUrl": origin + login.done_path})

    def web_login_done(self, request: Request, call: Call, origin: str, login_id: str) -> Response:
        return self._poll_answer(self.registry.logins.poll_web_login(call, login_id))

    def couch_user(self, request: Request, call: Call, origin: str, user: str, rev: str | None = None) -> Response:
        if request.method == "GET":
            return json_response(documents.couch_user(self.registry.logins.couch_user(call, user)))
        token = self.registry.logins.couch_login(call, user, json_body(request))
        return json_response(
            {"ok": True, "id": f"org.couchdb.user:{user}", "rev": "_we_dont_use_revs_any_more", "token": token},
            COUCH_LOGIN_STATUS,
        )

    def logout(self, request: Request, call: Call, origin: str, secret: str) -> Response:
        self.registry.logins.logout(call, secret)
        return json_response({"ok": True})

    def profile(self, request: Request, call: Call, origin: str) -> Response:
        if request.method == "GET":
            user = self.registry.profiles.profile(call)
            return json_response(documents.profile(user, self.registry.profiles.tfa_state(user)))
        user, tfa = self.registry.profiles.set_profile(call, json_body(request))
        return json_response(documents.profile(user, tfa))

    def tokens(self, request: Request, call: Call, origin: str) -> Response:
        if request.method == "POST":
            record, secret = self.registry.profiles.create_token_api(call, token_request(json_body(request)))
            return json_response(documents.token(record, secret))
        page, per_page = paging(request)
        listing = self.registry.profiles.list_tokens(call, page=page, per_page=per_page)
        urls = {}
        if listing.next_page is not None:
            urls["next"] = f"{origin}/-/npm/v1/tokens?page={listing.next_page}&perPage={listing.per_page}"
        objects = [documents.token(t) for t in listing.tokens]
        return json_response({"objects": objects, "total": listing.total, "urls": urls})

    def token(self, request: Request, call: Call, origin: str, key: str) -> Response:
        self.registry.profiles.revoke_token_api(call, key)
        return Response(status=Operation.REVOKE_TOKEN.accepted_status)

    # -- package governance: owners, access, deprecate, unpublish ----------------------------------

    def package_rev(self, request: Request, call: Call, origin: str, name: str, rev: str) -> Response:
        if request.method == "DELETE":
            self.registry.governance.unpublish_package(call, name, rev)
            return json_response({"ok": True})
        change = self.registry.governance.change_package(call, name, rev, json_body(request))
        headers = {}
        if isinstance(change, OwnersChange) and change.invited:
            # What the public registry says when `npm owner add` sends an invitation.
            headers["npm-notice"] = " ".join(
                f"INFO: User {i.user} invited to package {name} successfully." for i in change.invited
            )
        return json_response({"ok": True}, headers=headers)

    def tarball_rev(self, request: Request, call: Call, origin: str, name: str, filename: str, rev: str) -> Response:
        self.registry.governance.delete_tarball(call, name, filename, rev)
        return json_response({"ok": True})

    def access(self, request: Request, call: Call, origin: str, name: str) -> Response:
        self.registry.governance.set_access(call, name, json_body(request))
        return json_response({"ok": True})

    def collaborators(self, request: Request, call: Call, origin: str, name: str) -> Response:
        return json_response(self.registry.governance.collaborators(call, name))

    def user_packages(self, request: Request, call: Call, origin: str, user: str) -> Response:
        return json_response(self.registry.governance.user_packages(call, user))

    def org_packages(self, request: Request, call: Call, origin: str, org: str) -> Response:
        return json_response(self.registry.orgs.org_packages(call, org))

    # -- orgs and teams ------------------------------------------------------------------------------

    def org_members(self, request: Request, call: Call, origin: str, org: str) -> Response:
        if request.method == "GET":
            return json_response({u: r.value for u, r in self.registry.orgs.org_members(call, org).items()})
        if request.method == "DELETE":
            self.registry.orgs.remove_org_member(call, org, user_and_role(json_body(request))[0])
            return json_response({})
        record, user, role, invited = self.registry.orgs.set_org_member(call, org, *user_and_role(json_body(request)))
        headers = {"npm-notice": f"INFO: User {user} invited to org {org} successfully."} if invited else {}
        return json_response(
            {"org": {"name": org, "size": len(record.members)}, "user": user, "role": role.value}, headers=headers
        )

    def org_teams(self, request: Request, call: Call, origin: str, org: str) -> Response:
        if request.method == "PUT":
            team = self.registry.orgs.create_team(call, org, json_body(request))
            return json_response(
                {"name": team.name, "description": team.description}, Operation.CREATE_TEAM.accepted_status
            )
        return json_response(self.registry.orgs.teams(call, org))

    def team(self, request: Request, call: Call, origin: str, org: str, team: str) -> Response:
        self.registry.orgs.destroy_team(call, org, team)
        return json_response({})

    def team_members(self, request: Request, call: Call, origin: str, org: str, team: str) -> Response:
        if request.method == "GET":
            return json_response(self.registry.orgs.team_members(call, org, team))
        add = request.method == "PUT"
        self.registry.orgs.change_team_member(call, org, team, user_and_role(json_body(request))[0], add=add)
        return json_response({}, (Operation.ADD_TEAM_MEMBER if add else Operation.REMOVE_TEAM_MEMBER).accepted_status)

    def team_packages(self, request: Request, call: Call, origin: str, org: str, team: str) -> Response:
        if request.method == "GET":
            return json_response(self.registry.orgs.team_packages(call, org, team))
        revoke = request.method == "DELETE"
        self.registry.orgs.grant(call, org, team, json_body(request), revoke=revoke)
        return json_response({}, (Operation.REVOKE_GRANT if revoke else Operation.GRANT).accepted_status)

    # -- trusted publishing and staging ------------------------------------------------------------------

    def oidc_exchange(self, request: Request, call: Call, origin: str, name: str) -> Response:
        record, secret = self.registry.trust.exchange_oidc(call, name)
        created = iso(record.created)
        expires = iso(record.expires or record.created)
        return json_response(
            {"token": secret, "token_type": "oidc", "created": created, "expires": expires},
            Operation.OIDC_EXCHANGE.accepted_status,
        )

    def oidc_id_token(self, request: Request, call: Call, origin: str) -> Response:
        token = self.registry.trust.issue_id_token(call, request.args.get("audience"))
        return json_response({"count": 1, "value": token})

    def oidc_jwks(self, request: Request, call: Call, origin: str) -> Response:
        return json_response(identity.jwks())

    def oidc_configuration(self, request: Request, call: Call, origin: str) -> Response:
        issuer = f"{origin}/-/_mock/oidc"
        return json_response(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/.well-known/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def trust(self, request: Request, call: Call, origin: str, name: str) -> Response:
        if request.method == "POST":
            return json_response(self.registry.trust.create_trust(call, name, json_body(request)).as_dict())
        return json_response([c.as_dict() for c in self.registry.trust.list_trust(call, name)])

    def trust_config(self, request: Request, call: Call, origin: str, name: str, config_id: str) -> Response:
        self.registry.trust.revoke_trust(call, name, config_id)
        return Response(status=Operation.REVOKE_TRUST.accepted_status)

    def stage_publish(self, request: Request, call: Call, origin: str, name: str) -> Response:
        stage = self.registry.stages.stage_publish(call, name, json_body(request))
        return json_response(
            {"message": "Package version staged successfully.", "stageId": stage.id}, Operation.STAGE.accepted_status
        )

    def stages(self, request: Request, call: Call, origin: str) -> Response:
        page, per_page = paging(request)
        items, total = self.registry.stages.list_stages(
            call, package=request.args.get("package"), page=page, per_page=per_page
        )
        return json_response(
            {"items": [documents.stage_item(s) for s in items], "page": page, "perPage": per_page, "total": total}
        )

    def stage(self, request: Request, call: Call, origin: str, stage_id: str) -> Response:
        if request.method == "DELETE":
            self.registry.stages.reject_stage(call, stage_id)
            return Response(status=Operation.REJECT_STAGE.accepted_status)
        return json_response(documents.stage_item(self.registry.stages.view_stage(call, stage_id)))

    def stage_approve(self, request: Request, call: Call, origin: str, stage_id: str) -> Response:
        self.registry.stages.approve_stage(call, stage_id)
        return json_response(
            {"message": "Package version approved and published successfully."}, Operation.APPROVE_STAGE.accepted_status
        )

    def stage_tarball(self, request: Request, call: Call, origin: str, stage_id: str) -> Response:
        stage = self.registry.stages.view_stage(call, stage_id)
        return Response(stage.version.tarball, content_type="application/octet-stream")
