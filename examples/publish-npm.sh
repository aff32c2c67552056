#!/usr/bin/env bash
# publish-npm.sh: the release step many projects run in CI (scripts/publish-npm.sh). It writes
# ~/.npmrc from the NPM_TOKEN secret, publishes the package in the current folder, and removes the
# file again. Arguments go to `npm publish`.
#
# Test it with env=reg.ci_env(token=...): the job's HOME is a throwaway folder, and npm sees the
# token only through the ~/.npmrc written here, as on a CI runner.
set -euo pipefail
: "${NPM_TOKEN:?NPM_TOKEN is not set}"
registry="${npm_config_registry:-https://registry.npmjs.org/}"
trap 'rm -f ~/.npmrc' EXIT
echo "//${registry#*://}:_authToken=${NPM_TOKEN}" > ~/.npmrc
npm publish "$@"
echo "published $(node -p 'require("./package.json").name + "@" + require("./package.json").version')"
