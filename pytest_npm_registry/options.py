"""The plugin's settings: command line > environment variable > ini file > default.

Each setting has all four spellings, so a CI job can override a project's ``pytest.ini`` with an
environment variable without editing the command, and a developer can override both on the line.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .api.clients import npm_executable
from .domain.errors import UsageError
from .domain.policy import Policy

#: What ``clients.npm_executable`` reads: the plugin resolves the path and hands it over here.
NPM_ENV = "PYTEST_NPM_REGISTRY_NPM"


@dataclass(frozen=True)
class Setting:
    dest: str  # the attribute on config.option, and the ini name
    flag: str
    env: str
    default: str | None
    help: str


POLICY = Setting(
    "npm_registry_policy",
    "--npm-registry-policy",
    "PYTEST_NPM_REGISTRY_POLICY",
    "current",
    "policy preset every registry starts with: current (default), classic or 2027-01; several, comma-separated,"
    " run each test once per preset and report what each refused",
)
NPM = Setting(
    "npm_registry_npm",
    "--npm-registry-npm",
    NPM_ENV,
    None,
    "path to the npm executable reg.npm() runs (default: npm on PATH)",
)
JOURNAL_DIR = Setting(
    "npm_registry_journal_dir",
    "--npm-registry-journal-dir",
    "PYTEST_NPM_REGISTRY_JOURNAL_DIR",
    None,
    "write each test's registry journal to <dir>/<test id>.jsonl (kept after the run)",
)
SETTINGS = (POLICY, NPM, JOURNAL_DIR)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("npm-registry", "mock npm registry")
    for setting in SETTINGS:
        group.addoption(
            setting.flag, dest=setting.dest, default=None, metavar="VALUE", help=f"{setting.help} [env {setting.env}]"
        )
        parser.addini(setting.dest, f"{setting.help} (overridden by {setting.env} and {setting.flag})", default=None)


def resolve(config: pytest.Config, setting: Setting) -> str | None:
    """The setting's value by precedence: command line, environment, ini, default."""
    return _resolve(config, setting)[0]


def _resolve(config: pytest.Config, setting: Setting) -> tuple[str | None, str]:
    """The value and where it came from (the flag, the variable or the ini name), for messages."""
    value = config.getoption(setting.dest, default=None)
    if value:
        return str(value), setting.flag
    value = os.environ.get(setting.env)
    if value:
        return value, setting.env
    value = config.getini(setting.dest)
    if value:
        return str(value), f"ini option {setting.dest}"
    return setting.default, "default"


def _check_npm(config: pytest.Config) -> str | None:
    # Found now, not on the first reg.npm(): a wrong path would otherwise surface as a raw
    # FileNotFoundError inside some test.
    npm, source = _resolve(config, NPM)
    if npm is not None and shutil.which(npm) is None:
        raise pytest.UsageError(
            f"{source}: {npm} is not an executable file; give the path of npm, or leave it out for npm on PATH"
        )
    return npm


@dataclass(frozen=True)
class Options:
    #: The presets to run each test under, in order (one, unless a comma-separated list was given).
    policies: tuple[str, ...]
    npm: str | None
    journal_dir: Path | None

    @property
    def policy(self) -> str:
        return self.policies[0]

    @classmethod
    def from_config(cls, config: pytest.Config) -> Options:
        given = resolve(config, POLICY) or "current"
        policies = tuple(dict.fromkeys(p.strip() for p in given.split(",") if p.strip())) or ("current",)
        try:
            for policy in policies:
                Policy.preset(policy)
        except (UsageError, ValueError, KeyError) as exc:
            raise pytest.UsageError(f"{POLICY.flag}: {exc}") from None
        journal_dir = resolve(config, JOURNAL_DIR)
        path = Path(journal_dir) if journal_dir else None
        if path is not None and not path.is_absolute():
            path = Path(config.rootpath) / path
        return cls(policies, _check_npm(config), path)


def npm_version() -> tuple[str, str]:
    """(version, path) of the npm ``reg.npm`` runs; ("not found", reason) if it cannot run."""
    try:
        path = npm_executable()
    except UsageError as exc:
        return "not found", str(exc)
    return _version_of(path), path


@functools.lru_cache(maxsize=8)
def _version_of(path: str) -> str:
    # Starting node costs a few hundred milliseconds: once per executable per process is enough.
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not runnable: {exc}"
    return done.stdout.strip() or f"exit {done.returncode}"
