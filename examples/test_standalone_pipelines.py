"""Examples for pipelines that are not written in Python: a bash release script that answers EOTP
through the control API, a Node script publishing with libnpmpublish, and a two-step pipeline
(publish, stop, restart from storage, install) against `pytest-npm-registry serve`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from pytest_npm_registry import NpmRegistry, write_package
from pytest_npm_registry.api.clients import isolated_env, run_npm
from pytest_npm_registry.api.tools import install_tool

HERE = Path(__file__).parent
CLIENTS = HERE.parent / "tests" / "clients"


def test_bash_release_script_reads_the_otp_from_the_control_api(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    maintainer = npm_registry.add_user("maintainer", tfa="auth-and-writes", challenge="classic")
    package = write_package(tmp_path / "lib", "release-me", "1.0.0")
    env = {
        **npm_registry.ci_env(token=maintainer.create_token("session"), setup_node=True),
        "NPM_REGISTRY_URL": npm_registry.url,
        "NPM_REGISTRY_ADMIN_TOKEN": npm_registry.admin_token,
        "RELEASE_USER": "maintainer",
    }
    result = subprocess.run(
        ["bash", str(HERE / "release_with_otp.sh")], cwd=package, env=env, capture_output=True, text=True, check=False
    )
    assert result.stdout == "published with an OTP\n", result.stderr
    publishes = npm_registry.journal.entries(operation="publish")
    assert [(e.outcome.value, e.otp.value) for e in publishes] == [("challenged", "none"), ("accepted", "totp")]


def test_node_script_with_libnpmpublish(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    bin_dir = install_tool(CLIENTS / "libnpmpublish", npmrc=CLIENTS / "npmrc")
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "node-published", "1.0.0")
    packed = npm_registry.npm("pack", cwd=package)
    assert packed.returncode == 0, packed
    tarball = package / "node-published-1.0.0.tgz"

    def run(token: str, otp: str | None = None) -> subprocess.CompletedProcess[str]:
        # A CI job: npm_config_registry and NPM_TOKEN, which the script reads, a throwaway HOME.
        env = {**npm_registry.ci_env(token=token), "NODE_PATH": str(bin_dir.parent), **({"OTP": otp} if otp else {})}
        script = str(HERE / "publish_with_libnpmpublish.cjs")
        return subprocess.run(
            ["node", script, str(package), str(tarball)], env=env, capture_output=True, text=True, check=False
        )

    session = alice.create_token("session").key
    challenged = run(session)
    assert challenged.returncode == 2, challenged.stdout + challenged.stderr
    assert challenged.stdout.startswith("EOTP: ")
    published = run(session, otp=alice.otp())
    assert published.stdout == "published node-published@1.0.0\n", published.stderr
    bypass = run(alice.create_token(bypass_2fa=True).key)
    assert bypass.returncode == 1  # the version exists now: a 403 from the registry
    assert npm_registry.package("node-published").versions == ["1.0.0"]


def _serve(storage: Path, *seed: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_npm_registry",
            "serve",
            "--port",
            "0",
            "--json",
            "--storage",
            str(storage),
            *seed,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def test_two_step_pipeline_publish_restart_install(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(
        '[[users]]\nname = "ci"\n\n[[tokens]]\nuser = "ci"\nbypass_2fa = true\n'
        'key = "npm_pipeline0000000000000000000000000000"\n'
    )
    storage = tmp_path / "registry.db"

    # Step 1: a job publishes, then the server goes away.
    first, info = _serve(storage, "--seed", str(seed))
    npmrc = info["tokens"][0]["npmrc"]  # type: ignore[index]
    step1 = tmp_path / "step1"
    step1.mkdir()
    (step1 / "npmrc").write_text(npmrc + "fetch-retries=0\n")
    package = write_package(tmp_path / "lib", "pipeline-lib", "3.1.4")
    published = run_npm(["publish"], env=isolated_env(step1, step1 / "npmrc"), cwd=package)
    assert published.returncode == 0, published
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=10) == 0

    # Step 2: another job, another port, the same storage: install in a clean folder.
    second, info2 = _serve(storage)
    try:
        step2 = tmp_path / "step2"
        app = step2 / "app"
        app.mkdir(parents=True)
        (app / "package.json").write_text('{"name": "app", "version": "1.0.0", "private": true}')
        (step2 / "npmrc").write_text(f"registry={info2['url']}\nfetch-retries=0\n")
        installed = run_npm(
            ["install", "pipeline-lib", "--no-audit"], env=isolated_env(step2, step2 / "npmrc"), cwd=app
        )
        assert installed.returncode == 0, installed
        manifest = json.loads((app / "node_modules" / "pipeline-lib" / "package.json").read_text())
        assert manifest["version"] == "3.1.4"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)
