"""The registry: one method per registry operation.

Nothing here knows HTTP. Each operation takes a :class:`Call` (credential, OTP, client address),
raises the registry's real error when it refuses, and leaves a journal entry either way. Writes
happen under one lock and replace whole :class:`Package` records, so a reader never sees a version
without its tarball and a refused publish leaves nothing behind.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from .clock import iso
from .errors import (
    AlreadyStaged,
    BadRequest,
    CannotPublishOver,
    NotAMaintainer,
    NotFound,
    PaymentRequired,
    RecentlyUnpublished,
    VersionNotFound,
)
from .maintainers import REPUBLISH_BLOCK, UNPUBLISH_DOWNLOAD_LIMIT, Maintainers
from .models import Access, Call, Operation, Package, PublishRequirement, Version
from .policy import Gate
from .state import _Record
from .validation import check_tag, check_version, parse_publish

#: A publish of the very bytes just accepted, within this many seconds, is a client retry (npm
#: retries PUTs after a 5xx or a timeout) and gets the public registry's 409; later it is a 403.
REPLAY_WINDOW = 120.0


class Registry(Maintainers):
    """The mock registry's state and operations: reads, publish and dist-tags here; governance in
    :class:`~.maintainers.Maintainers`, orgs in :class:`~.orgs.Orgs`, accounts in
    :class:`~.profiles.Profiles` and :class:`~.accounts.Accounts`."""

    # -- reads -------------------------------------------------------------------------------------

    def read_package(self, call: Call, name: str) -> Package:
        with self._recording(Operation.READ_PACKAGE, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            return self._visible(name, rec.principal, bad_token)

    def read_version(self, call: Call, name: str, spec: str) -> tuple[Package, Version]:
        with self._recording(Operation.READ_VERSION, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            package = self._visible(name, rec.principal, bad_token)
            version = package.dist_tags.get(spec, spec)
            rec.version = version
            if version not in package.versions:
                raise VersionNotFound(name, spec)
            return package, package.versions[version]

    def download(self, call: Call, name: str, filename: str) -> Version:
        """A tarball by file name: ``<name>-<v>.tgz``, with or without the scope."""
        with self._recording(Operation.DOWNLOAD, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            package = self._visible(name, rec.principal, bad_token)
            basename = name.rsplit("/", 1)[-1]
            for prefix in (f"{name}-", f"{basename}-"):
                if filename.startswith(prefix) and filename.endswith(".tgz"):
                    rec.version = filename[len(prefix) : -len(".tgz")]
                    if rec.version in package.versions:
                        self.downloads.setdefault(name, deque(maxlen=UNPUBLISH_DOWNLOAD_LIMIT)).append(self.clock.now())
                        return package.versions[rec.version]
            raise NotFound(reason=f"{name} has no tarball {filename!r}")

    def ping(self, call: Call) -> None:
        with self._recording(Operation.PING, call, None) as rec:
            rec.principal, _ = self._reader(call)

    def note(self, call: Call, operation: Operation, *, status: int = 200) -> None:
        """Journal a request that has no registry logic (audit, visibility)."""
        with self._recording(operation, call, None) as rec:
            rec.principal, _ = self._reader(call)
            rec.status = status

    # -- publish -----------------------------------------------------------------------------------

    def put_package(self, call: Call, name: str, document: Any) -> Package:
        """``PUT /<name>``: a publish, or (no attachments, every existing version) ``npm deprecate``."""
        existing = self.packages.get(name)
        if (
            existing is not None
            and isinstance(document, dict)
            and "_attachments" not in document
            and isinstance(document.get("versions"), dict)
            and set(document["versions"]) == set(existing.versions)
        ):
            return self.update_metadata(call, name, document)
        return self.publish(call, name, document)

    def publish(self, call: Call, name: str, document: Any) -> Package:
        """``PUT /<name>``: validate, authorise, challenge, then commit the one version atomically."""
        with self._recording(Operation.PUBLISH, call, name) as rec:
            rec.principal = principal = self._require_principal(call)
            request = parse_publish(name, document)
            rec.version, rec.tag = request.version, request.tag
            with self._lock:
                existing = self.packages.get(name)
                if existing is not None and not self.may_write(principal.user.name, existing):
                    raise NotAMaintainer(
                        name,
                        reason=f"{principal.user.name} is not a maintainer of {name}"
                        f" ({', '.join(existing.maintainers)})",
                    )
                if existing is None:
                    self._refuse_recently_unpublished(name)
                    self.check_scope(principal, name)
                requirement = existing.requirement if existing else self.policy.default_requirement
                gate = self.policy.publish_gate(principal, requirement, name)
                if existing is not None and request.version in existing.versions:
                    self._refuse_republish(existing, request.version, request.shasum)
                if request.version in self.retired_versions.get(name, ()):
                    raise CannotPublishOver(
                        request.version, reason=f"{name}@{request.version} was unpublished: a version is never reusable"
                    )
                access = Access(request.access) if request.access else None
                if (
                    existing is None
                    and name.startswith("@")
                    and access is not Access.PUBLIC
                    and not self.pays_for(name, principal.user.paid)
                ):
                    raise PaymentRequired(
                        name,
                        reason=f"new scoped package {name} would be restricted and"
                        f" {principal.user.name} has no paid plan",
                    )
                if gate is Gate.CHALLENGE:
                    reason = self.policy.challenge_reason(principal, requirement)
                    rec.otp = self._second_factor(
                        call, principal, Operation.PUBLISH, f"publish {name}@{request.version}", reason
                    )
                self._commit_version(
                    existing,
                    name,
                    Version(
                        version=request.version,
                        manifest=request.manifest,
                        tarball=request.tarball,
                        integrity=request.integrity,
                        shasum=request.shasum,
                        published=self.clock.now(),
                        publisher=principal.user.name,
                        attachments=request.extra_attachments,
                    ),
                    tag=request.tag,
                    maintainer=principal.user.name,
                    access=access,
                )
            return self.packages[name]

    def _refuse_recently_unpublished(self, name: str) -> None:
        gone = self.unpublished.get(name)
        if gone is not None and self.clock.now() < gone + REPUBLISH_BLOCK:
            raise RecentlyUnpublished(name, iso(gone + REPUBLISH_BLOCK))

    def _refuse_republish(self, package: Package, version: str, shasum: str) -> None:
        existing = package.versions[version]
        if existing.shasum == shasum and self.clock.now() - existing.published <= REPLAY_WINDOW:
            raise AlreadyStaged(version, reason=f"{package.name}@{version} was accepted moments ago (a retried PUT?)")
        raise CannotPublishOver(version, reason=f"{package.name}@{version} already exists")

    def _commit_version(
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
                requirement=requirement or self.policy.default_requirement,
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
        self.packages[name] = package
        self.retired_versions.setdefault(name, set()).add(version.version)
        if package.rev == 1:
            self.on_package_created(package)
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
        self.user(maintainer)
        request = parse_publish(name, document)
        with self._lock:
            existing = self.packages.get(name)
            if existing is not None and request.version in existing.versions:
                raise CannotPublishOver(request.version)
            version = Version(
                version=request.version,
                manifest=request.manifest,
                tarball=request.tarball,
                integrity=request.integrity,
                shasum=request.shasum,
                published=self.clock.now(),
                publisher=maintainer,
            )
            access = Access(request.access) if request.access else None
            return self._commit_version(
                existing, name, version, tag=request.tag, maintainer=maintainer, access=access, requirement=requirement
            )

    def set_publish_requirement(self, name: str, requirement: PublishRequirement) -> Package:
        with self._lock:
            package = replace(self.package(name), requirement=requirement, rev=self.package(name).rev + 1)
            self.packages[name] = package
            return package

    # -- dist-tags ---------------------------------------------------------------------------------

    def dist_tags(self, call: Call, name: str) -> dict[str, str]:
        with self._recording(Operation.LIST_DIST_TAGS, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            return dict(self._visible(name, rec.principal, bad_token).dist_tags)

    def add_dist_tag(self, call: Call, name: str, tag: str, version: Any) -> Package:
        with self._recording(Operation.ADD_DIST_TAG, call, name) as rec:
            rec.tag = tag
            rec.principal = self._require_principal(call)
            check_tag(tag)
            if not isinstance(version, str):
                raise BadRequest('Invalid dist-tag body: expected a JSON string holding a version, like "1.0.0"')
            check_version(version)
            rec.version = version
            return self._change_dist_tag(call, rec, name, tag, version)

    def remove_dist_tag(self, call: Call, name: str, tag: str) -> Package:
        with self._recording(Operation.REMOVE_DIST_TAG, call, name) as rec:
            rec.tag = tag
            rec.principal = self._require_principal(call)
            if tag == "latest":
                raise BadRequest("The latest dist-tag cannot be removed; point it at another version instead")
            return self._change_dist_tag(call, rec, name, tag, None)

    def _change_dist_tag(self, call: Call, rec: _Record, name: str, tag: str, version: str | None) -> Package:
        principal = rec.principal
        assert principal is not None
        with self._lock:
            package = self._visible(name, principal, bad_token=False)
            if not self.may_write(principal.user.name, package):
                raise NotAMaintainer(
                    name, verb="change the dist-tags of", reason=f"{principal.user.name} may not write to {name}"
                )
            # Adding or removing a non-latest tag is exempt from auth-and-writes 2FA (npm docs).
            gate = self.policy.write_gate(principal, name, tfa_exempt=tag != "latest")
            if version is not None and version not in package.versions:
                raise NotFound(f"version not found: {version}", reason=f"{name} has no version {version}")
            if version is None and tag not in package.dist_tags:
                raise NotFound(f"dist-tag not found: {tag}", reason=f"{name} has no dist-tag {tag!r}")
            if gate is Gate.CHALLENGE:
                what = f"dist-tag {'add' if version else 'rm'} {name} {tag}"
                rec.otp = self._second_factor(
                    call, principal, rec_operation(version), what, self.policy.challenge_reason(principal)
                )
            tags = dict(package.dist_tags)
            if version is None:
                rec.version = tags.pop(tag)
            else:
                tags[tag] = version
            package = replace(package, dist_tags=tags, modified=self.clock.now(), rev=package.rev + 1)
            self.packages[name] = package
            return package


def rec_operation(version: str | None) -> Operation:
    return Operation.ADD_DIST_TAG if version is not None else Operation.REMOVE_DIST_TAG
