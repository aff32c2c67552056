"""Example: contract-test release-it (release-it 20) in CI mode.

`release-it minor --ci` checks the registry (`npm ping`, `npm whoami`), bumps the version, commits,
tags, runs `npm publish`, then pushes to the remote (a bare repository beside the test's repo; the
GitHub release is off). On an OTP challenge release-it asks for a code only when interactive; in CI
it stops with npm's EOTP. release-it publishes before it commits and tags, and on failure it
undoes the version bump: the repository is as before, the registry unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.api.tools import ToolResult, git, init_git_repo, install_tool

CLIENTS = Path(__file__).resolve().parents[1] / "tests" / "clients"
CONFIG = {"git": {"requireCleanWorkingDir": True}, "github": {"release": False}, "npm": {"publish": True}}


@pytest.fixture(scope="module")
def release_it_bin() -> Path:
    return install_tool(CLIENTS / "release-it", npmrc=CLIENTS / "npmrc")


def make_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "ri-lib"
    files = {
        "package.json": json.dumps({"name": "ri-lib", "version": "1.0.0", "main": "index.js"}, indent=2) + "\n",
        "index.js": "module.exports = 1;\n",
        ".release-it.json": json.dumps(CONFIG),
    }
    remote = init_git_repo(repo, files, message="feat: first feature")
    return repo, remote


def release_it(reg: NpmRegistry, repo: Path, token: Token, bin_dir: Path) -> ToolResult:
    return reg.run_tool("release-it", "minor", "--ci", cwd=repo, token=token, bin_dirs=[bin_dir])


def test_release_it_publishes_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path, release_it_bin: Path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = make_repo(tmp_path)

    result = release_it(npm_registry, repo, alice.create_token(bypass_2fa=True), release_it_bin)

    assert result.returncode == 0, str(result)
    assert "Done (in" in result.stdout
    assert npm_registry.package("ri-lib").dist_tags == {"latest": "1.1.0"}
    assert git(remote, "tag").split() == ["1.1.0"]
    publish = npm_registry.journal.entries(operation="publish")[-1]
    assert (publish.user, publish.credential, publish.otp.value) == ("alice", "granular", "none")


def test_release_it_in_ci_stops_at_eotp_before_committing(
    npm_registry: NpmRegistry, tmp_path: Path, release_it_bin: Path
):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = make_repo(tmp_path)

    result = release_it(npm_registry, repo, alice.create_token("session"), release_it_bin)

    assert result.returncode == 1, str(result)
    assert "npm error code EOTP" in result.output
    assert not npm_registry.has_package("ri-lib")
    assert "✖ npm publish" in result.stderr
    # release-it publishes before it commits and tags, and undoes the version bump on failure.
    assert json.loads((repo / "package.json").read_text())["version"] == "1.0.0"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "tag") == git(remote, "tag") == ""
    challenge = npm_registry.journal.entries(operation="publish")[-1]
    assert (challenge.outcome.value, challenge.credential) == ("challenged", "session")
