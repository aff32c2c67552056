"""Fault injection (``reg.faults``), proven with the real npm CLI where npm is what meets the fault."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, UsageError, write_package

from .conftest import http

PackageDir = Callable[..., Path]


def test_failed_publishes_fail_npm_at_once_then_the_publish_goes_through(
    npm_registry: NpmRegistry, package_dir: PackageDir
) -> None:
    alice = npm_registry.add_user("alice")
    token = alice.create_token(bypass_2fa=True)
    fault = npm_registry.faults.fail_publishes(2, status=503, retry_after=10)
    pkg = package_dir("demo-pkg")
    started = time.monotonic()
    for _ in range(2):
        failed = npm_registry.npm("publish", cwd=pkg, token=token)
        assert failed.error_code == "E503"
        assert "Service Unavailable (fault injected by the test)" in failed.error_lines[1]
    assert time.monotonic() - started < 10  # fetch-retries=0: npm does not wait out Retry-After
    assert fault.hits == 2
    assert fault.exhausted
    assert not npm_registry.has_package("demo-pkg")
    assert npm_registry.npm("publish", cwd=pkg, token=token).ok
    npm_registry.assert_published("demo-pkg@1.0.0", by="alice", credential="granular")
    assert npm_registry.faults.active == []


def test_failure_answers_carry_status_body_and_retry_after(npm_registry: NpmRegistry) -> None:
    npm_registry.faults.fail_publishes(status=429, retry_after=30, error="slow down", package="demo-pkg")
    other = http(npm_registry, "PUT", "/other-pkg", json_body={})
    assert other.status == 401  # another package: the registry answers (anonymous write)
    answer = http(npm_registry, "PUT", "/demo-pkg", json_body={})
    assert (answer.status, answer.headers["retry-after"], answer.json()) == (429, "30", {"error": "slow down"})
    assert http(npm_registry, "PUT", "/demo-pkg", json_body={}).status == 401  # used up: the registry answers


def test_scoped_publishes_match_and_other_writes_do_not(npm_registry: NpmRegistry) -> None:
    npm_registry.faults.fail_publishes(3)
    assert http(npm_registry, "PUT", "/@acme%2flib", json_body={}).status == 503
    assert http(npm_registry, "PUT", "/-/user/org.couchdb.user:bob", json_body={}).status != 503
    assert http(npm_registry, "PUT", "/-/package/x/dist-tags/next", json_body="1.0.0").status != 503


def test_fail_requests_matches_method_and_path(npm_registry: NpmRegistry) -> None:
    npm_registry.faults.fail_requests(method="GET", path=re.compile(r"^/-/whoami$"), status=502)
    assert http(npm_registry, "GET", "/-/ping").status == 200
    assert http(npm_registry, "GET", "/-/whoami").status == 502
    assert http(npm_registry, "GET", "/-/whoami").status == 401  # once only, then the registry


def test_delay_slows_matching_requests_only(npm_registry: NpmRegistry) -> None:
    fault = npm_registry.faults.delay(0.3, path="/-/ping")
    started = time.monotonic()
    assert npm_registry.npm("ping").ok
    assert time.monotonic() - started >= 0.3
    assert fault.hits == 1
    started = time.monotonic()
    http(npm_registry, "GET", "/-/whoami")
    assert time.monotonic() - started < 0.3


def test_dropped_connection_after_the_registry_stored_the_publish(
    npm_registry: NpmRegistry, package_dir: PackageDir
) -> None:
    token = npm_registry.add_user("alice").create_token(bypass_2fa=True)
    npm_registry.faults.drop_connection(method="PUT")
    pkg = package_dir("demo-pkg")
    dropped = npm_registry.npm("publish", cwd=pkg, token=token)
    assert dropped.error_code == "ECONNRESET"
    assert "socket hang up" in dropped.stderr
    # The write went through although npm could not tell: the classic "did my release happen?".
    npm_registry.assert_published("demo-pkg@1.0.0")
    retried = npm_registry.npm("publish", cwd=pkg, token=token)
    assert "cannot publish over the previously published versions: 1.0.0" in retried.stderr


def test_truncated_body_breaks_a_read(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.faults.drop_connection(method="GET", path="/demo-pkg", after_bytes=20)
    viewed = npm_registry.npm("view", "demo-pkg", "version")
    assert viewed.error_code == "ECONNRESET"
    assert "aborted" in viewed.stderr
    assert npm_registry.npm("view", "demo-pkg", "version").stdout.strip() == "1.0.0"


def test_otp_guesses_are_throttled_after_k_failures(npm_registry: NpmRegistry, package_dir: PackageDir) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    npm_registry.faults.throttle_otp_failures(2, retry_after=60)
    pkg = package_dir("demo-pkg")
    assert npm_registry.npm("publish", cwd=pkg, token=session).error_code == "EOTP"  # no OTP: not counted
    for _ in range(2):
        assert npm_registry.npm("publish", cwd=pkg, token=session, otp="000000").error_code == "EOTP"
    throttled = npm_registry.npm("publish", cwd=pkg, token=session, otp=alice.otp())
    assert throttled.error_code == "E429"
    assert "Too many failed one-time passwords: retry in 60 s" in throttled.stderr
    assert not npm_registry.has_package("demo-pkg")
    npm_registry.assert_otp_challenged(times=3, user=alice, package="demo-pkg")


def test_otp_expires_half_way_through_a_monorepo_release(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    """``npm publish --workspaces --otp=<code>``: each publish takes time; the third outlives the code."""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    root = tmp_path / "monorepo"
    root.mkdir()
    manifest = {"name": "monorepo", "version": "0.0.0", "private": True, "workspaces": ["packages/*"]}
    (root / "package.json").write_text(json.dumps(manifest))
    for name in ("a", "b", "c"):
        write_package(root / "packages" / name, f"mono-{name}", "1.0.0")
    # At the start of a 30-second TOTP step, a code is good for this step and the next (window 1):
    # 0 s and 45 s are in, 90 s is out.
    npm_registry.clock.freeze(math.floor(npm_registry.clock.now() / 30) * 30)
    npm_registry.faults.advance_clock_after_publish(45)

    result = npm_registry.npm("publish", "--workspaces", cwd=root, token=alice.create_token("session"), otp=alice.otp())

    assert result.error_code == "EOTP"
    npm_registry.assert_published("mono-a@1.0.0", otp="totp")
    npm_registry.assert_published("mono-b@1.0.0", otp="totp")
    npm_registry.assert_not_published("mono-c")
    npm_registry.assert_otp_challenged(times=1, package="mono-c")


def test_one_at_a_time_publishes_with_one_otp_expire_too(npm_registry: NpmRegistry, package_dir: PackageDir) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    npm_registry.clock.freeze(math.floor(npm_registry.clock.now() / 30) * 30)
    npm_registry.faults.advance_clock_after_publish(20)
    code = alice.otp()
    codes = [npm_registry.npm("publish", cwd=package_dir(f"pkg-{i}"), token=session, otp=code) for i in range(4)]
    assert [r.error_code for r in codes] == [None, None, None, "EOTP"]  # 0 s, 20 s, 40 s ok; 60 s out


def test_faults_compose_and_pytest_httpserver_handlers_still_come_first(npm_registry: NpmRegistry) -> None:
    npm_registry.faults.delay(0.05)
    npm_registry.faults.fail_requests(2, path="/-/ping", status=500)
    npm_registry.server.expect_oneshot_request("/-/ping").respond_with_json({"from": "httpserver"}, status=418)
    assert http(npm_registry, "GET", "/-/ping").status == 418
    assert http(npm_registry, "GET", "/-/ping").status == 500
    assert http(npm_registry, "GET", "/-/ping").status == 500
    assert http(npm_registry, "GET", "/-/ping").status == 200


def test_reset_and_clear_drop_faults(npm_registry: NpmRegistry) -> None:
    npm_registry.faults.fail_requests(5, path="/-/ping")
    npm_registry.faults.clear()
    assert http(npm_registry, "GET", "/-/ping").status == 200
    npm_registry.faults.fail_requests(5, path="/-/ping")
    assert len(npm_registry.faults.active) == 1
    npm_registry.reset()
    assert npm_registry.faults.active == []
    assert http(npm_registry, "GET", "/-/ping").status == 200
    npm_registry.faults.fail_requests(path="/-/ping")  # works again after the reset
    assert http(npm_registry, "GET", "/-/ping").status == 503


def test_fault_misuse_says_how_to_fix_the_call(npm_registry: NpmRegistry) -> None:
    with pytest.raises(UsageError, match="times=0: give a count of at least 1"):
        npm_registry.faults.fail_publishes(0)
    with pytest.raises(UsageError, match=r"delay\(seconds=-1\): give a latency from 0 to 3600 seconds"):
        npm_registry.faults.delay(-1)
    with pytest.raises(UsageError, match="after_bytes=-3"):
        npm_registry.faults.drop_connection(after_bytes=-3)


def test_a_reset_mid_test_keeps_server_thread_errors_for_the_check(npm_registry: NpmRegistry) -> None:
    npm_registry.server.expect_request("/boom").respond_with_handler(lambda _request: 1 / 0)
    assert http(npm_registry, "GET", "/boom").status == 500
    npm_registry.reset()
    # The error the handler raised must still fail the test at teardown (here: on demand).
    with pytest.raises(ZeroDivisionError):
        npm_registry.server.check_handler_errors()
    assert http(npm_registry, "GET", "/boom").status == 404  # the handler went with the reset: no such package
