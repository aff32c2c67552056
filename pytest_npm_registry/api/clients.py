"""Running the real npm CLI against the registry, isolated from the machine's own npm set-up.

Every run gets its own user config, cache and HOME; nothing from the caller's ``npm_config_*``
environment leaks in. By default there is no terminal, as in CI: npm never prompts, and an OTP
challenge is final. With ``tty=True`` npm runs on a pseudo-terminal (stdin and stdout, which is
what npm's ``otplease`` checks) and ``answers`` reply to its prompts.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import pty
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pytest_npm_registry.domain.errors import UsageError
from pytest_npm_registry.wire.egress import LOOPBACK

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
NPM_ERROR_CODE = re.compile(r"^npm error code (\S+)$", re.MULTILINE)
#: What every run sets: no retries with 10-second back-offs (a deliberate 503 would cost 30 s),
#: no update check, no funding banners, no colours, and a proxy on a closed loopback port so any
#: attempt to reach a host other than the registry fails at once instead of leaving the machine
#: (the facade puts its server's egress proxy there: :func:`npm_config`).
CLOSED_PROXY = "http://127.0.0.1:9/"
BASE_CONFIG = {
    "fetch-retries": "0",
    "fetch-retry-mintimeout": "100",
    "fetch-retry-maxtimeout": "200",
    "update-notifier": "false",
    "fund": "false",
    "color": "false",
    "progress": "false",
    "proxy": CLOSED_PROXY,
    "https-proxy": CLOSED_PROXY,
    "noproxy": LOOPBACK,
}
_PASS_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TMPDIR")


def npm_config(proxy: str, **config: str) -> dict[str, str]:
    """:data:`BASE_CONFIG` with npm's own requests to other hosts sent to ``proxy`` (the server's
    egress proxy: the mock Sigstore and its TUF answer there, every other host gets a 403 naming
    it) instead of the closed port, then ``config``."""
    return {**BASE_CONFIG, "proxy": proxy, "https-proxy": proxy, **config}


#: What to type at a prompt: text, or a callable computing it (``None`` types nothing). A callable
#: taking one argument gets the regex match, so an answer can use what npm printed.
Reply = str | Callable[[], str | None] | Callable[["re.Match[str]"], str | None]


def _answer(reply: Reply, match: re.Match[str]) -> str | None:
    if not callable(reply):
        return reply
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in inspect.signature(reply).parameters.values() if p.kind in kinds]
    if positional:
        return reply(match)  # type: ignore[call-arg]
    return reply()  # type: ignore[call-arg]


class Keyed(Protocol):
    """What carries a token secret: the fixture's ``Token``."""

    @property
    def key(self) -> str: ...


def token_key(token: str | Keyed | None) -> str | None:
    """The secret an ``.npmrc`` or an ``Authorization`` header needs: a token's ``key``, or the
    string given."""
    return token if token is None or isinstance(token, str) else token.key


#: npm's last line when a run fails; the log sits in the cache folder, which goes with the test.
LOG_POINTER = re.compile(r"A complete log of this run can be found in:\s*(\S+)")
#: How much of a debug log a result keeps in memory (its end: where the failure is).
LOG_LIMIT = 256 * 1024
#: An OTP on npm's command line, as its debug log and our report show it: ``--otp=123456``,
#: ``"--otp" "123456"`` (npm logs argv quoted).
_OTP_ARG = re.compile(r"""(--otp(?:=|"?\s+"?))(?!<)[^\s"]+""")
#: How many error lines lead the text of a result.
_HEAD_LINES = 20


