"""Write docs/pypi-readme.md, the long description on PyPI: ``python docs/gen_pypi_readme.py``.

It is README.md with every relative link made absolute, pointing into the repository named in
``[project.urls] Repository``: on PyPI a relative link leads nowhere.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def repository() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["urls"]["Repository"]).rstrip("/")


def render() -> str:
    base = repository()

    def absolute(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:|#", target):  # already absolute, or an anchor on the page
            return match.group(0)
        kind = "tree" if target.endswith("/") or "." not in target.rsplit("/", 1)[-1] else "blob"
        return f"{match.group(1)}({base}/{kind}/main/{target.removeprefix('./')})"

    text = (ROOT / "README.md").read_text()
    return re.sub(r"(\[[^\]]*\])\(([^)\s]+)\)", absolute, text)


if __name__ == "__main__":
    (ROOT / "docs" / "pypi-readme.md").write_text(render())
