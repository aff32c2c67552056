"""A mock CI identity provider: the OIDC id tokens GitHub Actions, GitLab and CircleCI hand a job.

Tokens are real RS256 JWTs (PyJWT), signed with a key whose JWKS the server publishes, so the
registry verifies them the way the public registry verifies the real ones: signature, issuer,
audience, expiry, then the claims against the package's trust configuration.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

# PyJWT and cryptography cost ~25 ms to import: only trusted-publishing tests pay for them.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
CIRCLECI_ISSUER_PREFIX = "https://oidc.circleci.com/org/"
KEY_ID = "pytest-npm-registry-1"
ID_TOKEN_TTL = 300.0


@cache
def _signing_key() -> rsa.RSAPrivateKey:
    # One key per process: generating RSA keys takes tens of milliseconds, too slow per test.
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415 - see above

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict[str, Any]:
    """The public half, as ``/.well-known/jwks`` serves it."""
    import jwt  # noqa: PLC0415 - lazy, see above

    public = jwt.algorithms.RSAAlgorithm.to_jwk(_signing_key().public_key(), as_dict=True)
    return {"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}


def sign(claims: dict[str, Any]) -> str:
    import jwt  # noqa: PLC0415 - lazy, see above

    return jwt.encode(claims, _signing_key(), algorithm="RS256", headers={"kid": KEY_ID})


class InvalidIdToken(Exception):
    """An id token that fails verification (wraps PyJWT's reason)."""


def verify(token: str, *, audience: str | Iterable[str], now: float) -> dict[str, Any]:
    """Check signature, audience (one of them, when given several) and time against the
    registry's clock; raise :class:`InvalidIdToken`."""
    import jwt  # noqa: PLC0415 - lazy, see above

    try:
        return _verify(jwt, token, audience=audience, now=now)
    except jwt.InvalidTokenError as exc:
        raise InvalidIdToken(str(exc)) from None


def _verify(jwt: Any, token: str, *, audience: str | Iterable[str], now: float) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        _signing_key().public_key(),
        algorithms=["RS256"],
        audience=audience,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp", "iss", "aud"]},
    )
    if not isinstance(claims.get("exp"), (int, float)) or now >= claims["exp"]:
        raise jwt.ExpiredSignatureError("the id token has expired")
    if isinstance(claims.get("nbf"), (int, float)) and now < claims["nbf"]:
        raise jwt.ImmatureSignatureError("the id token is not valid yet")
    issuer = claims.get("iss", "")
    if issuer not in (GITHUB_ISSUER, GITLAB_ISSUER) and not str(issuer).startswith(CIRCLECI_ISSUER_PREFIX):
        raise jwt.InvalidIssuerError(f"untrusted issuer {issuer!r}")
    return claims


def github_claims(
    *,
    repository: str,
    workflow: str,
    ref: str = "refs/heads/main",
    environment: str | None = None,
    caller_workflow: str | None = None,
    visibility: str = "private",
    sha: str | None = None,
    run_id: str | None = None,
    audience: str,
    now: float,
) -> dict[str, Any]:
    """Claims of a GitHub Actions id token. ``workflow`` is the file of the job's workflow; with a
    reusable workflow, ``caller_workflow`` is the calling workflow's file (what npm's trust checks)."""
    owner = repository.split("/", 1)[0]
    caller = caller_workflow or workflow
    sub = f"repo:{repository}:environment:{environment}" if environment else f"repo:{repository}:ref:{ref}"
    commit = sha or secrets.token_hex(20)
    claims: dict[str, Any] = {
        "iss": GITHUB_ISSUER,
        "aud": audience,
        "sub": sub,
        "jti": str(uuid.uuid4()),
        "iat": int(now),
        "nbf": int(now) - 5,
        "exp": int(now + ID_TOKEN_TTL),
        "repository": repository,
        "repository_owner": owner,
        "repository_id": stable_id(repository),
        "repository_owner_id": stable_id(owner),
        "repository_visibility": visibility,
        "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        # The job's commit and run: every token of one job names the same (a fresh one without).
        "sha": commit,
        "run_id": run_id or str(secrets.randbelow(10**10)),
        "run_attempt": "1",
        # The workflows' own commits: the job's, as when they live in the repository they build.
        "workflow_sha": commit,
        "job_workflow_sha": commit,
        "workflow": caller.rsplit(".", 1)[0],
        "workflow_ref": f"{repository}/.github/workflows/{caller}@{ref}",
        "job_workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
        "event_name": "push",
        "runner_environment": "github-hosted",
        "actor": owner,
    }
    if environment:
        claims["environment"] = environment
    return claims


