"""Command line: ``pytest-npm-registry demo|serve`` and the commands that talk to a running server.

``serve`` prints the URL, the control API's admin token, the dashboard's URL (under its secret
path), ready-to-paste ``.npmrc`` lines for every seeded token and the ``export`` lines that lead a
script's Node processes through the egress proxy (so ``npm publish --provenance`` signs with the
mock Sigstore and nothing leaves the machine; ``--env-file`` writes them as ``KEY=value`` lines
too). ``--json``: one machine-readable line instead. It listens on port 4880 by default (not
Verdaccio's 4873, so both can run on one machine). The other commands reach a running server
through its control API; give them ``--url`` and ``--admin-token`` or the environment variables
``NPM_REGISTRY_URL`` and ``NPM_REGISTRY_ADMIN_TOKEN`` (``serve`` reads the same token variable, so
one ``export`` serves both).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .api.clients import npmrc_text
from .api.registry import NpmRegistry
from .demo import demo
from .domain.errors import UsageError
from .domain.journal import JournalEntry
from .domain.models import ChallengeStyle, Outcome, TokenKind, TwoFactorMode
from .domain.policy import PRESETS
from .domain.seed import Seed
from .domain.sigstore import TUF_HOST
from .domain.tuf import TUF_CACHE_DIR
from .wire.egress import SIGSTORE_JS_DATA
from .wire.server import CONTROL_PREFIX
from .wire.settings import DEFAULT_MAX_BODY, MAX_BODY_CEILING

LOG_LEVELS = ("warning", "info", "debug")
#: Verdaccio listens on 4873; a different default lets both run side by side.
DEFAULT_PORT = 4880
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}/"
ADMIN_TOKEN_ENV = "NPM_REGISTRY_ADMIN_TOKEN"  # noqa: S105 - a variable name


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


def _print_started(
    reg: NpmRegistry,
    args: argparse.Namespace,
    tokens: list[dict[str, Any]],
    passwords: list[dict[str, Any]],
    egress: dict[str, str],
) -> None:
    """``serve``'s text greeting: where it listens, the secrets, and what scripts need."""
    restored = f" (restored from {args.storage})" if reg.restored else ""
    print(f"Mock npm registry listening on {reg.url} (policy: {reg.policy.name}){restored}")
    print(f"Control API: {reg.url}{CONTROL_PREFIX[1:]}  admin token: {reg.admin_token}")
    print(f"Dashboard: {reg.dashboard_url}  (sign in with the admin token)")
    for token in tokens:
        print(f"\n# .npmrc for {token['user']}{' (' + token['name'] + ')' if token['name'] else ''}:")
        print(token["npmrc"], end="")
    if passwords:
        print()
    for user in passwords:
        print(f"User {user['user']}: password {user['password']}")
    print("\n# For scripts: the way out (mock Sigstore for --provenance; every other host refused):")
    for name, value in egress.items():
        print(f"export {name}={shlex.quote(value)}")
    # npm's TUF client trusts the root in its cache, else the production root it ships with
    # (which refuses our metadata): `npm audit signatures` needs ours there first.
    print("# For npm audit signatures: our TUF root, once per npm cache:")
    print(f'# d="$(npm config get cache)/{TUF_CACHE_DIR}"; mkdir -p "$d" && ', end="")
    print(f'cp {shlex.quote(str(reg.server.egress.tuf_root_file))} "$d/root.json"')
    print(f"# (npm publish --provenance-file reads sigstore-js's own copy: ~/{SIGSTORE_JS_DATA}/{TUF_HOST}/root.json)")
    print("\nCtrl-C to stop.", flush=True)


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
            admin_token=args.admin_token or os.environ.get(ADMIN_TOKEN_ENV),
            max_body=args.max_body,
        )
        made: dict[str, list[Any]] = {"users": [], "tokens": []}
        if args.seed and reg.restored:
            # A restart from storage keeps its state (the seed was applied when the file was new),
            # and a reset still brings the seed back.
            reg.server.settings.kept_seed = Seed.from_file(args.seed).without_policy()
        elif args.seed:
            made = reg.seed(args.seed, keep=True)
    except (UsageError, OSError) as exc:
        print(f"pytest-npm-registry serve: {exc}", file=sys.stderr)
        return 2
    # A control-API reset keeps these (keep=True): they are how this server was started.
    reg.configure(auto_approve_web_auth=args.auto_approve_web_auth, visibility_delay=args.visibility_delay, keep=True)
    reg.start()
    egress = reg.server.egress.script_env(reg.url)
    if args.env_file:
        try:
            # Whole or not at all (renamed into place): a script may wait for the file to appear.
            partial = Path(f"{args.env_file}.partial")
            partial.write_text("".join(f"{k}={v}\n" for k, v in egress.items()))
            partial.replace(args.env_file)
        except OSError as exc:
            print(f"pytest-npm-registry serve: --env-file {args.env_file}: {exc.strerror}", file=sys.stderr)
            reg.close()
            return 2
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
                    "dashboard": reg.dashboard_url,
                    "users": sorted(reg.registry.state.users),
                    "passwords": passwords,
                    "tokens": tokens,
                    "env": egress,
                    "tuf_root": str(reg.server.egress.tuf_root_file),
                }
            ),
            flush=True,
        )
    else:
        _print_started(reg, args, tokens, passwords, egress)
    journal, seen = reg.journal, 0
    stopping = False
    while not stopping:
        stopping = stop.wait(0.2)  # one more pass after the stop: the last 0.2 s are printed too
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


