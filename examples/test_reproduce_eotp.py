"""Recipe: reproduce the `E401 EOTP` a release met in CI, then prove the fix.

Same account 2FA mode, same token kind, same command: the registry answers what the public one
answered. See docs/howto.md#reproduce-eotp.
"""

from __future__ import annotations

from pathlib import Path

from pytest_npm_registry import NpmRegistry, write_package


def test_session_token_in_ci_meets_eotp(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "my-lib", "1.1.0")
    session = alice.create_token("session")  # what `npm login` left on the CI machine

    ci = npm_registry.npm("publish", cwd=package, token=session)  # no terminal: npm cannot prompt

    assert ci.error_code == "EOTP"
    npm_registry.assert_otp_challenged(times=1, user="alice")
    npm_registry.assert_not_published("my-lib")

    # A person at a terminal answers the challenge with the authenticator code.
    by_hand = npm_registry.npm("publish", cwd=package, token=session, otp=alice.otp())
    assert by_hand.ok
    npm_registry.assert_published("my-lib@1.1.0", by="alice", credential="session", otp="totp")
