"""Trusted publishing: trust configurations and the OIDC id-token exchange.

A CI job's id token (``identity.py``) is exchanged at ``POST
/-/npm/v1/oidc/token/exchange/package/<name>`` for a short-lived token that may publish that one
package (and nothing else), even when the package requires 2FA and disallows tokens. npm hides
every exchange failure (it falls back to another credential or ENEEDAUTH); the journal says which
check failed.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import identity
from .accounts import Accounts
from .challenges import Challenges
from .errors import (
    BadRequest,
    Forbidden,
    MalformedBody,
    NotFound,
    OidcBadRequest,
    OidcPackageNotFound,
    OidcUnauthorized,
    TrustConflict,
)
from .governance import Governance
from .models import Call, Operation, OtpPath, Principal, Token, TokenKind, TrustConfig, User, hash_password
from .policy import HOUR
from .state import Record, RegistryState

OIDC_TOKEN_TTL = HOUR
#: How long the "skip two-factor authentication for the next 5 minutes" option lasts.
TRUST_SKIP_WINDOW = 300.0
PERMISSIONS = ("createPackage", "createStagedPackage")
#: Who a trusted publish is attributed to, by CI (the public registry's ``_npmUser``).
PUBLISHERS = {
    "github": ("GitHub Actions", "npm-oidc-no-reply@github.com"),
    "gitlab": ("GitLab CI/CD", "npm-oidc-no-reply@gitlab.com"),
    "circleci": ("CircleCI", "npm-oidc-no-reply@circleci.com"),
}
_REQUIRED_CLAIMS = {
    "github": ("repository", "workflow_ref"),
    "gitlab": ("project_path", "ci_config_ref_uri"),
    "circleci": (
        "oidc.circleci.com/org-id",
        "oidc.circleci.com/project-id",
        "oidc.circleci.com/pipeline-definition-id",
        "oidc.circleci.com/vcs-origin",
    ),
}


class Trust:
    """Trust configurations and the exchange."""

    def __init__(
        self, state: RegistryState, accounts: Accounts, challenges: Challenges, governance: Governance
    ) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges
        self.governance = governance

    # -- configuration ---------------------------------------------------------------------------------

    def add_trust_config(
        self, name: str, type_: str, claims: dict[str, Any], permissions: tuple[str, ...] = ("createPackage",)
    ) -> TrustConfig:
        """Validate and store a trusted publisher for ``name`` (one per package)."""
        self.state.package(name)
        if type_ not in _REQUIRED_CLAIMS:
            raise BadRequest(f"Invalid trusted publisher type {type_!r}: use github, gitlab or circleci")
        missing = [c for c in _REQUIRED_CLAIMS[type_] if c not in claims]
        if missing:
            raise BadRequest(f"Invalid {type_} trusted publisher: missing claim(s) {', '.join(missing)}")
        for key in ("workflow_ref", "ci_config_ref_uri"):
            if key in claims and not (isinstance(claims[key], dict) and isinstance(claims[key].get("file"), str)):
                raise BadRequest(f'Invalid claim {key}: expected {{"file": "<name>.yml"}}')
        if type_ == "github" and not _is_repository(claims.get("repository")):
            raise BadRequest(f"Invalid repository {claims.get('repository')!r}: expected owner/repo")
        if not permissions or any(p not in PERMISSIONS for p in permissions):
            raise BadRequest(f"Invalid permissions {list(permissions)}: use createPackage and/or createStagedPackage")
        with self.state.lock:
            if self.state.trust.get(name):
                raise TrustConflict(name)
            config = TrustConfig(str(uuid.uuid4()), type_, dict(claims), tuple(permissions), self.state.clock.now())
            self.state.trust[name] = [config]
            return config

    def skip_2fa(self, user: str) -> float:
        """What the 2FA page of a trust change offers: no second factor for this user's trust
        changes in the next :data:`TRUST_SKIP_WINDOW` seconds ("Bulk usage", npm-trust docs:
        about 80 packages with a 2-second sleep between calls). Returns when the window closes."""
        until = self.state.clock.now() + TRUST_SKIP_WINDOW
        with self.state.lock:
            self.state.trust_2fa_skips[user] = until
        return until

    def _trust_gate(self, call: Call, rec: Record, principal: Principal, action: str) -> None:
        """Trust configuration needs an interactive, 2FA-confirmed request (npm trust docs)."""
        self.state.policy.refuse_non_interactive(principal, action, bar_bypass=True)
        if principal.token is None:
            raise Forbidden(
                "Trusted publishing cannot be configured with a password: log in (npm login).",
                reason="Basic auth on a trust endpoint",
            )
        if not principal.user.tfa_enabled:
            raise Forbidden(
                "Two-factor authentication must be enabled to configure trusted publishing.",
                reason=f"{principal.user.name} has no 2FA",
            )
        if self.state.clock.now() < self.state.trust_2fa_skips.get(principal.user.name, 0.0):
            rec.otp = OtpPath.SKIP_WINDOW
            return
        rec.otp = self.challenges.second_factor(call, rec, action, f"{action} always needs 2FA")

    def create_trust(self, call: Call, name: str, body: Any) -> TrustConfig:
        """``POST /-/package/<name>/trust``: npm sends a JSON array holding one configuration."""
        with self.state.recording(Operation.ADD_TRUST, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            config = body[0] if isinstance(body, list) and len(body) == 1 else body
            if not isinstance(config, dict) or not isinstance(config.get("claims"), dict):
                raise MalformedBody('Invalid trust body: expected [{"type", "claims", "permissions"}]')
            permissions = config.get("permissions", ["createPackage"])
            if not isinstance(permissions, list):
                raise BadRequest("Invalid permissions: expected a list")
            with self.state.lock:
                self.governance.maintained(principal, name, "configure trusted publishing for")
                self._trust_gate(call, rec, principal, "configure trusted publishing")
                return self.add_trust_config(name, str(config.get("type")), config["claims"], tuple(permissions))

    def list_trust(self, call: Call, name: str) -> list[TrustConfig]:
        with self.state.recording(Operation.LIST_TRUST, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            self.governance.maintained(principal, name, "read the trusted publishers of")
            return list(self.state.trust.get(name, ()))

    def revoke_trust(self, call: Call, name: str, config_id: str) -> None:
        with self.state.recording(Operation.REVOKE_TRUST, call, name) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                self.governance.maintained(principal, name, "configure trusted publishing for")
                configs = self.state.trust.get(name, [])
                if not any(c.id == config_id for c in configs):
                    raise NotFound(reason=f"{name} has no trusted publisher {config_id}")
                self._trust_gate(call, rec, principal, "configure trusted publishing")
                self.state.trust[name] = [c for c in configs if c.id != config_id]

    # -- the CI side -------------------------------------------------------------------------------------

    def add_ci_job(self, job: dict[str, Any]) -> str:
        """A CI job a test started (its repository, workflow, ref ...); returns the request token
        its id-token requests carry (``ACTIONS_ID_TOKEN_REQUEST_TOKEN``)."""
        request_token = identity.new_request_token()
        with self.state.lock:
            self.state.ci_jobs[request_token] = job
        return request_token

    def issue_id_token(self, call: Call, audience: str | None) -> str:
        """The GitHub Actions id-token endpoint: the job's request token -> a signed id token."""
        with self.state.recording(Operation.OIDC_ID_TOKEN, call, None) as rec:
            rec.credential = "ci-request-token"
            job = self.state.ci_jobs.get(call.credential.token or "") if call.credential else None
            if job is None:
                raise NotFound("Not Found", reason="id-token request without a known ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            return identity.sign(
                identity.github_claims(
                    **job, audience=audience or identity.audience(call.host), now=self.state.clock.now()
                )
            )

    def exchange_oidc(self, call: Call, name: str) -> tuple[Token, str]:
        """``POST /-/npm/v1/oidc/token/exchange/package/<name>``: id token -> package-scoped token."""
        with self.state.recording(Operation.OIDC_EXCHANGE, call, name) as rec:
            rec.credential = "ci-id-token"
            if call.credential is None or not call.credential.token:
                raise OidcBadRequest(reason="no id token in the authorization header")
            audience = identity.audiences(call.host, call.port)
            try:
                claims = identity.verify(call.credential.token, audience=audience, now=self.state.clock.now())
            except identity.InvalidIdToken as exc:
                raise OidcUnauthorized(reason=f"id token rejected: {exc} (audience must be {audience})") from None
            if name not in self.state.packages:
                raise OidcPackageNotFound(reason=f"{name} does not exist (the first publish cannot be trusted)")
            configs = self.state.trust.get(name, [])
            if not configs:
                raise OidcPackageNotFound(reason=f"{name} has no trusted publisher configured")
            mismatches = [m for m in (_mismatch(c, claims) for c in configs) if m]
            if len(mismatches) == len(configs):
                raise OidcPackageNotFound(
                    reason=f"claims do not match the trusted publisher of {name}: {mismatches[0]}"
                )
            config = next(c for c in configs if _mismatch(c, claims) is None)
            # The exchange does not know what comes next (pnpm, yarn and bun send no npm-command):
            # the token carries the publisher's permissions, and the PUT or the stage checks them.
            publisher = self._trusted_publisher(config.type)
            token, secret = self.accounts.create_token(publisher.name, kind=TokenKind.OIDC, packages=(name,))
            token.expires = self.state.clock.now() + OIDC_TOKEN_TTL
            token.oidc_permissions = config.permissions
            rec.reason = (
                f"matched {config.type} trusted publisher {config.id} ({_describe(config.type, claims)});"
                f" may {', '.join(config.permissions)}"
            )
            return token, secret

    def _trusted_publisher(self, kind: str) -> User:
        name, email = PUBLISHERS[kind]
        with self.state.lock:
            return self._publisher_user(name, email)

    def _publisher_user(self, name: str, email: str) -> User:
        user = self.state.users.get(name)
        if user is None:
            user = User(
                name=name, email=email, password_hash=hash_password(uuid.uuid4().hex), created=self.state.clock.now()
            )
            self.state.users[name] = user
        return user


