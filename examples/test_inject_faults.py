"""Recipe: inject registry faults and check what a release does about them.

`reg.npm` runs npm with fetch-retries=0, so a 503 fails at once instead of after npm's ~10-second
back-offs. See docs/howto.md#inject-faults.
"""

from __future__ import annotations

import math
from pathlib import Path

from pytest_npm_registry import NpmRegistry, write_package


def test_a_503_then_a_retry(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    token = npm_registry.add_user("ci-bot").create_token(bypass_2fa=True)
    package = write_package(tmp_path / "lib", "my-lib", "1.0.0")
    npm_registry.faults.fail_publishes(1, status=503, retry_after=10)

    first = npm_registry.npm("publish", cwd=package, token=token)
    second = npm_registry.npm("publish", cwd=package, token=token)  # what a retrying script does

    assert first.error_code == "E503"
    assert second.ok
    npm_registry.assert_published("my-lib@1.0.0")


def test_the_connection_drops_after_the_registry_stored_the_publish(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    token = npm_registry.add_user("ci-bot").create_token(bypass_2fa=True)
    package = write_package(tmp_path / "lib", "my-lib", "1.0.0")
    npm_registry.faults.drop_connection(method="PUT")

    dropped = npm_registry.npm("publish", cwd=package, token=token)

    assert dropped.error_code == "ECONNRESET"
    npm_registry.assert_published("my-lib@1.0.0")  # it went through: a naive retry now gets E403


def test_otp_expires_half_way_through_a_series_of_publishes(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    # Start at a 30-second step boundary; a code is accepted in its step and the next one.
    npm_registry.clock.freeze(math.floor(npm_registry.clock.now() / 30) * 30)
    npm_registry.faults.advance_clock_after_publish(25)  # each publish "takes" 25 s
    otp = alice.otp()  # typed once, reused for every package, as a monorepo script does

    results = {}
    for name in ("pkg-a", "pkg-b", "pkg-c", "pkg-d"):
        package = write_package(tmp_path / name, name, "1.0.0")
        results[name] = npm_registry.npm("publish", cwd=package, token=session, otp=otp).error_code

    assert results == {"pkg-a": None, "pkg-b": None, "pkg-c": None, "pkg-d": "EOTP"}  # 75 s: expired
