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
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_npm_registry.domain.admin import Operator
from pytest_npm_registry.domain.clock import Clock
from pytest_npm_registry.domain.errors import RegistryError, UsageError
from pytest_npm_registry.domain.journal import Journal
from pytest_npm_registry.domain.models import (
    ChallengeStyle,
    Invitation,
    Org,
    PublishRequirement,
    StagedVersion,
    TrustConfig,
    TwoFactorMode,
    WebAuthSession,
    WebLogin,
)
from pytest_npm_registry.domain.policy import Policy
from pytest_npm_registry.domain.registry import Registry
from pytest_npm_registry.domain.seed import Seed
from pytest_npm_registry.domain.storage import Storage
from pytest_npm_registry.wire.faults import Faults
from pytest_npm_registry.wire.host import MIN_ADMIN_TOKEN_LENGTH
from pytest_npm_registry.wire.server import RegistryServer
from pytest_npm_registry.wire.settings import DEFAULT_MAX_BODY

from .assertions import AssertionsMixin
from .clients import (
    NpmResult,
)
from .tools import ToolsMixin
from .views import PackageView, Token, User


class NpmRegistry(ToolsMixin, AssertionsMixin):
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
        ``admin_token``: the secret of the control API (``/-/_mock/api/``), at least 16 characters;
        random by default.
        ``max_body``: the largest request body in bytes (see the ``max_body`` property) of the
        server this registry makes; a given ``server`` has its own (``RegistryServer(max_body=...)``)."""
        if admin_token and len(admin_token) < MIN_ADMIN_TOKEN_LENGTH:
            raise UsageError(
                f"the admin token must be at least {MIN_ADMIN_TOKEN_LENGTH} characters, not {len(admin_token)}: "
                "it is all that guards the control API (leave it out for a random one)"
            )
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
        #: The operator's verbs this facade (and the control API, and seed files) acts through.
        self.operator = Operator(self.registry)
        self._workdir: Path | None = None
        #: Which clients this registry's runs used (``npm 12.2.2 on node 22.23.3``), with counts.
        self.clients_ran: dict[str, int] = {}
        #: The runs of ``npm``, ``pnpm``, ``yarn`` and ``run_tool`` that failed, with npm's debug log.
        self.failed_runs: list[NpmResult] = []
        #: Where failed runs' debug logs are copied (the plugin: beside the test's journal file
        #: in ``--npm-registry-journal-dir``); otherwise npm's copy goes with :attr:`workdir`.
        self.keep_logs_in: Path | None = None
        self.keep_logs_prefix = ""
        #: The control API's secret: ``Authorization: Bearer <admin_token>`` on ``/-/_mock/api/...``.
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.server.app.admin.token = self.admin_token
        #: True when the state came back from ``storage`` (a restart), not empty.
        self.restored = self.server.storage is not None and self.server.storage.load(self.registry)
        # A fresh start on a shared server: what earlier tests left (their teardown reported it) goes,
        # and so do the settings an earlier facade asked to keep across its resets.
        self.server.clear()
        self.server.settings.forget()
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

    def reset(self, policy: str | Policy | None = None, *, empty: bool = False) -> None:
        """Back to an empty registry; also drops fault-injection handlers and the request log, and
        puts the settings back to their defaults (or to what ``configure(..., keep=True)`` set).
        A seed given with ``seed(..., keep=True)`` is applied again, unless ``empty``."""
        with self.server.settings.seeding(not empty):
            self.server.reset(policy)

    @property
    def url(self) -> str:
        """The registry URL, ``http://127.0.0.1:<port>/``."""
        if not self.server.is_running():
            raise UsageError("the registry is not running: use `with NpmRegistry() as reg:` or call reg.start()")
        return self.server.url

    @property
    def dashboard_url(self) -> str:
        """The dashboard, ``http://127.0.0.1:<port>/-/_mock/<secret>/``: the admin's pages live
        under a secret path derived from :attr:`admin_token` (so another port of the host, which
        receives the browser's cookies, cannot know it). A browser signs in once with the admin
        token (the page asks; or open ``<url>-/_mock/?token=<admin token>``)."""
        origin = self.url.rstrip("/")
        return origin + self.server.app.admin.home(origin)

    @property
    def faults(self) -> Faults:
        """Inject failures: ``reg.faults.fail_publishes(2, status=503, retry_after=10)``,
        ``delay``, ``drop_connection``, ``throttle_otp_failures``, ``advance_clock_after_publish``;
        in the mock Sigstore ``fulcio(status=403)``, ``rekor(status=503)``, ``rekor_timeout()``."""
        return self.server.faults

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
        ``password``: random unless given (never derived from the name); ``user.password`` has it.

        ``challenge="classic"`` makes the registry ask this user for a typed OTP even when the client
        supports web 2FA; ``security_key=True`` adds the security-key notice to those challenges.
        """
        record, password = self.operator.add_user(
            name,
            password=password,
            email=email,
            tfa=tfa,
            totp_secret=totp_secret,
            paid=paid,
            challenge=challenge,
            security_key=security_key,
        )
        return User(name, password, record, self.registry)

    def seed(self, source: Path | str | Mapping[str, Any], *, keep: bool = False) -> dict[str, list[Any]]:
        """Apply a seed file (TOML or JSON) or a seed mapping: users, tokens, orgs, packages, trust.
        Returns the users and tokens made. ``keep``: apply it again after every :meth:`reset` but
        ``reset(empty=True)`` (what ``serve --seed`` does); a later ``keep`` seed replaces it."""
        registry = self.registry
        seed = Seed(dict(source)) if isinstance(source, Mapping) else Seed.from_file(source)
        made = seed.apply(registry)
        if keep:
            self.server.settings.kept_seed = seed.without_policy()
        if self.server.storage is not None:
            self.server.storage.save(registry)
        return {
            "users": [User(record.name, password, record, registry) for record, password in made["users"]],
            "tokens": [Token(secret, record, registry) for record, secret in made["tokens"]],
        }

    def user(self, name: str) -> User:
        """An account by name, including one made by ``npm adduser``."""
        return User(name, None, self.operator.user(name), self.registry)

    # -- orgs and invitations ------------------------------------------------------------------------

    def add_org(
        self, name: str, *, owner: User | str, members: Mapping[str, str] | None = None, paid: bool = False
    ) -> Org:
        """An org owning the ``@name`` scope (orgs are made on the website, not by npm).

        ``members`` maps user names to roles (``developer``, ``admin``, ``owner``); ``paid`` lets
        the org's scope hold restricted packages.
        """
        return self.operator.add_org(name, owner=str(owner), members=members, paid=paid)

    def org(self, name: str) -> Org:
        """An org's record: ``members`` (user -> role), ``teams`` (with members and grants), ``paid``."""
        try:
            return self.registry.orgs.org(name)
        except RegistryError:
            raise UsageError(f"no org {name!r} (have: {sorted(self.registry.state.orgs)})") from None

    def invitations(self, user: User | str | None = None) -> list[Invitation]:
        """Pending invitations (package maintainership, org membership), of ``user`` if given."""
        return self.operator.invitations(None if user is None else str(user))

    def accept_invitation(self, user: User | str, *, package: str | None = None, org: str | None = None) -> Invitation:
        """What the invitee does from the email: become a maintainer (or org member)."""
        return self.operator.answer_invitation(str(user), accept=True, package=package, org=org)

    def decline_invitation(self, user: User | str, *, package: str | None = None, org: str | None = None) -> Invitation:
        return self.operator.answer_invitation(str(user), accept=False, package=package, org=org)

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
        record = self.operator.publish(
            name, version, by=str(by), tag=tag, access=access, files=files, requirement=requirement, **manifest
        )
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
        return self.operator.web_auth_sessions(pending=pending)

    def approve_web_auth(
        self, session_id: str | None = None, *, user: User | str | None = None, skip_trust_2fa: bool = False
    ) -> list[WebAuthSession]:
        """Approve one web-2FA session, or every pending one (of ``user``). Returns what was approved.

        ``skip_trust_2fa=True`` ticks, on the 2FA page of an ``npm trust`` change, "skip two-factor
        authentication for the next 5 minutes" (npm-trust docs, "Bulk usage")."""
        return self.operator.approve_web_auth(
            session_id, user=None if user is None else str(user), skip_trust_2fa=skip_trust_2fa
        )

    # -- web login -----------------------------------------------------------------------------------

    def web_logins(self, *, pending: bool = False) -> list[WebLogin]:
        """``npm login`` / ``npm adduser`` sessions; ``pending``: not approved yet, not expired."""
        return self.operator.web_logins(pending=pending)

    def approve_web_login(self, user: User | str, *, wait: float = 0.0, password: str | None = None) -> WebLogin:
        """Complete the pending ``npm login`` / ``npm adduser`` as ``user`` (created for adduser).

        ``wait`` seconds to let npm start the login first: call it from a thread while ``reg.npm("login")``
        runs, or use :attr:`auto_approve_web_login`.
        """
        return self.operator.approve_web_login(str(user), wait=wait, password=password)

    # -- clients -----------------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        """A private folder for npm's config, cache and HOME; removed by :meth:`close`."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="npm-registry-"))
        return self._workdir

    # -- settings (the server's: the control API changes the same ones) ------------------------------

    def configure(self, *, keep: bool = False, **settings: Any) -> None:
        """Change several settings at once, by the names of the properties below. Each value is
        checked before any changes: a bad one raises ``UsageError`` and leaves all as they were.
        ``keep``: also after every ``reset`` (what ``serve --auto-approve-web-auth`` does, so a
        control-API reset between two test scripts does not drop it)."""
        self.server.settings.configure(keep=keep, **settings)

    def settings(self) -> dict[str, Any]:
        """Each setting's current value, by name (what ``POST settings`` answers)."""
        return self.server.settings.values()

    @property
    def auto_approve_web_auth(self) -> bool:
        """Approve every web-2FA challenge as it is issued (as if someone clicked at once)."""
        return self.server.settings.auto_approve_web_auth

    @auto_approve_web_auth.setter
    def auto_approve_web_auth(self, value: bool) -> None:
        self.server.settings.auto_approve_web_auth = value

    @property
    def advertise_public_visibility(self) -> bool:
        """Tell a trusted publish the truth when it asks whether a package is public (on by
        default): from a public repository npm then signs provenance by itself, through the mock
        Sigstore. Off, the OIDC token hears "not public" and npm publishes unsigned."""
        return self.server.settings.advertise_public_visibility

    @advertise_public_visibility.setter
    def advertise_public_visibility(self, value: bool) -> None:
        self.server.settings.advertise_public_visibility = value

    @property
    def auto_approve_web_login(self) -> str | None:
        """Complete every ``npm login`` in the browser as this user, at once."""
        return self.server.settings.auto_approve_web_login

    @auto_approve_web_login.setter
    def auto_approve_web_login(self, user: User | str | None) -> None:
        self.server.settings.auto_approve_web_login = user

    @property
    def client_ip(self) -> str | None:
        """Pretend requests come from this address (loopback cannot show a CIDR mismatch otherwise)."""
        return self.server.settings.client_ip

    @client_ip.setter
    def client_ip(self, value: str | None) -> None:
        self.server.settings.client_ip = value

    @property
    def visibility_delay(self) -> float:
        """Seconds of registry time between accepting a version and serving it: until then
        packuments, ``npm view`` and ``npm install`` do not see it (``ETARGET``), and a retried
        publish gets 409 (npm/cli#9889). ``reg.clock.advance(...)`` makes it visible. Default 0;
        ``reg.faults.visibility_delay(low, high)`` draws one per publish."""
        return self.server.settings.visibility_delay

    @visibility_delay.setter
    def visibility_delay(self, seconds: float) -> None:
        self.server.settings.visibility_delay = seconds

    @property
    def max_body(self) -> int:
        """The largest request body accepted, in bytes (default 256 MiB); a larger publish gets
        ``413`` with a JSON error before its body is read (npm prints ``E413``). Back to the
        server's own limit on ``reset`` (or when set to None), so a test's change does not leak
        into the next test; for a limit on the whole session, override the ``npm_registry_server``
        fixture with ``RegistryServer(max_body=...)``. The control API keeps at least 256 MiB for
        itself."""
        return self.server.settings.max_body

    @max_body.setter
    def max_body(self, value: int | None) -> None:
        self.server.settings.max_body = value

    # -- trusted publishing: CI jobs and trust configs ------------------------------------------------

    def github_actions_env(
        self,
        repository: str,
        workflow: str = "release.yml",
        *,
        environment: str | None = None,
        ref: str = "refs/heads/main",
        caller_workflow: str | None = None,
        visibility: str = "private",
        id_token: bool = True,
        sha: str | None = None,
    ) -> dict[str, str]:
        """A GitHub Actions job of ``repository`` running ``.github/workflows/<workflow>``.

        npm asks ``ACTIONS_ID_TOKEN_REQUEST_URL`` (this registry) for an id token, then exchanges
        it. ``caller_workflow`` makes ``workflow`` a reusable workflow called from that file;
        ``visibility="public"`` makes npm sign provenance by itself (``npm_registry``'s mock
        Sigstore; package.json's ``repository.url`` must then name ``repository``).
        ``id_token=False`` is a job without ``permissions: id-token: write``: no id-token URL, so
        npm's trusted publishing finds no credential and ``--provenance`` stops with npm's
        ``EUSAGE``. ``sha``: the commit the job builds (random unless given; the provenance
        names it). Merge the result into ``reg.npm(..., env=...)``.
        """
        return self.operator.github_actions_env(
            self.server.url,
            repository,
            workflow,
            environment=environment,
            ref=ref,
            caller_workflow=caller_workflow,
            visibility=visibility,
            id_token=id_token,
            sha=sha,
        )

    def gitlab_env(
        self,
        project_path: str,
        *,
        config_file: str = ".gitlab-ci.yml",
        ref: str = "main",
        environment: str | None = None,
        visibility: str = "private",
        sigstore_id_token: bool = False,
        sha: str | None = None,
    ) -> dict[str, str]:
        """A GitLab CI job with ``id_tokens: NPM_ID_TOKEN: aud: npm:<registry host>``.

        ``sigstore_id_token=True`` adds ``SIGSTORE_ID_TOKEN: aud: sigstore``, which
        ``npm publish --provenance`` signs with on GitLab (without it npm stops with its
        ``EUSAGE``). ``visibility``: the project's, as the id tokens say; ``sha``: the commit."""
        return self.operator.gitlab_env(
            self.server.host,
            project_path,
            config_file=config_file,
            ref=ref,
            environment=environment,
            visibility=visibility,
            sigstore_id_token=sigstore_id_token,
            sha=sha,
        )

    def circleci_env(
        self,
        *,
        org_id: str,
        project_id: str,
        pipeline_definition_id: str,
        vcs_origin: str,
        context_ids: list[str] | None = None,
    ) -> dict[str, str]:
        """A CircleCI job that ran ``circleci run oidc get --claims '{"aud": "npm:<host>"}'``."""
        return self.operator.circleci_env(
            self.server.host,
            org_id=org_id,
            project_id=project_id,
            pipeline_definition_id=pipeline_definition_id,
            vcs_origin=vcs_origin,
            context_ids=context_ids,
        )

    def trust(
        self,
        package: str,
        *,
        github: dict[str, Any] | None = None,
        gitlab: dict[str, Any] | None = None,
        circleci: dict[str, Any] | None = None,
        permissions: tuple[str, ...] = ("createPackage",),
    ) -> TrustConfig:
        """Configure ``package``'s trusted publisher, as ``npm trust`` or the website would.

        ``github=dict(repository="o/r", workflow="release.yml", environment=None)``;
        ``gitlab=dict(project_path="g/p", config_file=".gitlab-ci.yml", environment=None)``;
        ``circleci=`` the ``oidc.circleci.com/...`` claims. ``permissions``: ``createPackage``
        and/or ``createStagedPackage``.
        """
        return self.operator.trust(package, github=github, gitlab=gitlab, circleci=circleci, permissions=permissions)

    def trusted_publishers(self, package: str) -> list[TrustConfig]:
        """The trust configurations of ``package`` (at most one: the registry keeps one per package)."""
        return list(self.registry.state.trust.get(package, ()))

    def stages(self, package: str | None = None) -> list[StagedVersion]:
        """Versions waiting for approval (``npm stage publish``)."""
        return self.operator.stages(package)
