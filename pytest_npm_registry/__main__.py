"""``python -m pytest_npm_registry``: the same commands as ``pytest-npm-registry``."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
