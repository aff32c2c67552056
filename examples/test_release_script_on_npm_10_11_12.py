"""Example: one release script, contract-tested on npm 10, 11 and 12 (a CI matrix in one test).

``reg.ci_env(token, setup_node=True, npm="12")`` puts the pinned npm 12 (and the Node 22 it needs) first on PATH for
whatever the script runs; npm 10 and 11 run on the machine's Node. The first test that asks for
a version installs it from the public registry into the shared tools cache (checksummed by the
lock files in pytest_npm_registry/pins/); later tests, and the other xdist workers, reuse it.
The script is the one of test_release_script.py: its verdict must not depend on the npm major.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_release_script import RELEASE_SH  # examples/ is on sys.path (rootdir-relative, no package)

from pytest_npm_registry import NpmRegistry, Token, write_package

pytestmark = pytest.mark.npm


def run_release(reg: NpmRegistry, package: Path, token: Token, npm: str) -> subprocess.CompletedProcess[str]:
    script = package / "release.sh"
    script.write_text(RELEASE_SH)
    env = reg.ci_env(token, setup_node=True, npm=npm)
    return subprocess.run(["bash", str(script)], cwd=package, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("npm", ["10", "11", "12"])
def test_release_script_on_each_npm_major(npm_registry: NpmRegistry, tmp_path: Path, npm: str) -> None:
    maintainer = npm_registry.add_user("maintainer", tfa="auth-and-writes")
    npm_registry.add_org("acme", owner=maintainer)
    package = write_package(tmp_path / "lib", "@acme/lib", "2.0.0")

    blocked = run_release(npm_registry, package, maintainer.create_token("session"), npm)
    assert blocked.returncode == 2, blocked.stdout + blocked.stderr
    assert "one-time password" in blocked.stdout

    released = run_release(npm_registry, package, maintainer.create_token(bypass_2fa=True), npm)
    assert released.stdout.strip() == "released 2.0.0", released.stdout + released.stderr
    # The publish came from the npm asked for.
    put = [request for request, _ in npm_registry.server.log if request.method == "PUT"][-1]
    assert put.headers["user-agent"].startswith(f"npm/{npm}.")
