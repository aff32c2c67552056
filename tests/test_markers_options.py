"""``@pytest.mark.npm_registry``, the plugin's options and their precedence, the report header."""

from __future__ import annotations

import pytest


def test_marker_declares_policy_users_and_packages(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.npm_registry(policy="classic")

        @pytest.mark.npm_registry(
            users={"alice": {"tfa": "auth-and-writes"}, "bob": None},
            packages={"my-lib@1.2.0": "alice", "@acme/util@0.1.0": {"by": "bob", "tag": "beta"}},
        )
        def test_declared(npm_registry):
            assert npm_registry.policy.name == "classic"  # from the module's marker
            assert npm_registry.user("alice").tfa.value == "auth-and-writes"
            assert npm_registry.package("my-lib").maintainers == ["alice"]
            assert npm_registry.package("@acme/util").dist_tags == {"beta": "0.1.0"}

        @pytest.mark.npm_registry(policy="current", users=["carol"], packages=["solo"])
        def test_closest_marker_wins_and_first_user_maintains(npm_registry):
            assert npm_registry.policy.name == "current"
            assert npm_registry.package("solo").versions == ["1.0.0"]
            assert npm_registry.package("solo").maintainers == ["carol"]

        def test_module_marker_only(npm_registry):
            assert npm_registry.policy.name == "classic"
            assert npm_registry.registry.state.users == {}
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('"classic"', "@pytest.mark.npm_registry(*, policy*: too many positional arguments"),
        ("user=('alice',)", "*got an unexpected keyword argument 'user'"),
        (
            "policy='modern'",
            "@pytest.mark.npm_registry: unknown policy 'modern': choose one of 2027-01, classic, current",
        ),
        ("users='alice'", "@pytest.mark.npm_registry: users='alice' should be a list: ?'alice'?"),
        ("users={'alice': {'tfa': 'sometimes'}}", "@pytest.mark.npm_registry: users: alice: *tfa is one of*"),
        ("users={'alice': {'colour': 'red'}}", "*users: alice: *unexpected keyword argument 'colour'"),
        ("packages=('my-lib@1.0.0',)", "*packages: my-lib@1.0.0 needs a maintainer: declare users=*"),
        ("users=('a',), packages=('Bad Name@1.0.0',)", "*packages: Bad Name@1.0.0: *"),
    ],
)
def test_marker_arguments_are_validated_like_a_signature(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.npm_registry({marker})
        def test_it(npm_registry):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling of the above exception*")


def test_a_misspelt_marker_argument_is_named_with_the_right_spelling(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.npm_registry(user=["alice"])
        def test_it(npm_registry):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert (
        "@pytest.mark.npm_registry(*, policy=None, users=(), packages=()): got an unexpected keyword argument 'user': "
        "did you mean users=?"
    ) in result.stdout.lines


POLICY_PROBE = """
def test_policy(npm_registry, npm_registry_policy):
    print("POLICY=" + npm_registry.policy.name + "/" + npm_registry_policy)
"""


@pytest.mark.parametrize(
    ("ini", "env", "cli", "expected"),
    [
        (None, None, None, "current"),
        ("classic", None, None, "classic"),
        ("classic", "current", None, "current"),
        ("current", "classic", None, "classic"),
        ("current", "current", "classic", "classic"),
        (None, "classic", "current", "current"),
    ],
)
def test_policy_precedence_command_line_then_environment_then_ini(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ini: str | None,
    env: str | None,
    cli: str | None,
    expected: str,
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\nnpm_registry_policy = {ini}\n")
    if env:
        monkeypatch.setenv("PYTEST_NPM_REGISTRY_POLICY", env)
    else:
        monkeypatch.delenv("PYTEST_NPM_REGISTRY_POLICY", raising=False)
    pytester.makepyfile(POLICY_PROBE)
    args = ["-s"] + ([f"--npm-registry-policy={cli}"] if cli else [])
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"npm registry: policy {expected}, npm *", f"*POLICY={expected}/{expected}"])


def test_unknown_policy_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(POLICY_PROBE)
    result = pytester.runpytest("--npm-registry-policy=modern")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--npm-registry-policy: unknown policy 'modern': choose one of 2027-01, classic, current*"]
    )


def test_report_header_names_npm_version_and_policy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(POLICY_PROBE)
    result = pytester.runpytest("--npm-registry-policy=classic")
    result.stdout.re_match_lines([r"npm registry: policy classic, npm \d+\.\d+\.\d+ \(/.*npm\)"])


def test_npm_executable_option_wins_over_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = pytester.path / "fake-npm"
    fake.write_text("#!/bin/sh\necho 0.0.1-fake\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PYTEST_NPM_REGISTRY_NPM", "/nonexistent/npm")
    pytester.makepyfile(
        """
        def test_runs_the_configured_npm(npm_registry):
            assert npm_registry.npm("--version").stdout.strip() == "0.0.1-fake"
        """
    )
    result = pytester.runpytest_subprocess(f"--npm-registry-npm={fake}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"npm registry: policy current, npm 0.0.1-fake ({fake})"])


def test_npm_executable_from_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_NPM_REGISTRY_NPM", raising=False)
    fake = pytester.path / "fake-npm"
    fake.write_text("#!/bin/sh\necho 0.0.2-ini\n")
    fake.chmod(0o755)
    pytester.makeini(f"[pytest]\nnpm_registry_npm = {fake}\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["npm registry: policy current, npm 0.0.2-ini*"])


def test_journals_are_kept_on_disk(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request

        def test_one(npm_registry):
            urllib.request.urlopen(npm_registry.url + "-/ping").read()

        def test_without_registry():
            pass
        """
    )
    result = pytester.runpytest("--npm-registry-journal-dir=journals")
    result.assert_outcomes(passed=2)
    files = sorted(p.name for p in (pytester.path / "journals").iterdir())
    assert files == ["test_journals_are_kept_on_disk.py_test_one.jsonl"]
    import json

    (line,) = (pytester.path / "journals" / files[0]).read_text().splitlines()
    row = json.loads(line)
    assert (row["method"], row["path"], row["operation"], row["status"]) == ("GET", "/-/ping", "ping", 200)


@pytest.mark.parametrize(
    ("option", "env", "source"),
    [
        ("--npm-registry-npm=/nonexistent/npm", None, "--npm-registry-npm"),
        (None, "/nonexistent/npm", "PYTEST_NPM_REGISTRY_NPM"),
    ],
)
def test_an_npm_that_is_not_there_is_a_usage_error_at_start(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, option: str | None, env: str | None, source: str
) -> None:
    if env:
        monkeypatch.setenv("PYTEST_NPM_REGISTRY_NPM", env)
    else:
        monkeypatch.delenv("PYTEST_NPM_REGISTRY_NPM", raising=False)
    pytester.makepyfile("def test_publish(npm_registry):\n    npm_registry.npm('--version')\n")
    result = pytester.runpytest(*([option] if option else []))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines == [
        f"ERROR: {source}: /nonexistent/npm is not an executable file; give the path of npm, or leave it out for "
        "npm on PATH",
        "",
    ]
    result.stdout.no_fnmatch_line("*FileNotFoundError*")
