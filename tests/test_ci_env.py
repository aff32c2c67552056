"""``reg.ci_env``: a release script runs as in a CI job, with its own credential and a throwaway
HOME, and never passes on the fixture's credential. Real npm, real bash, real libnpmpublish."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, UsageError, write_package
from pytest_npm_registry.api.tools import install_tool

ROOT = Path(__file__).parent.parent
PUBLISH_NPM = ROOT / "examples" / "publish-npm.sh"
LIBNPMPUBLISH_SCRIPT = ROOT / "examples" / "publish_with_libnpmpublish.cjs"
CLIENTS = Path(__file__).parent / "clients"
EOTP_LINE = "npm error code EOTP"


def bash(script: Path | str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script)], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_a_session_token_in_npm_token_gets_eotp_though_the_fixture_holds_a_bypass_token(
    npm_registry: NpmRegistry, tmp_path: Path
) -> None:
    maintainer = npm_registry.add_user("maintainer", tfa="auth-and-writes")
    bypass = maintainer.create_token(bypass_2fa=True)
    assert npm_registry.npm("whoami", token=bypass).stdout == "maintainer\n"  # the fixture's .npmrc holds it
    package = write_package(tmp_path / "lib", "ci-lib", "1.0.0")

    env = npm_registry.ci_env(token=maintainer.create_token("session"))
    blocked = bash(PUBLISH_NPM, package, env)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert EOTP_LINE in blocked.stderr.splitlines()
    assert not npm_registry.has_package("ci-lib")
    challenged = npm_registry.journal.entries(operation="publish")
    assert [(e.outcome.value, e.user, e.credential) for e in challenged] == [("challenged", "maintainer", "session")]
    assert not (Path(env["HOME"]) / ".npmrc").exists()  # the script's trap removed it

    released = bash(PUBLISH_NPM, package, npm_registry.ci_env(token=bypass))
    assert released.stdout.splitlines()[-1] == "published ci-lib@1.0.0", released.stderr
    accepted = npm_registry.journal.entries(operation="publish", outcome="accepted")
    assert [(e.user, e.credential) for e in accepted] == [("maintainer", "granular")]


def test_reg_env_publishes_with_the_fixture_token_whatever_the_script_writes(
    npm_registry: NpmRegistry, tmp_path: Path
) -> None:
    """Why ci_env exists: reg.env(token) is the fixture's credential (its own user config), so a
    script's ~/.npmrc is never read and a session token in NPM_TOKEN passes for the wrong reason."""
    maintainer = npm_registry.add_user("maintainer", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "ci-lib", "1.0.0")
    env = {
        **os.environ,
        **npm_registry.env(token=maintainer.create_token(bypass_2fa=True)),
        "NPM_TOKEN": maintainer.create_token("session").key,
    }
    result = bash(PUBLISH_NPM, package, env)
    assert result.returncode == 0, result.stderr
    [publish] = npm_registry.journal.entries(operation="publish")
    assert (publish.outcome.value, publish.credential) == ("accepted", "granular")


