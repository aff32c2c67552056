"""Emulated CI jobs for trusted publishing: the environment a GitHub Actions, GitLab or CircleCI
job gives npm, backed by the registry's mock identity provider, and the trust configs to match.

Merge what these return into ``reg.npm(..., env=...)``: npm then runs its OIDC exchange exactly
as in CI, against this registry only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_npm_registry.domain import identity
from pytest_npm_registry.domain.errors import RegistryError, UsageError
from pytest_npm_registry.domain.models import StagedVersion, TrustConfig

if TYPE_CHECKING:
    from pytest_npm_registry.domain.registry import Registry
    from pytest_npm_registry.wire.server import RegistryServer


class CiMixin:
    """Part of :class:`~pytest_npm_registry.NpmRegistry`."""

    registry: Registry
    server: RegistryServer

    def github_actions_env(
        self,
        repository: str,
        workflow: str = "release.yml",
        *,
        environment: str | None = None,
        ref: str = "refs/heads/main",
        caller_workflow: str | None = None,
        visibility: str = "private",
    ) -> dict[str, str]:
        """A GitHub Actions job of ``repository`` running ``.github/workflows/<workflow>``.

        npm asks ``ACTIONS_ID_TOKEN_REQUEST_URL`` (this registry) for an id token, then exchanges
        it. ``caller_workflow`` makes ``workflow`` a reusable workflow called from that file;
        ``visibility="public"`` is what would make npm try provenance (kept off by the registry).
        """
        job = {
            "repository": repository,
            "workflow": workflow,
            "ref": ref,
            "environment": environment,
            "caller_workflow": caller_workflow,
            "visibility": visibility,
        }
        request_token = self.registry.trust.add_ci_job(job)
        url = self.server.url_for("/-/_mock/oidc/github/id-token")
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": repository,
            "GITHUB_REF": ref,
            "GITHUB_WORKFLOW_REF": f"{repository}/.github/workflows/{caller_workflow or workflow}@{ref}",
            "GITHUB_SERVER_URL": "https://github.com",
            "RUNNER_ENVIRONMENT": "github-hosted",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
        }

    def gitlab_env(
        self,
        project_path: str,
        *,
        config_file: str = ".gitlab-ci.yml",
        ref: str = "main",
        environment: str | None = None,
    ) -> dict[str, str]:
        """A GitLab CI job with ``id_tokens: NPM_ID_TOKEN: aud: npm:<registry host>``."""
        claims = identity.gitlab_claims(
            project_path=project_path,
            config_file=config_file,
            ref=ref,
            environment=environment,
            audience=identity.audience(self.server.host),
            now=self.registry.clock.now(),
        )
        return {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_PROJECT_PATH": project_path,
            "CI_COMMIT_REF_NAME": ref,
            "NPM_ID_TOKEN": identity.sign(claims),
        }

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
        claims = identity.circleci_claims(
            org_id=org_id,
            project_id=project_id,
            pipeline_definition_id=pipeline_definition_id,
            vcs_origin=vcs_origin,
            context_ids=context_ids,
            audience=identity.audience(self.server.host),
            now=self.registry.clock.now(),
        )
        return {"CI": "true", "CIRCLECI": "true", "NPM_ID_TOKEN": identity.sign(claims)}

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
