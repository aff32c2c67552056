"""`npm profile` (2FA set-up included) and `npm token` with the real npm CLI, and what tokens may do."""

from __future__ import annotations

import json
import re

import pyotp
import pytest

from pytest_npm_registry import UsageError


@pytest.fixture
def alice(npm_registry):
    return npm_registry.add_user("alice", password="s3cret", tfa="auth-and-writes")


@pytest.fixture
def session(alice):
    return alice.create_token("session")


def test_profile_get_shows_the_2fa_mode(npm_registry, alice, session):
    result = npm_registry.npm("profile", "get", token=session)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[:3] == ["name: alice", "email: alice@example.com (verified)", "two-factor auth: auth-and-writes"]
    plain = npm_registry.add_user("bob").create_token("session")
    assert "two-factor auth: disabled" in npm_registry.npm("profile", "get", token=plain).stdout


def test_profile_set_needs_the_otp_and_then_changes_the_field(npm_registry, alice, session):
    refused = npm_registry.npm("profile", "set", "fullname", "Alice B", token=session)
    assert refused.error_code == "EOTP"
    done = npm_registry.npm("profile", "set", "fullname", "Alice B", token=session, otp=alice.otp())
    assert done.stdout == "Set fullname to Alice B\n", done
    assert alice.record.profile["fullname"] == "Alice B"


def test_enable_2fa_end_to_end_on_a_terminal(npm_registry):
    bob = npm_registry.add_user("bob", password="pw-bob-1")
    session = bob.create_token("session")

    def code_from_the_printed_secret(match: re.Match[str]) -> str:
        secret = re.search(r"Or enter code: (\w+)", match.string)
        assert secret, match.string
        return pyotp.TOTP(secret.group(1)).at(int(npm_registry.clock.now()))

    result = npm_registry.npm(
        "profile",
        "enable-2fa",
        "auth-and-writes",
        token=session,
        tty=True,
        answers=[
            ("npm password:", "pw-bob-1"),
            ("And an OTP code from your authenticator:", code_from_the_printed_secret),
        ],
    )
    assert result.returncode == 0, result
    assert "2FA successfully enabled. Below are your recovery codes" in result.stdout
    printed = re.findall(r"^\t([0-9a-f]{64})$", result.stdout, re.MULTILINE)
    assert printed == bob.recovery_codes
    assert len(printed) == 5
    assert bob.tfa.value == "auth-and-writes"
    assert "npm notice profile Enabling two factor authentication for auth-and-writes" in result.stderr
    # The secret npm printed is the account's: its codes now pass a publish challenge.
    assert npm_registry.npm("profile", "get", token=session).stdout.splitlines()[2] == (
        "two-factor auth: auth-and-writes"
    )


def test_switch_2fa_mode_needs_web_approval(npm_registry, alice, session):
    result = npm_registry.npm(
        "profile",
        "enable-2fa",
        "auth-only",
        token=session,
        tty=True,
        timeout=30,
        answers=[
            ("npm password:", "s3cret"),
            ("Authenticate your account at:", lambda: npm_registry.approve_web_auth(user=alice) and None),
        ],
    )
    assert result.returncode == 0, result
    assert "Two factor authentication mode changed to: auth-only" in result.stdout
    assert alice.tfa.value == "auth-only"


def test_disable_2fa_with_password_and_otp(npm_registry):
    alice = npm_registry.add_user("alice", password="s3cret", tfa="auth-and-writes", challenge="classic")
    session = alice.create_token("session")
    result = npm_registry.npm(
        "profile",
        "disable-2fa",
        token=session,
        tty=True,
        timeout=30,
        answers=[("npm password:", "s3cret"), ("Enter OTP:", alice.otp)],
    )
    assert result.returncode == 0, result
    assert "Two factor authentication disabled." in result.stdout
    assert alice.tfa.value == "none"
    assert alice.record.totp_secret is None


