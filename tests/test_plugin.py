"""The plugin surface: fixtures, reset between tests, session server reuse, failure report, faults."""

from __future__ import annotations

import time
import urllib.request

import pytest

from pytest_npm_registry import NpmRegistry, UsageError


def test_state_is_reset_between_tests_on_one_session_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        PORTS = []

        def test_first(npm_registry):
            alice = npm_registry.add_user("alice", tfa="auth-and-writes")
            npm_registry.publish("demo-pkg", "1.0.0", by=alice)
            npm_registry.auto_approve_web_auth = True
            npm_registry.clock.advance(3600)
            PORTS.append(npm_registry.server.port)

        def test_second(npm_registry):
            assert not npm_registry.has_package("demo-pkg")
            assert npm_registry.registry.state.users == {}
            assert len(npm_registry.journal) == 0
            assert npm_registry.auto_approve_web_auth is False
            assert abs(npm_registry.clock.now() - __import__("time").time()) < 5
            npm_registry.add_user("alice")  # the name is free again
            PORTS.append(npm_registry.server.port)
            assert PORTS[0] == PORTS[1]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_policy_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def npm_registry_policy():
            return "classic"

        def test_classic(npm_registry):
            assert npm_registry.policy.name == "classic"
            npm_registry.add_user("alice").create_token("automation")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_failing_test_report_carries_the_journal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request

        def test_fails(npm_registry):
            urllib.request.urlopen(npm_registry.url + "-/ping").read()
            assert False, "deliberate"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- npm registry journal -*", "GET /-/ping: ping by anonymous -> 200 accepted"])


def test_errors_inside_the_server_fail_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request, urllib.error

        def test_handler_raises(npm_registry):
            def boom(request):
                raise RuntimeError("handler bug")
            npm_registry.server.expect_request("/-/ping").respond_with_handler(boom)
            try:
                urllib.request.urlopen(npm_registry.url + "-/ping")
            except urllib.error.HTTPError as exc:
                assert exc.code == 500
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: handler bug*"])


def test_fault_injection_with_pytest_httpserver_handlers(npm_registry, package_dir) -> None:
    alice = npm_registry.add_user("alice")
    token = alice.create_token(bypass_2fa=True)
    npm_registry.server.expect_oneshot_request("/demo-pkg", method="PUT").respond_with_json(
        {"error": "registry is having a bad day"}, status=503
    )
    pkg = package_dir("demo-pkg")
    started = time.monotonic()
    failed = npm_registry.npm("publish", cwd=pkg, token=token)
    assert failed.error_code == "E503"
    assert failed.error_lines[1].endswith("- registry is having a bad day")
    assert time.monotonic() - started < 10  # fetch-retries=0: no 10-second back-off
    assert not npm_registry.has_package("demo-pkg")
    assert npm_registry.npm("publish", cwd=pkg, token=token).returncode == 0


def test_request_log_is_bounded(npm_registry) -> None:
    server = npm_registry.server
    for _ in range(server.log_limit * 3):
        urllib.request.urlopen(npm_registry.url + "-/ping").read()
    assert len(server.log) <= 2 * server.log_limit
    assert server.log[-1][0].path == "/-/ping"


def test_registry_as_a_context_manager_without_pytest() -> None:
    with NpmRegistry(policy="classic") as reg:
        assert reg.url.startswith("http://127.0.0.1:")
        assert urllib.request.urlopen(reg.url + "-/ping").read() == b"{}"
        url = reg.url
    with pytest.raises(OSError, match="Connection refused"):
        urllib.request.urlopen(url + "-/ping", timeout=2)
    with pytest.raises(UsageError, match="not running"):
        _ = reg.url


def test_usage_errors_say_how_to_fix_the_call(npm_registry) -> None:
    with pytest.raises(UsageError, match="tfa is one of none, auth-only, auth-and-writes"):
        npm_registry.add_user("alice", tfa="sometimes")
    bob = npm_registry.add_user("bob")
    with pytest.raises(UsageError, match="has no 2FA"):
        bob.otp()
    with pytest.raises(UsageError, match="unknown token kind"):
        bob.create_token("superuser")
    with pytest.raises(UsageError, match="no package 'nope'"):
        npm_registry.package("nope")
    with pytest.raises(UsageError, match="unknown policy 'modern'"):
        npm_registry.reset("modern")


def test_a_bad_tfa_or_challenge_names_only_its_own_argument(npm_registry) -> None:
    with pytest.raises(UsageError) as caught:
        npm_registry.add_user("alice", tfa="sometimes")
    assert str(caught.value) == "'sometimes' is not a 2FA mode: tfa is one of none, auth-only, auth-and-writes"
    with pytest.raises(UsageError) as caught:
        npm_registry.add_user("alice", challenge="sms")
    assert str(caught.value) == "'sms' is not a challenge style: challenge is web or classic"
