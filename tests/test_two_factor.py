"""Second factors with the real npm CLI: --otp, stale codes, recovery codes, web 2FA, terminals."""

from __future__ import annotations

import json
import math
import re

import pytest

CLASSIC_EOTP = [
    "npm error code EOTP",
    "npm error This operation requires a one-time password from your authenticator.",
    "npm error You can provide a one-time password by passing --otp=<code> to the command you ran.",
    "npm error If you already provided a one-time password then it is likely that you either typoed it, "
    "or it timed out. Please try again.",
]


@pytest.fixture
def alice(npm_registry):
    return npm_registry.add_user("alice", tfa="auth-and-writes")


@pytest.fixture
def session(alice):
    return alice.create_token("session")


def test_publish_with_otp_flag(npm_registry, package_dir, alice, session):
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg"), token=session, otp=alice.otp())
    assert result.returncode == 0, result
    entry = npm_registry.journal.entries(operation="publish")[-1]
    assert (entry.otp.value, entry.credential, entry.user) == ("totp", "session", "alice")


def test_previous_and_next_codes_are_accepted(npm_registry, package_dir, alice, session):
    # Frozen mid-step: on the real clock a 30 s boundary passing while npm starts turns the
    # previous code into the one before it, which is rightly refused.
    npm_registry.clock.freeze(math.floor(npm_registry.clock.now() / 30) * 30 + 15)
    for step, version in ((-1, "1.0.0"), (1, "1.1.0")):
        result = npm_registry.npm(
            "publish", cwd=package_dir("demo-pkg", version), token=session, otp=alice.otp(offset_steps=step)
        )
        assert result.returncode == 0, result


def test_stale_code_fails_with_eotp(npm_registry, package_dir, alice, session):
    code = alice.otp()
    npm_registry.clock.advance(120)  # four 30-second steps: outside the +-1 step window
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg"), token=session, otp=code)
    assert result.returncode == 1
    # --otp makes npm send `npm-auth-type: legacy`, so the answer is the classic challenge.
    assert result.error_lines == CLASSIC_EOTP
    assert not npm_registry.has_package("demo-pkg")
    assert npm_registry.journal.entries(operation="publish")[-1].reason.endswith("wrong, used or expired")


def test_recovery_code_works_once(npm_registry, package_dir, alice, session):
    code = alice.recovery_codes[0]
    first = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.0.0"), token=session, otp=code)
    assert first.returncode == 0, first
    assert code not in alice.recovery_codes
    assert npm_registry.journal.entries(operation="publish")[-1].otp.value == "recovery-code"
    again = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=session, otp=code)
    assert again.error_lines == CLASSIC_EOTP
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


def test_web_challenge_without_tty_prints_both_urls(npm_registry, package_dir, session):
    result = npm_registry.npm("publish", "--json", cwd=package_dir("demo-pkg"), token=session)
    assert result.returncode == 1
    (pending,) = npm_registry.web_auth_sessions(pending=True)
    auth_url = f"{npm_registry.url}-/_mock/auth/{pending.id}"
    done_url = f"{npm_registry.url}-/v1/done/{pending.id}"
    assert result.error_lines == [
        "npm error code EOTP",
        "npm error This operation requires a one-time password.",
        "npm error Open this URL in your browser to authenticate:",
        f"npm error   {auth_url}",
        "npm error",
        "npm error After authenticating, your token can be retrieved from:",
        f"npm error   {done_url}",
    ]
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["authUrl"], error["doneUrl"]) == ("EOTP", auth_url, done_url)
    assert pending.description == "publish demo-pkg@1.0.0"


