"""The demo behind ``bash scripts/demo.sh``: the CI failure npm users meet, and its two fixes."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from .api.clients import NpmResult
from .api.registry import NpmRegistry
from .domain.packaging import write_package


def _show(step: str, result: NpmResult) -> None:
    print(f"\n== {step}\n$ npm {' '.join(a if not a.startswith('--otp=') else '--otp=******' for a in result.args)}")
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("npm notice") and not line.startswith("npm notice Publishing"):
            continue  # the tarball listing is noise here
        print(f"   {line}")
    verdict = "ok" if result.returncode == 0 else f"failed with {result.error_code}"
    print(f"-> exit {result.returncode} ({verdict}) in {result.duration:.2f}s")


def demo() -> int:
    """Reproduce the classic CI failure and its fixes against the embedded registry."""
    work = Path(tempfile.mkdtemp(prefix="npm-registry-demo-"))
    try:
        with NpmRegistry() as reg:
            print(f"Mock npm registry on {reg.url} (policy: {reg.policy.name})")
            alice = reg.add_user("alice", tfa="auth-and-writes")
            reg.add_org("demo", owner=alice)
            print("Account alice: 2FA auth-and-writes, owner of the @demo org; she logs in (a session token).")
            session = alice.create_token("session")
            pkg = write_package(work / "hello-pkg", "@demo/hello-pkg", "1.0.0")
            print(f"Package @demo/hello-pkg@1.0.0 in {pkg}")

            failed = reg.npm("publish", "--access", "public", cwd=pkg, token=session)
            _show("1. npm publish with the session token, no terminal (as in CI)", failed)
            print(f"   journal: {reg.journal[-1]}")

            ok = reg.npm("publish", "--access", "public", cwd=pkg, token=session, otp=alice.otp())
            _show("2. the same with --otp=<code from her authenticator>", ok)

            ci = alice.create_token(bypass_2fa=True, packages=["@demo/hello-pkg"])
            print("\nA granular token with 'bypass 2FA', limited to @demo/hello-pkg, goes into CI.")
            write_package(pkg, "@demo/hello-pkg", "1.1.0")
            bypass = reg.npm("publish", "--access", "public", cwd=pkg, token=ci)
            _show("3. npm publish 1.1.0 with the bypass-2FA token", bypass)

            app = work / "app"
            app.mkdir()
            (app / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0", "private": True}))
            installed = reg.npm("install", "@demo/hello-pkg", cwd=app, token=ci)
            _show("4. npm install @demo/hello-pkg in a fresh folder", installed)
            version = json.loads((app / "node_modules/@demo/hello-pkg/package.json").read_text())["version"]
            print(f"   installed version: {version}")

            print("\nThe registry's journal:")
            for entry in reg.journal.entries(operation="publish"):
                print(f"   {entry}")
            expected = (failed.error_code, ok.returncode, bypass.returncode, installed.returncode, version)
            if expected != ("EOTP", 0, 0, 0, "1.1.0"):
                print(f"\nUNEXPECTED: {expected}", file=sys.stderr)
                return 1
            print("\nDemo finished: EOTP reproduced, then fixed with --otp and with a bypass-2FA token.")
            return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
