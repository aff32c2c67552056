"""The domain without sockets: policy gates, validation rules, OTPs and the clock."""

from __future__ import annotations

import pyotp
import pytest

from pytest_npm_registry import Permission, PublishRequirement, Registry, TokenKind, TwoFactorMode
from pytest_npm_registry.domain.errors import (
    CredentialsNotAllowed,
    InvalidPackageName,
    InvalidTag,
    InvalidVersion,
    OtpRequired,
    TwoFactorRequiredToPublish,
    WebAuthRequired,
)
from pytest_npm_registry.domain.models import Call, Credential, Principal
from pytest_npm_registry.domain.otp import check_second_factor, totp_code
from pytest_npm_registry.domain.packaging import manifest_for, publish_document
from pytest_npm_registry.domain.policy import CLASSIC, CURRENT, Gate
from pytest_npm_registry.domain.validation import (
    check_package_name,
    check_tag,
    check_version,
    is_semver_range,
    version_key,
)


def _principal(registry: Registry, tfa: TwoFactorMode, kind: TokenKind, **options: object) -> Principal:
    user = registry.accounts.add_user("alice", password="pw", tfa=tfa)
    token, _ = registry.accounts.create_token("alice", kind=kind, **options)  # type: ignore[arg-type]
    return Principal(user, token)


@pytest.mark.parametrize(
    ("tfa", "kind", "options", "requirement", "expected"),
    [
        (TwoFactorMode.AUTH_ONLY, TokenKind.SESSION, {}, PublishRequirement.NONE, Gate.CHALLENGE),
        (TwoFactorMode.AUTH_AND_WRITES, TokenKind.GRANULAR, {"bypass_2fa": True}, PublishRequirement.NONE, Gate.ALLOW),
        (
            TwoFactorMode.AUTH_AND_WRITES,
            TokenKind.GRANULAR,
            {"bypass_2fa": True},
            PublishRequirement.PUBLISH,
            Gate.CHALLENGE,
        ),
        (TwoFactorMode.NONE, TokenKind.GRANULAR, {"bypass_2fa": True}, PublishRequirement.AUTOMATION, Gate.ALLOW),
        (TwoFactorMode.AUTH_ONLY, TokenKind.OIDC, {}, PublishRequirement.PUBLISH, Gate.ALLOW),
    ],
)
def test_current_publish_gate(tfa, kind, options, requirement, expected):
    registry = Registry("current")
    assert CURRENT.publish_gate(_principal(registry, tfa, kind, **options), requirement, "pkg") is expected


def test_current_refuses_accounts_without_2fa_and_read_only_tokens():
    registry = Registry("current")
    with pytest.raises(TwoFactorRequiredToPublish):
        CURRENT.publish_gate(_principal(registry, TwoFactorMode.NONE, TokenKind.SESSION), PublishRequirement.NONE, "p")
    registry = Registry("current")
    principal = _principal(registry, TwoFactorMode.AUTH_ONLY, TokenKind.GRANULAR, permission=Permission.READ_ONLY)
    with pytest.raises(CredentialsNotAllowed, match="with these credentials"):
        CURRENT.publish_gate(principal, PublishRequirement.NONE, "p")


def test_classic_auth_only_publish_token_publishes_without_otp():
    registry = Registry("classic")
    principal = _principal(registry, TwoFactorMode.AUTH_ONLY, TokenKind.PUBLISH)
    assert CLASSIC.publish_gate(principal, PublishRequirement.NONE, "p") is Gate.ALLOW
    assert CLASSIC.publish_gate(principal, PublishRequirement.AUTOMATION, "p") is Gate.CHALLENGE


def test_write_gate_exempts_non_latest_dist_tags():
    registry = Registry("current")
    principal = _principal(registry, TwoFactorMode.AUTH_AND_WRITES, TokenKind.SESSION)
    assert CURRENT.write_gate(principal, "p", tfa_exempt=True) is Gate.ALLOW
    assert CURRENT.write_gate(principal, "p") is Gate.CHALLENGE


def test_challenge_style_follows_the_client_and_the_user():
    registry = Registry("current")
    alice = registry.accounts.add_user("alice", password="pw", tfa=TwoFactorMode.AUTH_AND_WRITES)
    token, secret = registry.accounts.create_token("alice", kind=TokenKind.SESSION)
    doc = publish_document(manifest_for("pkg", "1.0.0"))
    with pytest.raises(WebAuthRequired) as web:
        registry.publishing.publish(Call(Credential(token=secret), auth_type="web"), "pkg", doc)
    assert web.value.body("http://h") == {
        "authUrl": f"http://h/-/_mock/auth/{web.value.auth_path.rsplit('/', 1)[1]}",
        "doneUrl": f"http://h{web.value.done_path}",
    }
    with pytest.raises(OtpRequired) as classic:
        registry.publishing.publish(Call(Credential(token=secret), auth_type="legacy"), "pkg", doc)
    assert classic.value.headers("http://h") == {"WWW-Authenticate": "OTP"}
    registry.publishing.publish(
        Call(Credential(token=secret), otp=totp_code(alice.totp_secret or "", registry.clock.now())), "pkg", doc
    )
    assert registry.state.package("pkg").versions["1.0.0"].publisher == "alice"
    assert token.kind is TokenKind.SESSION


