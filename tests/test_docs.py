"""The docs agree with the code: the generated API reference, the names messages point to, the README."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import pytest_npm_registry
from pytest_npm_registry import UsageError
from pytest_npm_registry.api.tools import install_tool

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_api_md_is_what_gen_api_writes_today() -> None:
    render = runpy.run_path(str(DOCS / "gen_api.py"))["render"]  # not __main__: it writes nothing
    assert (DOCS / "api.md").read_text() == render(), "docs/api.md is stale: run `python docs/gen_api.py`"


def test_the_name_the_missing_pnpm_error_gives_is_importable_and_documented(
    npm_registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pnpm there
    monkeypatch.delenv("PYTEST_NPM_REGISTRY_PNPM", raising=False)
    with pytest.raises(UsageError) as caught:
        npm_registry.pnpm("--version")
    assert "bin_dir=install_tool(<folder with its package-lock.json>)" in str(caught.value)
    assert pytest_npm_registry.install_tool is install_tool
    assert "### `install_tool(lock_dir: Path | str, *" in (DOCS / "api.md").read_text()
    assert "from pytest_npm_registry import install_tool" in (DOCS / "howto.md").read_text()
