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

from .errors import (
    BadRequest,
    NotFound,
    VersionNotFound,
)
from .maintainers import UNPUBLISH_DOWNLOAD_LIMIT
from .models import Call, Operation, Package, Version
from .policy import Gate
from .stages import Stages
from .state import _Record
from .validation import check_tag, check_version, tarball_version


class Registry(Stages):
    """The mock registry's state and operations, one module per area: reads and dist-tags here;
    staging (``stages``), trusted publishing (``trust``), publishing (``publishing``), governance
    (``maintainers``), orgs (``orgs``), login and tokens (``profiles``), accounts (``accounts``)."""

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
            rec.version = tarball_version(name, filename)
            if rec.version in package.versions:
                if name not in self.downloads:  # not setdefault: it would build a deque on every download
                    self.downloads[name] = deque(maxlen=UNPUBLISH_DOWNLOAD_LIMIT)
                self.downloads[name].append(self.clock.now())
                return package.versions[rec.version]
            raise NotFound(reason=f"{name} has no tarball {filename!r}")

    def ping(self, call: Call) -> None:
        with self._recording(Operation.PING, call, None) as rec:
            rec.principal, _ = self._reader(call)

    def note(self, call: Call, operation: Operation) -> None:
        """Journal a request that has no registry logic (the audit endpoints)."""
        with self._recording(operation, call, None) as rec:
            rec.principal, _ = self._reader(call)

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
            package = self._writable(principal, name, "change the dist-tags of")
            # Adding or removing a non-latest tag is exempt from auth-and-writes 2FA (npm docs).
            gate = self.policy.write_gate(principal, name, tfa_exempt=tag != "latest")
            if version is not None and version not in package.versions:
                raise NotFound(f"version not found: {version}", reason=f"{name} has no version {version}")
            if version is None and tag not in package.dist_tags:
                raise NotFound(f"dist-tag not found: {tag}", reason=f"{name} has no dist-tag {tag!r}")
            if gate is Gate.CHALLENGE:
                what = f"dist-tag {'add' if version else 'rm'} {name} {tag}"
                rec.otp = self._second_factor(call, rec, what, self.policy.challenge_reason(principal))
            tags = dict(package.dist_tags)
            if version is None:
                rec.version = tags.pop(tag)
            else:
                tags[tag] = version
            package = replace(package, dist_tags=tags, modified=self.clock.now(), rev=package.rev + 1)
            self.packages[name] = package
            return package
