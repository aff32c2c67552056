"""The failure report: the registry's requests, joined with the journal, compact or full under -v."""

from __future__ import annotations

import pytest

from pytest_npm_registry.api.assertions import redact_path

FAILING_RELEASE = """
import pytest
from pytest_npm_registry import write_package

def test_release(npm_registry, tmp_path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    npm_registry.faults.fail_publishes(1, status=503)
    pkg = write_package(tmp_path / "lib", "my-lib", "1.1.0")
    assert npm_registry.npm("publish", cwd=pkg, token=session).error_code == "E503"
    npm_registry.npm("publish", cwd=pkg, token=session)
    npm_registry.npm("view", "my-lib", token=session)
    npm_registry.assert_published("my-lib@1.1.0")
"""


def test_compact_report_lists_requests_with_reasons_and_faults(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_RELEASE)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- npm registry journal -*",
            "PUT /my-lib -> 503  [[]fault: fail_publishes status=503]",
            "PUT /my-lib: publish my-lib@1.1.0 tag=latest by alice (session npm_????...) -> 401 challenged: "
            "alice's session token needs an OTP: *",
            "GET /my-lib: read-package my-lib by alice (session npm_????...) -> 404 rejected: *",
            "(4 routine reads not shown; -v shows every request)",
        ]
    )


def test_verbose_report_shows_every_request_with_time_and_headers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_RELEASE)
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(
        [
            "*- npm registry journal -*",
            "??:??:??.??? GET /my-lib [[]npm publish, auth-type web]: read-package my-lib by alice * -> 404 *",
            "PUT /my-lib [[]npm publish, auth-type web] -> 503  [[]fault: fail_publishes status=503]",
        ]
    )
    result.stdout.no_fnmatch_line("*routine reads not shown*")


def test_passing_tests_get_no_section_and_secrets_never_show(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request

        def test_passes(npm_registry):
            urllib.request.urlopen(npm_registry.url + "-/ping").read()

        def test_logout_then_fail(npm_registry):
            alice = npm_registry.add_user("alice", tfa="auth-and-writes")
            token = alice.create_token("session")
            print("SECRET", token.key)
            print("OTP", alice.otp())
            result = npm_registry.npm("logout", token=token)
            assert result.ok, result
            assert False, "deliberate"
        """
    )
    result = pytester.runpytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    report = output.split("npm registry journal", 1)[1]
    secret = next(line.split()[1] for line in output.splitlines() if line.startswith("SECRET "))
    otp = next(line.split()[1] for line in output.splitlines() if line.startswith("OTP "))
    assert "DELETE /-/user/token/npm_" in report
    assert secret not in report
    assert otp not in report
    assert output.count("npm registry journal") == 1


def test_redact_path() -> None:
    assert redact_path("/-/user/token/npm_abcdefghijklmnopqrstuvwxyz") == "/-/user/token/npm_abcd..."
    assert redact_path("/-/npm/v1/tokens/token/0123456789abcdef") == "/-/npm/v1/tokens/token/01234567..."
    assert redact_path("/my-lib") == "/my-lib"


def test_the_folded_count_agrees_with_its_noun(npm_registry) -> None:
    from pytest_npm_registry.api.assertions import exchanges, format_report
    from tests.conftest import http

    alice = npm_registry.add_user("alice")
    npm_registry.publish("my-lib", by=alice)
    http(npm_registry, "GET", "/my-lib")  # a routine read, folded
    http(npm_registry, "GET", "/-/whoami", token=alice.create_token())
    report = format_report(exchanges(npm_registry.server, npm_registry.registry), verbose=False)
    assert report.splitlines()[-1] == "(1 routine read not shown; -v shows every request)"
