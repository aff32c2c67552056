"""Staged publishing and the January 2027 rules with npm 12.2 and 11.21 on Node 22: the clients
that know ``read-write-stage-only`` and print npm's January 2027 warning.

npm 11 and 12 print the same lines here: every refusal body carries ``error``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, User

pytestmark = [pytest.mark.npm, pytest.mark.matrix]

CLIENTS = [pytest.param("12", id="npm12"), pytest.param("11.21", id="npm11.21")]
HINT = (
    "Stage the version with `npm stage publish`; a maintainer then approves it with"
    " `npm stage approve <stage-id>` and a second factor."
)
JANUARY_WARNING = (
    "npm warn token Creating a token that can publish directly to the registry. Consider"
    " `--packages-and-scopes-permission=read-write-stage-only` instead — with a stage-only token, your"
    " releases go to a staging queue for you to approve before they go public. Bypass-2FA tokens with"
    " direct-publish access will stop working in January 2027. See"
    " https://gh.io/bypass-2fa-tokens-no-longer-publish."
)


@pytest.fixture
def alice(npm_registry: NpmRegistry) -> User:
    alice = npm_registry.add_user("alice", password="s3cret", tfa="auth-and-writes", challenge="classic")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return alice


@pytest.mark.parametrize("npm", CLIENTS)
def test_npm_token_create_makes_a_stage_only_token_that_stages(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], npm: str
) -> None:
    session = alice.create_token("session")
    created = npm_registry.npm(
        "token", "create", "--password=s3cret", "--packages=demo-pkg",
        "--packages-and-scopes-permission=read-write-stage-only",
        token=session, otp=alice.otp(), version=npm, node="22",
    )  # fmt: skip
    assert created.returncode == 0, created
    assert JANUARY_WARNING not in created.stderr  # npm warns for read-write tokens only
    secret = re.search(r"Created token (npm_\w{36})", created.stdout)
    assert secret, created.stdout
    (record,) = [t for t in alice.tokens() if t.kind.value == "granular"]
    assert (record.permission.value, record.packages) == ("read-write-stage-only", ("demo-pkg",))
    refused = npm_registry.npm(
        "publish", cwd=package_dir("demo-pkg", "1.1.0"), token=secret.group(1), version=npm, node="22"
    )
    assert refused.error_lines[:2] == [
        "npm error code E403",
        f"npm error 403 403 Forbidden - PUT {npm_registry.url}demo-pkg - E_STAGE_REQUIRED: This token is"
        f" stage-only: it cannot publish directly. {HINT}",
    ]
    staged = npm_registry.npm(
        "stage", "publish", cwd=package_dir("demo-pkg", "1.1.0"), token=secret.group(1), version=npm, node="22"
    )
    assert staged.returncode == 0, staged
    assert re.fullmatch(r"\+ demo-pkg@1\.1\.0 \(staged with id [0-9a-f-]{36}\)\n", staged.stdout), staged.stdout


@pytest.mark.parametrize("npm", CLIENTS)
def test_npm_token_create_warns_of_january_2027_for_read_write_tokens(
    npm_registry: NpmRegistry, alice: User, npm: str
) -> None:
    created = npm_registry.npm(
        "token", "create", "--password=s3cret", "--packages=demo-pkg", "--packages-and-scopes-permission=read-write",
        "--bypass-2fa", token=alice.create_token("session"), otp=alice.otp(), version=npm, node="22",
    )  # fmt: skip
    assert created.returncode == 0, created
    assert JANUARY_WARNING in created.stderr.splitlines()


@pytest.mark.parametrize("npm", CLIENTS)
@pytest.mark.npm_registry(policy="2027-01")
def test_2027_the_ci_token_is_refused_and_the_staged_release_is_approved(
    npm_registry: NpmRegistry, package_dir: Callable[..., Path], npm: str
) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", challenge="classic")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    ci = alice.create_token(bypass_2fa=True, packages=["demo-pkg"])
    refused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=ci, version=npm, node="22")
    assert refused.error_lines[:2] == [
        "npm error code E403",
        f"npm error 403 403 Forbidden - PUT {npm_registry.url}demo-pkg - E_STAGE_REQUIRED: Granular access"
        f" tokens can no longer publish directly. {HINT}",
    ]
    staged = npm_registry.npm(
        "stage", "publish", cwd=package_dir("demo-pkg", "1.1.0"), token=ci, version=npm, node="22"
    )
    match = re.search(r"staged with id ([0-9a-f-]{36})", staged.stdout)
    assert match, staged
    again = npm_registry.npm("stage", "publish", cwd=package_dir("demo-pkg", "1.1.0"), token=ci, version=npm, node="22")
    assert again.error_lines[:2] == [
        "npm error code E409",
        f"npm error 409 Conflict - POST {npm_registry.url}-/stage/package/demo-pkg - Cannot stage previously"
        ' published version "1.1.0"',
    ]
    session = alice.create_token("session")
    approved = npm_registry.npm(
        "stage", "approve", match.group(1), token=session, otp=alice.otp(), version=npm, node="22"
    )
    assert approved.stdout == f"Staged package {match.group(1)} approved and published successfully.\n", approved
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]


@pytest.mark.parametrize("npm", CLIENTS)
def test_a_stage_only_trusted_publisher_refuses_the_put_after_a_good_exchange(
    npm_registry: NpmRegistry, alice: User, package_dir: Callable[..., Path], npm: str
) -> None:
    npm_registry.trust("demo-pkg", github={"repository": "acme/demo"}, permissions=("createStagedPackage",))
    job = npm_registry.github_actions_env("acme/demo")
    direct = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=job, version=npm, node="22")
    assert direct.error_lines[:2] == [
        "npm error code E403",
        f"npm error 403 403 Forbidden - PUT {npm_registry.url}demo-pkg - OIDC permission denied for this action",
    ]
    job = npm_registry.github_actions_env("acme/demo")
    staged = npm_registry.npm("stage", "publish", cwd=package_dir("demo-pkg", "1.1.0"), env=job, version=npm, node="22")
    assert staged.returncode == 0, staged
    (stage,) = npm_registry.stages()
    assert stage.actor_type == "trusted publisher"
