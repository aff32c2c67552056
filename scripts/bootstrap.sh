# Sourced by demo.sh and test.sh: everything a fresh machine needs, installed on first use.
# - a virtual environment in .venv with the package and its dev tools (re-installed when pyproject changes)
# - Node.js >= 20 and npm 11, the real client every test runs
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$python_bin" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing pytest-npm-registry[dev] into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  .venv/bin/python -m pip install --quiet -e '.[dev]' >&2
  rm -f .venv/.installed-* && touch "$stamp"
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
npm_major() { npm --version 2>/dev/null | cut -d. -f1 || echo 0; }

# Node.js >= 20, as the README promises. Debian's package is only a start: Debian 12 ships Node 18.
# When the system's Node is older, Node 22 and npm 11 come from npm's `node` package (its own
# binaries, no root) into .tools/node, first on PATH; then the version is checked again.
ensure_node() {
  local tools="$root/.tools/node"
  if [ -x "$tools/node_modules/.bin/node" ]; then export PATH="$tools/node_modules/.bin:$PATH"; fi
  if [ "$(node_major)" -ge 20 ] && command -v npm >/dev/null; then return 0; fi
  if ! command -v npm >/dev/null; then
    echo "bootstrap: installing Node.js and npm from Debian's packages" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 && apt-get install -y -qq nodejs npm >&2
    else sudo apt-get update -qq >&2 && sudo apt-get install -y -qq nodejs npm >&2; fi
  fi
  if [ "$(node_major)" -lt 20 ]; then
    echo "bootstrap: Node $(node --version 2>/dev/null || echo none) is older than 20: installing Node 22 and npm 11 into .tools/node" >&2
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --silent node@22 npm@11 >&2
    export PATH="$tools/node_modules/.bin:$PATH"
    hash -r
  fi
  if [ "$(node_major)" -lt 20 ]; then
    echo "bootstrap: still Node $(node --version 2>/dev/null || echo none) after installing; install Node.js 20 or newer and retry" >&2
    exit 1
  fi
}
ensure_node
if [ "$(npm_major)" -lt 11 ]; then
  echo "bootstrap: installing npm 11" >&2
  npm install --global --silent npm@11 >&2
fi

# --- browser tests (tests/test_browser.py): Debian's Chromium and chromedriver -----------------------
# Installed for test runs only (demo.sh does not need a browser); NPM_REGISTRY_BROWSER_TESTS=0 skips,
# =1 forces. Debian builds both from one source package, so the driver always matches the browser.
# Once they are here the browser tests must run: a missing browser fails them instead of skipping.
browser_tests="${NPM_REGISTRY_BROWSER_TESTS:-auto}"
if [ "$browser_tests" = auto ]; then
  case "$(basename "$0")" in test.sh | run) browser_tests=1 ;; *) browser_tests=0 ;; esac
fi
if [ "$browser_tests" = 1 ]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "bootstrap: installing chromium and chromium-driver from Debian's packages" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
    else sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2; fi
  fi
  export NPM_REGISTRY_REQUIRE_BROWSER=1
fi
# --- end of browser tests ---------------------------------------------------------------------------

export PATH="$root/.venv/bin:$PATH"
