"""Example: contract-test `lerna publish from-package` (lerna 9) on a three-package monorepo.

`from-package` publishes every package whose version the registry lacks, in dependency order;
`--concurrency 1` makes it one at a time (`cs`-style parallel runs are in test_changesets.py).
Lerna talks to the registry itself (libnpmpublish, npm-registry-fetch) and, without a terminal,
stops after the batch in which a publish hit EOTP.

The OTP case: `--otp` once for the whole run; the code goes stale after the first package (the
clock moves 2 minutes after that publish). The registry keeps what was published before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.api.tools import ToolResult, init_git_repo, install_tool

CLIENTS = Path(__file__).resolve().parents[1] / "tests" / "clients"
#: In dependency order: lerna publishes le-core before the packages that depend on it.
PACKAGES = ["le-core", "le-cli", "le-web"]


@pytest.fixture(scope="module")
def lerna_bin() -> Path:
    return install_tool(CLIENTS / "lerna", npmrc=CLIENTS / "npmrc")


def make_monorepo(tmp_path: Path) -> Path:
    files = {
        "package.json": json.dumps({"name": "le-monorepo", "private": True, "workspaces": ["packages/*"]}),
        "lerna.json": json.dumps({"version": "independent", "packages": ["packages/*"]}),
    }
    for name in PACKAGES:
        manifest = {"name": name, "version": "1.0.0", "main": "index.js"}
        if name != "le-core":
            manifest["dependencies"] = {"le-core": "^1.0.0"}
        files[f"packages/{name}/package.json"] = json.dumps(manifest)
        files[f"packages/{name}/index.js"] = f"module.exports = {name!r};\n"
    repo = tmp_path / "monorepo"
    init_git_repo(repo, files, message="chore: release")
    return repo


def lerna_publish(reg: NpmRegistry, repo: Path, token: Token, bin_dir: Path, *, otp: str | None = None) -> ToolResult:
    args = ["lerna", "publish", "from-package", "--yes", "--concurrency", "1", "--no-private"]
    return reg.run_tool(*args, *([f"--otp={otp}"] if otp else []), cwd=repo, token=token, bin_dirs=[bin_dir])


def test_lerna_publish_from_package_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path, lerna_bin: Path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = make_monorepo(tmp_path)

    result = lerna_publish(npm_registry, repo, alice.create_token(bypass_2fa=True), lerna_bin)

    assert result.returncode == 0, str(result)
    assert "Successfully published:" in result.output
    assert [e.package for e in npm_registry.journal.entries(operation="publish")] == PACKAGES
    for name in PACKAGES:
        assert npm_registry.package(name).dist_tags == {"latest": "1.0.0"}


def test_lerna_publish_with_a_session_token_stops_at_eotp(npm_registry: NpmRegistry, tmp_path: Path, lerna_bin: Path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = make_monorepo(tmp_path)

    result = lerna_publish(npm_registry, repo, alice.create_token("session"), lerna_bin)

    assert result.returncode == 1, str(result)
    assert "EOTP" in result.output
    assert not any(npm_registry.has_package(name) for name in PACKAGES)
    publishes = npm_registry.journal.entries(operation="publish")
    assert [(e.package, e.outcome.value) for e in publishes] == [("le-core", "challenged")]


def test_lerna_publish_otp_expiring_after_the_first_package(npm_registry: NpmRegistry, tmp_path: Path, lerna_bin: Path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = make_monorepo(tmp_path)
    npm_registry.faults.advance_clock_after_publish(120, times=1)

    result = lerna_publish(npm_registry, repo, alice.create_token("session"), lerna_bin, otp=alice.otp())

    assert result.returncode == 1, str(result)
    assert "EOTP" in result.output
    assert npm_registry.package("le-core").versions == ["1.0.0"]
    assert not npm_registry.has_package("le-cli")
    assert not npm_registry.has_package("le-web")
    publishes = npm_registry.journal.entries(operation="publish")
    # le-cli and le-web form the second batch (both depend only on le-core): both are tried.
    assert [(e.package, e.outcome.value) for e in publishes] == [
        ("le-core", "accepted"),
        ("le-cli", "challenged"),
        ("le-web", "challenged"),
    ]
    assert all("the OTP sent was wrong, used or expired" in e.reason for e in publishes[1:])