def test_npm_sees_no_credential_unless_the_script_writes_one(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice")
    env = npm_registry.ci_env(token=alice.create_token(bypass_2fa=True))
    assert env["NPM_TOKEN"] == env["NODE_AUTH_TOKEN"]
    assert (env["CI"], env["npm_config_registry"]) == ("true", npm_registry.url)
    whoami = subprocess.run(["npm", "whoami"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert whoami.returncode == 1
    assert "npm error code ENEEDAUTH" in whoami.stderr.splitlines()
    assert not list(Path(env["HOME"]).iterdir())  # nothing written into the job's HOME


def test_setup_node_writes_what_actions_setup_node_writes(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    maintainer = npm_registry.add_user("maintainer", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "ci-lib", "1.0.0")
    env = npm_registry.ci_env(token=maintainer.create_token("session"), setup_node=True)
    npmrc = Path(env["RUNNER_TEMP"]) / ".npmrc"
    host = npm_registry.url.split("://", 1)[1]
    assert env["NPM_CONFIG_USERCONFIG"] == str(npmrc)
    assert npmrc.read_text() == f"//{host}:_authToken=${{NODE_AUTH_TOKEN}}\nregistry={npm_registry.url}"

    def npm(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["npm", *args], cwd=package, env=environment, capture_output=True, text=True, check=False)

    blocked = npm("publish", environment=env)
    assert EOTP_LINE in blocked.stderr.splitlines(), blocked.stderr
    ci_token = maintainer.create_token(bypass_2fa=True)
    published = npm("publish", environment=npm_registry.ci_env(ci_token, setup_node=True))
    assert published.returncode == 0, published.stderr
    assert npm_registry.package("ci-lib").versions == ["1.0.0"]


def test_the_scripts_npmrc_wins_over_the_fixtures_settings_but_not_the_cache(
    npm_registry: NpmRegistry, tmp_path: Path
) -> None:
    env = npm_registry.ci_env()
    (Path(env["HOME"]) / ".npmrc").write_text("fetch-retries=3\ncache=/nonexistent/cache\n")

    def get(key: str) -> str:
        command = ["npm", "config", "get", key]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.strip()

    assert get("userconfig") == str(Path(env["HOME"]) / ".npmrc")
    assert get("fetch-retries") == "3"
    assert get("proxy") == npm_registry.server.egress.url  # from the fixture's global config: the egress proxy
    assert get("cache") == str(npm_registry.workdir / "cache")


def test_each_call_is_a_new_job_with_nothing_of_the_callers_npm_setup(
    npm_registry: NpmRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("npm_config_userconfig", str(tmp_path / "mine"))
    monkeypatch.setenv("NPM_CONFIG_TOKEN", "outer")
    monkeypatch.setenv("NPM_TOKEN", "outer")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    first, second = npm_registry.ci_env(), npm_registry.ci_env()
    assert first["HOME"] != second["HOME"]
    assert first["npm_config_userconfig"] == str(Path(first["HOME"]) / ".npmrc")
    assert not {"NPM_TOKEN", "NODE_AUTH_TOKEN", "NPM_CONFIG_TOKEN", "GITHUB_ACTIONS"} & set(first)
    assert Path(first["HOME"]).is_relative_to(npm_registry.workdir)


def test_a_node_script_with_libnpmpublish_publishes_with_its_own_token(
    npm_registry: NpmRegistry, tmp_path: Path
) -> None:
    bin_dir = install_tool(CLIENTS / "libnpmpublish", npmrc=CLIENTS / "npmrc")
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.env(token=alice.create_token(bypass_2fa=True))  # the fixture holds a bypass token
    package = write_package(tmp_path / "lib", "node-lib", "1.0.0")
    assert npm_registry.npm("pack", cwd=package).ok
    session = alice.create_token("session")

    def run(otp: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**npm_registry.ci_env(token=session), "NODE_PATH": str(bin_dir.parent), **({"OTP": otp} if otp else {})}
        command = ["node", str(LIBNPMPUBLISH_SCRIPT), str(package), str(package / "node-lib-1.0.0.tgz")]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    challenged = run()
    assert challenged.returncode == 2, challenged.stdout + challenged.stderr
    assert challenged.stdout.startswith("EOTP: ")
    published = run(otp=alice.otp())
    assert published.stdout == "published node-lib@1.0.0\n", published.stderr
    assert [e.credential for e in npm_registry.journal.entries(operation="publish")] == ["session", "session"]


def test_nothing_the_fixture_does_touches_the_real_home(
    npm_registry: NpmRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "real-home"
    home.mkdir()
    sentinel = "//registry.npmjs.org/:_authToken=the-users-own-token\n"
    (home / ".npmrc").write_text(sentinel)
    monkeypatch.setenv("HOME", str(home))
    alice = npm_registry.add_user("alice")
    token = alice.create_token(bypass_2fa=True)
    package = write_package(tmp_path / "lib", "home-lib", "1.0.0")

    npm_registry.npmrc(tmp_path / "project", token=token)
    npm_registry.env()
    npm_registry.env(token)
    assert npm_registry.npm("whoami", token=token).ok
    assert npm_registry.npm("config", "set", "fund", "true").ok  # npm writes its user config
    env = npm_registry.ci_env(token=token)
    assert bash(PUBLISH_NPM, package, env).returncode == 0  # writes, then deletes, ~/.npmrc
    deleter = tmp_path / "delete.sh"
    deleter.write_text("rm -f ~/.npmrc\n")
    assert bash(deleter, tmp_path, npm_registry.ci_env()).returncode == 0

    assert (home / ".npmrc").read_text() == sentinel
    assert sorted(p.name for p in home.iterdir()) == [".npmrc"]
    with pytest.raises(UsageError) as refused:
        npm_registry.npmrc(home, token=token)
    assert str(refused.value) == (
        f"reg.npmrc({str(home)!r}) would overwrite your own ~/.npmrc: give a project folder (tmp_path), "
        "or run the script with env=reg.ci_env(token=...), whose throwaway HOME it may write ~/.npmrc into"
    )
    assert (home / ".npmrc").read_text() == sentinel
