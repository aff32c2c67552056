"""Staged publishing (`npm stage`) with the real npm CLI."""

from __future__ import annotations

import re

import pytest

from tests.conftest import http


@pytest.fixture
def alice(npm_registry):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", challenge="classic")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return alice


@pytest.fixture
def session(alice):
    return alice.create_token("session")


def _stage(reg, package_dir, token, version="1.1.0", **kwargs):
    result = reg.npm("stage", "publish", cwd=package_dir("demo-pkg", version), token=token, **kwargs)
    assert result.returncode == 0, result
    match = re.fullmatch(rf"\+ demo-pkg@{re.escape(version)} \(staged with id ([0-9a-f-]{{36}})\)\n", result.stdout)
    assert match, result.stdout
    return match.group(1)


def test_stage_publish_needs_no_otp_and_publishes_nothing_yet(npm_registry, alice, session, package_dir):
    stage_id = _stage(npm_registry, package_dir, session)
    (staged,) = npm_registry.stages("demo-pkg")
    assert (staged.id, staged.version.version, staged.tag, staged.actor) == (stage_id, "1.1.0", "latest", "alice")
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]
    assert npm_registry.journal.entries(operation="stage-publish")[-1].otp.value == "none"


def test_stage_list_view_and_download(npm_registry, alice, session, package_dir, tmp_path):
    stage_id = _stage(npm_registry, package_dir, session)
    listed = npm_registry.npm("stage", "list", "demo-pkg", token=session)
    assert listed.returncode == 0, listed
    assert stage_id in listed.stdout
    assert "demo-pkg" in listed.stdout
    viewed = npm_registry.npm("stage", "view", stage_id, "--json", token=session)
    assert viewed.returncode == 0, viewed
    assert '"version": "1.1.0"' in viewed.stdout
    downloaded = npm_registry.npm("stage", "download", stage_id, cwd=tmp_path, token=session)
    assert downloaded.returncode == 0, downloaded
    assert list(tmp_path.glob("*.tgz")), downloaded


def test_stage_approve_needs_the_otp_then_publishes(npm_registry, alice, session, package_dir):
    stage_id = _stage(npm_registry, package_dir, session)
    refused = npm_registry.npm("stage", "approve", stage_id, token=session)
    assert refused.error_code == "EOTP"
    approved = npm_registry.npm("stage", "approve", stage_id, token=session, otp=alice.otp())
    assert approved.returncode == 0, approved
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]
    assert npm_registry.package("demo-pkg").dist_tags["latest"] == "1.1.0"
    assert npm_registry.stages() == []


def test_stage_approve_on_a_terminal(npm_registry, alice, session, package_dir):
    stage_id = _stage(npm_registry, package_dir, session)
    result = npm_registry.npm(
        "stage", "approve", stage_id, token=session, tty=True, timeout=30, answers=[("Enter OTP:", alice.otp)]
    )
    assert result.returncode == 0, result
    assert "1.1.0" in npm_registry.package("demo-pkg").versions


def test_stage_reject(npm_registry, alice, session, package_dir):
    stage_id = _stage(npm_registry, package_dir, session)
    rejected = npm_registry.npm("stage", "reject", stage_id, token=session, otp=alice.otp())
    assert rejected.returncode == 0, rejected
    assert npm_registry.stages() == []
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


def test_stage_only_token_stages_but_cannot_publish(npm_registry, alice, session, package_dir):
    # npm 11.19 does not know --packages-and-scopes-permission=read-write-stage-only (11.21 does).
    stage_only = alice.create_token(stage_only=True, packages=["demo-pkg"])
    refused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=stage_only)
    assert refused.error_code == "E403"
    assert refused.error_lines[1].endswith(
        "PUT " + npm_registry.url + "demo-pkg - E_STAGE_REQUIRED: This token is stage-only: it cannot publish"
        " directly. Stage the version with `npm stage publish`; a maintainer then approves it with"
        " `npm stage approve <stage-id>` and a second factor."
    )
    _stage(npm_registry, package_dir, stage_only)
    # ... and the approval needs a person.
    (staged,) = npm_registry.stages()
    cannot = npm_registry.npm("stage", "approve", staged.id, token=stage_only, otp=alice.otp())
    assert cannot.error_code == "E403"


