"""Command line: ``pytest-npm-registry demo|serve`` and the commands that talk to a running server.

``serve`` prints the URL, the control API's admin token and ready-to-paste ``.npmrc`` lines for
every seeded token (``--json``: one machine-readable line instead). The other commands reach a
running server through its control API; give them ``--url`` and ``--admin-token`` or the
environment variables ``NPM_REGISTRY_URL`` and ``NPM_REGISTRY_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

from .api.clients import npmrc_text
from .api.registry import NpmRegistry
from .demo import demo
from .domain.errors import UsageError
from .domain.models import Outcome
from .domain.policy import PRESETS
from .wire.server import CONTROL_PREFIX
from .wire.settings import DEFAULT_MAX_BODY, MAX_BODY_CEILING

LOG_LEVELS = ("warning", "info", "debug")


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def byte_size(text: str) -> int:
    """``--max-body`` sizes: ``1048576``, ``500kB``, ``10MB``, ``256MiB`` (case-insensitive)."""
    match = re.fullmatch(r"\s*(\d{1,16})\s*([a-z]*)\s*", text.lower(), re.ASCII)
    size = int(match.group(1)) * _UNITS[match.group(2)] if match and match.group(2) in _UNITS else 0
    if not 1 <= size <= MAX_BODY_CEILING:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size from 1 byte to 1TiB: give a number of bytes, or one with kB, MB, GB, KiB, MiB "
            "or GiB"
        )
    return size


def serve(args: argparse.Namespace) -> int:
    # Handlers first: a SIGTERM right after the URL is printed must stop cleanly, not kill.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        reg = NpmRegistry(
            args.policy,
            host=args.host,
            port=args.port,
            storage=args.storage,
            admin_token=args.admin_token,
            max_body=args.max_body,
        )
        # A restart from storage keeps its state: the seed was applied when the file was new.
        made = reg.seed(args.seed) if args.seed and not reg.restored else {"users": [], "tokens": []}
    except (UsageError, OSError) as exc:
        print(f"pytest-npm-registry serve: {exc}", file=sys.stderr)
        return 2
    reg.configure(auto_approve_web_auth=args.auto_approve_web_auth, keep=True)  # a control-API reset keeps it
    reg.start()
    # Seeded users without a password in the seed got a random one: this is where to read it.
    passwords = [{"user": u.name, "password": u.password} for u in made["users"]]
    tokens = [
        {"user": t.record.user, "name": t.record.name, "token": t.key, "npmrc": npmrc_text(reg.url, t.key)}
        for t in made["tokens"]
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "url": reg.url,
                    "admin_token": reg.admin_token,
                    "policy": reg.policy.name,
                    "control": reg.url + CONTROL_PREFIX[1:],
                    "users": sorted(reg.registry.state.users),
                    "passwords": passwords,
                    "tokens": tokens,
                }
            ),
            flush=True,
        )
    else:
        restored = f" (restored from {args.storage})" if reg.restored else ""
        print(f"Mock npm registry listening on {reg.url} (policy: {reg.policy.name}){restored}")
        print(f"Control API: {reg.url}{CONTROL_PREFIX[1:]}  admin token: {reg.admin_token}")
        for token in tokens:
            print(f"\n# .npmrc for {token['user']}{' (' + token['name'] + ')' if token['name'] else ''}:")
            print(token["npmrc"], end="")
        if passwords:
            print()
        for user in passwords:
            print(f"User {user['user']}: password {user['password']}")
        print("\nCtrl-C to stop.", flush=True)
    journal, seen = reg.journal, 0
    while not stop.wait(0.2):
        if args.log_level != "warning":  # follow the journal on stderr
            if reg.journal is not journal:  # a reset made a new journal
                journal, seen = reg.journal, 0
            entries, seen = journal.since(seen)
            for entry in entries:
                if args.log_level == "debug" or entry.outcome is not Outcome.ACCEPTED:
                    print(entry, file=sys.stderr, flush=True)
    reg.close()
    return 0


# -- talking to a running server ----------------------------------------------------------------------


def _control(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = (args.url or os.environ.get("NPM_REGISTRY_URL") or "http://127.0.0.1:4873/").rstrip("/")
    token = args.admin_token or os.environ.get("NPM_REGISTRY_ADMIN_TOKEN")
    if not token:
        raise UsageError("give --admin-token (or NPM_REGISTRY_ADMIN_TOKEN): `serve` printed it at start")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the URL the user gave
        f"{url}{CONTROL_PREFIX}{path}",
        data=data,
        method=method,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the URL the user gave
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise UsageError(f"{method} {path}: {exc.code} {detail}") from None
    except urllib.error.URLError as exc:
        raise UsageError(f"cannot reach {url}: {exc.reason}") from None


def client(args: argparse.Namespace) -> int:
    if args.command == "otp":
        print(_control(args, "GET", f"users/{args.user}/otp")["otp"])
    elif args.command == "approve":
        body = {"id": args.id, "user": args.user}
        approved = _control(args, "POST", "web-auth/approve", {k: v for k, v in body.items() if v})
        print("\n".join(approved["approved"]))
    elif args.command == "approve-login":
        print(_control(args, "POST", "web-logins/approve", {"user": args.user, "wait": args.wait})["id"])
    elif args.command == "journal":
        entries = _control(args, "GET", "journal")["entries"]
        if args.json:
            print(json.dumps(entries, indent=2))
        for entry in [] if args.json else entries:
            who = entry["user"] or "anonymous"
            target = (entry["package"] or "") + (f"@{entry['version']}" if entry["version"] else "")
            reason = f"  {entry['reason']}" if entry["reason"] else ""
            print(
                f"{entry['time']}  {entry['operation']:<16} {target:<28} {who:<12} {entry['status']} "
                f"{entry['outcome']}{reason}"
            )
    elif args.command == "reset":
        print(_control(args, "POST", "reset", {"policy": args.policy} if args.policy else {})["policy"])
    elif args.command == "clock":
        print(_control(args, "POST", "clock", {"advance": args.seconds})["now"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest-npm-registry", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="publish with 2FA against the embedded registry, step by step")

    serve_cmd = commands.add_parser("serve", help="run the registry in the foreground")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=4873, help="0 picks a free port")
    serve_cmd.add_argument("--policy", choices=sorted(PRESETS), default="current")
    serve_cmd.add_argument("--seed", help="a TOML (or JSON) seed file: users, tokens, orgs, packages, trust")
    serve_cmd.add_argument("--storage", help="an SQLite file that keeps the state across restarts")
    serve_cmd.add_argument("--admin-token", help="the control API's secret (random if not given)")
    serve_cmd.add_argument("--auto-approve-web-auth", action="store_true", help="approve web 2FA at once")
    serve_cmd.add_argument(
        "--max-body",
        type=byte_size,
        default=DEFAULT_MAX_BODY,
        metavar="SIZE",
        help="the largest request body, larger ones get 413: bytes, or with kB/MB/GB or KiB/MiB/GiB (default 256MiB)",
    )
    serve_cmd.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="warning",
        help="info: refusals and challenges on stderr; debug: every journal entry",
    )
    serve_cmd.add_argument("--json", action="store_true", help="print one JSON line instead of text")

    def connected(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--url", help="the registry URL (or NPM_REGISTRY_URL)")
        sub.add_argument("--admin-token", help="the admin token serve printed (or NPM_REGISTRY_ADMIN_TOKEN)")
        return sub

    connected("otp", "print a user's current OTP").add_argument("user")
    approve = connected("approve", "approve pending web 2FA (all, a user's, or one id)")
    approve.add_argument("--user")
    approve.add_argument("--id")
    login = connected("approve-login", "complete a pending `npm login` in the browser as USER")
    login.add_argument("user")
    login.add_argument("--wait", type=float, default=10.0, help="seconds to wait for npm to start the login")
    connected("journal", "print the journal").add_argument("--json", action="store_true")
    connected("reset", "empty the registry").add_argument("--policy", choices=sorted(PRESETS))
    clock = connected("clock", "move the registry's clock")
    clock.add_argument("action", choices=["advance"])
    clock.add_argument("seconds", type=float)

    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    if args.command == "serve":
        return serve(args)
    try:
        return client(args)
    except UsageError as exc:
        print(f"pytest-npm-registry {args.command}: {exc}", file=sys.stderr)
        return 1