def _url(args: argparse.Namespace) -> str:
    return str(args.url or os.environ.get("NPM_REGISTRY_URL") or DEFAULT_URL).rstrip("/") + "/"


def _control(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> Any:
    url = _url(args).rstrip("/")
    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        raise UsageError(f"give --admin-token (or {ADMIN_TOKEN_ENV}): `serve` printed it at start")
    data = json.dumps(body).encode() if body is not None else raw
    request = urllib.request.Request(  # noqa: S310 - the URL the user gave
        f"{url}{CONTROL_PREFIX}{path}",
        data=data,
        method=method,
        headers={"authorization": f"Bearer {token}", "content-type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the URL the user gave
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{method} {path.partition('?')[0]}: {exc.code} {_error_text(exc.read())}") from None
    except urllib.error.URLError as exc:
        raise UsageError(f"cannot reach {url}: {exc.reason}") from None


def _error_text(body: bytes) -> str:
    """What a control API refusal says: its ``error`` field (the body itself if it is not ours)."""
    text = body.decode(errors="replace")
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text
    return error.removeprefix("control API: ") if isinstance(error, str) else text


def client(args: argparse.Namespace) -> int:
    if args.command == "otp":
        print(_control(args, "GET", f"users/{args.user}/otp")["otp"])
    elif args.command == "approve":
        fields = {"id": args.id, "user": args.user}
        approved = _control(args, "POST", "web-auth/approve", {k: v for k, v in fields.items() if v})
        print("\n".join(approved["approved"]))
    elif args.command == "approve-login":
        print(_control(args, "POST", "web-logins/approve", {"user": args.user, "wait": args.wait})["id"])
    elif args.command == "journal":
        entries = _control(args, "GET", "journal")["entries"]
        if args.json:
            print(json.dumps(entries, indent=2))
        for entry in [] if args.json else entries:
            # The domain's own line: credential, token prefix and the OTP path included.
            print(f"{entry['time']}  {JournalEntry.from_dict(entry)}")
    elif args.command == "reset":
        body: dict[str, Any] = {"policy": args.policy} if args.policy else {}
        print(_control(args, "POST", "reset", {**body, "empty": True} if args.empty else body)["policy"])
    elif args.command == "clock":
        print(_control(args, "POST", "clock", {"advance": args.seconds})["now"])
    elif args.command == "seed":
        seed_command(args)
    elif args.command == "add-user":
        add_user_command(args)
    elif args.command == "create-token":
        create_token_command(args)
    return 0


def seed_command(args: argparse.Namespace) -> None:
    path = Path(args.file)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the seed file ({exc.strerror})") from None
    kind = "application/json" if path.suffix == ".json" else "application/toml"
    made = _control(args, "POST", f"seed?name={urllib.parse.quote(path.name)}", raw=text, content_type=kind)
    if args.json:
        print(json.dumps(made))
        return
    print(f"seeded users: {', '.join(made['users']) or '(none)'}")
    for token in made["tokens"]:
        print(f"\n# .npmrc for {token['user']}{' (' + token['name'] + ')' if token.get('name') else ''}:")
        print(npmrc_text(_url(args), token["token"]), end="")


def add_user_command(args: argparse.Namespace) -> None:
    fields = {"name": args.name, "tfa": args.tfa, "password": args.password, "email": args.email}
    fields |= {"totp_secret": args.totp_secret, "challenge": args.challenge}
    user = _control(args, "POST", "users", {k: v for k, v in fields.items() if v is not None})
    if args.json:
        print(json.dumps(user))
        return
    print(f"{user['name']} <{user['email']}> tfa={user['tfa']}")
    if user["totp_secret"]:
        print(f"totp secret: {user['totp_secret']}  (the current code: pytest-npm-registry otp {user['name']})")
        print(f"recovery codes: {' '.join(user['recovery_codes'])}")


def create_token_command(args: argparse.Namespace) -> None:
    fields: dict[str, Any] = {"kind": args.kind, "name": args.token_name, "key": args.key}
    fields |= {"expires_in_days": args.expires_in_days, "packages": args.package, "scopes": args.scope}
    fields |= {"bypass_2fa": args.bypass_2fa, "read_only": args.read_only, "stage_only": args.stage_only}
    made = _control(args, "POST", f"users/{args.user}/tokens", {k: v for k, v in fields.items() if v})
    npmrc = npmrc_text(_url(args), made["token"])
    if args.json:
        print(json.dumps({**made, "npmrc": npmrc}))
        return
    print(f"# .npmrc for {args.user} ({made['kind']} token):")
    print(npmrc, end="")


# -- the parser ---------------------------------------------------------------------------------------


def _serve_parser(commands: Any) -> None:
    serve_cmd = commands.add_parser("serve", help="run the registry in the foreground")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"{DEFAULT_PORT}; 0 picks a free port")
    serve_cmd.add_argument("--policy", choices=sorted(PRESETS), default="current")
    serve_cmd.add_argument(
        "--seed", help="a TOML (or JSON) seed file: users, tokens, orgs, packages, trust; applied again on reset"
    )
    serve_cmd.add_argument("--storage", help="an SQLite file that keeps the state across restarts")
    serve_cmd.add_argument(
        "--admin-token",
        help=f"the control API's secret, at least 16 characters (or {ADMIN_TOKEN_ENV}; random if neither)",
    )
    serve_cmd.add_argument("--auto-approve-web-auth", action="store_true", help="approve web 2FA at once")
    serve_cmd.add_argument(
        "--visibility-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="serve a new version to readers only this long after it was accepted (registry clock)",
    )
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
    serve_cmd.add_argument(
        "--env-file",
        metavar="PATH",
        help="also write the proxy variables there as KEY=value lines (`set -a; . PATH; set +a`, or >> $GITHUB_ENV)",
    )
    serve_cmd.add_argument("--json", action="store_true", help="print one JSON line instead of text")


def _client_parsers(commands: Any) -> None:
    def connected(name: str, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        sub.add_argument("--url", help=f"the registry URL (or NPM_REGISTRY_URL; default {DEFAULT_URL})")
        sub.add_argument("--admin-token", help=f"the admin token serve printed (or {ADMIN_TOKEN_ENV})")
        return sub

    connected("otp", "print a user's current OTP").add_argument("user")
    approve = connected("approve", "approve pending web 2FA (all, a user's, or one id)")
    approve.add_argument("--user")
    approve.add_argument("--id")
    login = connected("approve-login", "complete a pending `npm login` in the browser as USER")
    login.add_argument("user")
    login.add_argument("--wait", type=float, default=10.0, help="seconds to wait for npm to start the login")
    connected("journal", "print the journal").add_argument("--json", action="store_true")
    reset = connected("reset", "empty the registry, then apply serve's --seed again (unless --empty)")
    reset.add_argument("--policy", choices=sorted(PRESETS))
    reset.add_argument("--empty", action="store_true", help="leave the registry empty: skip serve's seed this once")
    clock = connected("clock", "move the registry's clock")
    clock.add_argument("action", choices=["advance"])
    clock.add_argument("seconds", type=float)
    seed = connected("seed", "apply a seed file (TOML, or JSON by its .json suffix): whole or not at all")
    seed.add_argument("file")
    seed.add_argument("--json", action="store_true", help="print the answer as JSON")
    user = connected("add-user", "create an account (prints its TOTP secret and recovery codes)")
    user.add_argument("name")
    user.add_argument("--tfa", choices=[m.value for m in TwoFactorMode], help="default: none")
    user.add_argument("--password")
    user.add_argument("--email")
    user.add_argument("--totp-secret", help="a fixed base32 secret, so a script can compute codes")
    user.add_argument("--challenge", choices=[c.value for c in ChallengeStyle])
    user.add_argument("--json", action="store_true", help="print the answer as JSON")
    token = connected("create-token", "mint a token for USER and print its .npmrc lines")
    token.add_argument("user")
    token.add_argument("--kind", choices=[k.value for k in TokenKind], help="default: granular")
    token.add_argument("--bypass-2fa", action="store_true")
    token.add_argument("--read-only", action="store_true")
    token.add_argument("--stage-only", action="store_true")
    token.add_argument("--package", action="append", metavar="NAME", help="limit it to this package (repeatable)")
    token.add_argument("--scope", action="append", metavar="@SCOPE", help="limit it to this scope (repeatable)")
    token.add_argument("--expires-in-days", type=float)
    token.add_argument("--name", dest="token_name", help="the token's name, as npm lists it")
    token.add_argument("--key", help="a fixed secret: npm_ and 36 letters or digits")
    token.add_argument("--json", action="store_true", help="print the answer (and the .npmrc text) as JSON")


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return demo()
    if args.command == "serve":
        return serve(args)
    try:
        return client(args)
    except UsageError as exc:
        print(f"pytest-npm-registry {args.command}: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest-npm-registry", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="publish with 2FA against the embedded registry, step by step")
    _serve_parser(commands)
    _client_parsers(commands)
    args = parser.parse_args(argv)
    try:
        code = _run(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe found then prints "Exception ignored ..."
        return code
    except BrokenPipeError:
        # `journal --json | head`: the reader left. Say nothing more, like any Unix filter; stdout
        # goes to devnull so the interpreter's last flush does not raise again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what the shell reports for a writer whose pipe closed