def _is_repository(value: Any) -> bool:
    return isinstance(value, str) and value.count("/") == 1 and all(value.split("/"))


def _file_of(ref: Any) -> str | None:
    """``o/r/.github/workflows/release.yml@refs/heads/main`` -> ``release.yml``."""
    if not isinstance(ref, str):
        return None
    return ref.split("@", 1)[0].rsplit("/", 1)[-1]


def _mismatch(config: TrustConfig, claims: dict[str, Any]) -> str | None:
    """Why ``claims`` do not satisfy ``config``; ``None`` when they do."""
    want = config.claims
    if config.type == "github":
        if claims.get("iss") != identity.GITHUB_ISSUER:
            return f"issuer {claims.get('iss')!r} is not GitHub Actions"
        if str(claims.get("repository", "")).lower() != str(want["repository"]).lower():
            return f"repository is {claims.get('repository')!r}, the trusted publisher expects {want['repository']!r}"
        # With a reusable workflow, the *calling* workflow (workflow_ref) is what is checked.
        got = _file_of(claims.get("workflow_ref"))
        if got != want["workflow_ref"]["file"]:
            return f"workflow is {got!r}, the trusted publisher expects {want['workflow_ref']['file']!r}"
    elif config.type == "gitlab":
        if claims.get("iss") != identity.GITLAB_ISSUER:
            return f"issuer {claims.get('iss')!r} is not GitLab"
        if claims.get("project_path") != want["project_path"]:
            expected = want["project_path"]
            return f"project_path is {claims.get('project_path')!r}, the trusted publisher expects {expected!r}"
        got = _file_of(str(claims.get("ci_config_ref_uri", "")).replace("//", "/"))
        if got != want["ci_config_ref_uri"]["file"]:
            return f"CI config file is {got!r}, the trusted publisher expects {want['ci_config_ref_uri']['file']!r}"
    else:
        for key in _REQUIRED_CLAIMS["circleci"]:
            if claims.get(key) != want[key]:
                return f"{key} is {claims.get(key)!r}, the trusted publisher expects {want[key]!r}"
        contexts = want.get("oidc.circleci.com/context-ids")
        if contexts and not set(contexts) <= set(claims.get("oidc.circleci.com/context-ids") or ()):
            return f"context ids {claims.get('oidc.circleci.com/context-ids')} lack {contexts}"
    environment = want.get("environment")
    if environment and claims.get("environment") != environment:
        return f"environment is {claims.get('environment')!r}, the trusted publisher expects {environment!r}"
    return None


def _describe(kind: str, claims: dict[str, Any]) -> str:
    if kind == "github":
        return f"{claims.get('repository')} {_file_of(claims.get('workflow_ref'))} env={claims.get('environment')}"
    if kind == "gitlab":
        return f"{claims.get('project_path')} env={claims.get('environment')}"
    return str(claims.get("oidc.circleci.com/project-id"))
