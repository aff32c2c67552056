"""``NpmRegistry``: the typed API a test (or any script) drives the mock registry with.

Usable with or without pytest::

    with NpmRegistry(policy="current") as reg:
        alice = reg.add_user("alice", tfa="auth-and-writes")
        result = reg.npm("publish", cwd=package_dir, token=alice.create_token(bypass_2fa=True))
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_npm_registry.domain.clock import Clock
from pytest_npm_registry.domain.errors import RegistryError, UsageError
from pytest_npm_registry.domain.journal import Journal
from pytest_npm_registry.domain.models import (
    WEB_AUTH_TTL,
    Access,
    ChallengeStyle,
    Invitation,
    Org,
    OrgRole,
    Package,
    Permission,
    PublishRequirement,
    TokenKind,
    TwoFactorMode,
    WebAuthSession,
    WebLogin,
    secret_hash,
)
from pytest_npm_registry.domain.models import Token as TokenRecord
from pytest_npm_registry.domain.models import User as UserRecord
from pytest_npm_registry.domain.otp import totp_code
from pytest_npm_registry.domain.packaging import make_tarball, manifest_for, publish_document
from pytest_npm_registry.domain.policy import Policy
from pytest_npm_registry.domain.registry import Registry
from pytest_npm_registry.domain.storage import Storage
from pytest_npm_registry.wire.server import DEFAULT_MAX_BODY, RegistryServer

from .assertions import AssertionsMixin
from .ci import CiMixin
from .clients import BASE_CONFIG, NpmResult, Reply, isolated_env, npmrc_text, run_npm, token_key
from .control import ControlViews
from .faults import FaultsMixin
from .seed import apply_seed, apply_seed_file
from .settings import SETTING_DEFAULTS, SettingsMixin
from .tools import ToolsMixin


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

    def revoke(self) -> None:
        self._registry.accounts.revoke_token(self.record.id)

    def __str__(self) -> str:
        return self.key


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
        if not self.record.totp_secret:
            raise UsageError(f"{self.name} has no 2FA: add_user({self.name!r}, tfa='auth-and-writes') to get OTPs")
        return totp_code(self.record.totp_secret, self._registry.clock.now() + 30 * offset_steps)

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
        try:
            record, secret = self._registry.accounts.create_token(
                self.name,
                kind=TokenKind(kind),
                permission=Permission.READ_ONLY
                if read_only
                else Permission.STAGE_ONLY
                if stage_only
                else Permission.READ_WRITE,
                bypass_2fa=bypass_2fa,
                packages=tuple(packages) if packages is not None else None,
                scopes=tuple(scopes) if scopes is not None else None,
                cidr=tuple(cidr) if cidr is not None else None,
                expires_in_days=expires_in_days,
                name=name,
                description=description,
                orgs=tuple(orgs) if orgs is not None else None,
                secret=key,
            )
        except ValueError:
            raise UsageError(
                f"unknown token kind {kind!r}: use one of {', '.join(k.value for k in TokenKind)}"
            ) from None
        except RegistryError as exc:
            raise UsageError(exc.message) from None
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


class NpmRegistry(ToolsMixin, AssertionsMixin, FaultsMixin, CiMixin, SettingsMixin):
    """A mock npm registry on loopback, with users, tokens, OTPs and time under the caller's control."""

    def __init__(
        self,
        policy: str | Policy = "current",
        *,
        server: RegistryServer | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        storage: Path | str | None = None,
        admin_token: str | None = None,
        max_body: int | None = None,
    ) -> None:
        """``storage``: an SQLite file that keeps the registry across restarts (the standalone
        server's ``--storage``); an existing file is loaded instead of starting empty.
        ``admin_token``: the secret of the control API (``/-/_mock/api/``); random by default.
        ``max_body``: the largest request body in bytes (see the ``max_body`` property) of the
        server this registry makes; a given ``server`` has its own (``RegistryServer(max_body=...)``)."""
        if server is not None and max_body is not None:
            raise UsageError("max_body is the limit of a server NpmRegistry makes: give it to RegistryServer(...)")
        self._owns_server = server is None
        self.server = server or RegistryServer(
            host,
            port,
            storage=Storage(storage) if storage else None,
            max_body=DEFAULT_MAX_BODY if max_body is None else max_body,
        )
        self.registry: Registry = self.server.registry
        self._workdir: Path | None = None
        self._kept_settings: dict[str, Any] = {}
        #: The control API's secret: ``Authorization: Bearer <admin_token>`` on ``/-/_mock/api/...``.
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.server.app.admin.token = self.admin_token
        self.server.app.mount("control", ControlViews(self, self.server.app.admin))
        #: True when the state came back from ``storage`` (a restart), not empty.
        self.restored = self.server.storage is not None and self.server.storage.load(self.registry)
        # A fresh start on a shared server: what earlier tests left (their teardown reported it) goes.
        self.server.clear()
        if not self.restored:
            self.reset(policy)

    # -- life cycle --------------------------------------------------------------------------------

    def __enter__(self) -> NpmRegistry:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        self.server.start()

    def close(self) -> None:
        """Stop the server (when this object started it) and remove the npm work folders."""
        if self._owns_server and self.server.is_running():
            self.server.stop()
        if self._owns_server and self.server.storage is not None:
            self.server.storage.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def reset(self, policy: str | Policy | None = None) -> None:
        """Back to an empty registry; also drops fault-injection handlers and the request log, and
        puts the settings back to their defaults (or to what ``configure(..., keep=True)`` set)."""
        self.registry.reset(policy or self.registry.policy)
        # Not server.clear(): errors raised in the server thread stay for the test's check().
        self.server.clear_all_handlers()
        self.server.permanently_failed = False  # an ordered handler's failure goes with the handlers
        self.server.clear_log()
        self.configure(**{**SETTING_DEFAULTS, **self._kept_settings})

    @property
    def url(self) -> str:
        """The registry URL, ``http://127.0.0.1:<port>/``."""
        if not self.server.is_running():
            raise UsageError("the registry is not running: use `with NpmRegistry() as reg:` or call reg.start()")
        return self.server.url

    @property
    def policy(self) -> Policy:
        return self.registry.policy

    @property
    def clock(self) -> Clock:
        return self.registry.clock

    @property
    def journal(self) -> Journal:
        return self.registry.journal

    # -- accounts ----------------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        password: str | None = None,
        email: str | None = None,
        tfa: TwoFactorMode | str | None = None,
        totp_secret: str | None = None,
        paid: bool = False,
        challenge: ChallengeStyle | str = ChallengeStyle.WEB,
        security_key: bool = False,
    ) -> User:
        """Create an account. ``tfa``: ``None``/``"none"``, ``"auth-only"`` or ``"auth-and-writes"``.

        ``challenge="classic"`` makes the registry ask this user for a typed OTP even when the client
        supports web 2FA; ``security_key=True`` adds the security-key notice to those challenges.
        """
        try:
            mode = TwoFactorMode(tfa or TwoFactorMode.NONE)
            style = ChallengeStyle(challenge)
        except ValueError as exc:
            raise UsageError(
                f"{exc}: tfa is one of none, auth-only, auth-and-writes; challenge is web or classic"
            ) from None
        password = password or f"{name}-password"
        record = self.registry.accounts.add_user(
            name,
            password=password,
            email=email,
            tfa=mode,
            totp_secret=totp_secret,
            paid=paid,
            challenge=style,
            security_key=security_key,
        )
        return User(name, password, record, self.registry)

    def seed(self, source: Path | str | Mapping[str, Any]) -> dict[str, list[Any]]:
        """Apply a seed file (TOML or JSON) or a seed mapping: users, tokens, orgs, packages, trust.
        Returns the users and tokens made."""
        made = apply_seed(self, dict(source)) if isinstance(source, Mapping) else apply_seed_file(self, source)
        if self.server.storage is not None:
            self.server.storage.save(self.registry)
        return made

    def user(self, name: str) -> User:
        """An account by name, including one made by ``npm adduser``."""
        record = self.registry.state.users.get(name)
        if record is None:
            raise UsageError(f"no user {name!r} (have: {sorted(self.registry.state.users)})")
        return User(name, None, record, self.registry)

    # -- orgs and invitations ------------------------------------------------------------------------

    def add_org(
        self, name: str, *, owner: User | str, members: Mapping[str, str] | None = None, paid: bool = False
    ) -> Org:
        """An org owning the ``@name`` scope (orgs are made on the website, not by npm).

        ``members`` maps user names to roles (``developer``, ``admin``, ``owner``); ``paid`` lets
        the org's scope hold restricted packages.
        """
        roles = {}
        for user, role in (members or {}).items():  # all checked before the org exists
            self.registry.accounts.user(user)
            if role not in {r.value for r in OrgRole}:
                known = ", ".join(r.value for r in OrgRole)
                raise UsageError(f"add_org({name!r}): {user}'s role must be one of {known}, not {role!r}")
            roles[user] = OrgRole(role)
        org = self.registry.orgs.add_org(name, owner=str(owner), paid=paid)
        for user, role in roles.items():
            self.registry.orgs.join_org(org, user, role)
        return org

    def invitations(self, user: User | str | None = None) -> list[Invitation]:
        """Pending invitations (package maintainership, org membership), of ``user`` if given."""
        return self.registry.orgs.pending_invitations(None if user is None else str(user))

    def accept_invitation(self, user: User | str, *, package: str | None = None, org: str | None = None) -> Invitation:
        """What the invitee does from the email: become a maintainer (or org member)."""
        return self.registry.orgs.answer_invitation(self._invitation(user, package, org).id, accept=True)

    def decline_invitation(self, user: User | str, *, package: str | None = None, org: str | None = None) -> Invitation:
        return self.registry.orgs.answer_invitation(self._invitation(user, package, org).id, accept=False)

    def _invitation(self, user: User | str, package: str | None, org: str | None) -> Invitation:
        found = [
            i
            for i in self.invitations(user)
            if (package is None or i.package == package) and (org is None or i.org == org)
        ]
        if len(found) != 1:
            raise UsageError(
                f"{len(found)} pending invitations for {user} match package={package!r} org={org!r}:"
                f" {[i.target for i in self.invitations(user)]}"
            )
        return found[0]

    # -- packages ----------------------------------------------------------------------------------

    def publish(
        self,
        name: str,
        version: str = "1.0.0",
        *,
        by: User | str,
        tag: str = "latest",
        access: str | None = None,
        files: Mapping[str, str | bytes] | None = None,
        requirement: PublishRequirement | str | None = None,
        **manifest: Any,
    ) -> PackageView:
        """Seed a version without HTTP or 2FA (validation still applies). ``by`` becomes a maintainer."""
        meta = manifest_for(name, version, **manifest)
        document = publish_document(
            meta,
            make_tarball(meta, dict(files) if files else None),
            tag=tag,
            access=access or ("public" if name.startswith("@") else None),
        )
        try:
            record = self.registry.publishing.seed(
                name,
                document,
                maintainer=str(by),
                requirement=PublishRequirement(requirement) if requirement else None,
            )
        except RegistryError as exc:
            raise UsageError(exc.message) from None
        return PackageView(record)

    def package(self, name: str) -> PackageView:
        """What the registry holds for ``name``; :class:`UsageError` if nothing."""
        try:
            return PackageView(self.registry.state.package(name))
        except RegistryError:
            raise UsageError(
                f"no package {name!r} in the registry (have: {sorted(self.registry.state.packages)})"
            ) from None

    def has_package(self, name: str, version: str | None = None) -> bool:
        package = self.registry.state.packages.get(name)
        return package is not None and (version is None or version in package.versions)

    def set_publish_requirement(self, name: str, requirement: PublishRequirement | str) -> None:
        """What ``npm access set mfa=none|automation|publish`` sets."""
        self.registry.publishing.set_publish_requirement(name, PublishRequirement(requirement))

    # -- web 2FA -----------------------------------------------------------------------------------

    def web_auth_sessions(self, *, pending: bool = False) -> list[WebAuthSession]:
        """Web-2FA sessions; ``pending``: not answered yet and not expired."""
        sessions = list(self.registry.state.web_auth.values())
        if not pending:
            return sessions
        now = self.clock.now()
        return [s for s in sessions if not (s.approved or s.denied) and now <= s.expires]

    def approve_web_auth(
        self, session_id: str | None = None, *, user: User | str | None = None
    ) -> list[WebAuthSession]:
        """Approve one web-2FA session, or every pending one (of ``user``). Returns what was approved."""
        if session_id is not None:
            return [self.registry.challenges.approve_web_auth(session_id)]
        chosen = [s for s in self.web_auth_sessions(pending=True) if user is None or s.user == str(user)]
        if not chosen:
            raise UsageError("no pending web-auth session to approve (has npm hit a web 2FA challenge yet?)")
        return [self.registry.challenges.approve_web_auth(s.id) for s in chosen]

    # -- web login -----------------------------------------------------------------------------------

    def web_logins(self, *, pending: bool = False) -> list[WebLogin]:
        logins = list(self.registry.state.web_logins.values())
        return [login for login in logins if login.user is None] if pending else logins

    def approve_web_login(self, user: User | str, *, wait: float = 0.0, password: str | None = None) -> WebLogin:
        """Complete the pending ``npm login`` / ``npm adduser`` as ``user`` (created for adduser).

        ``wait`` seconds to let npm start the login first: call it from a thread while ``reg.npm("login")``
        runs, or use :attr:`auto_approve_web_login`.
        """
        if not (0 <= wait <= WEB_AUTH_TTL):  # NaN fails too; npm's own wait is no longer than this
            raise UsageError(f"approve_web_login(wait={wait!r}): wait from 0 to {WEB_AUTH_TTL:g} seconds")
        deadline = time.monotonic() + wait
        while True:
            pending = self.web_logins(pending=True)
            if pending or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if not pending:
            raise UsageError("no pending web login to approve: has `npm login` started?")
        try:
            return self.registry.logins.approve_web_login(pending[-1].id, str(user), password=password, trusted=True)
        except RegistryError as exc:
            raise UsageError(f"cannot approve the login as {user}: {exc.message}") from None

    # -- clients -----------------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        """A private folder for npm's config, cache and HOME; removed by :meth:`close`."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="npm-registry-"))
        return self._workdir

    def npmrc(self, directory: Path | str, token: TokenLike = None, **config: str) -> Path:
        """Write ``<directory>/.npmrc`` pointing npm at this registry, with ``token`` if given."""
        path = Path(directory) / ".npmrc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(npmrc_text(self.url, token_key(token), {**BASE_CONFIG, **config}))
        return path

    def env(self, token: TokenLike = None, **config: str) -> dict[str, str]:
        """Environment variables that point an npm subprocess (or a release tool) at this registry.

        Merge them into a copy of ``os.environ`` for tools that need more of the environment.
        """
        key = token_key(token)
        userconfig = self.workdir / f"npmrc-{secret_hash(key)[:12] if key else 'anonymous'}"
        # A run with a token always gets that token. Without one, the config is written once, so
        # what npm writes there itself (`npm login`, `npm logout`) stays for the next run, as on a
        # real machine.
        if key or config or not userconfig.exists():
            userconfig.write_text(npmrc_text(self.url, key, {**BASE_CONFIG, **config}))
        return isolated_env(self.workdir, userconfig)

    def npm(
        self,
        *args: str,
        token: TokenLike = None,
        cwd: Path | str | None = None,
        otp: str | None = None,
        tty: bool = False,
        answers: Sequence[tuple[str, Reply]] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> NpmResult:
        """Run the real ``npm`` CLI against this registry with an isolated config, cache and HOME.

        No terminal by default, as in CI. ``otp`` adds ``--otp=<code>``. With ``tty=True`` npm runs
        on a pseudo-terminal and each ``(regex, reply)`` in ``answers`` types ``reply`` (or calls it)
        when ``regex`` shows up on the screen.
        """
        argv = list(args) + ([f"--otp={otp}"] if otp else [])
        environment = self.env(token)
        environment.update(env or {})
        return run_npm(argv, env=environment, cwd=cwd or self.workdir, tty=tty, answers=answers, timeout=timeout)
