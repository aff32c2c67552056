"""Other clients than npm: pnpm and yarn berry runners, and installing release tools for a test.

``reg.pnpm(...)`` and ``reg.yarn(...)`` work like ``reg.npm(...)``: an isolated configuration
pointing at the registry (pnpm reads npm's user config; yarn gets ``YARN_*`` variables and a
``.yarnrc.yml`` in its private HOME), no terminal unless ``tty=True``, nothing reaching a host other
than loopback. The tools themselves are not bundled: :func:`install_tool` installs a folder holding a
``package.json`` and ``package-lock.json`` (``npm ci``, from the public registry) into a cache keyed
by the lock file, once per machine, and returns its ``node_modules/.bin``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_npm_registry.domain.errors import UsageError
from pytest_npm_registry.domain.models import secret_hash

from . import versions
from .clients import (
    NPM_ERROR_CODE,
    NpmResult,
    Reply,
    ci_environment,
    isolated_env,
    keep_debug_log,
    npm_config,
    npmrc_text,
    real_homes,
    run_npm,
    run_process,
    token_key,
)

if TYPE_CHECKING:
    from pytest_npm_registry.wire.server import RegistryServer

    from .views import TokenLike

#: Where installed tools are kept between runs (``PYTEST_NPM_REGISTRY_TOOLS_CACHE`` overrides it).
DEFAULT_TOOLS_CACHE = Path.home() / ".cache" / "pytest-npm-registry" / "clients"
#: The real registry, for installing the tools (never the mock).
PUBLIC_REGISTRY = "https://registry.npmjs.org/"

_PNPM_ERROR = re.compile(r"\b(ERR_PNPM_[A-Z0-9_]+)")
_YARN_ERROR = re.compile(r"➤ (YN(?!0000)\d{4}): (.*)")


# -- installing tools -------------------------------------------------------------------------------


def tools_cache() -> Path:
    return Path(os.environ.get("PYTEST_NPM_REGISTRY_TOOLS_CACHE") or DEFAULT_TOOLS_CACHE)


def lock_key(lock_dir: Path) -> str:
    """A short hash of the folder's ``package.json`` and ``package-lock.json`` (and the Node major)."""
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((lock_dir / name).read_bytes())
    digest.update(_node_major().encode())
    return digest.hexdigest()[:16]


def _node_major() -> str:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "no-node"
    return out.strip().split(".")[0]


