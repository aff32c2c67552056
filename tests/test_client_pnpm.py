"""pnpm 10 against the registry: ``pnpm publish`` and ``pnpm -r publish`` (pinned in pytest_npm_registry/pins/pnpm10).

pnpm 10 packs the tarball itself and hands it to ``npm publish`` (npm from PATH, npm 11 here), so
the wire is npm's: ``npm-auth-type: web`` and the web challenge, ``--otp`` passed through.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, write_package

from .clients import tool_bin

pytestmark = pytest.mark.npm


@pytest.fixture(scope="module")
def pnpm_bin() -> Path:
    return tool_bin("pnpm")


def test_pnpm_publish_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path, pnpm_bin: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "pn-lib", "1.0.0")
    result = npm_registry.pnpm(
        "publish", "--no-git-checks", cwd=package, token=alice.create_token(bypass_2fa=True), bin_dir=pnpm_bin
    )
    assert result.returncode == 0, result
    assert result.stdout.strip() == "+ pn-lib@1.0.0"
    assert npm_registry.package("pn-lib").dist_tags == {"latest": "1.0.0"}
    entry = npm_registry.journal.entries(operation="publish")[-1]
    assert (entry.credential, entry.otp.value, entry.outcome.value) == ("granular", "none", "accepted")


def test_pnpm_publish_with_a_session_token_is_eotp_with_the_web_urls(
    npm_registry: NpmRegistry, tmp_path: Path, pnpm_bin: Path
) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "pn-lib", "1.0.0")
    result = npm_registry.pnpm(
        "publish", "--no-git-checks", cwd=package, token=alice.create_token("session"), bin_dir=pnpm_bin
    )
    assert result.returncode == 1, result
    assert result.error_code == "EOTP"
    assert "npm error This operation requires a one-time password." in result.stderr
    assert re.search(rf"npm error   {re.escape(npm_registry.url)}-/_mock/auth/\w+", result.stderr)
    assert not npm_registry.has_package("pn-lib")


def test_pnpm_publish_with_otp(npm_registry: NpmRegistry, tmp_path: Path, pnpm_bin: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "pn-lib", "1.0.0")
    result = npm_registry.pnpm(
        "publish",
        "--no-git-checks",
        cwd=package,
        token=alice.create_token("session"),
        otp=alice.otp(),
        bin_dir=pnpm_bin,
    )
    assert result.returncode == 0, result
    entry = npm_registry.journal.entries(operation="publish")[-1]
    assert (entry.credential, entry.otp.value, entry.outcome.value) == ("session", "totp", "accepted")


def _workspace(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": "monorepo", "private": True}))
    (root / "pnpm-workspace.yaml").write_text("packages:\n  - 'packages/*'\n")
    for name in names:
        write_package(root / "packages" / name, name, "1.0.0")
    return root


def test_pnpm_recursive_publish_stops_when_the_otp_expires_after_the_first_package(
    npm_registry: NpmRegistry, tmp_path: Path, pnpm_bin: Path
) -> None:
    # `pnpm -r publish --otp` runs `npm publish --otp=<code>` package after package; the code is
    # checked by each publish, so it runs out half-way through a long release.
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    root = _workspace(tmp_path / "repo", ["pn-a", "pn-b", "pn-c"])
    npm_registry.faults.advance_clock_after_publish(120, times=1)
    result = npm_registry.pnpm(
        "-r",
        "publish",
        "--no-git-checks",
        cwd=root,
        token=alice.create_token("session"),
        otp=alice.otp(),
        bin_dir=pnpm_bin,
    )
    assert result.returncode == 1, result
    assert result.error_code == "EOTP"
    published = [e for e in npm_registry.journal.entries(operation="publish") if e.outcome.value == "accepted"]
    refused = [e for e in npm_registry.journal.entries(operation="publish") if e.outcome.value != "accepted"]
    assert [e.package for e in published] == ["pn-a"]
    assert [(e.package, e.outcome.value) for e in refused] == [("pn-b", "challenged")]
    assert not npm_registry.has_package("pn-b")
    assert not npm_registry.has_package("pn-c")  # pnpm stops at the first failure
