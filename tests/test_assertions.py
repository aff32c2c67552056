"""Journal assertions: ``assert_published``, ``assert_not_published``, ``assert_otp_challenged``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token, UsageError
from pytest_npm_registry.api.assertions import parse_spec
from pytest_npm_registry.domain.packaging import manifest_for, publish_document

from .conftest import http

PackageDir = Callable[..., Path]


def put(reg: NpmRegistry, name: str, version: str, token: Token, *, tag: str = "latest", otp: str | None = None) -> int:
    """A publish over HTTP, exactly as npm sends it."""
    headers = {"npm-otp": otp} if otp else None
    document = publish_document(manifest_for(name, version), tag=tag)
    path = "/" + name.replace("/", "%2f")
    return http(reg, "PUT", path, token=token, json_body=document, headers=headers).status


@pytest.fixture
def released(npm_registry: NpmRegistry) -> NpmRegistry:
    """ci-bot published my-lib@1.0.0 (latest) and @1.1.0-rc.1 (next) with a granular token."""
    bot = npm_registry.add_user("ci-bot")
    token = bot.create_token(bypass_2fa=True)
    assert put(npm_registry, "my-lib", "1.0.0", token) == 200
    assert put(npm_registry, "my-lib", "1.1.0-rc.1", token, tag="next") == 200
    return npm_registry


def test_assert_published_matches_and_returns_the_entry(released: NpmRegistry) -> None:
    entry = released.assert_published("my-lib@1.1.0-rc.1", tag="next", by="ci-bot", credential="granular", otp="none")
    assert (entry.package, entry.version, entry.tag) == ("my-lib", "1.1.0-rc.1", "next")
    released.assert_published("my-lib")  # any version
    released.assert_published("my-lib@1.0.0", by=released.user("ci-bot"))  # a User object works too


def test_assert_published_explains_the_closest_mismatch(released: NpmRegistry) -> None:
    with pytest.raises(AssertionError) as caught:
        released.assert_published("my-lib@1.1.0-rc.1", tag="latest", credential="session")
    message = str(caught.value)
    first, *rest = message.splitlines()
    assert first == "no accepted publish of my-lib@1.1.0-rc.1 tag=latest with a session credential"
    assert rest[0] == "publishes of my-lib:"
    # The closest candidate first, with every reason it does not match.
    assert rest[1].startswith("  - publish my-lib@1.1.0-rc.1 tag=next by ci-bot (granular npm_")
    assert rest[2] == "      differs: tag is next, not latest; credential is granular, not session"
    assert "version is 1.0.0, not 1.1.0-rc.1" in rest[4]
    assert rest[-1] == "(-v lists every request here, with its headers)"


def test_refused_publishes_are_candidates_with_their_reason(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    assert put(npm_registry, "my-lib", "1.0.0", alice.create_token("session")) == 401
    with pytest.raises(AssertionError, match=r"(?s)differs: it was challenged \(401\)"):
        npm_registry.assert_published("my-lib@1.0.0")


def test_assert_published_with_nothing_of_that_package(released: NpmRegistry) -> None:
    with pytest.raises(AssertionError, match="publishes seen \\(none of that package\\):\n  - publish my-lib@"):
        released.assert_published("@acme/other@1.0.0")


def test_verbose_messages_add_the_journal(released: NpmRegistry) -> None:
    released.assertion_verbosity = 1
    with pytest.raises(AssertionError) as caught:
        released.assert_published("my-lib@9.9.9")
    message = str(caught.value)
    assert "registry journal:\n" in message
    assert "PUT /my-lib [otp sent]" not in message  # no OTP was sent
    assert "PUT /my-lib: publish my-lib@1.0.0 tag=latest by ci-bot" in message


def test_assert_not_published(released: NpmRegistry) -> None:
    released.assert_not_published("my-lib@2.0.0")
    released.assert_not_published(credential="session")
    released.assert_not_published("my-lib", by="someone-else")
    with pytest.raises(AssertionError, match=r"^expected no publish of my-lib tag=next, the registry accepted 1\n"):
        released.assert_not_published("my-lib", tag="next")
    with pytest.raises(AssertionError, match="the registry accepted 2"):
        released.assert_not_published()


def test_assert_otp_challenged(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    with pytest.raises(AssertionError, match=r"^expected at least 1 OTP challenge, saw 0\nrequests \(no challenge"):
        npm_registry.assert_otp_challenged()
    npm_registry.assert_otp_challenged(times=0)
    assert put(npm_registry, "my-lib", "1.0.0", session) == 401
    assert put(npm_registry, "my-lib", "1.0.0", session, otp="000000") == 401
    assert put(npm_registry, "my-lib", "1.0.0", session, otp=alice.otp()) == 200
    challenges = npm_registry.assert_otp_challenged(times=2, user="alice", package="my-lib", operation="publish")
    assert [c.status for c in challenges] == [401, 401]
    npm_registry.assert_published("my-lib@1.0.0", credential="session", otp="totp")
    with pytest.raises(AssertionError, match=r"^expected 1 OTP challenge of alice, saw 2\nchallenges:\n  - publish"):
        npm_registry.assert_otp_challenged(times=1, user=alice)
    with pytest.raises(AssertionError, match="expected 1 OTP challenge on other, saw 0"):
        npm_registry.assert_otp_challenged(times=1, package="other")


def test_assert_otp_challenged_with_real_npm(npm_registry: NpmRegistry, package_dir: PackageDir) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    pkg = package_dir("my-lib", "1.2.3")
    assert npm_registry.npm("publish", "--tag", "next", cwd=pkg, token=session).error_code == "EOTP"
    assert npm_registry.npm("publish", "--tag", "next", cwd=pkg, token=session, otp=alice.otp()).ok
    npm_registry.assert_otp_challenged(times=1)
    npm_registry.assert_published("my-lib@1.2.3", tag="next", by="alice", credential="session", otp="totp")


def test_spec_parsing_and_usage_errors(npm_registry: NpmRegistry) -> None:
    assert parse_spec("my-lib@1.2.3") == ("my-lib", "1.2.3")
    assert parse_spec("@acme/lib@1.2.3") == ("@acme/lib", "1.2.3")
    assert parse_spec("@acme/lib") == ("@acme/lib", None)
    assert parse_spec("my-lib") == ("my-lib", None)
    with pytest.raises(UsageError, match="write name@version"):
        parse_spec("my-lib@")
    with pytest.raises(UsageError, match="otp='sms': one of none, totp"):
        npm_registry.assert_published("my-lib", otp="sms")


def test_failures_hide_the_helper_frames_and_stay_short(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_expects_a_publish(npm_registry):
            npm_registry.assert_published("my-lib@1.0.0", tag="next")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       npm_registry.assert_published("my-lib@1.0.0", tag="next")',
            "E       AssertionError: no accepted publish of my-lib@1.0.0 tag=next",
            "E       publishes seen (none of that package):",
            "E         (none)",
            "E       (-v lists every request here, with its headers)",
        ]
    )
    result.stdout.no_fnmatch_line("*assertions.py*")  # __tracebackhide__: the frame is the test's line


def test_verbose_run_adds_the_journal_to_the_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request

        def test_expects_a_publish(npm_registry):
            urllib.request.urlopen(npm_registry.url + "-/ping").read()
            npm_registry.assert_not_published()
            npm_registry.assert_otp_challenged(times=1)
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       registry journal:", "E         *GET /-/ping: ping by anonymous -> 200 accepted"]
    )
