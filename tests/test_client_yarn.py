"""Yarn berry (4.x, pinned in pytest_npm_registry/pins/yarn4) against the registry: ``yarn npm publish``,
``yarn npm whoami``, ``yarn npm login`` (password and web).

Yarn speaks to the registry itself (no npm underneath): it sends no ``npm-auth-type``, so 2FA
accounts get the classic challenge; it recognises a challenge only by ``www-authenticate`` split
on commas containing ``otp``, prints any ``npm-notice`` header, and prompts for a code only on a
terminal — otherwise ``YN0033``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, write_package

from .clients import tool_bin

pytestmark = pytest.mark.npm

NOT_INTERACTIVE = "The registry requires additional authentication, but Yarn is not running in an interactive terminal"


@pytest.fixture(scope="module")
def yarn_bin() -> Path:
    return tool_bin("yarn")


@pytest.fixture
def yarn_package(npm_registry: NpmRegistry, tmp_path: Path, yarn_bin: Path):  # type: ignore[no-untyped-def]
    """``yarn_package(name, version)``: a package folder yarn accepts as a project (``yarn install`` done)."""

    def make(name: str, version: str) -> Path:
        folder = write_package(tmp_path / f"{name}-{version}", name, version)
        installed = npm_registry.yarn("install", cwd=folder, bin_dir=yarn_bin)
        assert installed.returncode == 0, installed
        return folder

    return make


def test_yarn_publish_with_a_bypass_token(npm_registry: NpmRegistry, yarn_package, yarn_bin: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    token = alice.create_token(bypass_2fa=True)
    result = npm_registry.yarn("npm", "publish", cwd=yarn_package("y-lib", "1.0.0"), token=token, bin_dir=yarn_bin)
    assert result.returncode == 0, result
    assert "➤ YN0000: Package archive published" in result.stdout
    assert npm_registry.package("y-lib").dist_tags == {"latest": "1.0.0"}
    assert npm_registry.package("y-lib").publisher("1.0.0") == "alice"

    whoami = npm_registry.yarn("npm", "whoami", cwd=yarn_package("y-lib", "1.0.1"), token=token, bin_dir=yarn_bin)
    assert whoami.returncode == 0, whoami
    assert whoami.stdout.splitlines()[0] == "➤ YN0000: alice"


def test_yarn_publish_without_a_terminal_fails_on_the_classic_challenge(
    npm_registry: NpmRegistry, yarn_package, yarn_bin: Path
) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    folder = yarn_package("y-lib", "1.0.0")
    result = npm_registry.yarn("npm", "publish", cwd=folder, token=alice.create_token("session"), bin_dir=yarn_bin)
    assert result.returncode == 1, result
    assert result.error_code == "YN0033"
    assert result.yarn_errors == [NOT_INTERACTIVE]
    assert not npm_registry.has_package("y-lib")
    # No npm-auth-type header from yarn: the classic challenge, not the web one.
    assert npm_registry.web_auth_sessions() == []
    challenge = npm_registry.journal.entries(operation="publish")[-1]
    assert challenge.outcome.value == "challenged"


def test_yarn_prints_the_security_key_notice_before_failing(
    npm_registry: NpmRegistry, yarn_package, yarn_bin: Path
) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", security_key=True)
    folder = yarn_package("y-lib", "1.0.0")
    result = npm_registry.yarn("npm", "publish", cwd=folder, token=alice.create_token("session"), bin_dir=yarn_bin)
    assert result.error_code == "YN0033"
    notice = [line for line in result.stdout.splitlines() if "to use your security key" in line]
    assert len(notice) == 1, result
    assert notice[0].startswith(f"➤ YN0000: Open {npm_registry.url}")
    assert notice[0].endswith("to use your security key for authentication or enter OTP from your authenticator app")


def test_yarn_prompts_for_the_otp_on_a_terminal_and_retries(
    npm_registry: NpmRegistry, yarn_package, yarn_bin: Path
) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    folder = yarn_package("y-lib", "1.0.0")
    result = npm_registry.yarn(
        "npm",
        "publish",
        cwd=folder,
        token=alice.create_token("session"),
        bin_dir=yarn_bin,
        tty=True,
        answers=[("One-time password:", alice.otp)],
    )
    assert result.returncode == 0, result
    assert len(result.transcript) == 1
    publishes = npm_registry.journal.entries(operation="publish")
    assert [(e.outcome.value, e.otp.value) for e in publishes] == [("challenged", "none"), ("accepted", "totp")]


def test_yarn_publish_with_a_wrong_otp_is_challenged_again(
    npm_registry: NpmRegistry, yarn_package, yarn_bin: Path
) -> None:
    # For PUTs yarn asks again even when --otp was given; without a terminal that is YN0033.
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    folder = yarn_package("y-lib", "1.0.0")
    result = npm_registry.yarn(
        "npm", "publish", cwd=folder, token=alice.create_token("session"), otp="000000", bin_dir=yarn_bin
    )
    assert result.yarn_errors == [NOT_INTERACTIVE]
    entry = npm_registry.journal.entries(operation="publish")[-1]
    assert entry.outcome.value == "challenged"
    assert "wrong, used or expired" in entry.reason


def test_yarn_login_with_password_and_otp_then_whoami(npm_registry: NpmRegistry, yarn_package, yarn_bin: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    folder = yarn_package("y-lib", "1.0.0")
    login = npm_registry.yarn(
        "npm",
        "login",
        cwd=folder,
        bin_dir=yarn_bin,
        tty=True,
        answers=[("Username:", "alice"), ("Password:", alice.password or ""), ("One-time password:", alice.otp)],
    )
    assert login.returncode == 0, login
    assert "➤ YN0000: Successfully logged in" in login.stdout
    logins = npm_registry.journal.entries(operation="login")
    assert [(e.outcome.value, e.otp.value) for e in logins] == [("challenged", "none"), ("accepted", "totp")]
    # The session token went to ~/.yarnrc.yml (yarn's home config); whoami uses it.
    whoami = npm_registry.yarn("npm", "whoami", cwd=folder, bin_dir=yarn_bin)
    assert whoami.stdout.splitlines()[0] == "➤ YN0000: alice", whoami
    assert [t.kind.value for t in alice.tokens()] == ["session"]


def test_yarn_web_login(npm_registry: NpmRegistry, yarn_package, yarn_bin: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.auto_approve_web_login = alice
    folder = yarn_package("y-lib", "1.0.0")
    login = npm_registry.yarn(
        "npm",
        "login",
        "--web-login",
        cwd=folder,
        bin_dir=yarn_bin,
        tty=True,
        answers=[("open your browser now", "n")],
    )
    assert login.returncode == 0, login
    assert f"➤ YN0000: {npm_registry.url}-/_mock/login/" in login.stdout
    whoami = npm_registry.yarn("npm", "whoami", cwd=folder, bin_dir=yarn_bin)
    assert whoami.stdout.splitlines()[0] == "➤ YN0000: alice", whoami
