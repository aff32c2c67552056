"""The release tools' current majors, which all need Node 22: semantic-release 25 (with
@semantic-release/npm 13), changesets 3, lerna 10, release-it 21 and np 12, each publishing with a
bypass-2FA token and failing on a second factor, with the pinned npm 12 and Node 22 first on PATH
(``reg.run_tool(..., npm="12", node="22")``). The Node-20 majors are in ``examples/``.

Which npm publishes: changesets, release-it and np run the ``npm`` on PATH (npm 12 here);
@semantic-release/npm runs the npm it depends on (11.21, as in a project's node_modules/.bin);
lerna publishes by itself (libnpmpublish).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.api.clients import Reply
from pytest_npm_registry.api.tools import ToolResult, git, init_git_repo
from tests.clients import tool_bin

pytestmark = [pytest.mark.npm, pytest.mark.matrix]
NPM = "12"
NODE = "22"


def run(
    reg: NpmRegistry,
    tool: str,
    *command: str,
    cwd: Path,
    token: Token,
    env: dict[str, str] | None = None,
    tty: bool = False,
    answers: list[tuple[str, Reply]] | None = None,
) -> ToolResult:
    return reg.run_tool(
        *command,
        cwd=cwd,
        token=token,
        bin_dirs=[tool_bin(tool)],
        env=env,
        tty=tty,
        answers=answers or [],
        npm=NPM,
        node=NODE,
        timeout=120,
    )


def last_put_agent(reg: NpmRegistry) -> str:
    return str([request for request, _ in reg.server.log if request.method == "PUT"][-1].headers["user-agent"])


# -- semantic-release 25 -------------------------------------------------------------------------------

SR_PLUGINS = [
    "@semantic-release/commit-analyzer",
    "@semantic-release/release-notes-generator",
    "@semantic-release/npm",
]


def semantic_release(reg: NpmRegistry, tmp_path: Path, token: Token) -> tuple[ToolResult, Path]:
    repo, remote = tmp_path / "sr-lib", tmp_path / "sr-lib.git"
    package = {
        "name": "sr-lib",
        "version": "0.0.0-development",
        "main": "index.js",
        "repository": {"type": "git", "url": f"file://{remote}"},
        "release": {"branches": ["main"], "repositoryUrl": f"file://{remote}", "plugins": SR_PLUGINS},
    }
    init_git_repo(
        repo,
        {"package.json": json.dumps(package, indent=2) + "\n", "index.js": "module.exports = 1;\n"},
        message="feat: first feature",
    )
    userconfig = reg.env(token)["npm_config_userconfig"]
    env = {"NPM_TOKEN": token.key, "NPM_CONFIG_USERCONFIG": userconfig}
    return run(reg, "semantic-release25", "semantic-release", "--no-ci", cwd=repo, token=token, env=env), remote


def test_semantic_release25_publishes_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result, remote = semantic_release(npm_registry, tmp_path, alice.create_token(bypass_2fa=True))
    assert result.returncode == 0, result
    assert "Published release 1.0.0 on default channel" in result.stdout
    assert npm_registry.package("sr-lib").dist_tags == {"latest": "1.0.0"}
    assert git(remote, "tag").split() == ["v1.0.0"]
    assert last_put_agent(npm_registry).startswith("npm/11.21.2 node/v22.")  # @semantic-release/npm's own npm


def test_semantic_release25_eotp_after_pushing_the_tag(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result, remote = semantic_release(npm_registry, tmp_path, alice.create_token("session"))
    assert result.returncode == 1, result
    assert result.error_code == "EOTP"
    assert "This operation requires a one-time password." in result.output
    assert "An error occurred while running semantic-release" in result.output
    assert git(remote, "tag").split() == ["v1.0.0"]  # tag pushed, nothing on the registry
    assert not npm_registry.has_package("sr-lib")


# -- changesets 3 ----------------------------------------------------------------------------------------

CS_PACKAGES = ["cs-core", "cs-cli"]


def changesets_repo(tmp_path: Path) -> Path:
    files = {
        "package.json": json.dumps({"name": "cs-monorepo", "private": True, "workspaces": ["packages/*"]}),
        # changesets 3 (@manypkg/get-packages 3) takes a folder for an npm monorepo only with a lock file.
        "package-lock.json": json.dumps(
            {"name": "cs-monorepo", "lockfileVersion": 3, "requires": True, "packages": {}}
        ),
        ".changeset/config.json": json.dumps({"baseBranch": "main", "access": "public", "changelog": False}),
    }
    for name in CS_PACKAGES:
        files[f"packages/{name}/package.json"] = json.dumps({"name": name, "version": "1.0.0", "main": "index.js"})
        files[f"packages/{name}/index.js"] = f"module.exports = {name!r};\n"
    repo = tmp_path / "monorepo"
    init_git_repo(repo, files, message="chore: version packages")
    return repo


def test_changesets3_publishes_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = changesets_repo(tmp_path)
    result = run(
        npm_registry, "changesets3", "changeset", "publish", cwd=repo, token=alice.create_token(bypass_2fa=True)
    )
    assert result.returncode == 0, result
    for name in CS_PACKAGES:
        assert npm_registry.package(name).dist_tags == {"latest": "1.0.0"}
    assert sorted(git(repo, "tag").split()) == sorted(f"{name}@1.0.0" for name in CS_PACKAGES)
    assert last_put_agent(npm_registry).startswith("npm/12.2.2 node/v22.")


def test_changesets3_reports_eotp_for_every_package(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo = changesets_repo(tmp_path)
    result = run(npm_registry, "changesets3", "changeset", "publish", cwd=repo, token=alice.create_token("session"))
    assert result.returncode == 1, result
    assert "Some packages failed to publish:" in result.output
    # changesets 3 prints npm's whole EOTP message, web-2FA URLs included, under each package.
    reported = sorted(
        re.findall(r"^(\S+)@1\.0\.0\n└ EOTP: This operation requires a one-time password\.$", result.output, re.M)
    )
    assert reported == sorted(CS_PACKAGES), result
    assert len(re.findall(rf"^  {re.escape(npm_registry.url)}-/v1/done/\w+$", result.output, re.M)) == 2
    assert not any(npm_registry.has_package(name) for name in CS_PACKAGES)
    assert git(repo, "tag") == ""


# -- lerna 10 ----------------------------------------------------------------------------------------------

LE_PACKAGES = ["le-core", "le-cli"]


def lerna_repo(tmp_path: Path) -> Path:
    files = {
        "package.json": json.dumps({"name": "le-monorepo", "private": True, "workspaces": ["packages/*"]}),
        "lerna.json": json.dumps({"version": "independent", "packages": ["packages/*"]}),
    }
    for name in LE_PACKAGES:
        manifest: dict[str, object] = {"name": name, "version": "1.0.0", "main": "index.js"}
        if name != "le-core":
            manifest["dependencies"] = {"le-core": "^1.0.0"}
        files[f"packages/{name}/package.json"] = json.dumps(manifest)
        files[f"packages/{name}/index.js"] = f"module.exports = {name!r};\n"
    repo = tmp_path / "monorepo"
    init_git_repo(repo, files, message="chore: release")
    return repo


LERNA = ("lerna", "publish", "from-package", "--yes", "--concurrency", "1", "--no-private")


def test_lerna10_publishes_from_package_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = run(npm_registry, "lerna10", *LERNA, cwd=lerna_repo(tmp_path), token=alice.create_token(bypass_2fa=True))
    assert result.returncode == 0, result
    assert "Successfully published:" in result.output
    assert [e.package for e in npm_registry.journal.entries(operation="publish")] == LE_PACKAGES


def test_lerna10_stops_at_eotp(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    result = run(npm_registry, "lerna10", *LERNA, cwd=lerna_repo(tmp_path), token=alice.create_token("session"))
    assert result.returncode == 1, result
    assert "EOTP" in result.output
    publishes = npm_registry.journal.entries(operation="publish")
    assert [(e.package, e.outcome.value) for e in publishes] == [("le-core", "challenged")]
    assert not any(npm_registry.has_package(name) for name in LE_PACKAGES)


# -- release-it 21 -------------------------------------------------------------------------------------------

RI_CONFIG = {"git": {"requireCleanWorkingDir": True}, "github": {"release": False}, "npm": {"publish": True}}


def release_it_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "ri-lib"
    files = {
        "package.json": json.dumps({"name": "ri-lib", "version": "1.0.0", "main": "index.js"}, indent=2) + "\n",
        "index.js": "module.exports = 1;\n",
        ".release-it.json": json.dumps(RI_CONFIG),
    }
    return repo, init_git_repo(repo, files, message="feat: first feature")


def test_release_it21_publishes_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = release_it_repo(tmp_path)
    token = alice.create_token(bypass_2fa=True)
    result = run(npm_registry, "release-it21", "release-it", "minor", "--ci", cwd=repo, token=token)
    assert result.returncode == 0, result
    assert npm_registry.package("ri-lib").dist_tags == {"latest": "1.1.0"}
    assert git(remote, "tag").split() == ["1.1.0"]
    assert last_put_agent(npm_registry).startswith("npm/12.2.2 node/v22.")


def test_release_it21_stops_at_eotp_before_committing(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = release_it_repo(tmp_path)
    token = alice.create_token("session")
    result = run(npm_registry, "release-it21", "release-it", "minor", "--ci", cwd=repo, token=token)
    assert result.returncode == 1, result
    assert "npm error code EOTP" in result.output
    assert not npm_registry.has_package("ri-lib")
    wait_for_rollback(repo)
    assert json.loads((repo / "package.json").read_text())["version"] == "1.0.0"
    assert git(remote, "tag") == ""


def wait_for_rollback(repo: Path, timeout: float = 15.0) -> None:
    """release-it rolls back from its `exit` handler by starting `git reset --hard` and exiting at
    once (lib/plugin/git/Git.js `rollback`), so that git may still be rewriting package.json (gone
    for a moment) after release-it has ended: wait for it, as a person at the shell would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (repo / "package.json").exists() and not (repo / ".git" / "index.lock").exists():
            return
        time.sleep(0.05)


