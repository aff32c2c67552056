"""Example: what January 2027 does to a CI release, and the two ways forward (docs/january-2027.md).

The set-up most pipelines have today: a maintainer with 2FA invites a service account (2FA
``auth-only``) to maintain ``fauxauth``; CI publishes with the service account's bypass-2FA
granular token. Under ``current`` that publishes; under ``2027-01`` the registry answers
``E_STAGE_REQUIRED``. Then: (A) a stage-only token stages in CI and the maintainer approves with
2FA, or (B) trusted publishing publishes from the CI job with no token at all.

Run your own suite under both rule sets with ``pytest --npm-registry-policy=current,2027-01``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, User, write_package


def service_account_scenario(reg: NpmRegistry) -> tuple[User, User]:
    """The maintainer and the invited service account, ``fauxauth@1.0.0`` published."""
    maintainer = reg.add_user("maintainer", tfa="auth-and-writes", challenge="classic")
    bot = reg.add_user("ci-bot", tfa="auth-only")
    reg.publish("fauxauth", "1.0.0", by=maintainer)
    session = maintainer.create_token("session")
    added = reg.npm("owner", "add", "ci-bot", "fauxauth", token=session, otp=maintainer.otp())
    assert added.returncode == 0, added
    reg.accept_invitation(bot, package="fauxauth")
    return maintainer, bot


@pytest.mark.parametrize("policy", ["current", "2027-01"])
def test_the_ci_token_publishes_today_and_is_refused_in_january(
    npm_registry: NpmRegistry, tmp_path: Path, policy: str
) -> None:
    npm_registry.reset(policy)
    _, bot = service_account_scenario(npm_registry)
    ci = bot.create_token(bypass_2fa=True, packages=["fauxauth"])  # what NPM_TOKEN holds in CI
    result = npm_registry.npm("publish", cwd=write_package(tmp_path / "v1.1", "fauxauth", "1.1.0"), token=ci)
    if policy == "current":
        assert result.returncode == 0, result
        assert npm_registry.package("fauxauth").versions == ["1.0.0", "1.1.0"]
    else:
        assert result.error_code == "E403"
        assert "E_STAGE_REQUIRED: Granular access tokens can no longer publish directly." in result.error_lines[1]
        assert npm_registry.package("fauxauth").versions == ["1.0.0"]


@pytest.mark.npm_registry(policy="2027-01")
def test_way_forward_a_stage_only_token_and_npm_stage_approve(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    maintainer, bot = service_account_scenario(npm_registry)
    # CI: `npm token create --packages fauxauth --packages-and-scopes-permission=read-write-stage-only`
    ci = bot.create_token(stage_only=True, packages=["fauxauth"])
    staged = npm_registry.npm("stage", "publish", cwd=write_package(tmp_path / "v1.1", "fauxauth", "1.1.0"), token=ci)
    assert staged.returncode == 0, staged  # no OTP in CI
    match = re.search(r"staged with id ([0-9a-f-]{36})", staged.stdout)
    assert match, staged.stdout
    assert npm_registry.package("fauxauth").versions == ["1.0.0"]  # nothing public yet
    # A person: `npm stage list`, then `npm stage approve <id> --otp <code>`.
    session = maintainer.create_token("session")
    listed = npm_registry.npm("stage", "list", "fauxauth", token=session)
    assert match.group(1) in listed.stdout
    approved = npm_registry.npm("stage", "approve", match.group(1), token=session, otp=maintainer.otp())
    assert approved.returncode == 0, approved
    assert npm_registry.package("fauxauth").versions == ["1.0.0", "1.1.0"]
    assert npm_registry.package("fauxauth").publisher("1.1.0") == "ci-bot"  # who staged it


@pytest.mark.npm_registry(policy="2027-01")
def test_way_forward_b_trusted_publishing(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    service_account_scenario(npm_registry)
    # Once: `npm trust github fauxauth --repo acme/fauxauth --file release.yml --allow-publish`.
    npm_registry.trust("fauxauth", github={"repository": "acme/fauxauth", "workflow": "release.yml"})
    job = npm_registry.github_actions_env("acme/fauxauth", "release.yml")  # `permissions: id-token: write`
    result = npm_registry.npm("publish", cwd=write_package(tmp_path / "v1.1", "fauxauth", "1.1.0"), env=job)
    assert result.returncode == 0, result  # no NPM_TOKEN at all
    assert npm_registry.package("fauxauth").publisher("1.1.0") == "GitHub Actions"
