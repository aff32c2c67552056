"""Choosing a client version per run: which pin a version string names, which Node it gets, and
what the report says about the clients that ran."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.api import versions
from pytest_npm_registry.domain.errors import UsageError


@pytest.mark.parametrize(
    ("client", "asked", "pinned"),
    [
        ("npm", "12", "12.2.2"),
        ("npm", "12.2.2", "12.2.2"),
        ("npm", "11", "11.21.2"),
        ("npm", "11.21", "11.21.2"),
        ("npm", "10", "10.9.9"),
        ("npm", "9", "9.9.4"),
        ("pnpm", "11", "11.28.11"),
        ("pnpm", "10", "10.34.8"),
        ("yarn", "4", "4.18.1"),
        ("node", "v22", "22.23.3"),
        ("node", "24", "24.21.0"),
    ],
)
def test_a_version_names_the_newest_pin_starting_so(client: str, asked: str, pinned: str) -> None:
    assert versions.pin(client, asked).version == pinned


@pytest.mark.parametrize(("client", "asked"), [("npm", "8"), ("npm", "1"), ("npm", "12.3"), ("yarn", "1")])
def test_an_unpinned_version_says_which_are_pinned(client: str, asked: str) -> None:
    with pytest.raises(UsageError, match=rf"no pinned {client} {re.escape(asked)}: the pinned ones are "):
        versions.pin(client, asked)


def test_npm12_and_pnpm11_get_node22_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "system_node_major", lambda: 20)
    assert versions.node_for(versions.pin("npm", "12"), None) == versions.pin("node", "22")
    assert versions.node_for(versions.pin("pnpm", "11"), None) == versions.pin("node", "22")
    assert versions.node_for(versions.pin("npm", "12"), "24") == versions.pin("node", "24")
    assert versions.node_for(versions.pin("npm", "10"), None) is None  # the machine's Node
    monkeypatch.setattr(versions, "system_node_major", lambda: 24)
    assert versions.node_for(versions.pin("npm", "12"), None) is None


def test_bin_dir_and_version_together_are_a_usage_error(npm_registry: NpmRegistry) -> None:
    with pytest.raises(UsageError, match=r"reg.pnpm\(bin_dir=..., version=...\): give one of them"):
        npm_registry.pnpm("--version", bin_dir="/nowhere", version="11")


@pytest.mark.npm
def test_the_terminal_summary_counts_the_clients_that_ran(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_two_npms(npm_registry):
            assert npm_registry.npm("--version", version="12").stdout.strip() == "12.2.2"
            assert npm_registry.npm("--version", version="12").returncode == 0
            assert npm_registry.npm("--version", version="11.21", node="24").stdout.strip() == "11.21.2"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "npm registry: pinned clients (version=, installed on first use): yarn 4.18.1; pnpm 11.28.11, *",
            "*npm registry: clients that ran*",
            "npm 11.21.2 on node 24.21.0: 1 run",
            "npm 12.2.2 on node 22.23.3: 2 runs",
        ]
    )


@pytest.mark.parametrize(
    ("client", "pinned"), [("pnpm", "'11') (pinned: 11.28.11, 10.34.8;"), ("yarn", "'4') (pinned: 4.18.1;")]
)
def test_a_client_not_on_path_says_how_to_fix_the_call(
    npm_registry: NpmRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, client: str, pinned: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(f"PYTEST_NPM_REGISTRY_{client.upper()}", raising=False)
    with pytest.raises(UsageError) as missing:
        getattr(npm_registry, client)("--version")
    assert str(missing.value) == (
        f"{client} is not on PATH: run a pinned {client} with reg.{client}(..., version={pinned} installed on "
        "first use), or pass bin_dir=pytest_npm_registry.install_tool('<folder with its package.json and "
        f"package-lock.json>'), or set PYTEST_NPM_REGISTRY_{client.upper()} to its path"
    )


def test_a_run_with_an_empty_path_does_not_hide_the_real_node_from_later_runs(monkeypatch, tmp_path):
    """The clients tally said `node ? (PATH)` for half the runs of a worker once a test had pointed
    PATH at an empty folder: the lookup was cached by name."""

    real = versions.system_version("node")
    assert real is not None
    assert real[0].isdigit()
    with monkeypatch.context() as patched:
        patched.setenv("PATH", str(tmp_path))
        assert versions.system_version("node") is None
        assert versions.system_node_major() is None
    assert versions.system_version("node") == real
    assert versions.system_node_major() == int(real.split(".")[0])