# -- np 12 ----------------------------------------------------------------------------------------------------

# `--no-2fa` only drops np's "Enabling two-factor authentication" task, which runs `npm access set
# mfa=publish <name>` after the first publish of a new package (index.js `shouldEnable2FA`); np's OTP
# prompt on EOTP (npm/handle-npm-error.js) does not depend on it.
# np asks no "Continue?" about the first-time files here: is-interactive is false under TERM=dumb (our
# pty's), so ui.js only prints them. (A "Continue?" answer would also hold back every later answer,
# which are matched in order: that is why the OTP prompt once looked unreachable.)
NP = ("np", "minor", "--yolo", "--no-release-draft", "--no-2fa")


def np_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "np-lib"
    package = {"name": "np-lib", "version": "1.0.0", "main": "index.js", "files": ["index.js"]}
    files = {"package.json": json.dumps(package, indent=2) + "\n", "index.js": "module.exports = 1;\n"}
    return repo, init_git_repo(repo, files, message="feat: first feature")


def test_np12_publishes_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = np_repo(tmp_path)
    token = alice.create_token(bypass_2fa=True)
    result = run(npm_registry, "np12", *NP, cwd=repo, token=token, tty=True)
    assert result.returncode == 0, result
    assert npm_registry.package("np-lib").dist_tags == {"latest": "1.1.0"}
    assert git(remote, "tag").split() == ["v1.1.0"]
    assert last_put_agent(npm_registry).startswith("npm/12.2.2 node/v22.")


