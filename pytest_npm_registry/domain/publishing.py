"""Publishing: ``PUT /<name>`` and the checks every new version passes (also for staged versions).

Validation happens before the lock (hashing a large tarball must not block readers); every rule
that reads registry state runs under the lock, in an order that spends no OTP on a doomed publish:
write permission, scope, the publish matrix, the version's history, payment, then the challenge.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .accounts import Accounts
from .attestations import PublishAttester
from .bundles import check_bundle
from .challenges import Challenges
from .clock import iso
from .errors import (
    AlreadyStaged,
    BadRequest,
    CannotPublishOver,
    NotAMaintainer,
    PaymentRequired,
    RecentlyUnpublished,
)
from .governance import REPUBLISH_BLOCK, Governance
from .models import Access, Call, Operation, Package, Principal, PublishRequirement, Version
from .orgs import Orgs
from .policy import CREATE_PACKAGE, Gate
from .sigstore import Sigstore, provenance_bundle
from .state import RegistryState
from .validation import PublishRequest, parse_publish

#: A publish of the very bytes just accepted, within this many seconds, is a client retry (npm
#: retries PUTs after a 5xx or a timeout) and gets the public registry's 409; later it is a 403.
REPLAY_WINDOW = 120.0


def registry_url(call: Call) -> str:
    """The registry's URL as ``call`` addressed it (a publish attestation's ``predicate.registry``;
    the public registry's is ``https://registry.npmjs.org``, no trailing slash)."""
    return f"http://{call.host}" + (f":{call.port}" if call.port is not None else "")