def gitlab_claims(
    *,
    project_path: str,
    config_file: str = ".gitlab-ci.yml",
    ref: str = "main",
    environment: str | None = None,
    visibility: str = "private",
    sha: str | None = None,
    job_id: str | None = None,
    audience: str,
    now: float,
) -> dict[str, Any]:
    """Claims of a GitLab CI id token (``id_tokens:``), those Fulcio maps included: the job's
    commit (``sha``, random unless given) and its job (``job_id``)."""
    namespace = project_path.rsplit("/", 1)[0]
    commit = sha or secrets.token_hex(20)
    claims: dict[str, Any] = {
        "iss": GITLAB_ISSUER,
        "aud": audience,
        "sub": f"project_path:{project_path}:ref_type:branch:ref:{ref}",
        "jti": str(uuid.uuid4()),
        "iat": int(now),
        "nbf": int(now) - 5,
        "exp": int(now + ID_TOKEN_TTL),
        "project_path": project_path,
        "project_id": stable_id(project_path),
        "namespace_path": namespace,
        "namespace_id": stable_id(namespace),
        "project_visibility": visibility,
        "pipeline_source": "push",
        "job_id": job_id or str(secrets.randbelow(10**10)),
        "ref": ref,
        "ref_type": "branch",
        "ci_config_ref_uri": f"gitlab.com/{project_path}//{config_file}@refs/heads/{ref}",
        "ci_config_sha": commit,  # the pipeline definition is the project's own, at the job's commit
        "runner_environment": "gitlab-hosted",
        "sha": commit,
    }
    if environment:
        claims["environment"] = environment
    return claims


def circleci_claims(
    *,
    org_id: str,
    project_id: str,
    pipeline_definition_id: str,
    vcs_origin: str,
    context_ids: list[str] | None = None,
    audience: str,
    now: float,
) -> dict[str, Any]:
    return {
        "iss": f"{CIRCLECI_ISSUER_PREFIX}{org_id}",
        "aud": audience,
        "sub": f"org/{org_id}/project/{project_id}/user/{uuid.uuid4()}",
        "jti": str(uuid.uuid4()),
        "iat": int(now),
        "exp": int(now + ID_TOKEN_TTL),
        "oidc.circleci.com/org-id": org_id,
        "oidc.circleci.com/project-id": project_id,
        "oidc.circleci.com/pipeline-definition-id": pipeline_definition_id,
        "oidc.circleci.com/vcs-origin": vcs_origin,
        "oidc.circleci.com/context-ids": context_ids or [],
    }


def audience(host: str) -> str:
    """The ``aud`` an id token for this registry carries: npm asks for ``npm:<registry host>``."""
    return f"npm:{host}"


class Audiences(tuple[str, ...]):
    """The audiences the registry accepts; printed as ``npm:127.0.0.1 or npm:127.0.0.1:4873``."""

    __slots__ = ()

    def __str__(self) -> str:
        return " or ".join(self)


def audiences(host: str, port: int | None = None) -> Audiences:
    """What an id token for this registry may carry as ``aud``: ``npm:<host>`` (npm and pnpm ask
    for ``npm:`` + the registry URL's hostname) and, with a port, ``npm:<host>:<port>`` (yarn 4
    uses ``new URL(registry).host``, port included: npmHttpUtils.ts ``getOidcToken``). On the
    public registry there is no port, so every client asks for the same audience there."""
    forms = [audience(host)]
    if port is not None:
        forms.append(audience(f"{host}:{port}"))
    return Audiences(forms)


def stable_id(name: str) -> str:
    """A numeric id that stays the same for a name (GitHub's repository and owner ids)."""
    return str(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))  # noqa: S324 - an id, not security


def new_request_token() -> str:
    """What GitHub puts in ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``."""
    return "ghs_" + secrets.token_urlsafe(27)
