"""What the Python API hands out: typed views of the registry's records.

A view holds the record and the registry it lives in; its methods are the few a test needs
(``user.otp()``, ``user.create_token()``, ``token.revoke()``), and every rule behind them is the
domain's (``domain/admin.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_npm_registry.domain.admin import Operator
from pytest_npm_registry.domain.errors import UsageError
from pytest_npm_registry.domain.models import Access, Package, PublishRequirement, TokenKind, TwoFactorMode
from pytest_npm_registry.domain.models import Token as TokenRecord
from pytest_npm_registry.domain.models import User as UserRecord
from pytest_npm_registry.domain.provenance import Provenance, UnreadableProvenance, provenance_of
from pytest_npm_registry.domain.registry import Registry


@dataclass(frozen=True)
class Token:
    """A token as its owner sees it once: the secret ``key`` to put in ``.npmrc``."""

    key: str = field(repr=False)  # kept out of reprs: pytest prints them in failures
    record: TokenRecord
    _registry: Registry

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def kind(self) -> TokenKind:
        return self.record.kind

    @property
    def prefix(self) -> str:
        """The first 8 characters of the key: what the journal shows of it (an entry's ``token`` is
        ``prefix + "..."``), so ``reg.journal.by_token(token)`` finds this token's requests."""
        return self.record.prefix

    @property
    def user(self) -> str:
        return self.record.user

    def revoke(self) -> None:
        self._registry.accounts.revoke_token(self.record.id)

    def __str__(self) -> str:
        return self.key

    def __repr__(self) -> str:
        # pytest prints reprs in failures: the prefix (as the journal shows it), never the key or its hash.
        record = self.record
        parts = [f"{record.user}'s {record.kind.value}", f"{record.prefix}..."]
        if record.kind is TokenKind.GRANULAR:
            parts.append("read-only" if record.read_only else record.permission.value)
            if record.bypass_2fa:
                parts.append("bypass-2fa")
        if record.packages:
            parts.append(f"packages={list(record.packages)}")
        if record.scopes:
            parts.append(f"scopes={list(record.scopes)}")
        if record.cidr:
            parts.append(f"cidr={[str(c) for c in record.cidr]}")
        if record.revoked:
            parts.append("revoked")
        return f"<Token {' '.join(parts)}>"


@dataclass(frozen=True)
class User:
    """An account, with its password and second factors at hand."""

    name: str
    #: ``None`` for an account created through npm (``npm adduser``): the registry keeps only a hash.
    password: str | None = field(repr=False)
    record: UserRecord = field(repr=False)
    _registry: Registry

    @property
    def email(self) -> str:
        return self.record.email

    @property
    def tfa(self) -> TwoFactorMode:
        return self.record.tfa

    @property
    def totp_secret(self) -> str | None:
        return self.record.totp_secret

    @property
    def recovery_codes(self) -> list[str]:
        """The unused recovery codes; each works once as an OTP."""
        return list(self.record.recovery_codes)

    def otp(self, *, offset_steps: int = 0) -> str:
        """The authenticator code at the registry's current time (``offset_steps`` 30-second steps away)."""
        return Operator(self._registry).otp(self.name, offset_steps=offset_steps)

    def create_token(
        self,
        kind: TokenKind | str = TokenKind.GRANULAR,
        *,
        read_only: bool = False,
        stage_only: bool = False,
        bypass_2fa: bool = False,
        packages: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
        cidr: Iterable[str] | None = None,
        expires_in_days: float | None = None,
        name: str | None = None,
        description: str | None = None,
        orgs: Iterable[str] | None = None,
        key: str | None = None,
    ) -> Token:
        """Mint a token. ``kind``: ``granular`` (default), ``session`` (what ``npm login`` gives), or
        under the ``classic`` policy ``read-only`` / ``publish`` / ``automation``. ``stage_only`` is
        ``--packages-and-scopes-permission=read-write-stage-only`` (npm >= 11.21). ``key`` fixes the
        secret (a CI fixture that must match a stored value)."""
        record, secret = Operator(self._registry).create_token(
            self.name,
            kind,
            read_only=read_only,
            stage_only=stage_only,
            bypass_2fa=bypass_2fa,
            packages=packages,
            scopes=scopes,
            cidr=cidr,
            expires_in_days=expires_in_days,
            name=name,
            description=description,
            orgs=orgs,
            key=key,
        )
        return Token(secret, record, self._registry)

    def tokens(self, *, include_revoked: bool = False) -> list[TokenRecord]:
        """This user's tokens (records: the secrets are shown only once, at creation)."""
        return [
            t
            for t in self._registry.state.tokens.values()
            if t.user == self.name and (include_revoked or not t.revoked)
        ]

    @property
    def emails(self) -> list[str]:
        """One-time codes the registry "emailed" (accounts without 2FA confirm governance actions so)."""
        return list(self.record.outbox)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<User {self.name} tfa={self.record.tfa.value}>"


TokenLike = Token | str | None


@dataclass(frozen=True)
class PackageView:
    """A read-only view of a package as the registry holds it."""

    record: Package

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def versions(self) -> list[str]:
        return list(self.record.versions)

    @property
    def dist_tags(self) -> dict[str, str]:
        return dict(self.record.dist_tags)

    @property
    def maintainers(self) -> list[str]:
        return list(self.record.maintainers)

    @property
    def access(self) -> Access:
        return self.record.access

    @property
    def publish_requirement(self) -> PublishRequirement:
        return self.record.requirement

    def manifest(self, version: str) -> dict[str, Any]:
        return dict(self.record.versions[version].manifest)

    def tarball(self, version: str) -> bytes:
        return self.record.versions[version].tarball

    def attachments(self, version: str) -> dict[str, bytes]:
        """Extra attachments of a publish, e.g. a provenance bundle (``<name>-<v>.sigstore``)."""
        return dict(self.record.versions[version].attachments)

    def publisher(self, version: str) -> str:
        return self.record.versions[version].publisher

    def provenance(self, version: str) -> Provenance | None:
        """Where ``version`` was built, as its provenance attestation says (the source
        repository, workflow, commit, builder, transparency-log entry: :class:`Provenance`);
        None when it was published without ``--provenance``."""
        record = self.record.versions.get(version)
        if record is None:
            raise UsageError(f"{self.name} has no version {version!r} (have: {list(self.record.versions)})")
        try:
            return provenance_of(dict(record.attachments))
        except UnreadableProvenance as exc:
            raise UsageError(f"{self.name}@{version}'s provenance bundle cannot be read: {exc}") from None

    def __repr__(self) -> str:
        # The record holds every tarball: a repr shows what a test compares, never the bytes.
        record = self.record
        return (
            f"<PackageView {record.name} versions={list(record.versions)} dist_tags={dict(record.dist_tags)} "
            f"maintainers={list(record.maintainers)} access={record.access.value} "
            f"requirement={record.requirement.value}>"
        )
