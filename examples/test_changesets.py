"""Example: contract-test `changeset publish` (changesets 2) on a three-package monorepo.

`changeset publish` asks the registry which versions are missing (`npm info`), then runs
`npm publish --json` for each package concurrently, and git-tags what was published. Without a
terminal it never prompts: an EOTP is reported per package as
`an error occurred while publishing <name>: EOTP`.

The OTP case: one `--otp` code for the whole run. Here the code goes stale after the first package
(the clock moves 2 minutes after that publish; the other two publishes are held back a moment so
they reach the registry after it), and the registry is left with one package of three.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.api.tools import ToolResult, git, init_git_repo, install_tool

CLIENTS = Path(__file__).resolve().parents[1] / "tests" / "clients"
PACKAGES = ["cs-core", "cs-cli", "cs-web"]


@pytest.fixture(scope="module")
def changesets_bin() -> Path:
    return install_tool(CLIENTS / "changesets", npmrc=CLIENTS / "npmrc")


def make_monorepo(tmp_path: Path) -> Path:
    files = {
        "package.json": json.dumps({"name": "cs-monorepo", "private": True, "workspaces": ["packages/*"]}),
        ".changeset/config.json": json.dumps({"baseBranch": "main", "access": "public", "changelog": False}),
    }
    for name in PACKAGES:
        files[f"packages/{name}/package.json"] = json.dumps({"name": name, "version": "1.0.0", "main": "index.js"})
        files[f"packages/{name}/index.js"] = f"module.exports = {name!r};\n"
    repo = tmp_path / "monorepo"
    init_git_repo(repo, files, message="chore: version packages")
    return repo


def changeset_publish(
    reg: NpmRegistry, repo: Path, token: Token, bin_dir: Path, *, otp: str | None = None
) -> ToolResult:
    return reg.run_tool(
        "changeset", "publish", *([f"--otp={otp}"] if otp else []), cwd=repo, token=token, bin_dirs=[bin_dir]
    )


def test_changeset_publish_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path, changesets_bin: Path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = make_monorepo(tmp_path)

    result = changeset_publish(npm_registry, repo, alice.create_token(bypass_2fa=True), changesets_bin)

    assert result.returncode == 0, result
    for name in PACKAGES:
        assert npm_registry.package(name).dist_tags == {"latest": "1.0.0"}
    assert sorted(git(repo, "tag").split()) == sorted(f"{name}@1.0.0" for name in PACKAGES)
    assert "packages published successfully" in result.output


def test_changeset_publish_with_a_session_token_reports_eotp_for_every_package(
    npm_registry: NpmRegistry, tmp_path: Path, changesets_bin: Path
):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = make_monorepo(tmp_path)

    result = changeset_publish(npm_registry, repo, alice.create_token("session"), changesets_bin)

    assert result.returncode == 1, result
    reported = sorted(re.findall(r"an error occurred while publishing (\S+): EOTP", result.output))
    assert reported == sorted(PACKAGES)
    assert not any(npm_registry.has_package(name) for name in PACKAGES)
    assert git(repo, "tag") == ""


def test_changeset_publish_otp_expiring_after_the_first_package(
    npm_registry: NpmRegistry, tmp_path: Path, changesets_bin: Path
):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = make_monorepo(tmp_path)
    later = re.compile("^/(cs-cli|cs-web)$")
    npm_registry.faults.delay(2, method="PUT", path=later)  # changesets publishes concurrently
    npm_registry.faults.advance_clock_after_publish(120, times=1)

    result = changeset_publish(npm_registry, repo, alice.create_token("session"), changesets_bin, otp=alice.otp())

    assert result.returncode == 1, result
    assert npm_registry.package("cs-core").versions == ["1.0.0"]
    assert not npm_registry.has_package("cs-cli")
    assert not npm_registry.has_package("cs-web")
    assert sorted(re.findall(r"an error occurred while publishing (\S+): EOTP", result.output)) == ["cs-cli", "cs-web"]
    publishes = npm_registry.journal.entries(operation="publish")
    assert sorted((e.package, e.outcome.value) for e in publishes) == [
        ("cs-cli", "challenged"),
        ("cs-core", "accepted"),
        ("cs-web", "challenged"),
    ]
    assert all("the OTP sent was wrong, used or expired" in e.reason for e in publishes if e.package != "cs-core")
    assert git(repo, "tag").split() == ["cs-core@1.0.0"]  # only what was published is tagged