def install_tool(lock_dir: Path | str, *, cache: Path | None = None, npmrc: Path | None = None) -> Path:
    """``npm ci`` the tool described by ``lock_dir`` into the cache (once) and return its ``.bin``.

    The cache folder is ``<cache>/<folder name>-<hash of the lock file>``: a changed lock file
    installs afresh, an unchanged one costs nothing. Parallel test processes (xdist workers) wait
    for each other on a file lock. ``npmrc`` is the npm config for the install (default: the public
    registry, no audit): the caller's own npm configuration is not read.
    """
    lock_dir = Path(lock_dir)
    if not (lock_dir / "package-lock.json").is_file():
        raise UsageError(f"{lock_dir} has no package-lock.json: run `npm install --package-lock-only` there")
    root = cache or tools_cache()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{lock_dir.name}-{lock_key(lock_dir)}"
    marker = target / ".installed"
    with (root / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            _npm_ci(lock_dir, target, root, npmrc)
            marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    return target / "node_modules" / ".bin"


def _npm_ci(lock_dir: Path, target: Path, root: Path, npmrc: Path | None) -> None:
    staging = target.with_name(f"{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    staging.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(lock_dir / name, staging / name)
    config = npmrc or root / "install.npmrc"
    if npmrc is None:
        config.write_text(f"registry={PUBLIC_REGISTRY}\naudit=false\nfund=false\nupdate-notifier=false\n")
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update({"npm_config_userconfig": str(config), "npm_config_cache": str(root / "npm-cache")})
    proc = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise UsageError(f"installing {lock_dir.name} failed (npm ci in {staging}):\n{proc.stdout}{proc.stderr}")
    staging.rename(target)


def resolve_clients(client: str, version: str | None = None, *, node: str | None = None) -> versions.Clients:
    """Install (on first use) the pinned ``client`` at ``version`` and the Node it needs, and say
    where they are: ``resolve_clients("npm", "12")`` is npm 12.2.2 on Node 22. Without ``version``
    (and ``node``) nothing is installed and the run uses what is on ``PATH``."""
    chosen = versions.pin(client, version) if version else None
    node_pin = versions.node_for(chosen, node)
    folders = [p.folder for p in (chosen, node_pin) if p is not None]
    bin_dirs = tuple(install_tool(folder, npmrc=versions.PINS / "npmrc") for folder in folders)
    return versions.Clients(bin_dirs, versions.label(client, chosen, node_pin))


# -- running clients ---------------------------------------------------------------------------------


@dataclass(repr=False)
class ToolResult(NpmResult):
    """What a pnpm, yarn or release-tool run did. ``error_code`` reads npm's ``npm error code X``
    (pnpm and most release tools run npm underneath), then ``ERR_PNPM_*``, then yarn's ``YN0000``."""

    program = ""  # args is the whole command

    @property
    def error_code(self) -> str | None:
        for pattern in (NPM_ERROR_CODE, _PNPM_ERROR, _YARN_ERROR):
            if match := pattern.search(self.output):
                return match.group(1)
        return None

    @property
    def yarn_errors(self) -> list[str]:
        """Yarn's error lines without the ``➤ YN0000:`` prefix, e.g. ``The registry requires ...``."""
        return [m.group(2).strip() for m in _YARN_ERROR.finditer(self.stdout) if m.group(1) != "YN0000"]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def headline_errors(self) -> list[str]:
        """npm's ``npm error`` lines, pnpm's ``ERR_PNPM_*`` lines and yarn's error lines, from
        either stream."""
        return [
            line.strip()
            for line in self.output.splitlines()
            if (line.startswith("npm error") and "A complete log of this run" not in line)
            or _PNPM_ERROR.search(line)
            or (_YARN_ERROR.search(line) and "YN0000" not in line)
        ]


#: A git identity for the repositories release tools commit and tag in (HOME is private).
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Release Bot",
    "GIT_AUTHOR_EMAIL": "release-bot@example.com",
    "GIT_COMMITTER_NAME": "Release Bot",
    "GIT_COMMITTER_EMAIL": "release-bot@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}

#: Yarn reads no ``.npmrc``: everything comes from ``YARN_*`` variables and this home rc file. The
#: network is off except for loopback, so nothing leaves the machine.
_YARNRC = """\
enableNetwork: false
networkSettings:
  "127.0.0.1":
    enableNetwork: true
  "localhost":
    enableNetwork: true
enableTelemetry: false
"""


def run_command(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str,
    tty: bool = False,
    answers: Sequence[tuple[str, Reply]] = (),
    timeout: float = 180.0,
) -> ToolResult:
    """Run any client as ``reg.npm`` runs npm: no terminal, or a pty answering prompts."""
    done = run_process(list(command), list(command), env=dict(env), cwd=cwd, tty=tty, answers=answers, timeout=timeout)
    return ToolResult(**vars(done))


def _executable(name: str, bin_dir: Path | str | None) -> str:
    if bin_dir is not None:
        return str(Path(bin_dir) / name)
    found = os.environ.get(f"PYTEST_NPM_REGISTRY_{name.upper()}") or shutil.which(name)
    if not found:
        pinned = [p.version for p in versions.pins() if p.client == name]
        example = pinned[0].split(".")[0] if pinned else "X"
        raise UsageError(
            f"{name} is not on PATH: run a pinned {name} with reg.{name}(..., version={example!r}) "
            f"(pinned: {', '.join(pinned) or 'none'}; installed on first use), or pass "
            f"bin_dir=pytest_npm_registry.install_tool('<folder with its package.json and package-lock.json>'), "
            f"or set PYTEST_NPM_REGISTRY_{name.upper()} to its path"
        )
    return found


def _installed_label(client: str, bin_dir: Path) -> str:
    """``pnpm 10.34.8`` for a ``bin_dir`` install_tool made from a pin (``<cache>/pnpm10-<hash>/...``)."""
    folder = bin_dir.parent.parent.name.rsplit("-", 1)[0]
    for pinned in versions.pins():
        if pinned.folder.name == folder:
            return pinned.label
    return f"{client} from {bin_dir}"


class ToolsMixin:
    """Running clients on the registry facade: ``reg.npm(...)``, ``reg.pnpm(...)``,
    ``reg.yarn(...)``, ``reg.run_tool(...)``, and the environments and config files they get
    (``reg.env()``, ``reg.ci_env()``, ``reg.npmrc()``)."""

    if TYPE_CHECKING:

        @property
        def url(self) -> str: ...

        @property
        def workdir(self) -> Path: ...

    if TYPE_CHECKING:
        clients_ran: dict[str, int]
        failed_runs: list[NpmResult]
        keep_logs_in: Path | None
        keep_logs_prefix: str

        server: RegistryServer

    def npmrc(self, directory: Path | str, token: TokenLike = None, **config: str) -> Path:
        """Write ``<directory>/.npmrc`` pointing npm at this registry, with ``token`` if given.

        Never the real home folder: a test that wants a ``~/.npmrc`` runs in :meth:`ci_env`'s
        throwaway ``HOME``."""
        path = Path(directory) / ".npmrc"
        if path.parent.resolve() in real_homes():
            raise UsageError(
                f"reg.npmrc({str(directory)!r}) would overwrite your own ~/.npmrc: give a project folder "
                "(tmp_path), or run the script with env=reg.ci_env(token=...), whose throwaway HOME "
                "it may write ~/.npmrc into"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(npmrc_text(self.url, token_key(token), npm_config(self.server.egress.url, **config)))
        return path

    def env(
        self, token: TokenLike = None, *, npm: str | None = None, node: str | None = None, **config: str
    ) -> dict[str, str]:
        """Environment variables that point an npm subprocess (or a release tool) at this registry.

        ``npm="12"`` / ``node="22"`` put that pinned npm and Node first on ``PATH`` (installed on
        first use, see :meth:`npm`), for a script that runs ``npm`` itself. Merge the result into a
        copy of ``os.environ`` for tools that need more of the environment.
        """
        key = token_key(token)
        userconfig = self.workdir / f"npmrc-{secret_hash(key)[:12] if key else 'anonymous'}"
        # A run with a token always gets that token. Without one, the config is written once, so
        # what npm writes there itself (`npm login`, `npm logout`) stays for the next run, as on a
        # real machine.
        if key or config or not userconfig.exists():
            userconfig.write_text(npmrc_text(self.url, key, npm_config(self.server.egress.url, **config)))
        environment = isolated_env(self.workdir, userconfig)
        # The way out is the server's egress proxy (mock Sigstore, every other host refused).
        environment.update(self.server.egress.client_env())
        # Before npm's first run: `npm audit signatures` trusts the TUF root it finds in its cache.
        data_home = Path(environment["HOME"]) / ".local" / "share"
        self.server.egress.seed_tuf_cache(Path(environment["npm_config_cache"]), data_home)
        if npm is not None or node is not None:
            environment["PATH"] = resolve_clients("npm", npm, node=node).path(environment.get("PATH"))
        return environment

    def ci_env(
        self, token: TokenLike = None, *, setup_node: bool = False, npm: str | None = None, node: str | None = None
    ) -> dict[str, str]:
        """The whole environment of a CI job, for a release script run as a subprocess:
        ``subprocess.run(["bash", "release.sh"], env=reg.ci_env(token=...))``.

        ``token`` is the CI secret, in ``NPM_TOKEN`` and ``NODE_AUTH_TOKEN`` only: npm sees no
        credential unless the script writes one (``echo "//host/:_authToken=$NPM_TOKEN" >
        ~/.npmrc``) or ``setup_node=True`` writes what ``actions/setup-node`` with
        ``registry-url:`` does (``$RUNNER_TEMP/.npmrc`` holding ``registry=`` and
        ``//host:port/:_authToken=${NODE_AUTH_TOKEN}``, named by ``NPM_CONFIG_USERCONFIG``, so
        npm then reads that file instead of ``~/.npmrc``, as on GitHub). Also ``CI=true`` and
        ``npm_config_registry`` (for scripts that talk to the registry themselves). Each call is a
        new job with a new throwaway ``HOME`` under :attr:`workdir`: the script may write, read and
        delete its ``~/.npmrc``. No retries, the egress proxy and the cache in the work
        folder come from npm's global config, which the script's ``~/.npmrc`` overrides;
        ``HTTPS_PROXY`` and ``NODE_EXTRA_CA_CERTS`` lead to the egress proxy, as in :meth:`env`,
        so ``npm publish --provenance`` in the script signs with the mock Sigstore; our TUF root is
        in npm's cache and in sigstore-js's (``XDG_DATA_HOME``, beside the job's ``HOME``), so
        ``npm audit signatures`` and ``--provenance-file`` verify offline.

        Of the caller's shell only ``PATH``, locale, ``TMPDIR`` and the user name: add to the
        result (``{**reg.ci_env(t), **reg.github_actions_env(...)}``), don't merge it into
        ``os.environ``. ``npm="12"`` / ``node="22"``: that pinned npm and Node first on ``PATH``.
        """
        environment = ci_environment(
            self.workdir, self.url, token_key(token), setup_node=setup_node, config=npm_config(self.server.egress.url)
        )
        # The way out, as in env(): the egress proxy, so `npm publish --provenance` signs.
        environment.update(self.server.egress.script_env(self.url))
        # Before npm's first run: `npm audit signatures` trusts the TUF root it finds in its cache.
        # sigstore-js's data beside the job's HOME, which stays as empty as a fresh job's.
        environment["XDG_DATA_HOME"] = str(Path(environment["HOME"]).parent / "data")
        self.server.egress.seed_tuf_cache(Path(environment["npm_config_cache"]), Path(environment["XDG_DATA_HOME"]))
        if npm is not None or node is not None:
            environment["PATH"] = resolve_clients("npm", npm, node=node).path(environment.get("PATH"))
        return environment

    def npm(
        self,
        *args: str,
        token: TokenLike = None,
        cwd: Path | str | None = None,
        otp: str | None = None,
        tty: bool = False,
        answers: Sequence[tuple[str, Reply]] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        version: str | None = None,
        node: str | None = None,
    ) -> NpmResult:
        """Run the real ``npm`` CLI against this registry with an isolated config, cache and HOME.

        No terminal by default, as in CI. ``otp`` adds ``--otp=<code>``. With ``tty=True`` npm runs
        on a pseudo-terminal and each ``(regex, reply)`` in ``answers`` types ``reply`` (or calls it)
        when ``regex`` shows up on the screen.

        ``version`` runs a pinned npm instead of the one on ``PATH`` (``"12"``, ``"11.21"``,
        ``"10"``, ``"9"``: the newest pin starting so), ``node`` a pinned Node (``"22"``, ``"24"``);
        npm 12 gets Node 22 unless told otherwise. Both are installed from the public registry into
        the shared tools cache on first use, checksummed by the lock files in
        ``pytest_npm_registry/pins/``.
        """
        argv = list(args) + ([f"--otp={otp}"] if otp else [])
        clients = self.use_clients("npm", version, node)
        environment = self.env(token)
        environment["PATH"] = clients.path(environment.get("PATH"))
        environment.update(env or {})
        result = run_npm(
            argv,
            env=environment,
            cwd=cwd or self.workdir,
            tty=tty,
            answers=answers,
            timeout=timeout,
            executable=clients.executable("npm"),
        )
        return keep_debug_log(result, self.keep_logs_in, self.failed_runs, self.keep_logs_prefix)

    def use_clients(
        self, client: str, version: str | None = None, node: str | None = None, *, tool: str | None = None
    ) -> versions.Clients:
        """:func:`resolve_clients`, and count the run under its label for the report (``tool``:
        a release tool run with that npm first on PATH)."""
        clients = resolve_clients(client, version, node=node)
        label = f"{tool} with {clients.label}" if tool else clients.label
        self.clients_ran[label] = self.clients_ran.get(label, 0) + 1
        return clients

    def tool_env(
        self,
        token: TokenLike = None,
        *,
        bin_dirs: Sequence[Path | str] = (),
        env: Mapping[str, str] | None = None,
        npm: str | None = None,
        node: str | None = None,
    ) -> dict[str, str]:
        """``reg.env(token, npm=npm, node=node)`` plus ``bin_dirs`` first on PATH (before the pinned
        npm and Node: a tool's own npm dependency wins, as in a project's ``node_modules/.bin``), a
        git identity, and ``env``."""
        environment = self.env(token, npm=npm, node=node)
        environment.update(GIT_ENV)
        # What `npm run release` exports to the scripts it runs; changesets reads the registry only
        # from here (otherwise it asks registry.npmjs.org, which the loopback proxy refuses).
        environment["npm_config_registry"] = self.url
        # Some tools (np) read `git config user.name` rather than trusting GIT_AUTHOR_*.
        gitconfig = Path(environment["HOME"]) / ".gitconfig"
        if not gitconfig.exists():
            name, email = GIT_ENV["GIT_AUTHOR_NAME"], GIT_ENV["GIT_AUTHOR_EMAIL"]
            gitconfig.write_text(f"[user]\n\tname = {name}\n\temail = {email}\n")
        path = [str(d) for d in bin_dirs] + [environment.get("PATH", os.defpath)]
        environment["PATH"] = os.pathsep.join(path)
        environment.update(env or {})
        return environment

    def run_tool(
        self,
        *command: str,
        token: TokenLike = None,
        cwd: Path | str,
        bin_dirs: Sequence[Path | str] = (),
        env: Mapping[str, str] | None = None,
        tty: bool = False,
        answers: Sequence[tuple[str, Reply]] = (),
        timeout: float = 180.0,
        npm: str | None = None,
        node: str | None = None,
    ) -> ToolResult:
        """Run a release tool (``semantic-release``, ``lerna`` ...) against this registry: npm's
        isolated config with ``token``, ``bin_dirs`` first on PATH, no terminal unless ``tty``.
        ``npm="12"`` / ``node="22"``: the pinned npm and Node next on PATH (see ``reg.npm``)."""
        self.use_clients("npm", npm, node, tool=Path(command[0]).name)  # installs them; counts the run
        environment = self.tool_env(token, bin_dirs=bin_dirs, env=env, npm=npm, node=node)
        return self._kept(run_command(command, env=environment, cwd=cwd, tty=tty, answers=answers, timeout=timeout))

    def _kept(self, result: ToolResult) -> ToolResult:
        keep_debug_log(result, self.keep_logs_in, self.failed_runs, self.keep_logs_prefix)
        return result

    def pnpm(
        self,
        *args: str,
        token: TokenLike = None,
        cwd: Path | str | None = None,
        otp: str | None = None,
        bin_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        tty: bool = False,
        answers: Sequence[tuple[str, Reply]] = (),
        timeout: float = 180.0,
        version: str | None = None,
        node: str | None = None,
    ) -> ToolResult:
        """Run pnpm with npm's isolated user config (pnpm reads ``npm_config_userconfig``).

        pnpm 10 publishes by packing the tarball itself and running ``npm publish <tarball>``;
        pnpm 11 publishes by itself. ``version="11"`` / ``"10"`` runs the pinned pnpm (pnpm 11 on
        Node 22), ``node`` a pinned Node, as ``reg.npm`` does.
        """
        clients = self._tool_clients("pnpm", bin_dir, version, node)
        argv = [clients.executable("pnpm") or _executable("pnpm", bin_dir), *args] + ([f"--otp={otp}"] if otp else [])
        environment = self.tool_env(token, bin_dirs=clients.bin_dirs, env=env)
        done = run_command(argv, env=environment, cwd=cwd or self.workdir, tty=tty, answers=answers, timeout=timeout)
        return self._kept(done)

    def _tool_clients(
        self, client: str, bin_dir: Path | str | None, version: str | None, node: str | None
    ) -> versions.Clients:
        if bin_dir is not None and version is not None:
            raise UsageError(f"reg.{client}(bin_dir=..., version=...): give one of them")
        clients = resolve_clients(client, version, node=node)
        label = clients.label
        if bin_dir is not None:
            label = f"{_installed_label(client, Path(bin_dir))}{label[label.index(' on ') :]}"
        self.clients_ran[label] = self.clients_ran.get(label, 0) + 1
        return clients

    def yarn_env(self, token: TokenLike = None) -> dict[str, str]:
        """Environment for yarn berry: registry, token, plain-HTTP allowance for loopback, no
        telemetry, private global folder; ``~/.yarnrc.yml`` (private HOME) turns off the network
        except for loopback. Without a token, what ``yarn npm login`` stored in that file is used."""
        environment = self.tool_env(None)
        home = Path(environment["HOME"])
        rc = home / ".yarnrc.yml"
        if not rc.exists():
            rc.write_text(_YARNRC)
        environment.update(
            {
                "YARN_NPM_REGISTRY_SERVER": self.url.rstrip("/"),
                "YARN_UNSAFE_HTTP_WHITELIST": "127.0.0.1",
                "YARN_ENABLE_TELEMETRY": "0",
                "YARN_ENABLE_PROGRESS_BARS": "0",
                "YARN_ENABLE_COLORS": "0",
                "YARN_ENABLE_HYPERLINKS": "0",
                "YARN_ENABLE_GLOBAL_CACHE": "0",
                "YARN_GLOBAL_FOLDER": str(self.workdir / "yarn-global"),
                "YARN_CACHE_FOLDER": str(self.workdir / "yarn-cache"),
            }
        )
        key = token_key(token)
        if key:
            environment["YARN_NPM_AUTH_TOKEN"] = key
        return environment

    def yarn(
        self,
        *args: str,
        token: TokenLike = None,
        cwd: Path | str | None = None,
        otp: str | None = None,
        bin_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        tty: bool = False,
        answers: Sequence[tuple[str, Reply]] = (),
        timeout: float = 180.0,
        version: str | None = None,
        node: str | None = None,
    ) -> ToolResult:
        """Run yarn berry (``yarn npm publish``, ``yarn npm whoami``, ``yarn npm login``) against
        this registry. ``otp`` adds ``--otp=<code>``; ``version="4"`` runs the pinned yarn,
        ``node="22"`` on a pinned Node."""
        clients = self._tool_clients("yarn", bin_dir, version, node)
        executable = clients.executable("yarn") or _executable("yarn", bin_dir)
        argv = [executable, *args] + ([f"--otp={otp}"] if otp else [])
        environment = self.yarn_env(token)
        environment["PATH"] = clients.path(environment.get("PATH"))
        environment.update(env or {})
        done = run_command(argv, env=environment, cwd=cwd or self.workdir, tty=tty, answers=answers, timeout=timeout)
        return self._kept(done)


# -- git repositories for release tools --------------------------------------------------------------


def git(cwd: Path | str, *args: str) -> str:
    """Run git in ``cwd`` with the release bot's identity and no system or user config; return stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_ENV)
    env["HOME"] = str(Path(cwd).resolve().parent)  # no ~/.gitconfig of the caller's
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def init_git_repo(path: Path | str, files: Mapping[str, str], *, message: str = "feat: initial release") -> Path:
    """A repository at ``path`` holding ``files``, one commit on ``main``, pushed to a bare
    ``origin`` beside it (``<path>.git``): what release tools tag and push to, with no host involved.
    Returns the bare remote's path."""
    repo = Path(path)
    remote = repo.with_name(repo.name + ".git")
    git(repo.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_files(repo, files, message)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "--set-upstream", "origin", "main")
    return remote


def commit_files(repo: Path | str, files: Mapping[str, str], message: str) -> str:
    """Write ``files`` (relative paths) into ``repo`` and commit them; returns the commit hash."""
    for relative, text in files.items():
        target = Path(repo) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)
    return git(repo, "rev-parse", "HEAD").strip()