def test_bypass_token_cannot_approve(npm_registry, alice, session, package_dir):
    stage_id = _stage(npm_registry, package_dir, session)
    result = npm_registry.npm("stage", "approve", stage_id, token=alice.create_token(bypass_2fa=True))
    assert result.error_code == "E403"
    assert npm_registry.stages("demo-pkg")


def test_trusted_publisher_with_create_staged_package_stages(npm_registry, alice, session, package_dir):
    npm_registry.trust(
        "demo-pkg", github={"repository": "acme/demo", "workflow": "release.yml"}, permissions=("createStagedPackage",)
    )
    env = npm_registry.github_actions_env("acme/demo")
    staged = npm_registry.npm("stage", "publish", cwd=package_dir("demo-pkg", "1.1.0"), env=env)
    assert staged.returncode == 0, staged
    (item,) = npm_registry.stages()
    assert item.actor_type == "trusted publisher"
    # The same trust config does not allow a direct publish: the exchange succeeds (it cannot know
    # what follows), the PUT is refused, as on the public registry (kg86/visstr#40).
    direct = npm_registry.npm(
        "publish", cwd=package_dir("demo-pkg", "1.2.0"), env=npm_registry.github_actions_env("acme/demo")
    )
    assert direct.error_code == "E403"
    assert direct.error_lines[1].endswith(
        "403 Forbidden - PUT " + npm_registry.url + "demo-pkg - OIDC permission denied for this action"
    )
    exchange = npm_registry.journal.entries(operation="oidc-exchange")[-1]
    assert (exchange.status, exchange.reason.endswith("may createStagedPackage")) == (201, True)
    (refused,) = npm_registry.journal.entries(operation="publish")
    assert refused.reason == "the trusted publisher of demo-pkg allows ['createStagedPackage'], not createPackage"


def test_stage_of_a_new_package_is_refused(npm_registry, alice, session, package_dir):
    result = npm_registry.npm("stage", "publish", cwd=package_dir("brand-new"), token=session)
    assert result.error_code == "E404"


def test_stage_list_over_http_pages(npm_registry, alice, session, package_dir):
    _stage(npm_registry, package_dir, session, "1.1.0")
    _stage(npm_registry, package_dir, session, "1.2.0")
    page = http(npm_registry, "GET", "/-/stage?page=0&perPage=1&package=demo-pkg", token=session).json()
    assert (len(page["items"]), page["total"], page["perPage"]) == (1, 2, 1)
    assert set(page["items"][0]) == {
        "id",
        "packageName",
        "version",
        "tag",
        "createdAt",
        "actor",
        "actorType",
        "access",
        "shasum",
    }


def test_token_api_makes_stage_only_tokens_for_newer_clients(npm_registry, alice, session):
    body = {
        "password": alice.password,
        "packages": ["demo-pkg"],
        "packages_and_scopes_permission": "read-write-stage-only",
    }
    answer = http(
        npm_registry, "POST", "/-/npm/v1/tokens", token=session, json_body=body, headers={"npm-otp": alice.otp()}
    )
    assert answer.status == 200, answer.body
    (record,) = [t for t in alice.tokens() if t.kind.value == "granular"]
    assert record.permission.value == "read-write-stage-only"


def test_a_stage_cannot_bring_back_a_version_unpublished_meanwhile(npm_registry, alice, session, package_dir):
    stage_id = _stage(npm_registry, package_dir, session)
    npm_registry.publish("demo-pkg", "1.1.0", by=alice)
    npm_registry.clock.advance(31)  # a fresh OTP for the unpublish
    unpublished = npm_registry.npm("unpublish", "demo-pkg@1.1.0", token=session, otp=alice.otp())
    assert unpublished.returncode == 0, unpublished
    npm_registry.clock.advance(31)
    refused = npm_registry.npm("stage", "approve", stage_id, token=session, otp=alice.otp())
    assert refused.error_code == "E403", refused
    assert "You cannot publish over the previously published versions: 1.1.0." in refused.stderr
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]