@dataclass(repr=False)
class NpmResult:
    """What one npm run did: exit code, output, and the ``npm error code`` it printed.

    ``str(result)`` and ``repr(result)`` lead with the exit code, the error code and the
    ``npm error`` lines, then the command, the output, and where npm's debug log was kept, so
    ``assert result.ok, result`` shows ``npm error code EOTP`` in pytest's short message.
    A failed run of ``reg.npm`` (``pnpm``, ``yarn``, ``run_tool``) keeps npm's debug log:
    ``debug_log`` is where it is (copied into ``reg.keep_logs_in``, under pytest the journal dir,
    else npm's own file in the work folder), ``log`` its text; ``reg.failed_runs`` lists them."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration: float
    tty: bool = False
    transcript: list[str] = field(default_factory=list)
    #: npm's debug log of a failed run: the kept copy (``reg.keep_logs_in``, the journal dir
    #: under pytest) or else npm's own file, which goes when the registry closes.
    debug_log: Path | None = None
    #: The text of that log (its last 256 KiB), read when the run failed.
    log: str = ""

    @property
    def error_code(self) -> str | None:
        """``EOTP``, ``E403``, ``ENEEDAUTH`` ... from ``npm error code X``; ``None`` on success."""
        match = NPM_ERROR_CODE.search(self.stderr)
        return match.group(1) if match else None

    @property
    def error_lines(self) -> list[str]:
        """The ``npm error ...`` lines, without the closing "A complete log ..." pointer."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.startswith("npm error") and "A complete log of this run" not in line
        ]

    @property
    def notices(self) -> list[str]:
        return [line[len("npm notice ") :] for line in self.stderr.splitlines() if line.startswith("npm notice ")]

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def log_pointer(self) -> Path | None:
        """The debug log npm named in "A complete log of this run can be found in: <path>"."""
        match = LOG_POINTER.search(self.stdout + self.stderr)
        return Path(match.group(1)) if match else None

    #: What ``__str__`` puts before ``args``: they are npm's arguments, without the executable.
    program = "npm "

    def headline_errors(self) -> list[str]:
        """The lines that say why the run failed (``npm error ...``), for the head of the text."""
        return self.error_lines

    def __str__(self) -> str:
        code = self.error_code
        head = [f"exit {self.returncode}" + (f" ({code})" if code else "")]
        errors = self.headline_errors()
        head += errors[:_HEAD_LINES] + ([f"... {len(errors) - _HEAD_LINES} more"] if len(errors) > _HEAD_LINES else [])
        head.append(f"$ {self.program}{' '.join(self.args)}  ({self.duration:.2f}s)")
        text = "\n".join(head) + f"\n--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        if self.transcript:
            text += "--- answers ---\n" + "\n".join(self.transcript) + "\n"
        if self.debug_log is not None:
            gone = "" if self.debug_log != self.log_pointer else " (goes with the work folder; text in result.log)"
            text += f"npm's debug log: {self.debug_log}{gone}"
        return text

    __repr__ = __str__


def keep_debug_log(result: NpmResult, into: Path | None, failed: list[NpmResult], prefix: str = "") -> NpmResult:
    """For a failed run, read the debug log npm named into ``result.log``, copy it into ``into``
    (when given, as ``<prefix><n>-<command>.log``) before the cache folder holding it is
    deleted, and add ``result`` to ``failed``. One-time passwords are blanked in both."""
    pointer = result.log_pointer
    if result.ok or pointer is None or not pointer.is_file():
        return result
    text = _OTP_ARG.sub(r"\1***", pointer.read_bytes().decode(errors="replace"))
    result.log = text[-LOG_LIMIT:]
    result.debug_log = pointer
    if into is not None:
        into.mkdir(parents=True, exist_ok=True)
        command = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path((result.args or ["npm"])[0]).name)[:40]
        copy = into / f"{prefix}{len(failed) + 1}-{command}.log"
        copy.write_text(text)
        result.debug_log = copy
    failed.append(result)
    return result


def format_debug_logs(failed: Sequence[NpmResult], *, verbose: bool, runs: int = 3, lines: int = 15) -> str:
    """The report section of a failing test: its last ``runs`` failed client runs, each with
    where its debug log is and the log's last ``lines`` lines (all of it when ``verbose``)."""
    parts = [f"({len(failed) - runs} earlier failed runs left out)"] if len(failed) > runs else []
    for result in failed[-runs:]:
        code = f" ({result.error_code})" if result.error_code else ""
        log = result.log.splitlines()
        shown = log if verbose else log[-lines:]
        more = "" if len(shown) == len(log) else f", last {len(shown)} of {len(log)} lines (-v: all)"
        command = _OTP_ARG.sub(r"\1***", " ".join(result.args))
        parts.append(f"$ {result.program}{command} -> exit {result.returncode}{code}")
        parts.append(f"  log: {result.debug_log}{more}")
        parts += [f"  {line}" for line in shown]
    return "\n".join(parts)