def test_web_token_from_done_url_works_as_otp_on_rerun(npm_registry, package_dir, session):
    # What a CI script can do after EOTP: have someone approve, read doneUrl, rerun with --otp.
    from tests.conftest import http

    pkg = package_dir("demo-pkg")
    assert npm_registry.npm("publish", cwd=pkg, token=session).error_code == "EOTP"
    (pending,) = npm_registry.approve_web_auth()
    token = http(npm_registry, "GET", pending.done_path, token=session).json()["token"]
    result = npm_registry.npm("publish", cwd=pkg, token=session, otp=token)
    assert result.returncode == 0, result
    assert npm_registry.journal.entries(operation="publish")[-1].otp.value == "web"


def test_classic_user_without_tty_gets_the_classic_eotp(npm_registry, package_dir):
    bob = npm_registry.add_user("bob", tfa="auth-and-writes", challenge="classic")
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg"), token=bob.create_token("session"))
    assert result.error_lines == CLASSIC_EOTP


def test_security_key_user_sees_the_notice(npm_registry, package_dir):
    carol = npm_registry.add_user("carol", tfa="auth-and-writes", security_key=True)
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg"), token=carol.create_token("session"))
    assert result.error_lines == CLASSIC_EOTP
    (pending,) = npm_registry.web_auth_sessions(pending=True)
    assert (
        f"Open {npm_registry.url}-/_mock/auth/{pending.id} to use your security key for authentication "
        "or enter OTP from your authenticator app"
    ) in result.notices


# -- with a terminal: npm prompts, polls and retries once --------------------------------------------


def test_tty_prompt_retries_with_the_typed_code(npm_registry, package_dir, alice):
    bob = npm_registry.add_user("bob", tfa="auth-and-writes", challenge="classic")
    result = npm_registry.npm(
        "publish",
        cwd=package_dir("demo-pkg"),
        token=bob.create_token("session"),
        tty=True,
        answers=[("Enter OTP:", bob.otp)],
    )
    assert result.returncode == 0, result
    assert "This operation requires a one-time password.\n" in result.stdout
    assert result.stdout.rstrip().endswith("+ demo-pkg@1.0.0")
    publishes = npm_registry.journal.entries(operation="publish")
    assert [(e.outcome.value, e.otp.value) for e in publishes] == [("challenged", "none"), ("accepted", "totp")]


def test_tty_wrong_code_is_final_after_one_retry(npm_registry, package_dir):
    bob = npm_registry.add_user("bob", tfa="auth-and-writes", challenge="classic")
    result = npm_registry.npm(
        "publish",
        cwd=package_dir("demo-pkg"),
        token=bob.create_token("session"),
        tty=True,
        answers=[("Enter OTP:", "000000")],
    )
    assert result.error_lines == CLASSIC_EOTP
    assert len(npm_registry.journal.entries(operation="publish")) == 2


def test_tty_web_flow_end_to_end(npm_registry, package_dir, alice, session):
    """npm prints the authUrl, polls doneUrl (202 + Retry-After), the test approves, npm retries."""

    def approve() -> None:
        npm_registry.approve_web_auth(user=alice)

    result = npm_registry.npm(
        "publish",
        cwd=package_dir("demo-pkg"),
        token=session,
        tty=True,
        answers=[(r"Authenticate your account at:\s*\n\S+/-/_mock/auth/\w+", approve)],
    )
    assert result.returncode == 0, result
    assert re.search(rf"Authenticate your account at:\n{re.escape(npm_registry.url)}-/_mock/auth/\w+\n", result.stdout)
    assert result.stdout.rstrip().endswith("+ demo-pkg@1.0.0")
    polls = npm_registry.journal.entries(operation="web-auth-poll")
    assert polls
    assert polls[-1].status == 200
    assert npm_registry.journal.entries(operation="publish")[-1].otp.value == "web"
    assert npm_registry.package("demo-pkg").versions == ["1.0.0"]


def test_auto_approve_web_auth(npm_registry, package_dir, session):
    npm_registry.auto_approve_web_auth = True
    result = npm_registry.npm("publish", cwd=package_dir("demo-pkg"), token=session, tty=True)
    assert result.returncode == 0, result
