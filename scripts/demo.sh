#!/usr/bin/env bash
# The main job, on a fresh machine: set up, then publish with 2FA against the embedded registry.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
python -m pytest_npm_registry demo