def test_totp_window_and_recovery_codes():
    registry = Registry()
    user = registry.accounts.add_user(
        "alice", password="pw", tfa=TwoFactorMode.AUTH_ONLY, totp_secret=pyotp.random_base32()
    )
    now = registry.clock.now()
    assert check_second_factor(user, totp_code(user.totp_secret or "", now - 30), now) is not None
    assert check_second_factor(user, totp_code(user.totp_secret or "", now - 90), now) is None
    code = user.recovery_codes[0]
    assert check_second_factor(user, code.upper(), now) is not None  # npm accepts hex in either case
    assert check_second_factor(user, code, now) is None
    assert len(user.recovery_codes) == 4


def test_clock_advance_and_freeze():
    registry = Registry()
    start = registry.clock.freeze()
    assert registry.clock.advance(90) == start + 90
    registry.clock.unfreeze()
    assert registry.clock.now() >= start + 90


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 215,
        ".hidden",
        "_private",
        "UPPER",
        "has space",
        "bad%name",
        "crazy!",
        "http",
        "node_modules",
        "@scope",
        "@scope/",
        "@/name",
        " lead",
    ],
)
def test_invalid_package_names(name):
    with pytest.raises(InvalidPackageName):
        check_package_name(name)


@pytest.mark.parametrize("name", ["demo-pkg", "a", "@obs/scoped-pkg", "x.y_z-1", "a" * 214])
def test_valid_package_names(name):
    check_package_name(name)


@pytest.mark.parametrize("version", ["1.0", "01.0.0", "v1.0.0", "1.0.0-", "1.0.0+", "1.0.0-01", "", "1.0.0.0"])
def test_invalid_versions(version):
    with pytest.raises(InvalidVersion):
        check_version(version)


@pytest.mark.parametrize("version", ["0.0.0", "1.2.3", "1.0.0-beta.1", "1.0.0-alpha+build.5", "10.20.30-rc.1+x"])
def test_valid_versions(version):
    check_version(version)


@pytest.mark.parametrize("tag", ["1", "1.x", "^1.0.0", "~1.2", ">=2", "1.0.0", "*", "1 - 2", "<1 || >3", "v1"])
def test_semver_ranges_are_not_tags(tag):
    assert is_semver_range(tag)
    with pytest.raises(InvalidTag):
        check_tag(tag)


@pytest.mark.parametrize("tag", ["latest", "beta", "next", "v1-legacy", "canary.1", "release-2024"])
def test_good_tags(tag):
    assert not is_semver_range(tag)
    check_tag(tag)


def test_version_precedence():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.1.0"]
    shuffled = [ordered[i] for i in (3, 6, 0, 5, 2, 4, 1)]
    assert sorted(shuffled, key=version_key) == ordered


def test_classic_account_without_2fa_publishes_whatever_the_package_rule():
    registry = Registry("classic")
    principal = _principal(registry, TwoFactorMode.NONE, TokenKind.PUBLISH)
    for requirement in PublishRequirement:
        assert CLASSIC.publish_gate(principal, requirement, "p") is Gate.ALLOW


def test_a_non_ascii_otp_is_just_a_wrong_code():
    registry = Registry()
    user = registry.accounts.add_user("alice", password="pw", tfa=TwoFactorMode.AUTH_ONLY)
    fullwidth_digits = "\uff11\uff12\uff13\uff14\uff15\uff16"  # what a phone keyboard may send
    assert check_second_factor(user, fullwidth_digits, registry.clock.now()) is None


def test_reprs_of_fixture_objects_carry_no_secret(npm_registry):
    alice = npm_registry.add_user("alice", password="alice-Pw-secret")
    token = alice.create_token()
    assert token.key not in repr(token)
    assert "alice-Pw-secret" not in repr(alice)


def test_a_failed_storage_save_is_written_whole_by_the_next(tmp_path):
    from pytest_npm_registry.domain.storage import Storage

    registry = Registry()
    registry.accounts.add_user("alice", password="pw")
    storage = Storage(tmp_path / "r.db")
    registry.publishing.seed("pkg", publish_document(manifest_for("pkg", "1.0.0")), maintainer="alice")
    storage.save(registry)
    registry.publishing.seed("pkg", publish_document(manifest_for("pkg", "1.1.0")), maintainer="alice")
    real = storage._db.execute
    calls = {"n": 0}

    def flaky(sql, *args):
        if sql.startswith("INSERT OR REPLACE INTO versions"):
            calls["n"] += 1
            raise OSError("disk full")
        return real(sql, *args)

    storage._db = type("Db", (), {"execute": staticmethod(flaky)})()
    with pytest.raises(OSError, match="disk full"):
        storage.save(registry)
    storage._db = type("Db", (), {"execute": staticmethod(real)})()
    storage.save(registry)
    storage._db = real.__self__
    storage.close()  # one server per file: the file is locked while open
    restored = Registry()
    assert Storage(tmp_path / "r.db").load(restored)
    assert sorted(restored.state.package("pkg").versions) == ["1.0.0", "1.1.0"]
