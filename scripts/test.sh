#!/usr/bin/env bash
# The whole test suite, on a fresh machine: set up, lint, type-check, then pytest (real npm included).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k two_factor`.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
echo "node $(node --version), npm $(npm --version), $(python --version)"
ruff check .
mypy
python -m pytest -n 2 -p no:cacheprovider "$@"
