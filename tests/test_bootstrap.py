"""scripts/bootstrap.sh's Node step on a Debian 12-like machine (Node 18): it installs Node 22 into
.tools/node, puts it first on PATH and checks the version again. Fake node and npm stand in for
the real ones, so nothing is downloaded."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

BOOTSTRAP = Path(__file__).resolve().parent.parent / "scripts" / "bootstrap.sh"

FAKE_NODE = """#!/bin/sh
case "$*" in *process.versions*) echo {major};; --version) echo v{major}.0.0;; esac
"""
# `npm install --prefix DIR node@22 npm@11` as npm does it: DIR/node_modules/.bin/node.
FAKE_NPM = """#!/bin/sh
if [ "$1" = --version ]; then echo 9.2.0; exit 0; fi
prefix=$3
mkdir -p "$prefix/node_modules/.bin"
printf '#!/bin/sh\\ncase "$*" in *process.versions*) echo {installed};; --version) echo v{installed}.0.0;; esac\\n' \\
  > "$prefix/node_modules/.bin/node"
chmod +x "$prefix/node_modules/.bin/node"
echo "npm $*" >> "$prefix/calls"
"""


def _ensure_node(tmp_path: Path, installed: int) -> subprocess.CompletedProcess[str]:
    function = re.search(r"^node_major\(\).*?^ensure_node$", BOOTSTRAP.read_text(), re.MULTILINE | re.DOTALL)
    assert function is not None, "bootstrap.sh lost its ensure_node step"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "node").write_text(FAKE_NODE.format(major=18))
    (fake / "npm").write_text(FAKE_NPM.format(installed=installed))
    for tool in ("node", "npm"):
        (fake / tool).chmod(0o755)
    script = f'set -euo pipefail\nroot="{tmp_path}"\n{function.group(0)}\necho "node $(node --version)"\n'
    return subprocess.run(
        ["/bin/bash", "-c", script],
        env={"PATH": f"{fake}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_an_old_system_node_gets_node_22_in_the_tools_folder(tmp_path: Path) -> None:
    done = _ensure_node(tmp_path, installed=22)
    assert (done.returncode, done.stdout) == (0, "node v22.0.0\n"), done.stderr
    assert done.stderr == ("bootstrap: Node v18.0.0 is older than 20: installing Node 22 and npm 11 into .tools/node\n")
    calls = (tmp_path / ".tools" / "node" / "calls").read_text()
    assert calls == f"npm install --prefix {tmp_path}/.tools/node --no-audit --no-fund --silent node@22 npm@11\n"


def test_a_node_still_too_old_after_installing_stops_the_bootstrap(tmp_path: Path) -> None:
    done = _ensure_node(tmp_path, installed=18)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "bootstrap: still Node v18.0.0 after installing; install Node.js 20 or newer and retry"
    )
