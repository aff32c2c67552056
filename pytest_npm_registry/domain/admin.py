"""Operator verbs: what a test, a seed file or the control API does to the registry from outside.

These are not registry operations (nobody is authenticated, nothing is journaled as a request):
they set the stage a release script then meets. The Python facade (``NpmRegistry``), the seed
files and the control API all call these, so the three agree by construction. Misuse raises
:class:`UsageError` with a message that says how to fix the call; values come as the wire
vocabulary's strings or as the enums.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from . import identity
from .accounts import new_password
from .errors import RegistryError, UsageError
from .models import (
    WEB_AUTH_TTL,
    ChallengeStyle,
    Invitation,
    Operation,
    Org,
    OrgRole,
    Package,
    Permission,
    PublishRequirement,
    StagedVersion,
    Token,
    TokenKind,
    TrustConfig,
    TwoFactorMode,
    User,
    WebAuthSession,
    WebLogin,
)
from .otp import totp_code
from .packaging import make_tarball, manifest_for, publish_document
from .registry import Registry
from .sigstore import SIGSTORE_AUDIENCE

#: The operations whose 2FA page offers to skip 2FA for the next trust changes.
TRUST_CHANGES = frozenset({Operation.ADD_TRUST, Operation.REVOKE_TRUST})


class Operator:
    """The operator's verbs on one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

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
    ) -> tuple[User, str]:
        """An account; returns its record and its password (random unless given: a guessable default
        would let anyone who knows a user name log in to a standalone server)."""
        try:
            mode = TwoFactorMode(tfa or TwoFactorMode.NONE)
        except ValueError:
            known = ", ".join(m.value for m in TwoFactorMode)
            raise UsageError(f"{tfa!r} is not a 2FA mode: tfa is one of {known}") from None
        try:
            style = ChallengeStyle(challenge)
        except ValueError:
            raise UsageError(f"{challenge!r} is not a challenge style: challenge is web or classic") from None
        password = password or new_password()
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
        return record, password

    def user(self, name: str) -> User:
        record = self.registry.state.users.get(name)
        if record is None:
            raise UsageError(f"no user {name!r} (have: {sorted(self.registry.state.users)})")
        return record

    def otp(self, name: str, *, offset_steps: int = 0) -> str:
        """The user's authenticator code at the registry's time (``offset_steps`` 30-second steps away)."""
        record = self.user(name)
        if not record.totp_secret:
            raise UsageError(f"{name} has no 2FA: add_user({name!r}, tfa='auth-and-writes') to get OTPs")
        return totp_code(record.totp_secret, self.registry.clock.now() + 30 * offset_steps)

    def create_token(
        self,
        user: str,
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
    ) -> tuple[Token, str]:
        """Mint a token for ``user``; returns the record and the secret."""
        try:
            token_kind = TokenKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in TokenKind)
            raise UsageError(f"unknown token kind {kind!r}: use one of {known}") from None
        permission = (
            Permission.READ_ONLY if read_only else Permission.STAGE_ONLY if stage_only else Permission.READ_WRITE
        )
        try:
            return self.registry.accounts.create_token(
                self.user(user).name,
                kind=token_kind,
                permission=permission,
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
        except RegistryError as exc:
            raise UsageError(exc.message) from None

    # -- orgs and invitations ------------------------------------------------------------------------

    def add_org(self, name: str, *, owner: str, members: Mapping[str, str] | None = None, paid: bool = False) -> Org:
        """An org owning the ``@name`` scope, with ``members`` (user -> role), all or nothing."""
        with self.registry.exclusive():  # members are checked and joined with no other change between
            roles = {}
            for user, role in (members or {}).items():
                self.registry.accounts.user(user)
                if role not in {r.value for r in OrgRole}:
                    known = ", ".join(r.value for r in OrgRole)
                    raise UsageError(f"add_org({name!r}): {user}'s role must be one of {known}, not {role!r}")
                roles[user] = OrgRole(role)
            org = self.registry.orgs.add_org(name, owner=owner, paid=paid)
            for user, role in roles.items():
                self.registry.orgs.join_org(org, user, role)
            return org

    def invitations(self, user: str | None = None) -> list[Invitation]:
        return self.registry.orgs.pending_invitations(user)

    def answer_invitation(
        self, user: str, *, accept: bool, package: str | None = None, org: str | None = None
    ) -> Invitation:
        invitation = self.registry.orgs.find_invitation(user, package=package, org=org)
        return self.registry.orgs.answer_invitation(invitation.id, accept=accept)

    # -- packages ------------------------------------------------------------------------------------

    def publish(
        self,
        name: str,
        version: str = "1.0.0",
        *,
        by: str,
        tag: str = "latest",
        access: str | None = None,
        files: Mapping[str, str | bytes] | None = None,
        requirement: PublishRequirement | str | None = None,
        **manifest: Any,
    ) -> Package:
        """Seed a version without HTTP or 2FA (validation still applies). ``by`` becomes a maintainer."""
        meta = manifest_for(name, version, **manifest)
        document = publish_document(
            meta,
            make_tarball(meta, dict(files) if files else None),
            tag=tag,
            access=access or ("public" if name.startswith("@") else None),
        )
        try:
            rule = PublishRequirement(requirement) if requirement else None
        except ValueError:
            known = ", ".join(r.value for r in PublishRequirement)
            raise UsageError(f"requirement={requirement!r}: use one of {known}") from None
        try:
            return self.registry.publishing.seed(name, document, maintainer=by, requirement=rule)
        except RegistryError as exc:
            raise UsageError(exc.message) from None

    def trust(
        self,
        package: str,
        *,
        github: dict[str, Any] | None = None,
        gitlab: dict[str, Any] | None = None,
        circleci: dict[str, Any] | None = None,
        permissions: tuple[str, ...] = ("createPackage",),
    ) -> TrustConfig:
        """Configure ``package``'s trusted publisher, as ``npm trust`` or the website would."""
        given = [(k, v) for k, v in (("github", github), ("gitlab", gitlab), ("circleci", circleci)) if v is not None]
        if len(given) != 1:
            raise UsageError("trust() takes exactly one of github=, gitlab=, circleci=")
        kind, spec = given[0]
        for key, value in spec.items():  # claims are compared with the id token's strings
            if not (isinstance(value, str) or (key == "environment" and value is None)):
                raise UsageError(f"trust({kind}=...): {key} must be a string, not {value!r}")
        claims = dict(spec)
        if kind == "github":
            claims["workflow_ref"] = {"file": claims.pop("workflow", "release.yml")}
        elif kind == "gitlab":
            claims["ci_config_ref_uri"] = {"file": claims.pop("config_file", ".gitlab-ci.yml")}
        if claims.get("environment") is None:
            claims.pop("environment", None)
        try:
            return self.registry.trust.add_trust_config(package, kind, claims, tuple(permissions))
        except RegistryError as exc:
            raise UsageError(exc.message) from None

    def stages(self, package: str | None = None) -> list[StagedVersion]:
        """Versions waiting for approval (``npm stage publish``)."""
        return [s for s in self.registry.state.stages.values() if package is None or s.package == package]

    # -- web 2FA and web login ------------------------------------------------------------------------

    def web_auth_sessions(self, *, pending: bool = False) -> list[WebAuthSession]:
        """Web-2FA sessions; ``pending``: not answered yet and not expired."""
        now = self.registry.clock.now()
        return [s for s in self.registry.state.web_auth.values() if not pending or s.pending(now)]

    def approve_web_auth(
        self, session_id: str | None = None, *, user: str | None = None, skip_trust_2fa: bool = False
    ) -> list[WebAuthSession]:
        """Approve one web-2FA session, or every pending one (of ``user``). Returns what was approved.

        ``skip_trust_2fa``: tick what the website offers on a trust change's 2FA page, "skip
        two-factor authentication for the next 5 minutes": further ``npm trust`` changes of that
        user need no second factor for 5 minutes (only for sessions of trust changes)."""
        if session_id is not None:
            chosen = [self.registry.challenges.web_session(session_id)]
        else:
            chosen = [s for s in self.web_auth_sessions(pending=True) if user is None or s.user == user]
        if not chosen:
            raise UsageError("no pending web-auth session to approve (has npm hit a web 2FA challenge yet?)")
        if skip_trust_2fa and any(s.operation not in TRUST_CHANGES for s in chosen):
            raise UsageError("skip_trust_2fa is offered on the 2FA page of a trust change (npm trust) only")
        approved = [self.registry.challenges.approve_web_auth(s.id) for s in chosen]
        for session in approved if skip_trust_2fa else ():
            self.registry.trust.skip_2fa(session.user)
        return approved

    def web_logins(self, *, pending: bool = False) -> list[WebLogin]:
        """Web logins; ``pending``: nobody approved it yet and its links still work."""
        now = self.registry.clock.now()
        return [w for w in self.registry.state.web_logins.values() if not pending or w.pending(now)]

    def approve_web_login(self, user: str, *, wait: float = 0.0, password: str | None = None) -> WebLogin:
        """Complete the newest pending ``npm login`` / ``npm adduser`` as ``user`` (created for
        adduser), waiting up to ``wait`` seconds of real time for npm to start the login."""
        if not (0 <= wait <= WEB_AUTH_TTL):  # NaN fails too; npm's own wait is no longer than this
            raise UsageError(f"approve_web_login(wait={wait!r}): wait from 0 to {WEB_AUTH_TTL:g} seconds")
        deadline = time.monotonic() + wait
        while not (pending := self.web_logins(pending=True)) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not pending:
            raise UsageError("no pending web login to approve: has `npm login` started?")
        try:
            return self.registry.logins.approve_web_login(pending[-1].id, user, password=password, trusted=True)
        except RegistryError as exc:
            raise UsageError(f"cannot approve the login as {user}: {exc.message}") from None

    # -- CI jobs for trusted publishing ------------------------------------------------------------

    def github_actions_env(
        self,
        origin: str,
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
        """A GitHub Actions job's variables; its id-token URL is on ``origin`` (this registry).

        ``id_token=False``: a job without ``permissions: id-token: write``, which GitHub runs
        without ``ACTIONS_ID_TOKEN_REQUEST_URL`` / ``_TOKEN``. The commit (``sha``, random unless
        given) and the run are the job's: its id tokens and its ``GITHUB_*`` variables agree."""
        owner = repository.split("/", 1)[0]
        sha = sha or secrets.token_hex(20)
        run_id = str(secrets.randbelow(10**10))
        variables = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": repository,
            "GITHUB_REPOSITORY_ID": identity.stable_id(repository),
            "GITHUB_REPOSITORY_OWNER_ID": identity.stable_id(owner),
            "GITHUB_REF": ref,
            "GITHUB_SHA": sha,
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_RUN_ID": run_id,
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_WORKFLOW_REF": f"{repository}/.github/workflows/{caller_workflow or workflow}@{ref}",
            "GITHUB_SERVER_URL": "https://github.com",
            "RUNNER_ENVIRONMENT": "github-hosted",
        }
        if not id_token:
            return variables
        job = {
            "repository": repository,
            "workflow": workflow,
            "ref": ref,
            "environment": environment,
            "caller_workflow": caller_workflow,
            "visibility": visibility,
            "sha": sha,
            "run_id": run_id,
        }
        request_token = self.registry.trust.add_ci_job(job)
        return {
            **variables,
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{origin.rstrip('/')}/-/_mock/oidc/github/id-token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
        }

    def gitlab_env(
        self,
        host: str,
        project_path: str,
        *,
        config_file: str = ".gitlab-ci.yml",
        ref: str = "main",
        environment: str | None = None,
        visibility: str = "private",
        sigstore_id_token: bool = False,
        sha: str | None = None,
    ) -> dict[str, str]:
        """A GitLab CI job with ``id_tokens: NPM_ID_TOKEN: aud: npm:<registry host>``, and with
        ``sigstore_id_token`` also ``SIGSTORE_ID_TOKEN: aud: sigstore`` (what ``npm publish
        --provenance`` signs with on GitLab). The ``CI_*`` variables are those npm writes into
        the provenance statement."""
        sha = sha or secrets.token_hex(20)
        job_id = str(secrets.randbelow(10**10))

        def id_token(audience: str) -> str:
            claims = identity.gitlab_claims(
                project_path=project_path,
                config_file=config_file,
                ref=ref,
                environment=environment,
                visibility=visibility,
                sha=sha,
                job_id=job_id,
                audience=audience,
                now=self.registry.clock.now(),
            )
            return identity.sign(claims)

        project_url = f"{identity.GITLAB_ISSUER}/{project_path}"
        variables = {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER_URL": identity.GITLAB_ISSUER,
            "CI_PROJECT_PATH": project_path,
            "CI_PROJECT_URL": project_url,
            "CI_PROJECT_VISIBILITY": visibility,
            "CI_COMMIT_REF_NAME": ref,
            "CI_COMMIT_SHA": sha,
            "CI_CONFIG_PATH": config_file,
            "CI_JOB_NAME": "publish",
            "CI_JOB_ID": job_id,
            "CI_JOB_URL": f"{project_url}/-/jobs/{job_id}",
            "CI_RUNNER_ID": "12270837",  # a GitLab.com shared runner's id: the builder npm names
            "NPM_ID_TOKEN": id_token(identity.audience(host)),
        }
        if sigstore_id_token:
            variables["SIGSTORE_ID_TOKEN"] = id_token(SIGSTORE_AUDIENCE)
        return variables

    def circleci_env(
        self,
        host: str,
        *,
        org_id: str,
        project_id: str,
        pipeline_definition_id: str,
        vcs_origin: str,
        context_ids: list[str] | None = None,
    ) -> dict[str, str]:
        """A CircleCI job that ran ``circleci run oidc get --claims '{"aud": "npm:<host>"}'``."""
        claims = identity.circleci_claims(
            org_id=org_id,
            project_id=project_id,
            pipeline_definition_id=pipeline_definition_id,
            vcs_origin=vcs_origin,
            context_ids=context_ids,
            audience=identity.audience(host),
            now=self.registry.clock.now(),
        )
        return {"CI": "true", "CIRCLECI": "true", "NPM_ID_TOKEN": identity.sign(claims)}
