"""Example: contract-test a semantic-release pipeline (semantic-release 24, @semantic-release/npm 12).

The test makes a tiny repository whose remote is a bare repository beside it (no GitHub), with the
plugins limited to commit-analyzer, release-notes-generator and npm, and runs `semantic-release
--no-ci` against the mock registry with `NPM_TOKEN`. @semantic-release/npm publishes with the npm
it depends on (npm 10), as in a real project.

Documented failure: semantic-release supports only the `auth-only` 2FA level; with a token that
needs an OTP to publish, `npm publish` fails with EOTP *after* the git tag was pushed — the
repository says v1.0.0 is released, the registry does not have it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.api.tools import ToolResult, git, init_git_repo, install_tool

CLIENTS = Path(__file__).resolve().parents[1] / "tests" / "clients"
PLUGINS = [
    "@semantic-release/commit-analyzer",
    "@semantic-release/release-notes-generator",
    "@semantic-release/npm",
]


@pytest.fixture(scope="module")
def semantic_release_bin() -> Path:
    return install_tool(CLIENTS / "semantic-release", npmrc=CLIENTS / "npmrc")


def make_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "sr-lib"
    remote = tmp_path / "sr-lib.git"
    package = {
        "name": "sr-lib",
        "version": "0.0.0-development",
        "main": "index.js",
        "repository": {"type": "git", "url": f"file://{remote}"},
        "release": {"branches": ["main"], "repositoryUrl": f"file://{remote}", "plugins": PLUGINS},
    }
    init_git_repo(
        repo,
        {"package.json": json.dumps(package, indent=2) + "\n", "index.js": "module.exports = 1;\n"},
        message="feat: first feature",
    )
    return repo, remote


def semantic_release(reg: NpmRegistry, repo: Path, token: Token, bin_dir: Path) -> ToolResult:
    userconfig = reg.env(token)["npm_config_userconfig"]  # registry URL, fetch-retries=0, loopback proxy
    return reg.run_tool(
        "semantic-release",
        "--no-ci",
        cwd=repo,
        bin_dirs=[bin_dir],
        env={"NPM_TOKEN": token.key, "NPM_CONFIG_USERCONFIG": userconfig},
    )


def test_semantic_release_publishes_with_a_bypass_token(
    npm_registry: NpmRegistry, tmp_path: Path, semantic_release_bin: Path
) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = make_repo(tmp_path)

    result = semantic_release(npm_registry, repo, alice.create_token(bypass_2fa=True), semantic_release_bin)

    assert result.returncode == 0, result
    assert "Published release 1.0.0 on default channel" in result.stdout
    assert npm_registry.package("sr-lib").dist_tags == {"latest": "1.0.0"}
    assert git(remote, "tag").split() == ["v1.0.0"]
    publish = npm_registry.journal.entries(operation="publish")[-1]
    assert (publish.user, publish.credential, publish.otp.value) == ("alice", "granular", "none")
    # The npm that @semantic-release/npm brings, not the one on the machine.
    put = [request for request, _ in npm_registry.server.log if request.method == "PUT"][-1]
    assert put.headers["user-agent"].startswith("npm/10.")


def test_semantic_release_with_auth_and_writes_2fa_fails_after_pushing_the_tag(
    npm_registry: NpmRegistry, tmp_path: Path, semantic_release_bin: Path
) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = make_repo(tmp_path)

    result = semantic_release(npm_registry, repo, alice.create_token("session"), semantic_release_bin)

    assert result.returncode == 1, result
    assert result.error_code == "EOTP"
    assert "This operation requires a one-time password from your authenticator." in result.output
    assert "An error occurred while running semantic-release" in result.output
    assert "Published release" not in result.stdout
    # The partial state semantic-release users meet: tag pushed, nothing on the registry.
    assert git(remote, "tag").split() == ["v1.0.0"]
    assert not npm_registry.has_package("sr-lib")
    challenge = npm_registry.journal.entries(operation="publish")[-1]
    assert (challenge.outcome.value, challenge.credential) == ("challenged", "session")
