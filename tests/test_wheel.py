"""The package as PyPI would get it: sdist and wheel build, pass ``twine check``, and the wheel,
installed alone into a new virtual environment, runs a user's test with the real npm.

This is the one test that reaches beyond loopback: pip fetches the dependencies (from its cache
when it can). Under a minute on a warm cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USER_TEST = """
from pytest_npm_registry import NpmRegistry, write_package


def test_a_release_with_a_bypass_token(npm_registry: NpmRegistry, tmp_path):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    package = write_package(tmp_path / "lib", "my-lib", "1.0.0")
    result = npm_registry.npm("publish", cwd=package, token=alice.create_token(bypass_2fa=True))
    assert result.returncode == 0, result
    npm_registry.assert_published("my-lib@1.0.0", by="alice", credential="granular")
"""


def _run(*command: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # Not this run's xdist/pytest variables (PYTEST_XDIST_WORKER, PYTEST_ADDOPTS ...): a user's own run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") or k.startswith("PYTEST_NPM_REGISTRY_")}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.npm
def test_the_built_wheel_installed_alone_runs_a_users_test(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # sdist first, then the wheel built from it (build's default): what a PyPI upload holds.
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=tmp_path, timeout=300)
    (wheel,) = dist.glob("pytest_npm_registry-*.whl")
    (sdist,) = dist.glob("pytest_npm_registry-*.tar.gz")
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist, cwd=tmp_path)
    assert checked.stdout.count("PASSED") == 2, checked.stdout

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        fields = archive.read(metadata).decode()
    assert "pytest_npm_registry-0.1.0.dist-info/licenses/LICENSE" in names
    assert "pytest_npm_registry/py.typed" in names
    assert "License-File: LICENSE\n" in fields
    assert "License-Expression: MIT\n" in fields
    assert "Project-URL: Repository, https://github.com/pytest-npm-registry/pytest-npm-registry\n" in fields
    assert "](docs/" not in fields  # the long description links absolutely

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, cwd=tmp_path, timeout=300)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_release.py").write_text(USER_TEST)
    # From the project folder: nothing of this checkout is importable there, only the wheel.
    where = _run(python, "-c", "import pytest_npm_registry; print(pytest_npm_registry.__file__)", cwd=project)
    assert where.stdout.startswith(str(env_dir)), where.stdout
    ran = _run(python, "-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=project)
    assert "1 passed" in ran.stdout, ran.stdout
    cli = _run(env_dir / "bin" / "pytest-npm-registry", "--help", cwd=project)
    assert "serve" in cli.stdout