class Publishing:
    """New versions: publish, seed, and the shared checks."""

    def __init__(
        self,
        state: RegistryState,
        accounts: Accounts,
        challenges: Challenges,
        orgs: Orgs,
        governance: Governance,
        *,
        sigstore: Sigstore,
        attester: PublishAttester,
    ) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges
        self.orgs = orgs
        self.governance = governance
        self.sigstore = sigstore  # provenance bundles are checked against its Fulcio and Rekor
        self.attester = attester  # the registry's own publish attestation of a version with provenance

    # -- publish -----------------------------------------------------------------------------------

    def put_package(self, call: Call, name: str, document: Any) -> Package:
        """``PUT /<name>``: a publish, or (no attachments, every existing version) ``npm deprecate``."""
        existing = self.state.packages.get(name)
        if (
            existing is not None
            and isinstance(document, dict)
            and "_attachments" not in document
            and isinstance(document.get("versions"), dict)
            and set(document["versions"]) == set(existing.versions)
        ):
            return self.governance.update_metadata(call, name, document)
        return self.publish(call, name, document)

    def publish(self, call: Call, name: str, document: Any) -> Package:
        """``PUT /<name>``: validate, authorise, challenge, then commit the one version atomically."""
        with self.state.recording(Operation.PUBLISH, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            request = parse_publish(name, document)
            rec.version, rec.tag = request.version, request.tag
            self._check_provenance(request)  # crypto outside the lock, like the tarball's hashes
            with self.state.lock:
                existing = self.state.packages.get(name)
                requirement = existing.requirement if existing else self.state.policy.default_requirement
                self._check_writer(principal, name, existing)
                gate = self.state.policy.publish_gate(principal, requirement, name)
                access = self.check_new_version(principal, name, request, existing)
                if gate is Gate.CHALLENGE:
                    reason = self.state.policy.challenge_reason(principal, requirement)
                    rec.otp = self.challenges.second_factor(call, rec, f"publish {name}@{request.version}", reason)
                version = request.version_record(publisher=principal.user.name, published=self.state.clock.now())
                self.commit_version(
                    existing,
                    name,
                    # Last, once every check passed: a refused publish logs nothing in Rekor.
                    self.attester.attest(name, version, registry_url(call)),
                    tag=request.tag,
                    maintainer=principal.user.name,
                    access=access,
                )
                self.state.hide(name, existing, request.version)
            return self.state.packages[name]

    def _check_provenance(self, request: PublishRequest) -> None:
        """A ``.sigstore`` attachment must verify against our Sigstore (Fulcio's CA, Rekor's key),
        name this version and tarball, and pass the registry's policy: a public source repository,
        a hosted runner, ``repository.url`` naming it (the public registry's E422 otherwise)."""
        bundle = provenance_bundle(request.extra_attachments)
        if bundle is not None:
            check_bundle(bundle, request.tarball, request.manifest, self.sigstore)

    def _check_writer(self, principal: Principal, name: str, existing: Package | None) -> None:
        """Who may add a version: a writer of the package, or for a new one the owner of its scope."""
        trusted = principal.oidc_token is not None
        if trusted:
            self.state.policy.check_oidc(principal, name, CREATE_PACKAGE)
        if existing is not None and not trusted and not self.orgs.may_write(principal.user.name, existing):
            raise NotAMaintainer(
                name, reason=f"{principal.user.name} is not a maintainer of {name} ({', '.join(existing.maintainers)})"
            )
        if existing is None:
            self._refuse_recently_unpublished(name)
            self.orgs.check_scope(principal, name)

    def refuse_retired(self, name: str, version: str) -> None:
        """A ``name@version`` once unpublished is never published again, whichever way it comes."""
        if version in self.state.retired_versions.get(name, ()):
            raise CannotPublishOver(version, reason=f"{name}@{version} was unpublished: a version is never reusable")

    def check_new_version(
        self, principal: Principal, name: str, request: PublishRequest, existing: Package | None
    ) -> Access | None:
        """The version's history and the payment rule; returns the access the publish asks for."""
        if existing is not None and request.version in existing.versions:
            self._refuse_republish(existing, request.version, request.shasum)
        if (stage := self.state.staged(name, request.version)) is not None:
            # One version index for staged and published versions (npm-stage docs; npm/cli#9889).
            raise AlreadyStaged(request.version, reason=f"{name}@{request.version} is staged ({stage.id})")
        self.refuse_retired(name, request.version)
        access = Access(request.access) if request.access else None
        restricted = existing is None and name.startswith("@") and access is not Access.PUBLIC
        if restricted and not self.orgs.pays_for(name, principal.user.paid):
            raise PaymentRequired(
                name, reason=f"new scoped package {name} would be restricted and {principal.user.name} has no paid plan"
            )
        return access

    def _refuse_recently_unpublished(self, name: str) -> None:
        gone = self.state.unpublished.get(name)
        if gone is not None and self.state.clock.now() < gone + REPUBLISH_BLOCK:
            raise RecentlyUnpublished(name, iso(gone + REPUBLISH_BLOCK))

    def _refuse_republish(self, package: Package, version: str, shasum: str) -> None:
        existing = package.versions[version]
        if self.state.invisible(package.name, version):
            raise AlreadyStaged(version, reason=f"{package.name}@{version} was accepted and is not visible yet")
        if existing.shasum == shasum and self.state.clock.now() - existing.published <= REPLAY_WINDOW:
            raise AlreadyStaged(version, reason=f"{package.name}@{version} was accepted moments ago (a retried PUT?)")
        raise CannotPublishOver(version, reason=f"{package.name}@{version} already exists")

    def commit_version(
        self,
        existing: Package | None,
        name: str,
        version: Version,
        *,
        tag: str,
        maintainer: str,
        access: Access | None,
        requirement: PublishRequirement | None = None,
    ) -> Package:
        now = version.published
        if existing is None:
            existing = Package(
                name=name,
                versions={},
                dist_tags={},
                maintainers=(maintainer,),
                access=access or (Access.RESTRICTED if name.startswith("@") else Access.PUBLIC),
                requirement=requirement or self.state.policy.default_requirement,
                created=now,
                modified=now,
                rev=0,
            )
        package = replace(
            existing,
            versions={**existing.versions, version.version: version},
            dist_tags={**existing.dist_tags, tag: version.version},
            access=access or existing.access,
            modified=now,
            rev=existing.rev + 1,
        )
        self.state.packages[name] = package
        self.state.retired_versions.setdefault(name, set()).add(version.version)
        if package.rev == 1:
            self.orgs.on_package_created(package)
        return package

    def seed(
        self,
        name: str,
        document: dict[str, Any],
        *,
        maintainer: str,
        requirement: PublishRequirement | None = None,
    ) -> Package:
        """Publish without HTTP or authorisation (the fixture's ``publish``); validation still applies."""
        self.accounts.user(maintainer)
        request = parse_publish(name, document)
        with self.state.lock:
            existing = self.state.packages.get(name)
            if existing is not None and request.version in existing.versions:
                raise CannotPublishOver(request.version)
            version = request.version_record(publisher=maintainer, published=self.state.clock.now())
            access = Access(request.access) if request.access else None
            return self.commit_version(
                existing, name, version, tag=request.tag, maintainer=maintainer, access=access, requirement=requirement
            )

    def seed_dist_tag(self, name: str, tag: str, version: str) -> Package:
        """Point ``tag`` at ``version`` without HTTP or authorisation (seed files)."""
        with self.state.lock:
            package = self.state.package(name)
            if version not in package.versions:
                raise BadRequest(f"{tag} points at {version}, which is not among the versions")
            tags = {**package.dist_tags, tag: version}
            self.state.packages[name] = replace(
                package, dist_tags=tags, modified=self.state.clock.now(), rev=package.rev + 1
            )
            return self.state.packages[name]

    def set_publish_requirement(self, name: str, requirement: PublishRequirement) -> Package:
        with self.state.lock:
            package = replace(self.state.package(name), requirement=requirement, rev=self.state.package(name).rev + 1)
            self.state.packages[name] = package
            return package
