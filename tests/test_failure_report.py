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


# -- results that explain themselves ---------------------------------------------------------------

FAILED_RUN = """
from pytest_npm_registry import write_package

def test_release(npm_registry, tmp_path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes", challenge="classic")
    pkg = write_package(tmp_path / "lib", "my-lib", "1.1.0")
    result = npm_registry.npm("publish", cwd=pkg, token=alice.create_token("session"), otp="135790")
    assert result.ok, result
"""


def test_assert_result_ok_shows_the_npm_error_without_verbosity(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILED_RUN)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: exit 1 (EOTP)",
            "E         npm error code EOTP",
            "E         npm error This operation requires a one-time password from your authenticator.",
            "*- npm debug logs of failed runs -*",
            "$ npm publish --otp=*** -> exit 1 (EOTP)",
            "  log: */cache/_logs/*-debug-0.log, last 15 of * lines (-v: all)",
            "  * error code EOTP",
        ]
    )
    assert "135790" not in result.stdout.str().split("npm debug logs of failed runs", 1)[1]


def test_a_failed_runs_debug_log_is_kept_beside_the_journal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILED_RUN)
    result = pytester.runpytest("-p", "no:randomly", "--npm-registry-journal-dir=journals")
    result.assert_outcomes(failed=1)
    journals = pytester.path / "journals"
    stem = "test_a_failed_runs_debug_log_is_kept_beside_the_journal.py_test_release"
    assert sorted(p.name for p in journals.iterdir()) == [f"{stem}.jsonl", f"{stem}.npm-1-publish.log"]
    log = (journals / f"{stem}.npm-1-publish.log").read_text()
    assert "error code EOTP" in log
    assert '"--otp" "***"' in log
    assert "135790" not in log
    result.stdout.fnmatch_lines([f"  log: {journals}/{stem}.npm-1-publish.log, last 15 of * lines (-v: all)"])


def test_a_result_leads_with_exit_code_and_errors(npm_registry, tmp_path) -> None:
    from pytest_npm_registry.api.tools import ToolResult

    alice = npm_registry.add_user("alice")
    whoami = npm_registry.npm("whoami", token=alice.create_token())
    assert str(whoami).startswith(f"exit 0\n$ npm whoami  ({whoami.duration:.2f}s)\n--- stdout ---\nalice\n")
    assert repr(whoami) == str(whoami)
    assert (whoami.debug_log, whoami.log, npm_registry.failed_runs) == (None, "", [])

    refused = npm_registry.npm("whoami")
    assert str(refused).splitlines()[:4] == [
        "exit 1 (ENEEDAUTH)",
        "npm error code ENEEDAUTH",
        "npm error need auth This command requires you to be logged in.",
        "npm error need auth You need to authorize this machine using `npm adduser`",
    ]
    assert refused.debug_log == refused.log_pointer
    assert refused.debug_log is not None
    assert refused.debug_log.is_file()
    gone = "(goes with the work folder; text in result.log)"
    assert str(refused).endswith(f"npm's debug log: {refused.debug_log} {gone}")
    assert npm_registry.failed_runs == [refused]
    npm_registry.keep_logs_in, npm_registry.keep_logs_prefix = tmp_path, "kept-"
    again = npm_registry.npm("whoami")
    assert again.debug_log == tmp_path / "kept-2-whoami.log"
    assert str(again).endswith(f"npm's debug log: {tmp_path}/kept-2-whoami.log")

    pnpm = ToolResult(["pnpm", "publish"], 1, " ERR_PNPM_OTP_NON_INTERACTIVE  The registry wants an OTP\n", "", 1.5)
    assert str(pnpm).splitlines()[:3] == [
        "exit 1 (ERR_PNPM_OTP_NON_INTERACTIVE)",
        "ERR_PNPM_OTP_NON_INTERACTIVE  The registry wants an OTP",
        "$ pnpm publish  (1.50s)",
    ]
