"""Example: the set-up most release pipelines start from, under both policies.

A maintainer with 2FA on (auth-and-writes) invites a service account to maintain `fauxauth`; the
service account accepts; CI publishes with the service account's token. The maintainer's own
token fails in CI with EOTP, and once the package requires 2FA and disallows tokens
(`npm access set mfa=publish`), the service account's token is refused too.

Which token CI gets depends on the era: `classic` — a legacy publish token of an `auth-only`
service account; `current` — a granular token with "bypass 2FA".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token, User, write_package


def ci_token_for(service: User, policy: str) -> Token:
    if policy == "classic":
        return service.create_token("publish")
    return service.create_token(bypass_2fa=True, packages=["fauxauth"])


@pytest.mark.parametrize("policy", ["current", "classic"])
def test_service_account_publishes_fauxauth(npm_registry: NpmRegistry, tmp_path: Path, policy: str) -> None:
    npm_registry.reset(policy)
    main = npm_registry.add_user("main", tfa="auth-and-writes")
    service = npm_registry.add_user("ci-bot", tfa="auth-only" if policy == "classic" else "auth-and-writes")
    npm_registry.publish("fauxauth", "1.0.0", by=main)
    npm_registry.set_publish_requirement("fauxauth", "none" if policy == "classic" else "automation")
    main_session = main.create_token("session")

    # The maintainer adds the service account (2FA: the OTP goes with the command).
    added = npm_registry.npm("owner", "add", "ci-bot", "fauxauth", token=main_session, otp=main.otp())
    assert added.returncode == 0, added
    if policy == "current":
        assert npm_registry.package("fauxauth").maintainers == ["main"]  # invited, not yet a maintainer
        npm_registry.accept_invitation(service, package="fauxauth")
    assert npm_registry.package("fauxauth").maintainers == ["main", "ci-bot"]

    # CI publishes with the service account's token.
    ci = ci_token_for(service, policy)
    release = write_package(tmp_path / "v1.1", "fauxauth", "1.1.0")
    published = npm_registry.npm("publish", cwd=release, token=ci)
    assert published.returncode == 0, published
    assert npm_registry.package("fauxauth").publisher("1.1.0") == "ci-bot"

    # The maintainer's own token in CI: EOTP.
    mine = npm_registry.npm("publish", cwd=write_package(tmp_path / "v1.2", "fauxauth", "1.2.0"), token=main_session)
    assert mine.error_code == "EOTP"

    # Require 2FA and disallow tokens: the service account's token no longer publishes.
    strict = npm_registry.npm("access", "set", "mfa=publish", "fauxauth", token=main_session, otp=main.otp())
    assert strict.returncode == 0, strict
    refused = npm_registry.npm("publish", cwd=write_package(tmp_path / "v1.3", "fauxauth", "1.3.0"), token=ci)
    assert refused.error_code == "EOTP"
    assert npm_registry.package("fauxauth").versions == ["1.0.0", "1.1.0"]
