"""Staged publishing (npm >= 11.15): a version waits in a queue until a maintainer approves it.

``npm stage publish`` sends the publish document to ``POST /-/stage/package/<name>`` without any
OTP: the second factor moves to the approval (``POST /-/stage/<id>/approve``), which needs an
interactive, 2FA-confirmed request. The package must exist; stage-only tokens
(``read-write-stage-only``) and trusted publishers with ``createStagedPackage`` may stage.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from .accounts import Accounts
from .challenges import Challenges
from .errors import (
    BadRequest,
    CannotStage,
    CredentialsNotAllowed,
    Forbidden,
    NotAMaintainer,
    NotFound,
)
from .models import Call, Operation, Package, Principal, StagedVersion
from .orgs import Orgs
from .policy import CREATE_STAGED_PACKAGE
from .publishing import Publishing
from .state import RegistryState
from .validation import parse_publish

DEFAULT_STAGE_PAGE = 100


class Stages:
    """The staging queue."""

    def __init__(
        self, state: RegistryState, accounts: Accounts, challenges: Challenges, orgs: Orgs, publishing: Publishing
    ) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges
        self.orgs = orgs
        self.publishing = publishing

    def stage_publish(self, call: Call, name: str, document: Any) -> StagedVersion:
        with self.state.recording(Operation.STAGE, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            request = parse_publish(name, document)
            rec.version, rec.tag = request.version, request.tag
            with self.state.lock:
                package = self.state.packages.get(name)
                if package is None:
                    raise NotFound(reason=f"{name} does not exist: only existing packages can be staged")
                self._check_stager(principal, package)
                self._refuse_restage(package, request.version)
                self.publishing.check_new_version(principal, name, request, package)
                trusted = principal.oidc_token is not None
                stage = StagedVersion(
                    id=str(uuid.uuid4()),
                    package=name,
                    version=request.version_record(publisher=principal.user.name, published=self.state.clock.now()),
                    tag=request.tag,
                    access=request.access,
                    created=self.state.clock.now(),
                    actor=principal.user.name,
                    actor_type="trusted publisher" if trusted else "user",
                )
                self.state.stages[stage.id] = stage
                return stage

    def _check_stager(self, principal: Principal, package: Package) -> None:
        token = principal.token
        who = principal.describe()
        if principal.oidc_token is not None:
            self.state.policy.check_oidc(principal, package.name, CREATE_STAGED_PACKAGE)
            return
        if not self.orgs.may_write(principal.user.name, package):
            raise NotAMaintainer(
                package.name, verb="stage", reason=f"{principal.user.name} may not write to {package.name}"
            )
        if token is not None and (token.read_only or not token.covers(package.name)):
            raise CredentialsNotAllowed(reason=f"{who} may not stage {package.name}")
        if not principal.user.tfa_enabled:
            raise Forbidden(
                "Two-factor authentication must be enabled to stage packages.",
                reason=f"{principal.user.name} has no 2FA",
            )

    def _refuse_restage(self, package: Package, version: str) -> None:
        """Staged and published versions share one version index: a version staged, published or
        once unpublished cannot be staged; a staged one is rejected first to stage it anew."""
        name = package.name
        if version in package.versions or version in self.state.retired_versions.get(name, ()):
            raise CannotStage(version, reason=f"{name}@{version} was published")
        if self.state.staged(name, version) is not None:
            raise CannotStage(version, reason=f"{name}@{version} is staged already: reject it to stage it again")

    def _stage(self, principal: Principal, stage_id: str) -> StagedVersion:
        stage = self.state.stages.get(stage_id)
        if stage is None or not self.orgs.may_write(principal.user.name, self.state.package(stage.package)):
            raise NotFound(reason=f"no staged version {stage_id} visible to {principal.user.name}")
        return stage

    def list_stages(
        self, call: Call, *, package: str | None = None, page: int = 0, per_page: int = DEFAULT_STAGE_PAGE
    ) -> tuple[list[StagedVersion], int]:
        with self.state.recording(Operation.LIST_STAGES, call, package) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            if page < 0 or not 1 <= per_page <= 1000:
                raise BadRequest("Invalid paging: page >= 0 and 1 <= perPage <= 1000")
            mine = [
                s
                for s in sorted(self.state.stages.values(), key=lambda s: s.created)
                if (package is None or s.package == package)
                and s.package in self.state.packages
                and self.orgs.may_write(principal.user.name, self.state.packages[s.package])
            ]
            return mine[page * per_page : (page + 1) * per_page], len(mine)

    def view_stage(self, call: Call, stage_id: str) -> StagedVersion:
        with self.state.recording(Operation.VIEW_STAGE, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            return self._stage(principal, stage_id)

    def _approver(self, principal: Principal, action: str) -> None:
        """Approve and reject need an interactive, 2FA-confirmed request by a writer of the package."""
        self.state.policy.refuse_non_interactive(principal, action, bar_bypass=True)

    def approve_stage(self, call: Call, stage_id: str) -> Package:
        with self.state.recording(Operation.APPROVE_STAGE, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                stage = self._stage(principal, stage_id)
                rec.version, rec.tag = stage.version.version, stage.tag
                self._approver(principal, "approve staged packages")
                existing = self.state.package(stage.package)
                if stage.version.version in existing.versions:
                    raise BadRequest(f"{stage.package}@{stage.version.version} was published meanwhile")
                self.publishing.refuse_retired(
                    stage.package, stage.version.version
                )  # published and unpublished meanwhile
                what = f"approve {stage.package}@{stage.version.version}"
                rec.otp = self.challenges.second_factor(call, rec, what, f"{what} needs 2FA")
                del self.state.stages[stage_id]
                package = self.publishing.commit_version(
                    existing,
                    stage.package,
                    replace(stage.version, published=self.state.clock.now()),
                    tag=stage.tag,
                    maintainer=stage.actor,
                    access=None,
                )
                self.state.hide(stage.package, existing, stage.version.version)
                return package

    def reject_stage(self, call: Call, stage_id: str) -> StagedVersion:
        with self.state.recording(Operation.REJECT_STAGE, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                stage = self._stage(principal, stage_id)
                rec.version = stage.version.version
                self._approver(principal, "reject staged packages")
                what = f"reject {stage.package}@{stage.version.version}"
                rec.otp = self.challenges.second_factor(call, rec, what, f"{what} needs 2FA")
                return self.state.stages.pop(stage_id)