def test_disable_2fa_with_wrong_password(npm_registry, alice, session):
    result = npm_registry.npm(
        "profile", "disable-2fa", token=session, tty=True, otp=alice.otp(), answers=[("npm password:", "wrong")]
    )
    assert result.error_code == "E401"
    assert alice.tfa.value == "auth-and-writes"


# -- tokens -----------------------------------------------------------------------------------------


def _create(reg, session, otp, *flags):
    return reg.npm("token", "create", "--password=s3cret", *flags, token=session, otp=otp)


def test_token_create_is_2fa_gated(npm_registry, alice, session):
    assert _create(npm_registry, session, None).error_code == "EOTP"
    result = _create(npm_registry, session, alice.otp())
    assert result.returncode == 0, result
    created = re.fullmatch(r"Created token (npm_\w{36})\nexpires: (\S+)\n", result.stdout)
    assert created, result.stdout
    (record,) = [t for t in alice.tokens() if t.kind.value == "granular"]
    assert record.expires is not None
    assert round((record.expires - record.created) / 86400) == 7  # write tokens default to 7 days


def test_token_create_with_every_option(npm_registry, alice, session):
    result = _create(
        npm_registry,
        session,
        alice.otp(),
        "--name=ci",
        "--token-description=release bot",
        "--packages=demo-pkg",
        "--scopes=@acme",
        "--orgs=acme",
        "--packages-and-scopes-permission=read-write",
        "--orgs-permission=read-only",
        "--expires=30",
        "--cidr=10.0.0.0/8",
        "--bypass-2fa",
    )
    assert result.returncode == 0, result
    assert "with IP whitelist: 10.0.0.0/8" in result.stdout
    (record,) = [t for t in alice.tokens() if t.name == "ci"]
    assert (record.description, record.packages, record.scopes, record.orgs) == (
        "release bot",
        ("demo-pkg",),
        ("@acme",),
        ("acme",),
    )
    assert record.bypass_2fa
    assert [str(n) for n in record.cidr or ()] == ["10.0.0.0/8"]
    assert round((record.expires or 0) - record.created) == 30 * 86400


def test_created_tokens_are_enforced(npm_registry, alice, session, package_dir):
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.publish("other-pkg", "1.0.0", by=alice)

    def create(*flags: str) -> str:
        result = _create(npm_registry, session, alice.otp(), "--bypass-2fa", *flags)
        assert result.returncode == 0, result
        return result.stdout.split()[2]

    read_only = create("--packages-and-scopes-permission=read-only")
    scoped = create("--packages=demo-pkg", "--packages-and-scopes-permission=read-write")
    cidr = create("--packages-and-scopes-permission=read-write", "--cidr=10.0.0.0/8")

    refused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=read_only)
    assert refused.error_lines[1].endswith("You may not perform that action with these credentials.")
    other = npm_registry.npm("publish", cwd=package_dir("other-pkg", "1.1.0"), token=scoped)
    assert other.error_code == "E403"
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.2.0"), token=scoped).returncode == 0

    npm_registry.client_ip = "203.0.113.9"  # outside 10.0.0.0/8
    outside = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.3.0"), token=cidr)
    assert outside.error_code == "EAUTHIP"
    assert outside.error_lines[1] == "npm error Login is not allowed from your IP address"
    npm_registry.client_ip = "10.1.2.3"
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.3.0"), token=cidr).returncode == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--expires=91", "--packages-and-scopes-permission=read-write"], "Write tokens may live at most 90 days"),
        (["--packages=Bad Name"], "Invalid package name 'Bad Name'"),
        (["--scopes=acme"], "Invalid scope 'acme': expected @scope"),
    ],
)
def test_token_create_refuses_bad_options(npm_registry, alice, session, flags, message):
    result = _create(npm_registry, session, alice.otp(), *flags)
    assert result.error_code == "E400"
    assert message in result.error_lines[1]
    assert [t for t in alice.tokens() if t.kind.value == "granular"] == []


def test_token_create_with_wrong_password(npm_registry, alice, session):
    result = npm_registry.npm("token", "create", "--password=nope", token=session, otp=alice.otp())
    assert result.error_code == "E401"


