#!/usr/bin/env bash
# release_with_otp.sh: publish the package in the current folder. When the registry wants a
# one-time password (EOTP), ask the mock registry's control API for the maintainer's current code
# and publish again with it, once. A stand-in for the step where a person types the code.
#
# Needs: NPM_REGISTRY_URL, NPM_REGISTRY_ADMIN_TOKEN (printed by `pytest-npm-registry serve`),
# RELEASE_USER (the account whose code to read), and npm configured for the registry.
set -uo pipefail
: "${NPM_REGISTRY_URL:?}" "${NPM_REGISTRY_ADMIN_TOKEN:?}" "${RELEASE_USER:?}"

if npm publish >publish.log 2>&1; then
  echo "published"
  exit 0
fi
if ! grep -q "^npm error code EOTP" publish.log; then
  echo "publish failed:" >&2
  cat publish.log >&2
  exit 1
fi

otp=$(curl -fsS -H "authorization: Bearer ${NPM_REGISTRY_ADMIN_TOKEN}" \
  "${NPM_REGISTRY_URL%/}/-/_mock/api/users/${RELEASE_USER}/otp" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).otp))')
if npm publish --otp="${otp}" >publish.log 2>&1; then
  echo "published with an OTP"
else
  echo "publish with an OTP failed:" >&2
  cat publish.log >&2
  exit 1
fi
