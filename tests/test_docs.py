"""The docs agree with the code: the generated API reference, the names messages point to, the README."""

from __future__ import annotations

import re
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
    assert "bin_dir=pytest_npm_registry.install_tool('<folder with its package.json" in str(caught.value)
    assert pytest_npm_registry.install_tool is install_tool
    assert "### `install_tool(lock_dir: Path | str, *" in (DOCS / "api.md").read_text()
    assert "from pytest_npm_registry import install_tool" in (DOCS / "howto.md").read_text()


ROOT = DOCS.parent
README = ROOT / "README.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


@pytest.mark.npm
def test_the_readme_code_runs_as_written(pytester: pytest.Pytester) -> None:
    blocks = _python_blocks(README.read_text())
    assert blocks, "the README has no ```python block"
    tests = 0
    for number, block in enumerate(blocks):
        if "def test_" in block:  # a test: run it with the plugin, as a user's project would
            pytester.makepyfile(**{f"test_readme_{number}": block})
            tests += block.count("def test_")
        else:  # a script
            exec(compile(block, f"README.md block {number}", "exec"), {})  # noqa: S102 - our own README
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=tests)


def test_the_readme_says_how_to_install_and_keeps_its_set_up_commands() -> None:
    text = README.read_text()
    # .ci/run and the CI hook look for these two lines as they are.
    assert "bash scripts/demo.sh      # the demo:" in text
    assert "bash scripts/test.sh      # the whole test suite" in text
    assert "pytest-npm-registry demo" in text
    assert "pip install /path/to/pytest-npm-registry" in text
    assert "dist/pytest_npm_registry-*.whl" in text
    for page in (text, (DOCS / "quickstart.md").read_text()):
        assert "pip install pytest-npm-registry`" not in page  # not on PyPI yet: that command fails


def test_the_readme_layout_names_modules_that_exist() -> None:
    layout = README.read_text().split("## Layout", 1)[1]
    package = ROOT / "pytest_npm_registry"
    for folder in ("domain", "wire", "api"):
        assert f"`{folder}/`" in layout
    for part in re.split(r"\n- ", layout)[1:]:
        folder = re.match(r"`(\w+)/`", part)
        where = package / folder.group(1) if folder else package
        for module in re.findall(r"`(\w+)\.py`", part):
            assert (where / f"{module}.py").is_file(), f"README Layout names {where.name}/{module}.py"


# Contradictions found between pages (issue 18): each stays fixed.
def test_no_page_calls_trusted_publishing_unavailable() -> None:
    pages = {p.name: p.read_text() for p in [README, *DOCS.glob("*.md")]}
    assert "trusted-publishing.md" in pages
    for name, text in pages.items():
        for paragraph in text.split("\n\n"):
            if re.search(r"trusted publishing", paragraph, re.IGNORECASE):
                assert not re.search(r"not available|planned|not built", paragraph, re.IGNORECASE), name


def test_every_page_gives_the_default_port_the_cli_uses() -> None:
    from pytest_npm_registry.cli import DEFAULT_PORT

    for page in [README, *DOCS.glob("*.md")]:
        ports = set(re.findall(r"127\.0\.0\.1:(\d{4,5})", page.read_text()))
        assert ports <= {str(DEFAULT_PORT)}, f"{page.name} shows port(s) {sorted(ports)}; serve uses {DEFAULT_PORT}"


def test_the_pypi_readme_is_the_readme_with_absolute_links() -> None:
    render = runpy.run_path(str(DOCS / "gen_pypi_readme.py"))["render"]
    text = (DOCS / "pypi-readme.md").read_text()
    assert text == render(), "docs/pypi-readme.md is stale: run `python docs/gen_pypi_readme.py`"
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(links) >= 10
    assert [link for link in links if not link.startswith("https://")] == []
