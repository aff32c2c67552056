"""The generated API reference matches the code it is generated from."""

from __future__ import annotations

import runpy
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_api_md_is_what_gen_api_writes_today() -> None:
    render = runpy.run_path(str(DOCS / "gen_api.py"))["render"]  # not __main__: it writes nothing
    assert (DOCS / "api.md").read_text() == render(), "docs/api.md is stale: run `python docs/gen_api.py`"
