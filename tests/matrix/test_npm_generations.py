"""npm 12.2 and 11.21 on Node 22 (and a smoke subset on Node 24) through the flows users' CI logs
show: publish, the EOTP texts without a terminal, web 2FA on one, ``--otp``, read-only and dead
tokens, whoami, and trusted publishing with and without a trust configuration.

The lines asserted here are the ones docs/clients.md quotes. Where npm 11 and 12 differ, the
test says so: npm 12 prints ``body.message`` when a body has no ``error`` and asks for
``npm login`` instead of ``npm adduser``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, User
from tests.test_provenance import TRACE_JS, assert_only_loopback
from tests.test_registry_signatures import VERIFIED_WITH_ATTESTATION

pytestmark = [pytest.mark.npm, pytest.mark.matrix]

NODE22 = [pytest.param("12", "22", id="npm12-node22"), pytest.param("11.21", "22", id="npm11.21-node22")]
NODE24 = [pytest.param("12", "24", id="npm12-node24"), pytest.param("11.21", "24", id="npm11.21-node24")]
REPO = "octo/demo"
CLASSIC_EOTP = [
    "npm error code EOTP",
    "npm error This operation requires a one-time password from your authenticator.",
    "npm error You can provide a one-time password by passing --otp=<code> to the command you ran.",
    "npm error If you already provided a one-time password then it is likely that you either typoed it, "
    "or it timed out. Please try again.",
]


@pytest.fixture
def alice(npm_registry: NpmRegistry) -> User:
    return npm_registry.add_user("alice", tfa="auth-and-writes")


def major(npm: str) -> int:
    return int(npm.split(".", maxsplit=1)[0])


@pytest.mark.parametrize(("npm", "node"), NODE22 + NODE24)
def test_publish_with_a_bypass_token_and_install(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], npm: str, node: str
) -> None:
    token = alice.create_token(bypass_2fa=True)
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.0.0"), token=token, version=npm, node=node)
    assert result.returncode == 0, result
    assert result.stdout.strip() == "+ demo-pkg@1.0.0"
    put = [request for request, _ in npm_registry.server.log if request.method == "PUT"][-1]
    agent = put.headers["user-agent"]
    assert re.match(rf"npm/{re.escape(npm)}[.\d]* node/v{node}\.\d+\.\d+ \w+ \w+ workspaces/false$", agent), agent
    app = package_dir("app", "0.0.0", dependencies={"demo-pkg": "^1.0.0"})
    installed = npm_registry.npm("install", cwd=app, token=token, version=npm, node=node)
    assert installed.returncode == 0, installed
    assert (app / "node_modules" / "demo-pkg" / "package.json").is_file()


@pytest.mark.parametrize(("npm", "node"), NODE22 + NODE24)
def test_web_challenge_without_a_terminal_prints_both_urls(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], npm: str, node: str
) -> None:
    token = alice.create_token("session")
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg"), token=token, version=npm, node=node)
    assert result.returncode == 1
    (pending,) = npm_registry.web_auth_sessions(pending=True)
    assert result.error_lines == [
        "npm error code EOTP",
        "npm error This operation requires a one-time password.",
        "npm error Open this URL in your browser to authenticate:",
        f"npm error   {npm_registry.url}-/_mock/auth/{pending.id}",
        "npm error",
        "npm error After authenticating, your token can be retrieved from:",
        f"npm error   {npm_registry.url}-/v1/done/{pending.id}",
    ]


@pytest.mark.parametrize(("npm", "node"), NODE22)
def test_classic_challenge_without_a_terminal_then_otp(
    npm_registry: NpmRegistry, package_dir: Callable[..., Path], npm: str, node: str
) -> None:
    bob = npm_registry.add_user("bob", tfa="auth-and-writes", challenge="classic")
    token = bob.create_token("session")
    folder = package_dir("demo-pkg")
    refused = npm_registry.npm("publish", cwd=folder, token=token, version=npm, node=node)
    assert refused.error_lines == CLASSIC_EOTP
    published = npm_registry.npm("publish", cwd=folder, token=token, otp=bob.otp(), version=npm, node=node)
    assert published.returncode == 0, published
    assert npm_registry.journal.entries(operation="publish")[-1].otp.value == "totp"


@pytest.mark.parametrize(("npm", "node"), NODE22)
def test_web_2fa_on_a_terminal_polls_and_publishes(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], npm: str, node: str
) -> None:
    npm_registry.auto_approve_web_auth = True
    token = alice.create_token("session")
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg"), token=token, tty=True, version=npm, node=node)
    assert result.returncode == 0, result
    assert re.search(rf"Authenticate your account at:\n{re.escape(npm_registry.url)}-/_mock/auth/\w+\n", result.stdout)
    assert result.stdout.rstrip().endswith("+ demo-pkg@1.0.0")
    polls = [request for request, _ in npm_registry.server.log if "/-/v1/done/" in request.path]
    assert polls
    assert polls[-1].headers["authorization"] == f"Bearer {token.key}"  # npm polls with the bearer
    assert npm_registry.journal.entries(operation="publish")[-1].otp.value == "web"


@pytest.mark.parametrize(("npm", "node"), NODE22)
def test_read_only_and_dead_tokens(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], npm: str, node: str
) -> None:
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    folder = package_dir("demo-pkg", "1.1.0")
    url = npm_registry.url
    read_only = npm_registry.npm(
        "publish", cwd=folder, token=alice.create_token(read_only=True), version=npm, node=node
    )
    assert read_only.error_lines[:2] == [
        "npm error code E403",
        f"npm error 403 403 Forbidden - PUT {url}demo-pkg - You may not perform that action with these credentials.",
    ]
    dead = alice.create_token(bypass_2fa=True)
    dead.revoke()
    revoked = npm_registry.npm("publish", cwd=folder, token=dead, version=npm, node=node)
    assert revoked.notices[-1] == "Access token expired or revoked. Please try logging in again."
    assert revoked.error_lines[:2] == [
        "npm error code E404",
        f"npm error 404 Not Found - PUT {url}demo-pkg - Not found",
    ]
    whoami = npm_registry.npm("whoami", token=dead, version=npm, node=node)
    suffix = " - Unauthorized" if major(npm) >= 12 else ""  # npm 12 prints body.message
    assert whoami.error_lines == ["npm error code E401", f"npm error 401 Unauthorized - GET {url}-/whoami{suffix}"]
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


@pytest.mark.parametrize(("npm", "node"), NODE22)
def test_trusted_publishing_and_eneedauth_after_a_failed_exchange(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], npm: str, node: str
) -> None:
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    env = npm_registry.github_actions_env(REPO, visibility="public")
    failed = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=env, version=npm, node=node)
    command = "npm login" if major(npm) >= 12 else "npm adduser"
    assert failed.error_lines == [
        "npm error code ENEEDAUTH",
        f"npm error need auth This command requires you to be logged in to {npm_registry.url}",
        f"npm error need auth You need to authorize this machine using `{command}`",
    ]
    assert npm_registry.journal.entries(operation="oidc-exchange")[-1].status == 404
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    # A public repository: npm signs provenance by itself (through the mock Sigstore), so
    # package.json must name the repository (the registry's E422 otherwise).
    repository = {"type": "git", "url": f"git+https://github.com/{REPO}.git"}
    package = package_dir("demo-pkg", "1.1.0", repository=repository)
    published = npm_registry.npm("publish", cwd=package, env=env, version=npm, node=node)
    assert published.returncode == 0, published
    assert npm_registry.package("demo-pkg").publisher("1.1.0") == "GitHub Actions"
    assert "publish Signed provenance statement with source and build information from GitHub Actions" in (
        published.notices
    )


@pytest.mark.parametrize(("npm", "node"), NODE22 + NODE24)
def test_audit_signatures_verifies_through_our_tuf_and_reaches_only_loopback(
    npm_registry: NpmRegistry, alice: User, tmp_path: Path, npm: str, node: str
) -> None:
    # npm 12's TUF client fetches with Node's own fetch, which follows HTTPS_PROXY only with
    # NODE_USE_ENV_PROXY=1 (the fixture sets it): without it this run resolves
    # tuf-repo-cdn.sigstore.dev itself (`npm error cause getaddrinfo ENOTFOUND` here).
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    installed = npm_registry.npm("install", "demo-pkg@1.0.0", "--no-audit", cwd=app, version=npm, node=node)
    assert installed.returncode == 0, installed
    script = tmp_path / "trace.js"
    script.write_text(TRACE_JS)
    trace = tmp_path / "egress-trace.jsonl"
    npm_registry.server.egress.clear()
    env = {"NODE_OPTIONS": f"--require={script}", "EGRESS_TRACE": str(trace)}
    audit = npm_registry.npm("audit", "signatures", cwd=app, env=env, version=npm, node=node)
    assert audit.returncode == 0, audit
    assert re.fullmatch(r"audited 1 package in \d+s", audit.stdout.split("\n")[0]), audit
    assert audit.stdout.split("\n")[1:] == ["", "1 package has a verified registry signature", "", ""]
    events = [tuple(json.loads(line)) for line in trace.read_text().splitlines()]
    assert_only_loopback(events)
    assert {c.host for c in npm_registry.server.egress.connects()} == {"tuf-repo-cdn.sigstore.dev"}


@pytest.mark.parametrize(("npm", "node"), NODE22 + NODE24)
def test_provenance_publish_then_audit_verifies_the_attestations(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], tmp_path: Path, npm: str, node: str
) -> None:
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    repository = {"type": "git", "url": f"git+https://github.com/{REPO}.git"}
    package = package_dir("demo-pkg", "1.1.0", repository=repository)
    job = npm_registry.github_actions_env(REPO, visibility="public")
    published = npm_registry.npm(
        "publish", "--provenance", "--access", "public", cwd=package, env=job, version=npm, node=node
    )
    assert published.returncode == 0, published
    npm_registry.assert_published("demo-pkg@1.1.0", provenance={"repository": f"https://github.com/{REPO}"})
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    installed = npm_registry.npm("install", "demo-pkg@1.1.0", "--no-audit", cwd=app, version=npm, node=node)
    assert installed.returncode == 0, installed
    audit = npm_registry.npm("audit", "signatures", cwd=app, version=npm, node=node)
    assert audit.returncode == 0, audit
    # Both attestations of 1.1.0 (the registry's publish attestation and the SLSA provenance) verify.
    assert audit.stdout.split("\n")[1:] == VERIFIED_WITH_ATTESTATION