def test_np12_account_without_2fa_is_refused_and_nothing_is_pushed(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice")  # no 2FA: since late 2025 only a bypass token publishes
    repo, remote = np_repo(tmp_path)
    token = alice.create_token("session")
    result = run(npm_registry, "np12", *NP, cwd=repo, token=token, tty=True)
    assert result.returncode == 1, result
    assert (
        f"403 Forbidden - PUT {npm_registry.url}np-lib - Two-factor authentication or granular access token"
        " with bypass 2fa enabled is required to publish packages." in result.output
    )
    assert not npm_registry.has_package("np-lib")
    # np 12 undoes its version commit and tag (np 11 left them local, unpushed).
    assert "Publish failed. Rolling back to the previous state…" in result.output
    assert "Successfully rolled back the project to its previous state." in result.output
    assert json.loads((repo / "package.json").read_text())["version"] == "1.0.0"
    assert git(repo, "tag") == git(remote, "tag") == ""


# np runs `npm publish` with stdin piped (npm/publish.js), so npm cannot prompt and fails with EOTP;
# np sees `one-time pass` in its stderr (npm/handle-npm-error.js), sets the task title to
# `(waiting for input…)` and asks `Enter OTP:` through listr-input, which submits by itself at six
# characters and retries `npm publish --otp <code>`. listr-input only hands inquirer's output to
# listr on a cursor move, so "Enter OTP:" never reaches the screen: the title is what we can wait for.
NP_OTP_PROMPT = r"Publishing package \(waiting for input…\)"
NP_OTP_REASON = (
    "alice's session token needs an OTP: publishing always needs 2FA for a non-bypass credential"
    " (account 2FA is auth-and-writes)"
)
# What a re-prompt would look like: the title back to plain "Publishing package" (npm retrying), then
# waiting again. np 12 never gets there (see the wrong-OTP test).
NP_OTP_REPROMPT = r"Publishing package\n(?:.*\n)*?.*" + NP_OTP_PROMPT


def test_np12_prompts_for_the_otp_and_retries_with_it(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = np_repo(tmp_path)
    token = alice.create_token("session")
    result = run(npm_registry, "np12", *NP, cwd=repo, token=token, tty=True, answers=[(NP_OTP_PROMPT, alice.otp)])
    assert result.returncode == 0, result  # node stays up until the unawaited retry ends (see below)
    assert "np-lib 1.1.0 published 🎉" in result.output
    assert npm_registry.package("np-lib").dist_tags == {"latest": "1.1.0"}
    assert git(remote, "tag").split() == ["v1.1.0"]
    publishes = npm_registry.journal.entries(operation="publish")
    assert [(e.outcome.value, e.status, e.credential, e.otp.value) for e in publishes] == [
        ("challenged", 401, "session", "none"),
        ("accepted", 200, "session", "totp"),
    ]
    assert publishes[0].reason == NP_OTP_REASON


def test_np12_wrong_otp_pushes_the_tag_and_then_crashes(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    """np 12 does not wait for its `npm publish --otp` retry: listr-input calls np's `done(otp)`,
    which starts the retry and returns its Observable, inside a promise `.then` (a non-thenable, so
    never awaited nor subscribed). The prompt completes at once, listr goes on to "Pushing tags",
    np prints "published", and the retry's rejected execa promise, unhandled, kills node (exit 1).
    So a wrong code is never asked again (the `OTP was incorrect, try again:` branch of
    handle-npm-error.js cannot be reached), no rollback runs, and the tag is on the remote with
    nothing on the registry. (With the right code the same race is won: the publish still ends.)"""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    repo, remote = np_repo(tmp_path)
    token = alice.create_token("session")
    typed: list[str] = []

    def wrong() -> str:
        code = alice.otp()
        typed.append(code[:-1] + str((int(code[-1]) + 1) % 10))  # never the current code
        # The retry races the tag push; hold its PUT back so np's side always wins, as it mostly does.
        npm_registry.faults.delay(1.5, method="PUT", path="/np-lib", times=1)
        return typed[-1]

    answers: list[tuple[str, Reply]] = [(NP_OTP_PROMPT, wrong), (NP_OTP_REPROMPT, alice.otp)]
    result = run(npm_registry, "np12", *NP, cwd=repo, token=token, tty=True, answers=answers)
    assert result.returncode == 1, result
    assert result.transcript == [f"{NP_OTP_PROMPT} -> {typed[0]!r}"]  # asked once, never again
    assert "✔ Publishing package" in result.output
    assert "np-lib 1.1.0 published 🎉" in result.output
    assert f"ExecaError: Command failed with exit code 1: npm publish --otp {typed[0]}" in result.stderr
    assert "npm error code EOTP" in result.stderr
    assert not npm_registry.has_package("np-lib")
    assert git(remote, "tag").split() == ["v1.1.0"]
    assert json.loads((repo / "package.json").read_text())["version"] == "1.1.0"  # not rolled back
    publishes = npm_registry.journal.entries(operation="publish")
    assert [(e.outcome.value, e.status, e.otp.value) for e in publishes] == [
        ("challenged", 401, "none"),
        ("challenged", 401, "none"),
    ]
    assert publishes[1].reason == NP_OTP_REASON + "; the OTP sent was wrong, used or expired"
