"""Example: contract-test a shell release script against the mock registry.

The script is what a project runs in CI. The test reproduces the failure a maintainer meets the
day 2FA is switched on for their account, and checks the fix: a granular token with bypass 2FA.
``reg.ci_env(token, setup_node=True)`` is the job's environment: the token only in
``NODE_AUTH_TOKEN`` / ``NPM_TOKEN``, the ``.npmrc`` that ``actions/setup-node`` writes, a
throwaway HOME; npm has no other credential, so the verdict is the token's. Run it with
`pytest examples/`.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from pytest_npm_registry import NpmRegistry, Token, write_package

RELEASE_SH = textwrap.dedent(
    """\
    #!/usr/bin/env bash
    # release.sh: publish the package in the current folder; print a one-line verdict.
    set -uo pipefail
    if npm publish --access public >publish.log 2>&1; then
      echo "released $(node -p 'require("./package.json").version')"
    elif grep -q "code EOTP" publish.log; then
      echo "release blocked: the registry wants a one-time password (use a bypass-2FA token in CI)"
      exit 2
    else
      echo "release failed:"; cat publish.log; exit 1
    fi
    """
)


def run_release(reg: NpmRegistry, package: Path, token: Token) -> subprocess.CompletedProcess[str]:
    script = package / "release.sh"
    script.write_text(RELEASE_SH)
    env = reg.ci_env(token=token, setup_node=True)
    return subprocess.run(["bash", str(script)], cwd=package, env=env, capture_output=True, text=True, check=False)


def test_release_script_reports_eotp_then_succeeds_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path):
    maintainer = npm_registry.add_user("maintainer", tfa="auth-and-writes")
    npm_registry.add_org("acme", owner=maintainer)  # the @acme scope
    package = write_package(tmp_path / "lib", "@acme/lib", "2.0.0")

    blocked = run_release(npm_registry, package, maintainer.create_token("session"))
    assert blocked.returncode == 2
    assert "one-time password" in blocked.stdout
    assert not npm_registry.has_package("@acme/lib")

    ci_token = maintainer.create_token(bypass_2fa=True, packages=["@acme/lib"])
    released = run_release(npm_registry, package, ci_token)
    assert released.stdout.strip() == "released 2.0.0", released.stdout + released.stderr
    assert npm_registry.package("@acme/lib").dist_tags == {"latest": "2.0.0"}
    publish = npm_registry.journal.entries(operation="publish", outcome="accepted")[-1]
    assert (publish.user, publish.credential, publish.otp.value) == ("maintainer", "granular", "none")
