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

from .accounts import Accounts
from .challenges import Challenges
from .errors import (
    BadRequest,
    NotFound,
    VersionNotFound,
)
from .governance import UNPUBLISH_DOWNLOAD_LIMIT, Governance
from .models import Call, Operation, Package, Version
from .orgs import Orgs
from .policy import Gate
from .state import Record, RegistryState
from .validation import check_tag, check_version, tarball_version


class Reads:
    """Packuments, versions, tarballs and dist-tags: what installs read, and the dist-tag writes.

    Reads see the package as served (``RegistryState.served``): a version accepted moments ago is
    not there until the registry's ``visibility_delay`` has passed."""

    def __init__(
        self, state: RegistryState, accounts: Accounts, challenges: Challenges, orgs: Orgs, governance: Governance
    ) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges
        self.orgs = orgs
        self.governance = governance

    # -- reads -------------------------------------------------------------------------------------

    def read_package(self, call: Call, name: str) -> Package:
        with self.state.recording(Operation.READ_PACKAGE, call, name) as rec:
            rec.principal, bad_token = self.accounts.reader(call)
            return self.orgs.visible(name, rec.principal, bad_token, served=True)

    def read_version(self, call: Call, name: str, spec: str) -> tuple[Package, Version]:
        with self.state.recording(Operation.READ_VERSION, call, name) as rec:
            rec.principal, bad_token = self.accounts.reader(call)
            package = self.orgs.visible(name, rec.principal, bad_token, served=True)
            version = package.dist_tags.get(spec, spec)
            rec.version = version
            if version not in package.versions:
                raise VersionNotFound(name, spec)
            return package, package.versions[version]

    def download(self, call: Call, name: str, filename: str) -> Version:
        """A tarball by file name: ``<name>-<v>.tgz``, with or without the scope."""
        with self.state.recording(Operation.DOWNLOAD, call, name) as rec:
            rec.principal, bad_token = self.accounts.reader(call)
            package = self.orgs.visible(name, rec.principal, bad_token, served=True)
            rec.version = tarball_version(name, filename)
            if rec.version in package.versions:
                if name not in self.state.downloads:  # not setdefault: it would build a deque on every download
                    self.state.downloads[name] = deque(maxlen=UNPUBLISH_DOWNLOAD_LIMIT)
                self.state.downloads[name].append(self.state.clock.now())
                return package.versions[rec.version]
            raise NotFound(reason=f"{name} has no tarball {filename!r}")

    def ping(self, call: Call) -> None:
        with self.state.recording(Operation.PING, call, None) as rec:
            rec.principal, _ = self.accounts.reader(call)

    def note(self, call: Call, operation: Operation) -> None:
        """Journal a request that has no registry logic (the audit endpoints)."""
        with self.state.recording(operation, call, None) as rec:
            rec.principal, _ = self.accounts.reader(call)

    # -- dist-tags ---------------------------------------------------------------------------------

    def dist_tags(self, call: Call, name: str) -> dict[str, str]:
        with self.state.recording(Operation.LIST_DIST_TAGS, call, name) as rec:
            rec.principal, bad_token = self.accounts.reader(call)
            return dict(self.orgs.visible(name, rec.principal, bad_token, served=True).dist_tags)

    def add_dist_tag(self, call: Call, name: str, tag: str, version: Any) -> Package:
        with self.state.recording(Operation.ADD_DIST_TAG, call, name) as rec:
            rec.tag = tag
            rec.principal = self.accounts.require_principal(call)
            check_tag(tag)
            if not isinstance(version, str):
                raise BadRequest('Invalid dist-tag body: expected a JSON string holding a version, like "1.0.0"')
            check_version(version)
            rec.version = version
            return self._change_dist_tag(call, rec, name, tag, version)

    def remove_dist_tag(self, call: Call, name: str, tag: str) -> Package:
        with self.state.recording(Operation.REMOVE_DIST_TAG, call, name) as rec:
            rec.tag = tag
            rec.principal = self.accounts.require_principal(call)
            if tag == "latest":
                raise BadRequest("The latest dist-tag cannot be removed; point it at another version instead")
            return self._change_dist_tag(call, rec, name, tag, None)

    def _change_dist_tag(self, call: Call, rec: Record, name: str, tag: str, version: str | None) -> Package:
        principal = rec.principal
        assert principal is not None
        with self.state.lock:
            package = self.governance.writable(principal, name, "change the dist-tags of")
            # Adding or removing a non-latest tag is exempt from auth-and-writes 2FA (npm docs).
            gate = self.state.policy.write_gate(principal, name, tfa_exempt=tag != "latest")
            if version is not None and version not in package.versions:
                raise NotFound(f"version not found: {version}", reason=f"{name} has no version {version}")
            if version is None and tag not in package.dist_tags:
                raise NotFound(f"dist-tag not found: {tag}", reason=f"{name} has no dist-tag {tag!r}")
            if gate is Gate.CHALLENGE:
                what = f"dist-tag {'add' if version else 'rm'} {name} {tag}"
                rec.otp = self.challenges.second_factor(call, rec, what, self.state.policy.challenge_reason(principal))
            tags = dict(package.dist_tags)
            if version is None:
                rec.version = tags.pop(tag)
            else:
                tags[tag] = version
            package = replace(package, dist_tags=tags, modified=self.state.clock.now(), rev=package.rev + 1)
            self.state.packages[name] = package
            return package
