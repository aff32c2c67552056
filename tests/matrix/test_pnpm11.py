"""pnpm 11 (pinned: 11.28.11, on Node 22) against the registry. pnpm 11 publishes by itself (its
bundled libnpmpublish), never through npm, and has its own web-2FA poller and OIDC code.

Two faults these tests found: pnpm 11 polls ``doneUrl`` with no Authorization header (and treats
any non-2xx as "keep polling" for five minutes); its own provenance check asks for the package's
visibility without ``npm-command``, and libnpmpublish asks again with it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, write_package

pytestmark = [pytest.mark.npm, pytest.mark.matrix]
PNPM = "11"
REPO = "octo/pn-lib"


def test_pnpm11_publish_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "pn-lib", "1.0.0")
    result = npm_registry.pnpm(
        "publish", "--no-git-checks", cwd=package, token=alice.create_token(bypass_2fa=True), version=PNPM
    )
    assert result.returncode == 0, result
    assert npm_registry.package("pn-lib").dist_tags == {"latest": "1.0.0"}
    put = [request for request, _ in npm_registry.server.log if request.method == "PUT"][-1]
    assert put.headers["user-agent"] == "pnpm/11.28.11 npm/? node/v22.23.3 linux x64"


def test_pnpm11_without_a_terminal_refuses_the_challenge(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "pn-lib", "1.0.0")
    result = npm_registry.pnpm(
        "publish", "--no-git-checks", cwd=package, token=alice.create_token("session"), version=PNPM
    )
    assert result.returncode == 1, result
    assert result.error_code == "ERR_PNPM_OTP_NON_INTERACTIVE"
    assert (
        "[ERR_PNPM_OTP_NON_INTERACTIVE] The registry requires additional authentication, but pnpm is not "
        "running in an interactive terminal" in result.output
    )
    assert not npm_registry.has_package("pn-lib")


def test_pnpm11_web_2fa_completes_with_credential_less_polls(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    """pnpm's poller sends no Authorization: the session id in ``doneUrl`` is the secret."""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.auto_approve_web_auth = True
    package = write_package(tmp_path / "lib", "pn-lib", "1.0.0")
    result = npm_registry.pnpm(
        "publish",
        "--no-git-checks",
        cwd=package,
        token=alice.create_token("session"),
        version=PNPM,
        tty=True,
        timeout=60,  # before the fix pnpm polled a 404 for 300 s, then ERR_PNPM_WEBAUTH_TIMEOUT
    )
    assert result.returncode == 0, result
    assert re.search(rf"{re.escape(npm_registry.url)}-/_mock/auth/\w+", result.stdout), result
    assert npm_registry.package("pn-lib").versions == ["1.0.0"]
    polls = npm_registry.journal.entries(operation="web-auth-poll")
    assert polls
    assert polls[-1].status == 200
    poll_requests = [request for request, _ in npm_registry.server.log if "/-/v1/done/" in request.path]
    assert all("authorization" not in request.headers for request in poll_requests)
    [accepted] = npm_registry.journal.entries(operation="publish", outcome="accepted")
    assert (accepted.credential, accepted.otp.value) == ("session", "web")


def test_pnpm11_oidc_publish_from_a_public_repository(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    """pnpm asks the visibility without ``npm-command`` (its provenance check); answered "public"
    it turned provenance on, asked again with ``npm-command`` (libnpmpublish), got "not public" and
    failed with EUSAGE. Now the exchanged token gets one answer, the truth (issue 16), and pnpm
    signs provenance by itself through the mock Sigstore."""
    alice = npm_registry.add_user("alice")
    npm_registry.publish("pn-lib", "1.0.0", by=alice, access="public")
    npm_registry.trust("pn-lib", github={"repository": REPO, "workflow": "release.yml"})
    repository = {"type": "git", "url": f"git+https://github.com/{REPO}.git"}
    package = write_package(tmp_path / "lib", "pn-lib", "1.1.0", repository=repository)
    env = npm_registry.github_actions_env(REPO, visibility="public")
    result = npm_registry.pnpm("publish", "--no-git-checks", cwd=package, env=env, version=PNPM)
    assert result.returncode == 0, result
    assert "Can't generate provenance" not in result.output
    assert npm_registry.package("pn-lib").versions == ["1.0.0", "1.1.0"]
    assert "pn-lib-1.1.0.sigstore" in npm_registry.package("pn-lib").attachments("1.1.0")
    assert npm_registry.server.egress.app.requests == [
        ("POST", "fulcio.sigstore.dev", "/api/v2/signingCert", 201),
        ("POST", "rekor.sigstore.dev", "/api/v1/log/entries", 201),
    ]
    log = npm_registry.server.log
    answers = [response.get_json() for request, response in log if request.path.endswith("/visibility")]
    assert answers
    assert all(answer == {"public": True} for answer in answers)


def test_pnpm11_failed_oidc_exchange_then_publishes_without_a_token(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    """pnpm reads ``body.body.message`` of an exchange failure, so the registry's ``{"message"}``
    (the public registry's shape too) shows as "Unknown error"; then it publishes with no token."""
    alice = npm_registry.add_user("alice")
    npm_registry.publish("pn-lib", "1.0.0", by=alice)
    package = write_package(tmp_path / "lib", "pn-lib", "1.1.0")  # no trusted publisher configured
    env = npm_registry.github_actions_env(REPO)
    result = npm_registry.pnpm("publish", "--no-git-checks", cwd=package, env=env, version=PNPM)
    assert result.returncode == 1, result
    assert (
        "[WARN] Skipped OIDC: ERR_PNPM_AUTH_TOKEN_EXCHANGE: Failed token exchange request with body message: "
        "Unknown error (status code 404)" in result.output
    ), result
    assert (
        f"[E401] 401 Unauthorized - PUT {npm_registry.url}pn-lib - You must be logged in to publish packages."
        in result.output
    )
    assert npm_registry.package("pn-lib").versions == ["1.0.0"]


def test_pnpm11_stage_publish_through_a_stage_only_trusted_publisher(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    """pnpm exchanges the id token without ``npm-command``: the registry cannot know a stage
    follows, so the permission is checked at the stage (it was checked, and refused, at the
    exchange before)."""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.publish("pn-lib", "1.0.0", by=alice, access="public")
    npm_registry.trust(
        "pn-lib", github={"repository": REPO, "workflow": "release.yml"}, permissions=("createStagedPackage",)
    )
    package = write_package(tmp_path / "lib", "pn-lib", "1.1.0")
    env = npm_registry.github_actions_env(REPO)
    result = npm_registry.pnpm("stage", "publish", "--no-git-checks", cwd=package, env=env, version=PNPM)
    assert result.returncode == 0, result
    assert "✅ Staged package pn-lib@1.1.0" in result.output
    (stage,) = npm_registry.stages("pn-lib")
    assert (stage.version.version, stage.actor_type) == ("1.1.0", "trusted publisher")
    exchange = npm_registry.journal.entries(operation="oidc-exchange")[-1]
    assert exchange.status == 201
    direct = npm_registry.pnpm(
        "publish", "--no-git-checks", cwd=write_package(tmp_path / "v2", "pn-lib", "1.2.0"),
        env=npm_registry.github_actions_env(REPO), version=PNPM,
    )  # fmt: skip
    assert direct.returncode != 0
    assert "OIDC permission denied for this action" in direct.output
