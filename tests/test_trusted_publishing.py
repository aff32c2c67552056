"""Trusted publishing (OIDC) with the real npm CLI inside emulated CI jobs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import http

REPO = "acme/demo"


@pytest.fixture
def alice(npm_registry):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return alice


def exchanges(reg):
    return reg.journal.entries(operation="oidc-exchange")


def test_github_actions_publish_with_no_token_configured(npm_registry, alice, package_dir):
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    result = npm_registry.npm(
        "publish", cwd=package_dir("demo-pkg", "1.1.0"), env=npm_registry.github_actions_env(REPO, "release.yml")
    )
    assert result.returncode == 0, result
    assert result.stdout == "+ demo-pkg@1.1.0\n"
    (exchange,) = exchanges(npm_registry)
    assert exchange.status == 201
    assert "matched github trusted publisher" in (exchange.reason or "")
    publish = npm_registry.journal.entries(operation="publish")[-1]
    assert (publish.credential, publish.user) == ("oidc", "GitHub Actions")
    assert npm_registry.package("demo-pkg").publisher("1.1.0") == "GitHub Actions"
    # The id-token request carried the audience npm derives from the registry host.
    assert npm_registry.journal.entries(operation="oidc-id-token")[0].outcome.value == "accepted"


@pytest.mark.parametrize(
    ("job", "why"),
    [
        ({"repository": "acme/other"}, "repository is 'acme/other', the trusted publisher expects 'acme/demo'"),
        ({"workflow": "ci.yml"}, "workflow is 'ci.yml', the trusted publisher expects 'release.yml'"),
        ({"environment": "staging"}, "environment is 'staging', the trusted publisher expects 'production'"),
    ],
    ids=["repository", "workflow", "environment"],
)
def test_mismatched_claims_fall_back_to_eneedauth_and_the_journal_says_why(npm_registry, alice, package_dir, job, why):
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml", "environment": "production"})
    spec = {"repository": REPO, "workflow": "release.yml", "environment": "production", **job}
    env = npm_registry.github_actions_env(spec.pop("repository"), spec.pop("workflow"), **spec)
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=env)
    assert result.error_code == "ENEEDAUTH"  # npm hides the failed exchange entirely
    (exchange,) = exchanges(npm_registry)
    assert exchange.status == 404
    assert exchange.reason == f"claims do not match the trusted publisher of demo-pkg: {why}"
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


def test_failed_exchange_falls_back_to_the_configured_token(npm_registry, alice, package_dir):
    # No trust config: npm silently uses the token from .npmrc (here a 2FA session: EOTP).
    result = npm_registry.npm(
        "publish",
        cwd=package_dir("demo-pkg", "1.1.0"),
        token=alice.create_token("session"),
        env=npm_registry.github_actions_env(REPO),
    )
    assert result.error_code == "EOTP"
    assert exchanges(npm_registry)[0].reason == "demo-pkg has no trusted publisher configured"


def test_reusable_workflow_is_checked_by_its_caller(npm_registry, alice, package_dir):
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    env = npm_registry.github_actions_env(REPO, "shared-publish.yml", caller_workflow="release.yml")
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=env).returncode == 0


def test_exchanged_token_is_only_for_its_package(npm_registry, alice):
    npm_registry.publish("other-pkg", "1.0.0", by=alice)
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    token = _exchange(npm_registry, "demo-pkg", npm_registry.github_actions_env(REPO))

    from pytest_npm_registry import make_tarball, publish_document
    from pytest_npm_registry.domain.packaging import manifest_for

    doc = publish_document(manifest_for("other-pkg", "1.1.0"), make_tarball(manifest_for("other-pkg", "1.1.0")))
    other = http(npm_registry, "PUT", "/other-pkg", token=token, json_body=doc)
    assert (other.status, other.json()) == (
        401,
        {"error": "Failed to generate Web Auth URLs due to error: BadRequestError: token is invalid"},
    )
    assert "www-authenticate" not in other.headers
    # ... and only for publishing: no dist-tag changes, no owner changes.
    tag = http(npm_registry, "PUT", "/-/package/demo-pkg/dist-tags/beta", token=token, json_body="1.0.0")
    assert tag.status == 403


def _exchange(reg, package: str, env: dict[str, str]) -> str:
    """What npm does in CI: fetch the id token, exchange it; returns the registry token."""
    path = env["ACTIONS_ID_TOKEN_REQUEST_URL"].split(reg.url.rstrip("/"), 1)[1] + "&audience=npm:127.0.0.1"
    id_token = http(reg, "GET", path, token=env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]).json()["value"]
    answer = http(reg, "POST", f"/-/npm/v1/oidc/token/exchange/package/{package}", token=id_token)
    assert answer.status == 201, answer.body
    return answer.json()["token"]


def test_exchanged_token_expires_after_an_hour(npm_registry, alice, package_dir):
    from pytest_npm_registry import make_tarball, publish_document
    from pytest_npm_registry.domain.packaging import manifest_for

    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    token = _exchange(npm_registry, "demo-pkg", npm_registry.github_actions_env(REPO))
    npm_registry.clock.advance(3601)
    manifest = manifest_for("demo-pkg", "1.1.0")
    late = http(
        npm_registry, "PUT", "/demo-pkg", token=token, json_body=publish_document(manifest, make_tarball(manifest))
    )
    assert (late.status, late.json()) == (404, {"error": "Not found"})
    assert late.headers["npm-notice"] == "Access token expired or revoked. Please try logging in again."


def test_stale_id_token_cannot_be_exchanged(npm_registry, alice, package_dir):
    npm_registry.trust("demo-pkg", gitlab={"project_path": "acme/demo"})
    stale = npm_registry.gitlab_env("acme/demo")  # GitLab mints the id token when the job starts
    npm_registry.clock.advance(600)
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=stale)
    assert result.error_code == "ENEEDAUTH"
    assert "the id token has expired" in (exchanges(npm_registry)[-1].reason or "")


def test_gitlab_ci_publish(npm_registry, alice, package_dir):
    npm_registry.trust("demo-pkg", gitlab={"project_path": "acme/demo", "environment": "release"})
    ok = npm_registry.npm(
        "publish", cwd=package_dir("demo-pkg", "1.1.0"), env=npm_registry.gitlab_env("acme/demo", environment="release")
    )
    assert ok.returncode == 0, ok
    assert npm_registry.package("demo-pkg").publisher("1.1.0") == "GitLab CI/CD"
    wrong = npm_registry.npm(
        "publish", cwd=package_dir("demo-pkg", "1.2.0"), env=npm_registry.gitlab_env("acme/demo", config_file="x.yml")
    )
    assert wrong.error_code == "ENEEDAUTH"
    assert "CI config file is 'x.yml'" in (exchanges(npm_registry)[-1].reason or "")


def test_circleci_publish(npm_registry, alice, package_dir):
    ids = {"org_id": "o-1", "project_id": "p-1", "pipeline_definition_id": "d-1", "vcs_origin": "github.com/acme/demo"}
    npm_registry.trust("demo-pkg", circleci={f"oidc.circleci.com/{k.replace('_', '-')}": v for k, v in ids.items()})
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=npm_registry.circleci_env(**ids))
    assert result.returncode == 0, result


def test_oidc_publishes_under_mfa_publish_where_a_bypass_token_cannot(npm_registry, alice, package_dir):
    npm_registry.set_publish_requirement("demo-pkg", "publish")
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    bypass = npm_registry.npm(
        "publish", cwd=package_dir("demo-pkg", "1.1.0"), token=alice.create_token(bypass_2fa=True)
    )
    assert bypass.error_code == "EOTP"
    oidc = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=npm_registry.github_actions_env(REPO))
    assert oidc.returncode == 0, oidc


def test_a_public_repository_signs_provenance_by_itself(npm_registry, alice, package_dir):
    """npm's oidc.js turns provenance on when the id token says the repository is public and the
    registry says the package is: no --provenance, and the version gets an attestation."""
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    env = npm_registry.github_actions_env(REPO, visibility="public")
    repository = {"type": "git", "url": f"git+https://github.com/{REPO}.git"}
    package = package_dir("demo-pkg", "1.1.0", repository=repository)
    result = npm_registry.npm("publish", "--loglevel=verbose", cwd=package, env=env)
    assert result.returncode == 0, result
    assert "npm verbose oidc Enabling provenance" in result.stderr.splitlines()
    assert [line for line in result.notices if line.startswith("publish ")] == [
        "publish Signed provenance statement with source and build information from GitHub Actions",
        "publish Provenance statement published to transparency log: https://search.sigstore.dev/?logIndex=700000000",
    ]
    # Asked twice with the exchanged token (oidc.js, then libnpmpublish), told the truth both times.
    asked = npm_registry.journal.entries(operation="visibility")
    assert [(e.credential, e.status, e.reason) for e in asked] == [("oidc", 200, None)] * 2
    answers = [response.get_json() for request, response in npm_registry.server.log if "/visibility" in request.path]
    assert answers == [{"public": True}] * 2
    assert npm_registry.package("demo-pkg").publisher("1.1.0") == "GitHub Actions"
    assert "demo-pkg-1.1.0.sigstore" in npm_registry.package("demo-pkg").attachments("1.1.0")
    view = npm_registry.npm("view", "demo-pkg@1.1.0", "dist.attestations.provenance.predicateType")
    assert view.stdout == "https://slsa.dev/provenance/v1\n"


def test_a_private_repository_or_the_opt_out_publishes_unsigned(npm_registry, alice, package_dir):
    """A private repository's id token never turns provenance on; nor does a public one when
    ``advertise_public_visibility`` is off (the registry then tells the OIDC token "not public")."""
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    private = npm_registry.github_actions_env(REPO)
    result = npm_registry.npm("publish", "--loglevel=verbose", cwd=package_dir("demo-pkg", "1.1.0"), env=private)
    assert result.returncode == 0, result
    assert "sigstore" not in result.stderr.lower()
    npm_registry.advertise_public_visibility = False
    public = npm_registry.github_actions_env(REPO, visibility="public")
    result = npm_registry.npm("publish", "--loglevel=verbose", cwd=package_dir("demo-pkg", "1.2.0"), env=public)
    assert result.returncode == 0, result
    assert "Enabling provenance" not in result.stderr
    assert "sigstore" not in result.stderr.lower()
    told = npm_registry.journal.entries(operation="visibility")[-1]
    assert told.reason == "public, but told an OIDC publish it is not (advertise_public_visibility is off)"
    assert npm_registry.server.egress.connects() == []


def test_npm_trust_cli_needs_2fa_and_refuses_bypass_tokens(npm_registry, alice):
    session = alice.create_token("session")
    args = ("trust", "github", "demo-pkg", "--repo", REPO, "--file", "release.yml", "--allow-publish", "--yes")
    no_otp = npm_registry.npm(*args, token=session)
    assert no_otp.error_code == "EOTP", no_otp
    ok = npm_registry.npm(*args, token=session, otp=alice.otp())
    assert ok.returncode == 0, ok
    (config,) = npm_registry.trusted_publishers("demo-pkg")
    assert (config.claims["repository"], config.claims["workflow_ref"], config.permissions) == (
        REPO,
        {"file": "release.yml"},
        ("createPackage",),
    )
    listed = npm_registry.npm("trust", "list", "demo-pkg", "--json", token=session, otp=alice.otp())
    assert REPO in listed.stdout, listed
    bypass = npm_registry.npm(
        "trust", "revoke", "demo-pkg", "--id", config.id, token=alice.create_token(bypass_2fa=True), otp=alice.otp()
    )
    assert bypass.error_code == "E403"
    revoked = npm_registry.npm("trust", "revoke", "demo-pkg", "--id", config.id, token=session, otp=alice.otp())
    assert revoked.returncode == 0, revoked
    assert npm_registry.trusted_publishers("demo-pkg") == []


def test_exchange_refusals_over_http(npm_registry, alice):
    bad = http(npm_registry, "POST", "/-/npm/v1/oidc/token/exchange/package/demo-pkg", token="not-a-jwt")
    assert (bad.status, bad.json()) == (401, {"message": "OIDC token exchange error - unauthorized"})
    none = http(npm_registry, "POST", "/-/npm/v1/oidc/token/exchange/package/demo-pkg")
    assert (none.status, none.json()) == (400, {"message": "OIDC token exchange error - bad request"})
    jwks = http(npm_registry, "GET", "/-/_mock/oidc/.well-known/jwks").json()
    assert jwks["keys"][0]["alg"] == "RS256"


def test_provenance_reaches_only_the_mock_sigstore(npm_registry, alice, package_dir):
    """`--provenance` makes npm contact Sigstore's public names; every reg.npm run routes them to
    the egress proxy on loopback, which serves the mock Fulcio and Rekor (tests/test_provenance.py)."""
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    # A public repository (a private one's provenance is refused), and package.json naming the
    # repository the provenance will: the registry checks both (else E422).
    env = npm_registry.github_actions_env(REPO, visibility="public")
    repository = {"type": "git", "url": f"git+https://github.com/{REPO}.git"}
    package = package_dir("demo-pkg", "1.1.0", repository=repository)
    result = npm_registry.npm("publish", "--provenance", "--access", "public", cwd=package, env=env)
    assert result.returncode == 0, result
    assert {c.host for c in npm_registry.server.egress.connects()} == {"fulcio.sigstore.dev", "rekor.sigstore.dev"}
    assert result.duration < 30


DOCS = Path(__file__).resolve().parent.parent / "docs"


def provenance_section() -> str:
    text = (DOCS / "trusted-publishing.md").read_text()
    return text[text.index("## Provenance") : text.index("## Staged publishing")]


@pytest.mark.npm
def test_the_provenance_recipes_run_as_written(pytester: pytest.Pytester) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", provenance_section(), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 2  # signing by trusted publishing; npm audit signatures
    pytester.makepyfile(**{f"test_recipe_{n}": block for n, block in enumerate(blocks)})
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
