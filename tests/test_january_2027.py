"""Staged publishing as the registry does it, and the January 2027 rules (``2027-01``), with real npm.

Sources for every answer are in docs/coverage.md ("Staged publishing" and "January 2027").
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import replace

import pytest

from pytest_npm_registry import NpmRegistry, UsageError
from pytest_npm_registry.domain.packaging import manifest_for, publish_document
from pytest_npm_registry.domain.policy import DirectPublish, Policy
from tests.conftest import http

STAGE_HINT = (
    "Stage the version with `npm stage publish`; a maintainer then approves it with"
    " `npm stage approve <stage-id>` and a second factor."
)


@pytest.fixture
def alice(npm_registry):
    alice = npm_registry.add_user("alice", tfa="auth-only", challenge="classic")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return alice


def _stage(reg, package_dir, token, version="1.1.0"):
    result = reg.npm("stage", "publish", cwd=package_dir("demo-pkg", version), token=token)
    assert result.returncode == 0, result
    match = re.search(r"\(staged with id ([0-9a-f-]{36})\)", result.stdout)
    assert match, result.stdout
    return match.group(1)


# -- stage-only tokens (every preset) ----------------------------------------------------------------


def test_a_stage_only_token_stages_without_an_otp_and_cannot_publish(npm_registry, alice, package_dir):
    stage_only = alice.create_token(stage_only=True, packages=["demo-pkg"])
    refused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=stage_only)
    assert refused.error_code == "E403"
    assert refused.error_lines[1] == (
        f"npm error 403 403 Forbidden - PUT {npm_registry.url}demo-pkg - E_STAGE_REQUIRED: This token is stage-only:"
        f" it cannot publish directly. {STAGE_HINT}"
    )
    _stage(npm_registry, package_dir, stage_only)
    assert npm_registry.journal.entries(operation="stage-publish")[-1].otp.value == "none"
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


def test_the_stage_required_body_names_the_code(npm_registry, alice, package_dir):
    stage_only = alice.create_token(stage_only=True, packages=["demo-pkg"])
    answer = http(
        npm_registry,
        "PUT",
        "/demo-pkg",
        json_body=publish_document(manifest_for("demo-pkg", "1.1.0")),
        token=stage_only,
    )
    assert answer.status == 403
    assert answer.json()["code"] == "E_STAGE_REQUIRED"
    assert answer.json()["error"].startswith("E_STAGE_REQUIRED: ")


def test_a_stage_only_token_may_deprecate_move_dist_tags_and_unpublish(npm_registry, alice, package_dir):
    npm_registry.publish("demo-pkg", "1.1.0", by=alice)
    stage_only = alice.create_token(stage_only=True, packages=["demo-pkg"])
    tagged = npm_registry.npm("dist-tag", "add", "demo-pkg@1.0.0", "stable", token=stage_only)
    assert tagged.returncode == 0, tagged
    deprecated = npm_registry.npm("deprecate", "demo-pkg@1.0.0", "use 1.1.0", token=stage_only)
    assert deprecated.returncode == 0, deprecated
    unpublished = npm_registry.npm("unpublish", "demo-pkg@1.1.0", token=stage_only)
    assert unpublished.returncode == 0, unpublished
    package = npm_registry.package("demo-pkg")
    assert (package.dist_tags["stable"], package.versions) == ("1.0.0", ["1.0.0"])
    assert package.manifest("1.0.0")["deprecated"] == "use 1.1.0"


def test_a_stage_only_token_cannot_approve_or_manage_tokens(npm_registry, alice, package_dir):
    stage_only = alice.create_token(stage_only=True, packages=["demo-pkg"])
    stage_id = _stage(npm_registry, package_dir, stage_only)
    approve = npm_registry.npm("stage", "approve", stage_id, token=stage_only, otp=alice.otp())
    assert approve.error_code == "E403"
    assert npm_registry.stages("demo-pkg")


def test_staging_a_staged_or_published_version_is_409(npm_registry, alice, package_dir):
    session = alice.create_token("session")
    _stage(npm_registry, package_dir, session)
    again = npm_registry.npm("stage", "publish", cwd=package_dir("demo-pkg", "1.1.0"), token=session)
    assert again.error_code == "E409"
    assert again.error_lines[1] == (
        f"npm error 409 Conflict - POST {npm_registry.url}-/stage/package/demo-pkg - Cannot stage previously published"
        ' version "1.1.0"'
    )
    # npm reads the packument first and refuses a published version itself; the registry's answer:
    published = npm_registry.npm("stage", "publish", cwd=package_dir("demo-pkg", "1.0.0"), token=session)
    assert "npm error You cannot publish over the previously published versions: 1.0.0." in published.error_lines
    body = publish_document(manifest_for("demo-pkg", "1.0.0"))
    answer = http(npm_registry, "POST", "/-/stage/package/demo-pkg", json_body=body, token=session)
    assert (answer.status, answer.json()) == (409, {"error": 'Cannot stage previously published version "1.0.0"'})


def test_npm_publish_of_a_staged_version_is_refused(npm_registry, alice, package_dir):
    session = alice.create_token("session")
    _stage(npm_registry, package_dir, session)
    direct = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=session, otp=alice.otp())
    assert direct.error_code == "E409"
    assert direct.error_lines[1] == (
        f"npm error 409 Conflict - PUT {npm_registry.url}demo-pkg -"
        ' Cannot publish over previously staged version "1.1.0".'
    )
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


# -- trusted publishing: the permission is checked when the token is used -----------------------------


def _exchange(reg: NpmRegistry, env: dict[str, str], name: str) -> str:
    """What pnpm, yarn and bun do: ask the CI for an id token, exchange it, no npm-command."""
    path = env["ACTIONS_ID_TOKEN_REQUEST_URL"][len(reg.url) - 1 :] + "&audience=npm:127.0.0.1"
    id_token = http(reg, "GET", path, token=env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]).json()["value"]
    answer = http(reg, "POST", f"/-/npm/v1/oidc/token/exchange/package/{name}", token=id_token)
    assert answer.status == 201, answer.json()
    return str(answer.json()["token"])


def test_an_exchange_without_npm_command_stages_through_a_stage_only_publisher(npm_registry, alice):
    npm_registry.trust("demo-pkg", github={"repository": "acme/demo"}, permissions=("createStagedPackage",))
    token = _exchange(npm_registry, npm_registry.github_actions_env("acme/demo"), "demo-pkg")
    document = publish_document(manifest_for("demo-pkg", "1.1.0"))
    direct = http(npm_registry, "PUT", "/demo-pkg", json_body=document, token=token)
    assert (direct.status, direct.json()) == (403, {"error": "OIDC permission denied for this action"})
    staged = http(npm_registry, "POST", "/-/stage/package/demo-pkg", json_body=document, token=token)
    assert staged.status == 201
    (stage,) = npm_registry.stages()
    assert stage.actor_type == "trusted publisher"


def test_a_second_trust_config_is_409(npm_registry, alice):
    session = alice.create_token("session")
    body = [
        {
            "type": "github",
            "claims": {"repository": "a/b", "workflow_ref": {"file": "r.yml"}},
            "permissions": ["createPackage"],
        }
    ]
    assert (
        http(
            npm_registry,
            "POST",
            "/-/package/demo-pkg/trust",
            json_body=body,
            token=session,
            headers={"npm-otp": alice.otp()},
        ).status
        == 200
    )
    again = http(
        npm_registry,
        "POST",
        "/-/package/demo-pkg/trust",
        json_body=body,
        token=session,
        headers={"npm-otp": alice.otp()},
    )
    assert again.status == 409
    assert again.json()["error"].startswith("demo-pkg already has a trusted publisher")
    with pytest.raises(UsageError, match="already has a trusted publisher"):
        npm_registry.trust("demo-pkg", github={"repository": "a/c"})


# -- token defaults ------------------------------------------------------------------------------------


def test_read_only_granular_tokens_default_to_30_days(npm_registry, alice):
    reader = alice.create_token(read_only=True)
    assert reader.record.expires == pytest.approx(npm_registry.clock.now() + 30 * 86400)
    npm_registry.clock.advance(30 * 86400 + 1)
    assert http(npm_registry, "GET", "/-/whoami", token=reader).status == 401
    npm_registry.reset("classic")
    bob = npm_registry.add_user("bob")
    assert bob.create_token(read_only=True).record.expires is None  # before Nov 2025: no expiry


# -- the 2027-01 preset --------------------------------------------------------------------------------


def test_the_preset_is_current_plus_one_switch():
    january, current = Policy.preset("2027-01"), Policy.preset("current")
    assert january.granular_direct_publish is DirectPublish.NONE
    assert {k: v for k, v in vars(january).items() if k not in ("name", "granular_direct_publish")} == {
        k: v for k, v in vars(current).items() if k not in ("name", "granular_direct_publish")
    }


@pytest.mark.npm_registry(policy="2027-01")
def test_2027_a_bypass_token_gets_stage_required_and_stages(npm_registry, package_dir):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", challenge="classic")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    bypass = alice.create_token(bypass_2fa=True, packages=["demo-pkg"])
    refused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=bypass)
    assert refused.error_code == "E403"
    assert refused.error_lines[1] == (
        f"npm error 403 403 Forbidden - PUT {npm_registry.url}demo-pkg - E_STAGE_REQUIRED:"
        f" Granular access tokens can no longer publish directly. {STAGE_HINT}"
    )
    # A non-bypass granular token is refused before any OTP is asked for.
    plain = alice.create_token(packages=["demo-pkg"])
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=plain).error_code == "E403"
    stage_id = _stage(npm_registry, package_dir, bypass)
    session = alice.create_token("session")
    approved = npm_registry.npm("stage", "approve", stage_id, token=session, otp=alice.otp())
    assert approved.returncode == 0, approved
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]
    # A person still publishes directly with a login and an OTP.
    person = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.2.0"), token=session, otp=alice.otp())
    assert person.returncode == 0, person


@pytest.mark.npm_registry(policy="2027-01")
def test_2027_trusted_publishing_still_publishes_directly(npm_registry, package_dir):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.trust("demo-pkg", github={"repository": "acme/demo", "workflow": "release.yml"})
    env = npm_registry.github_actions_env("acme/demo")
    published = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), env=env)
    assert published.returncode == 0, published
    assert npm_registry.package("demo-pkg").publisher("1.1.0") == "GitHub Actions"


def test_the_narrower_reading_bars_bypass_tokens_only(npm_registry, package_dir):
    npm_registry.reset(replace(Policy.preset("2027-01"), granular_direct_publish=DirectPublish.NOT_BYPASS))
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", challenge="classic")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    bypass = alice.create_token(bypass_2fa=True, packages=["demo-pkg"])
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=bypass).error_code == "E403"
    plain = alice.create_token(packages=["demo-pkg"])
    with_otp = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=plain, otp=alice.otp())
    assert with_otp.returncode == 0, with_otp


# -- publish-to-visible delay ----------------------------------------------------------------------------


def test_a_new_version_shows_only_after_the_visibility_delay(npm_registry, alice, package_dir, tmp_path):
    npm_registry.visibility_delay = 600
    ci = alice.create_token(bypass_2fa=True, packages=["demo-pkg"])
    published = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=ci)
    assert published.returncode == 0, published
    viewed = npm_registry.npm("view", "demo-pkg", "version")
    assert viewed.stdout.strip() == "1.0.0"
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "app", "version": "0.0.0", "private": True}))
    missing = npm_registry.npm("install", "demo-pkg@1.1.0", cwd=app)
    assert missing.error_code == "ETARGET"
    assert "npm error notarget No matching version found for demo-pkg@1.1.0." in missing.error_lines
    # The pipeline retries the publish: 409 while the version is not visible (npm/cli#9889).
    retried = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=ci)
    assert retried.error_code == "E409"
    assert retried.error_lines[1].endswith('Cannot publish over previously staged version "1.1.0".')
    npm_registry.clock.advance(601)
    installed = npm_registry.npm("install", "demo-pkg@1.1.0", cwd=app)
    assert installed.returncode == 0, installed
    assert json.loads((app / "node_modules/demo-pkg/package.json").read_text())["version"] == "1.1.0"


def test_a_brand_new_package_is_not_served_during_the_delay(npm_registry, package_dir):
    bob = npm_registry.add_user("bob", tfa="auth-and-writes")
    npm_registry.visibility_delay = 30
    ci = bob.create_token(bypass_2fa=True)
    assert npm_registry.npm("publish", cwd=package_dir("fresh-pkg", "1.0.0"), token=ci).returncode == 0
    assert http(npm_registry, "GET", "/fresh-pkg").status == 404
    assert npm_registry.has_package("fresh-pkg")  # the registry has it; readers do not see it yet
    npm_registry.clock.advance(31)
    assert http(npm_registry, "GET", "/fresh-pkg").json()["dist-tags"] == {"latest": "1.0.0"}


def test_the_visibility_delay_fault_draws_per_publish(npm_registry, alice, package_dir):
    ci = alice.create_token(bypass_2fa=True, packages=["demo-pkg"])
    fault = npm_registry.faults.visibility_delay(10, 20, seed=1)
    for version in ("1.1.0", "1.2.0"):
        assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", version), token=ci).returncode == 0
    assert fault.hits == 2
    assert npm_registry.visibility_delay == 0  # the setting itself is untouched
    assert http(npm_registry, "GET", "/demo-pkg").json()["dist-tags"]["latest"] == "1.0.0"
    npm_registry.clock.advance(21)
    assert http(npm_registry, "GET", "/demo-pkg").json()["dist-tags"]["latest"] == "1.2.0"


def test_the_visibility_delay_is_a_setting_everywhere(npm_registry):
    answer = http(
        npm_registry,
        "POST",
        "/-/_mock/api/settings",
        json_body={"visibility_delay": 45},
        token=npm_registry.admin_token,
    )
    assert answer.json()["visibility_delay"] == 45
    assert npm_registry.visibility_delay == 45
    with pytest.raises(UsageError, match="visibility_delay must be a number of seconds"):
        npm_registry.visibility_delay = -1
    npm_registry.reset()
    assert npm_registry.visibility_delay == 0


# -- several presets in one run, and the report -----------------------------------------------------------


def test_a_suite_runs_under_several_presets_and_reports_the_refusals(pytester):
    pytester.makepyfile(
        textwrap.dedent(
            """
            from pytest_npm_registry import write_package

            def test_ci_publishes(npm_registry, tmp_path):
                bot = npm_registry.add_user("bot", tfa="auth-and-writes")
                npm_registry.publish("fauxauth", "1.0.0", by=bot)
                ci = bot.create_token(bypass_2fa=True, packages=["fauxauth"])
                npm_registry.npm("publish", cwd=write_package(tmp_path, "fauxauth", "1.1.0"), token=ci)

            def test_reads_only(npm_registry):
                assert npm_registry.npm("ping").returncode == 0
            """
        )
    )
    result = pytester.runpytest("--npm-registry-policy=current,2027-01", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*npm registry: policy current, 2027-01*",
            "*test_ci_publishes?policy=current? PASSED*",
            "*npm registry: refused publishes by policy*",
            "current: none refused",
            "2027-01: 1 test(s) with refused publishes",
            "  *::test_ci_publishes[[]policy=2027-01[]]: publish fauxauth@1.1.0 -> 403 bot's read-write granular"
            " bypass-2FA token may not publish directly under the 2027-01 policy (granular_direct_publish=none)",
        ]
    )


def test_one_preset_prints_no_report(pytester):
    pytester.makepyfile("def test_x(npm_registry):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "refused publishes by policy" not in result.stdout.str()


# -- bulk `npm trust`: the 5-minute skip-2FA window -----------------------------------------------------


def test_bulk_npm_trust_skips_2fa_for_five_minutes_once_chosen(npm_registry, package_dir):
    """npm-trust docs, "Bulk usage": the 2FA page offers to skip 2FA for the next 5 minutes."""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    for name in ("pkg-a", "pkg-b", "pkg-c"):
        npm_registry.publish(name, "1.0.0", by=alice)
    session = alice.create_token("session")

    def trust(name, **run):
        args = ("trust", "github", name, "--repo", "acme/mono", "--file", "release.yml", "--allow-publish", "--yes")
        return npm_registry.npm(*args, token=session, **run)

    def approve_and_skip() -> None:  # what a person does on the authUrl page, ticking the option
        npm_registry.approve_web_auth(user=alice, skip_trust_2fa=True)

    first = trust("pkg-a", tty=True, timeout=60, answers=[(r"/-/_mock/auth/\w+", approve_and_skip)])
    assert first.returncode == 0, first
    second = trust("pkg-b")  # no terminal, no OTP: within the window
    assert second.returncode == 0, second
    assert npm_registry.journal.entries(operation="trust-add")[-1].otp.value == "skip-window"
    npm_registry.clock.advance(301)
    third = trust("pkg-c")
    assert third.error_code == "EOTP", third
    assert [c.claims["repository"] for n in ("pkg-a", "pkg-b") for c in npm_registry.trusted_publishers(n)] == [
        "acme/mono",
        "acme/mono",
    ]


def test_the_skip_window_is_offered_for_trust_changes_only(npm_registry):
    bob = npm_registry.add_user("bob", tfa="auth-and-writes")
    npm_registry.publish("bob-pkg", "1.0.0", by=bob)
    document = publish_document(manifest_for("bob-pkg", "1.1.0"))
    answer = http(
        npm_registry,
        "PUT",
        "/bob-pkg",
        json_body=document,
        token=bob.create_token("session"),
        headers={"npm-auth-type": "web"},
    )
    assert "authUrl" in answer.json()  # a web-2FA session for a publish
    with pytest.raises(UsageError, match="skip_trust_2fa is offered on the 2FA page of a trust change"):
        npm_registry.approve_web_auth(user=bob, skip_trust_2fa=True)
    assert npm_registry.web_auth_sessions(pending=True)  # nothing was approved


def test_the_skip_window_is_a_journal_path_not_a_challenge_style(npm_registry):
    with pytest.raises(UsageError, match="is not a challenge style"):
        npm_registry.add_user("eve", challenge="skip-window")