def test_bypass_token_cannot_create_tokens(npm_registry, alice):
    bypass = alice.create_token(bypass_2fa=True)
    result = _create(npm_registry, bypass, alice.otp())
    assert result.error_code == "E403"
    assert "Granular access tokens with bypass 2FA enabled cannot be used to create tokens" in result.error_lines[1]
    assert npm_registry.journal.entries(operation="token-create")[-1].reason.endswith("may not create tokens")


def test_account_without_2fa_confirms_with_an_emailed_code(npm_registry):
    bob = npm_registry.add_user("bob", password="pw-bob-1")
    session = bob.create_token("session")
    first = npm_registry.npm("token", "create", "--password=pw-bob-1", "--auth-type=legacy", token=session)
    assert first.error_code == "EOTP"
    (code,) = bob.emails
    assert len(code) == 8
    second = npm_registry.npm("token", "create", "--password=pw-bob-1", token=session, otp=code)
    assert second.returncode == 0, second


def test_token_list_and_revoke(npm_registry, alice, session):
    kept = alice.create_token(name="kept", bypass_2fa=True)
    gone = alice.create_token(name="gone", read_only=True, cidr=["192.168.1.0/24"])
    listing = npm_registry.npm("token", "list", "--json", token=session)
    assert listing.returncode == 0, listing
    shown = {t["name"]: t for t in json.loads(listing.stdout)}
    assert set(shown) == {"kept", "gone"}  # the login session itself is not listed
    assert shown["gone"]["readonly"] is True
    assert shown["gone"]["cidr_whitelist"] == ["192.168.1.0/24"]
    assert shown["kept"]["token"] == kept.key[:8]

    text = npm_registry.npm("token", "list", token=session).stdout
    assert f"Token {kept.key[:8]}… with id {kept.id[:6]} name kept created" in text

    revoked = npm_registry.npm("token", "revoke", gone.id[:8], token=session, otp=alice.otp())
    assert revoked.stdout == "Removed 1 token\n", revoked
    assert gone.record.revoked
    assert npm_registry.npm("whoami", token=gone).error_code == "E401"
    assert not kept.record.revoked


def test_token_list_is_paginated(npm_registry, alice, session):
    from tests.conftest import http

    for i in range(3):
        alice.create_token(name=f"t{i}")
    first = http(npm_registry, "GET", "/-/npm/v1/tokens?perPage=2", token=session).json()
    assert (len(first["objects"]), first["total"]) == (2, 3)
    assert first["urls"]["next"] == f"{npm_registry.url}-/npm/v1/tokens?page=1&perPage=2"
    second = http(npm_registry, "GET", "/-/npm/v1/tokens?page=1&perPage=2", token=session).json()
    assert (len(second["objects"]), second["urls"]) == (1, {})
    # npm follows urls.next itself
    assert npm_registry.npm("token", "list", token=session).stdout.count("Token npm_") == 3


def test_classic_token_create_makes_legacy_tokens(npm_registry, package_dir):
    npm_registry.reset("classic")
    carol = npm_registry.add_user("carol", password="pw-carol")
    session = carol.create_token("session")
    result = npm_registry.npm("token", "create", "--password=pw-carol", token=session)
    assert result.returncode == 0, result
    (record,) = [t for t in carol.tokens() if t.kind.value != "session"]
    assert record.kind.value == "publish"
    token = result.stdout.split()[2]
    assert npm_registry.npm("publish", cwd=package_dir("carol-pkg"), token=token).returncode == 0


def test_the_fixture_and_the_token_api_share_one_cidr_rule(npm_registry, alice):
    # IPv4 only, as npm itself insists ("CIDR whitelist can only contain IPv4 addresses").
    with pytest.raises(UsageError, match=r"Invalid CIDR entry '::1/128': expected IPv4 like 10\.0\.0\.0/8"):
        alice.create_token(cidr=["::1/128"])
