"""Package governance: owners and invitations, access settings, deprecate, unpublish.

``npm owner`` rewrites the ``maintainers`` list through ``PUT /<name>/-rev/<rev>``; on today's
registry an added name gets an invitation and becomes a maintainer only once it accepts. ``npm
deprecate`` sends the whole packument back: only ``deprecated`` fields may differ. ``npm
unpublish`` of one version sends the packument without it, of a whole package a ``DELETE``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .accounts import Accounts
from .challenges import Challenges
from .errors import (
    BadRequest,
    MalformedBody,
    NotAMaintainer,
    NotFound,
    PaymentRequired,
    RevisionConflict,
    UnpublishRefused,
)
from .models import Access, Call, Invitation, Operation, Package, Principal, PublishRequirement, TokenKind
from .orgs import Orgs
from .policy import DAY, HOUR, Gate
from .state import Record, RegistryState
from .validation import check_tag, tarball_version, version_key

#: Unpublish is free this long after publishing (npm's unpublish policy).
UNPUBLISH_WINDOW = 72 * HOUR
UNPUBLISH_DOWNLOAD_LIMIT = 300
#: A fully unpublished name is blocked from new publishes this long.
REPUBLISH_BLOCK = 24 * HOUR
# Keys the registry adds when it serves a version: a deprecate body carries them back.
_SERVED_KEYS = frozenset({"_id", "_npmUser", "maintainers", "dist", "deprecated"})


@dataclass(frozen=True)
class OwnersChange:
    added: list[str]
    invited: list[Invitation]
    removed: list[str]


class Governance:
    """Owners, access, deprecation and unpublishing of existing packages."""

    def __init__(self, state: RegistryState, accounts: Accounts, challenges: Challenges, orgs: Orgs) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges
        self.orgs = orgs

    def maintained(self, principal: Principal, name: str, verb: str) -> Package:
        package = self.orgs.visible(name, principal, bad_token=False)
        if principal.user.name not in package.maintainers:
            raise NotAMaintainer(name, verb=verb, reason=f"{principal.user.name} is not a maintainer of {name}")
        return package

    def writable(self, principal: Principal, name: str, verb: str) -> Package:
        package = self.orgs.visible(name, principal, bad_token=False)
        if not self.orgs.may_write(principal.user.name, package):
            raise NotAMaintainer(name, verb=verb, reason=f"{principal.user.name} may not write to {name}")
        return package

    def check_rev(self, package: Package, rev: str | None) -> None:
        if rev is not None and rev != package.rev_id:
            raise RevisionConflict(package.name, rev, package.rev_id)

    def write_gate(self, call: Call, rec: Record, principal: Principal, name: str, *, what: str) -> None:
        if self.state.policy.write_gate(principal, name) is Gate.CHALLENGE:
            rec.otp = self.challenges.second_factor(call, rec, what, self.state.policy.challenge_reason(principal))

    # -- owners ------------------------------------------------------------------------------------

    def change_package(self, call: Call, name: str, rev: str, body: Any) -> OwnersChange | Package:
        """``PUT /<name>/-rev/<rev>``: an owner change, or the first step of a version unpublish."""
        if not isinstance(body, dict):
            raise MalformedBody("Invalid body: expected the package document as JSON")
        if "versions" in body:
            return self._unpublish_versions(call, name, rev, body)
        return self._change_owners(call, name, rev, body)

    def _change_owners(self, call: Call, name: str, rev: str, body: dict[str, Any]) -> OwnersChange:
        with self.state.recording(Operation.CHANGE_OWNERS, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            listed = body.get("maintainers")
            if not isinstance(listed, list) or not all(
                isinstance(m, dict) and isinstance(m.get("name"), str) for m in listed
            ):
                raise MalformedBody('Invalid owner change: expected {"maintainers": [{"name": ..., "email": ...}]}')
            wanted = [m["name"] for m in listed]
            with self.state.lock:
                package = self.maintained(principal, name, "change the maintainers of")
                self.check_rev(package, rev)
                added = [u for u in wanted if u not in package.maintainers]
                removed = [u for u in package.maintainers if u not in wanted]
                for user in added:
                    self.accounts.user(user)
                if not wanted:
                    raise BadRequest("Cannot remove all maintainers of a package: add someone else first")
                self.orgs.settings_gate(call, rec, principal, "change maintainers", package=name)
                invited: list[Invitation] = []
                keep = tuple(m for m in package.maintainers if m not in removed)
                if self.state.policy.owner_add_invites:
                    for user in added:  # refuse before inviting anyone: a 409 changes nothing
                        self.orgs.refuse_pending_invitation(user, package=name)
                    invited = [self.orgs.invite(u, principal.user.name, package=name) for u in added]
                else:
                    keep += tuple(added)
                self.state.packages[name] = replace(
                    package, maintainers=keep, modified=self.state.clock.now(), rev=package.rev + 1
                )
                return OwnersChange([] if invited else added, invited, removed)

    # -- access --------------------------------------------------------------------------------------

    def visibility(self, call: Call, name: str) -> bool:
        """Whether ``name`` is public, as ``npm access get status`` shows it.

        Asked with an OIDC exchange token, the question comes from a trusted publish deciding
        whether to turn on provenance (npm's ``lib/utils/oidc.js``: an id token whose
        ``repository_visibility`` is public, then this answer; pnpm 11's own check; libnpmpublish).
        The answer is the truth, so a trusted publish from a public repository signs through the
        mock Sigstore, unless the opt-out ``advertise_public_visibility`` is off: then "not
        public". The credential, not ``npm-command``, decides: pnpm 11 asks twice in one publish,
        once without ``npm-command``, and both must agree.
        """
        with self.state.recording(Operation.VISIBILITY, call, name) as rec:
            rec.principal, bad_token = self.accounts.reader(call)
            public = self.orgs.visible(name, rec.principal, bad_token).access is Access.PUBLIC
            token = rec.principal.token if rec.principal else None
            publishing = token is not None and token.kind is TokenKind.OIDC
            if public and publishing and not self.state.advertise_public_visibility:
                rec.reason = "public, but told an OIDC publish it is not (advertise_public_visibility is off)"
                return False
            return public

    def set_access(self, call: Call, name: str, body: Any) -> Package:
        """``POST /-/package/<name>/access``: ``{"access"}`` or the publishing rule (``npm access set mfa=``)."""
        with self.state.recording(Operation.SET_ACCESS, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            if not isinstance(body, dict):
                raise MalformedBody("Invalid access body: expected a JSON object")
            access, requirement = _access_change(name, body)
            with self.state.lock:
                package = self.maintained(principal, name, "change the access of")
                if access is Access.RESTRICTED and not self.orgs.pays_for(name, principal.user.paid):
                    raise PaymentRequired(name, reason=f"{name} cannot be private without a paid plan")
                self.orgs.settings_gate(call, rec, principal, "change package access", package=name)
                package = replace(
                    package,
                    access=access or package.access,
                    requirement=requirement or package.requirement,
                    modified=self.state.clock.now(),
                    rev=package.rev + 1,
                )
                self.state.packages[name] = package
                return package

    def collaborators(self, call: Call, name: str) -> dict[str, str]:
        with self.state.recording(Operation.LIST_COLLABORATORS, call, name) as rec:
            rec.principal, bad_token = self.accounts.reader(call)
            package = self.orgs.visible(name, rec.principal, bad_token)
            found = dict.fromkeys(package.maintainers, "write")
            org = self.orgs.scope_org(package.name)
            for team in org.teams.values() if org else ():
                permission = team.grants.get(name)
                for member in team.members if permission else ():
                    if found.get(member) != "write":
                        found[member] = "write" if permission and permission.value == "read-write" else "read"
            return dict(sorted(found.items()))

    def user_packages(self, call: Call, user: str) -> dict[str, str]:
        """``GET /-/user/<name>/package``: what ``npm access list packages`` shows for a user."""
        with self.state.recording(Operation.LIST_PACKAGES, call, None) as rec:
            rec.principal = self.accounts.require_principal(call)
            self.accounts.user(user)
            return {
                name: "write"
                for name, package in sorted(self.state.packages.items())
                if self.orgs.may_write(user, package)
            }

    # -- deprecate -----------------------------------------------------------------------------------

    def update_metadata(self, call: Call, name: str, body: dict[str, Any]) -> Package:
        """``PUT /<name>`` without attachments: ``npm deprecate``. Only ``deprecated`` may change,
        so a deprecate can never rewrite a published manifest."""
        with self.state.recording(Operation.DEPRECATE, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            versions = body.get("versions")
            if not isinstance(versions, dict) or not all(isinstance(v, dict) for v in versions.values()):
                raise MalformedBody("Invalid package document: 'versions' must map versions to manifests")
            with self.state.lock:
                package = self.writable(principal, name, "deprecate")
                self.check_rev(package, body.get("_rev"))
                if set(versions) != set(package.versions):
                    raise BadRequest("A deprecate may not add or remove versions (use npm publish / npm unpublish)")
                if "dist-tags" in body and body["dist-tags"] != package.dist_tags:
                    raise BadRequest("A deprecate may not change dist-tags (use npm dist-tag)")
                changed = {}
                for version, sent in versions.items():
                    stored = package.versions[version]
                    if _comparable(sent) != _comparable(stored.manifest):
                        raise BadRequest(
                            f"A deprecate may only change versions[*].deprecated; versions[{version!r}] differs"
                        )
                    message = sent.get("deprecated")
                    if message is not None and not isinstance(message, str):
                        raise BadRequest(f"versions[{version!r}].deprecated must be a string")
                    if (message or None) != stored.manifest.get("deprecated"):
                        manifest = {k: v for k, v in stored.manifest.items() if k != "deprecated"}
                        if message:
                            manifest["deprecated"] = message
                        changed[version] = replace(stored, manifest=manifest)
                rec.version = ",".join(sorted(changed, key=version_key)) or None
                self.write_gate(call, rec, principal, name, what=f"deprecate {name}")
                package = replace(
                    package,
                    versions={**package.versions, **changed},
                    modified=self.state.clock.now(),
                    rev=package.rev + 1,
                )
                self.state.packages[name] = package
                return package

    # -- unpublish -------------------------------------------------------------------------------------

    def _unpublish_versions(self, call: Call, name: str, rev: str, body: dict[str, Any]) -> Package:
        with self.state.recording(Operation.UNPUBLISH, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            versions = body.get("versions")
            tags = body.get("dist-tags", {})
            if not isinstance(versions, dict) or not isinstance(tags, dict):
                raise MalformedBody("Invalid package document: 'versions' and 'dist-tags' must be objects")
            with self.state.lock:
                package = self.maintained(principal, name, "unpublish")
                self.check_rev(package, rev)
                gone = [v for v in package.versions if v not in versions]
                if not set(versions) < set(package.versions) or not gone:
                    raise BadRequest("An unpublish document must keep a subset of the existing versions")
                for tag, version in tags.items():
                    check_tag(tag)
                    if not isinstance(version, str) or version not in versions:
                        raise BadRequest(f"dist-tags[{tag!r}] must name a version that remains")
                rec.version = ",".join(gone)
                self._check_unpublish(package, gone)
                self.write_gate(call, rec, principal, name, what=f"unpublish {name}@{','.join(gone)}")
                package = replace(
                    package,
                    versions={v: m for v, m in package.versions.items() if v not in gone},
                    dist_tags=dict(tags),
                    modified=self.state.clock.now(),
                    rev=package.rev + 1,
                )
                self.state.packages[name] = package
                return package

    def delete_tarball(self, call: Call, name: str, filename: str, rev: str) -> None:
        """The last step of a version unpublish: the version is already gone, so this only checks."""
        with self.state.recording(Operation.UNPUBLISH, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            package = self.maintained(principal, name, "unpublish")
            self.check_rev(package, rev)
            version = tarball_version(name, filename)
            if version is None:
                raise NotFound(reason=f"{filename!r} is not a tarball of {name}")
            if version in package.versions:
                raise BadRequest(f"{name}@{version} is still published: unpublish the version first")

    def unpublish_package(self, call: Call, name: str, rev: str) -> None:
        """``DELETE /<name>/-rev/<rev>``: the whole package (``npm unpublish <name> --force``)."""
        with self.state.recording(Operation.UNPUBLISH, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                package = self.maintained(principal, name, "unpublish")
                self.check_rev(package, rev)
                self._check_unpublish(package, list(package.versions))
                self.write_gate(call, rec, principal, name, what=f"unpublish {name}")
                del self.state.packages[name]
                self.state.unpublished[name] = self.state.clock.now()

    def _check_unpublish(self, package: Package, versions: list[str]) -> None:
        now = self.state.clock.now()
        failed = []
        if self._dependents(package.name):
            failed.append("has dependent packages in the registry")
        if any(now - package.versions[v].published > UNPUBLISH_WINDOW for v in versions):
            week = [t for t in self.state.downloads.get(package.name, ()) if now - t <= 7 * DAY]
            if len(week) >= UNPUBLISH_DOWNLOAD_LIMIT:
                failed.append(f"has {len(week)} downloads in the last week (limit {UNPUBLISH_DOWNLOAD_LIMIT})")
            if len(package.maintainers) > 1:
                failed.append("has more than one maintainer")
        if failed:
            raise UnpublishRefused(failed, reason=f"unpublish of {package.name} refused: {'; '.join(failed)}")

    def _dependents(self, name: str) -> list[str]:
        found = []
        for other in self.state.packages.values():
            if other.name == name:
                continue
            for version in other.versions.values():
                deps = version.manifest.get("dependencies") or {}
                if isinstance(deps, dict) and name in deps:
                    found.append(other.name)
                    break
        return found


def _comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in _SERVED_KEYS}


def _access_change(name: str, body: dict[str, Any]) -> tuple[Access | None, PublishRequirement | None]:
    if "access" in body:
        if body["access"] not in ("public", "restricted"):
            raise BadRequest(f"Invalid access {body['access']!r}: use public or restricted")
        if not name.startswith("@"):
            raise BadRequest("Can't restrict access to unscoped packages: only scoped packages have a status")
        return Access(body["access"]), None
    tfa = body.get("publish_requires_tfa")
    override = body.get("automation_token_overrides_tfa", False)
    if not isinstance(tfa, bool) or not isinstance(override, bool):
        raise BadRequest(
            'Expected {"access": ...} or {"publish_requires_tfa": bool, "automation_token_overrides_tfa": bool}'
        )
    if not tfa:
        return None, PublishRequirement.NONE
    return None, PublishRequirement.AUTOMATION if override else PublishRequirement.PUBLISH
