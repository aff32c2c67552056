"""WIRE.md §4, cell by cell, with the real npm CLI: credential x account 2FA x package publishing rule.

Each test seeds ``matrix-pkg@1.0.0`` with the package rule under test and runs ``npm publish`` of
1.1.0 with no terminal, as CI does. A challenge shows as ``EOTP`` (npm 11 sends
``npm-auth-type: web``, so the web variant with both URLs); refusals show the registry's text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, NpmResult, Token, User

PKG = "matrix-pkg"
RULES = ["none", "automation", "publish"]

NO_2FA = "Two-factor authentication or granular access token with bypass 2fa enabled is required to publish packages."
CREDENTIALS = "You may not perform that action with these credentials."
AUTOMATION_REFUSED = (
    "Two-factor authentication is required to publish this package but an automation token was specified"
)


def _publish(
    reg: NpmRegistry, package_dir: Callable[..., Path], owner: User, rule: str, token: Token | str
) -> NpmResult:
    reg.publish(PKG, "1.0.0", by=owner, requirement=rule)
    return reg.npm("publish", cwd=package_dir(PKG, "1.1.0"), token=token)


def assert_published(reg: NpmRegistry, result: NpmResult) -> None:
    assert result.returncode == 0, result
    assert result.stdout.strip() == f"+ {PKG}@1.1.0"
    assert reg.package(PKG).dist_tags["latest"] == "1.1.0"


def assert_challenged(reg: NpmRegistry, result: NpmResult) -> None:
    assert result.returncode == 1, result
    assert result.error_code == "EOTP"
    lines = result.error_lines
    assert lines[1:3] == [
        "npm error This operation requires a one-time password.",
        "npm error Open this URL in your browser to authenticate:",
    ]
    assert re.fullmatch(rf"npm error   {re.escape(reg.url)}-/_mock/auth/\w+", lines[3])
    assert re.fullmatch(rf"npm error   {re.escape(reg.url)}-/v1/done/\w+", lines[6])
    assert "1.1.0" not in reg.package(PKG).versions


def assert_forbidden(reg: NpmRegistry, result: NpmResult, message: str) -> None:
    assert result.returncode == 1, result
    assert result.error_code == "E403"
    assert result.error_lines[1] == f"npm error 403 403 Forbidden - PUT {reg.url}{PKG} - {message}"
    assert "1.1.0" not in reg.package(PKG).versions


def assert_token_dead(reg: NpmRegistry, result: NpmResult) -> None:
    assert result.returncode == 1, result
    assert result.error_code == "E404"
    assert "npm notice Access token expired or revoked. Please try logging in again." in result.stderr
    assert result.error_lines[1] == f"npm error 404 Not Found - PUT {reg.url}{PKG} - Not found"
    assert "1.1.0" not in reg.package(PKG).versions


# -- current policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("tfa", ["auth-and-writes", "auth-only"])
def test_session_token_of_2fa_account_is_challenged(npm_registry, package_dir, rule, tfa):
    alice = npm_registry.add_user("alice", tfa=tfa)
    result = _publish(npm_registry, package_dir, alice, rule, alice.create_token("session"))
    assert_challenged(npm_registry, result)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("kind", ["session", "granular"])
def test_non_bypass_credential_of_account_without_2fa_is_refused(npm_registry, package_dir, rule, kind):
    alice = npm_registry.add_user("alice")
    result = _publish(npm_registry, package_dir, alice, rule, alice.create_token(kind))
    assert_forbidden(npm_registry, result, NO_2FA)


@pytest.mark.parametrize("rule", ["none", "automation"])
def test_bypass_token_publishes_unless_the_package_disallows_tokens(npm_registry, package_dir, rule):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = _publish(npm_registry, package_dir, alice, rule, alice.create_token(bypass_2fa=True))
    assert_published(npm_registry, result)
    entry = npm_registry.journal.entries(operation="publish")[-1]
    assert (entry.credential, entry.otp.value, entry.outcome.value) == ("granular", "none", "accepted")


def test_bypass_token_is_challenged_when_the_package_requires_2fa_and_disallows_tokens(npm_registry, package_dir):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = _publish(npm_registry, package_dir, alice, "publish", alice.create_token(bypass_2fa=True))
    assert_challenged(npm_registry, result)


def test_bypass_token_of_account_without_2fa_publishes(npm_registry, package_dir):
    alice = npm_registry.add_user("alice")
    result = _publish(npm_registry, package_dir, alice, "automation", alice.create_token(bypass_2fa=True))
    assert_published(npm_registry, result)


@pytest.mark.parametrize("rule", RULES)
def test_non_bypass_granular_token_of_2fa_account_is_challenged(npm_registry, package_dir, rule):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = _publish(npm_registry, package_dir, alice, rule, alice.create_token())
    assert_challenged(npm_registry, result)


@pytest.mark.parametrize("rule", RULES)
def test_read_only_token_is_refused(npm_registry, package_dir, rule):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = _publish(npm_registry, package_dir, alice, rule, alice.create_token(read_only=True))
    assert_forbidden(npm_registry, result, CREDENTIALS)


@pytest.mark.parametrize(
    "limits", [{"packages": ["other-pkg"]}, {"scopes": ["@elsewhere"]}], ids=["package-list", "scope-list"]
)
def test_token_not_covering_the_package_is_refused(npm_registry, package_dir, limits):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = _publish(npm_registry, package_dir, alice, "automation", alice.create_token(bypass_2fa=True, **limits))
    assert_forbidden(npm_registry, result, CREDENTIALS)


def test_token_covering_the_package_publishes(npm_registry, package_dir):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    token = alice.create_token(bypass_2fa=True, packages=[PKG])
    assert_published(npm_registry, _publish(npm_registry, package_dir, alice, "automation", token))


@pytest.mark.parametrize("rule", RULES)
def test_oidc_token_publishes_under_every_rule(npm_registry, package_dir, rule):
    # The exchange itself is the trusted-publishing issue; here the token kind meets the matrix.
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = _publish(npm_registry, package_dir, alice, rule, alice.create_token("oidc", packages=[PKG]))
    assert_published(npm_registry, result)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("state", ["expired", "revoked", "unknown"])
def test_dead_token_gets_404_with_notice(npm_registry, package_dir, rule, state):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    token: Token | str = alice.create_token(bypass_2fa=True, expires_in_days=1)
    if state == "expired":
        npm_registry.clock.advance(86_400 + 1)
    elif state == "revoked":
        assert isinstance(token, Token)
        token.revoke()
    else:
        token = "npm_" + "x" * 36
    assert_token_dead(npm_registry, _publish(npm_registry, package_dir, alice, rule, token))


def test_session_token_expires_after_two_hours(npm_registry, package_dir):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    npm_registry.clock.advance(2 * 3600)
    result = _publish(npm_registry, package_dir, alice, "automation", session)
    assert_token_dead(npm_registry, result)


def test_non_maintainer_is_refused(npm_registry, package_dir):
    alice = npm_registry.add_user("alice")
    mallory = npm_registry.add_user("mallory")
    npm_registry.publish(PKG, "1.0.0", by=alice)
    result = npm_registry.npm("publish", cwd=package_dir(PKG, "1.1.0"), token=mallory.create_token(bypass_2fa=True))
    assert_forbidden(
        npm_registry, result, f'You do not have permission to publish "{PKG}". Are you logged in as the correct user?'
    )


# -- classic policy (before November 2025) -----------------------------------------------------------


@pytest.fixture
def classic(npm_registry: NpmRegistry) -> NpmRegistry:
    npm_registry.reset("classic")
    return npm_registry


CLASSIC_CELLS = [
    # (token kind, account 2FA, package rule, expected)
    ("read-only", "none", "none", "forbidden"),
    ("read-only", "auth-and-writes", "automation", "forbidden"),
    ("publish", "none", "none", "published"),
    ("publish", "auth-only", "none", "published"),
    ("publish", "auth-only", "automation", "challenged"),
    ("publish", "auth-only", "publish", "challenged"),
    ("publish", "auth-and-writes", "none", "challenged"),
    ("publish", "auth-and-writes", "automation", "challenged"),
    ("automation", "none", "none", "published"),
    ("automation", "auth-and-writes", "none", "published"),
    ("automation", "auth-and-writes", "automation", "published"),
    ("automation", "auth-and-writes", "publish", "automation-refused"),
    ("session", "none", "none", "published"),
    ("session", "auth-only", "none", "published"),
    ("session", "auth-and-writes", "none", "challenged"),
]


@pytest.mark.parametrize(("kind", "tfa", "rule", "expected"), CLASSIC_CELLS)
def test_classic_matrix(classic, package_dir, kind, tfa, rule, expected):
    alice = classic.add_user("alice", tfa=tfa)
    result = _publish(classic, package_dir, alice, rule, alice.create_token(kind))
    if expected == "published":
        assert_published(classic, result)
    elif expected == "challenged":
        assert_challenged(classic, result)
    elif expected == "forbidden":
        assert_forbidden(classic, result, CREDENTIALS)
    else:
        assert_forbidden(classic, result, AUTOMATION_REFUSED)


def test_classic_new_packages_have_no_publishing_rule(classic, package_dir):
    alice = classic.add_user("alice", tfa="auth-only")
    result = classic.npm("publish", cwd=package_dir("fresh-pkg"), token=alice.create_token("publish"))
    assert result.returncode == 0, result
    assert classic.package("fresh-pkg").publish_requirement.value == "none"


def test_legacy_tokens_cannot_be_created_under_current(npm_registry):
    from pytest_npm_registry import UsageError

    alice = npm_registry.add_user("alice")
    with pytest.raises(UsageError, match="Legacy automation tokens cannot be created under the 'current' policy"):
        alice.create_token("automation")
