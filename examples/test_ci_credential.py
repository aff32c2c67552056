"""Recipe: choose the credential CI publishes with, and pin the choice with a test.

Under the current rules a granular token with bypass 2FA, limited to the packages CI releases,
publishes without an OTP; a session token cannot, and a read-only token never can.
See docs/howto.md#choose-a-credential-for-ci.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, write_package


@pytest.mark.npm_registry(users={"ci-bot": {"tfa": "auth-and-writes"}}, packages={"@acme/lib@1.0.0": "ci-bot"})
@pytest.mark.parametrize(
    ("token_options", "error_code"),
    [
        ({"bypass_2fa": True, "packages": ["@acme/lib"]}, None),  # the one to put in CI
        ({"kind": "session"}, "EOTP"),  # npm login's token: asks for an OTP
        ({"bypass_2fa": True, "packages": ["@acme/other"]}, "E403"),  # scoped to the wrong package
        ({"read_only": True}, "E403"),
    ],
)
def test_which_token_can_release(
    npm_registry: NpmRegistry, tmp_path: Path, token_options: dict[str, object], error_code: str | None
) -> None:
    token = npm_registry.user("ci-bot").create_token(**token_options)  # type: ignore[arg-type]
    package = write_package(tmp_path / "lib", "@acme/lib", "1.1.0")

    result = npm_registry.npm("publish", "--access", "public", cwd=package, token=token)

    assert result.error_code == error_code, result
    if error_code is None:
        npm_registry.assert_published("@acme/lib@1.1.0", by="ci-bot", credential="granular", otp="none")
    else:
        npm_registry.assert_not_published("@acme/lib@1.1.0")