def npm_executable() -> str:
    path = os.environ.get("PYTEST_NPM_REGISTRY_NPM") or shutil.which("npm")
    if not path:
        raise UsageError("npm is not on PATH: install Node.js and npm, or set PYTEST_NPM_REGISTRY_NPM")
    return path


def npmrc_text(registry_url: str, token: str | None, extra: Mapping[str, str] | None = None) -> str:
    host = registry_url.split("://", 1)[1].rstrip("/")
    lines = [f"registry={registry_url}"]
    if token:
        lines.append(f"//{host}/:_authToken={token}")
    lines += [f"{k}={v}" for k, v in (extra or {}).items()]
    return "\n".join(lines) + "\n"


def real_homes() -> set[Path]:
    """The caller's home folders (``$HOME`` and the password database's), resolved: no fixture
    call writes there."""
    homes = {Path.home()}
    with contextlib.suppress(KeyError, ImportError):
        import pwd  # noqa: PLC0415 - POSIX only

        homes.add(Path(pwd.getpwuid(os.getuid()).pw_dir))
    return {home.resolve() for home in homes}


def isolated_env(workdir: Path, userconfig: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with nothing of the caller's npm configuration in it."""
    env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    globalconfig = workdir / "npmrc-global"
    if not globalconfig.exists():
        globalconfig.write_text("")
    env.update(
        {
            "HOME": str(home),
            "TERM": "dumb",
            "NO_COLOR": "1",
            "npm_config_userconfig": str(userconfig),
            "npm_config_globalconfig": str(globalconfig),
            "npm_config_cache": str(workdir / "cache"),
            # npm's own proxy config does not reach every request (Sigstore's client ignores it);
            # the standard variables do. Other hosts meet a closed loopback port: nothing leaves.
            **dict.fromkeys(("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"), CLOSED_PROXY),
            **dict.fromkeys(("NO_PROXY", "no_proxy"), LOOPBACK),
        }
    )
    env.update(extra or {})
    return env


#: What a CI job's environment carries from the machine: a fresh job has its own HOME and no
#: npm configuration, so nothing else of the caller's shell (``npm_config_*``, tokens, an outer
#: CI's ``GITHUB_*`` variables) is copied.
_CI_PASS_ENV = (*_PASS_ENV, "USER", "LOGNAME", "SHELL")


def ci_environment(
    workdir: Path,
    registry_url: str,
    token: str | None,
    *,
    setup_node: bool = False,
    config: Mapping[str, str] = BASE_CONFIG,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of one CI job (see ``NpmRegistry.ci_env``): ``token`` only in
    ``NPM_TOKEN`` / ``NODE_AUTH_TOKEN``, a new throwaway HOME, and npm's user config left where
    npm looks for it, ``$HOME/.npmrc``. The fixture's safety (no retries, the closed proxy, the
    cache in ``workdir``) is npm's *global* config, below the user config, so what the script
    writes to ``~/.npmrc`` wins over it; the proxy variables stand beside it for tools that
    read the environment (libnpmpublish, lerna)."""
    jobs = workdir / "ci"
    jobs.mkdir(parents=True, exist_ok=True)
    job = Path(tempfile.mkdtemp(prefix="job-", dir=jobs))
    home = job / "home"
    home.mkdir()
    globalconfig = workdir / "npmrc-ci-global"
    globalconfig.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
    env = {k: os.environ[k] for k in _CI_PASS_ENV if k in os.environ}
    env.update(
        {
            "CI": "true",
            "HOME": str(home),
            "TERM": "dumb",
            "NO_COLOR": "1",
            "npm_config_registry": registry_url,
            "npm_config_globalconfig": str(globalconfig),
            "npm_config_cache": str(workdir / "cache"),
            **dict.fromkeys(("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"), CLOSED_PROXY),
            **dict.fromkeys(("NO_PROXY", "no_proxy"), LOOPBACK),
        }
    )
    if setup_node:
        # What actions/setup-node does with `registry-url:` (src/authutil.ts): write
        # $RUNNER_TEMP/.npmrc and export NPM_CONFIG_USERCONFIG, so npm reads that file and never
        # the job's ~/.npmrc -- as on GitHub.
        runner_temp = job / "runner-temp"
        runner_temp.mkdir()
        host = registry_url.split("://", 1)[1]
        npmrc = runner_temp / ".npmrc"
        npmrc.write_text(f"//{host}:_authToken=${{NODE_AUTH_TOKEN}}\nregistry={registry_url}")
        env.update({"RUNNER_TEMP": str(runner_temp), "NPM_CONFIG_USERCONFIG": str(npmrc)})
    else:
        # The file npm reads anyway; named so that an npm_config_userconfig a caller merges in
        # (`npm test` exports one pointing at the real ~/.npmrc) cannot win.
        env["npm_config_userconfig"] = str(home / ".npmrc")
    if token:
        env.update({"NPM_TOKEN": token, "NODE_AUTH_TOKEN": token})
    env.update(extra or {})
    return env


def run_npm(
    args: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path | str | None,
    tty: bool = False,
    answers: Sequence[tuple[str, Reply]] = (),
    timeout: float = 120.0,
    executable: str | None = None,
) -> NpmResult:
    """Run npm (``executable``, or the one :func:`npm_executable` finds) with ``args``."""
    return run_process(
        [executable or npm_executable(), *args], list(args), env=env, cwd=cwd, tty=tty, answers=answers, timeout=timeout
    )


def run_process(
    command: list[str],
    shown: list[str],
    *,
    env: dict[str, str],
    cwd: Path | str | None,
    tty: bool,
    answers: Sequence[tuple[str, Reply]],
    timeout: float,
) -> NpmResult:
    """Run a client with no terminal (npm's CI path), or on a pty answering its prompts; the
    result reports ``shown`` as its arguments."""
    started = time.monotonic()
    if tty:
        return _run_on_pty(command, shown, env=env, cwd=cwd, answers=answers, timeout=timeout, started=started)
    if answers:
        raise UsageError("answers= needs tty=True: clients only prompt when stdin and stdout are terminals")
    try:
        proc = subprocess.run(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UsageError(
            f"{' '.join(command)} did not finish within {timeout}s:\n{exc.stdout!r}\n{exc.stderr!r}"
        ) from None
    return NpmResult(shown, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def _run_on_pty(
    command: list[str],
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path | str | None,
    answers: Sequence[tuple[str, Reply]],
    timeout: float,
    started: float,
) -> NpmResult:
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read() if proc.stderr else b""))
    reader.start()
    pending = [(re.compile(pattern), reply) for pattern, reply in answers]
    screen = ""
    consumed = 0  # the next prompt must appear after the one last answered
    transcript: list[str] = []
    deadline = started + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise UsageError(f"{' '.join(command)} did not finish within {timeout}s; screen so far:\n{screen}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    data = b""
                if not data and proc.poll() is not None:
                    break
                screen += _ANSI.sub("", data.decode(errors="replace"))
            elif proc.poll() is not None:
                break
            while pending and (match := pending[0][0].search(screen, consumed)):
                pattern, reply = pending.pop(0)
                text = _answer(reply, match)
                transcript.append(f"{pattern.pattern} -> {text!r}")
                consumed = len(screen)
                if text is not None:
                    os.write(master, (text + "\r").encode())  # Enter: raw-mode prompts read \r
    finally:
        os.close(master)
        proc.wait()
        reader.join()
    return NpmResult(
        args,
        proc.returncode,
        screen,
        b"".join(stderr_chunks).decode(errors="replace"),
        time.monotonic() - started,
        tty=True,
        transcript=transcript,
    )
