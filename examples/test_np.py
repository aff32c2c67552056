"""Example: contract-test np (np 11), as non-interactive as np allows.

np is made for a terminal, so the test runs it on a pseudo-terminal and answers its confirmation
if it asks (`reg.run_tool(..., tty=True, answers=...)`). `--yolo` skips the install and
tests, `--no-release-draft` the GitHub release page, `--no-2fa` the "enable 2FA on this new
package" step; the remote is a bare repository beside the test's repo.

np runs `npm publish` itself and watches its output: on "one-time pass" in npm's stderr it shows
"(waiting for input…)" and reads a code (not driven here yet: see docs/clients.md). The failure
case is the current registry's rule for accounts without 2FA (only a bypass-2FA token publishes):
np reports npm's 403 and stops before pushing, leaving its version commit and tag local.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.api.clients import Reply
from pytest_npm_registry.api.tools import ToolResult, git, init_git_repo, install_tool

CLIENTS = Path(__file__).resolve().parents[1] / "tests" / "clients"


@pytest.fixture(scope="module")
def np_bin() -> Path:
    return install_tool(CLIENTS / "np", npmrc=CLIENTS / "npmrc")


def make_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "np-lib"
    package = {"name": "np-lib", "version": "1.0.0", "main": "index.js", "files": ["index.js"]}
    files = {"package.json": json.dumps(package, indent=2) + "\n", "index.js": "module.exports = 1;\n"}
    remote = init_git_repo(repo, files, message="feat: first feature")
    return repo, remote


def np(
    reg: NpmRegistry, repo: Path, token: Token, bin_dir: Path, answers: list[tuple[str, Reply]] | None = None
) -> ToolResult:
    return reg.run_tool(
        "np",
        "minor",
        "--yolo",
        "--no-release-draft",
        "--no-2fa",
        cwd=repo,
        token=token,
        bin_dirs=[bin_dir],
        tty=True,
        answers=answers or [],
        timeout=90,
    )


def test_np_publishes_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path, np_bin: Path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = make_repo(tmp_path)

    result = np(npm_registry, repo, alice.create_token(bypass_2fa=True), np_bin, answers=[(r"Continue\?", "y")])
    assert result.returncode == 0, str(result)
    assert npm_registry.package("np-lib").dist_tags == {"latest": "1.1.0"}
    assert git(remote, "tag").split() == ["v1.1.0"]
    assert "np-lib 1.1.0 published" in result.stdout


def test_np_with_a_session_token_of_an_account_without_2fa_is_refused_and_rolled_back(
    npm_registry: NpmRegistry, tmp_path: Path, np_bin: Path
):
    alice = npm_registry.add_user("alice")  # no 2FA: since late 2025 only a bypass token publishes
    repo, remote = make_repo(tmp_path)

    result = np(npm_registry, repo, alice.create_token("session"), np_bin, answers=[(r"Continue\?", "y")])

    assert result.returncode == 1, str(result)
    assert (
        "403 Forbidden - PUT " + npm_registry.url + "np-lib - Two-factor authentication or granular access token"
        " with bypass 2fa enabled is required to publish packages." in result.output
    )
    assert not npm_registry.has_package("np-lib")
    # np stops before "Pushing tags": its version commit and tag stay local, unpushed.
    assert json.loads((repo / "package.json").read_text())["version"] == "1.1.0"
    assert git(repo, "tag").split() == ["v1.1.0"]
    assert git(remote, "tag") == ""
