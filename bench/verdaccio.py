"""Our registry beside Verdaccio, the same workloads in one run, with ratios.

    python bench/verdaccio.py                  # full run (about 5 minutes on 2 cores, + install)
    python bench/verdaccio.py --quick          # short run (about 1.5 minutes)
    python bench/verdaccio.py --verdaccio-dir ~/.cache/bench-verdaccio   # keep the install between runs
    python bench/verdaccio.py --only start,get

Verdaccio is installed with ``npm install`` into a temporary folder (or ``--verdaccio-dir``) and runs
offline: no uplinks, local storage in a temporary folder, htpasswd auth, web UI off, logs at
``warn``. Both servers run in their own processes and the load comes from ``bench/load.js``, as in
``bench/run.py``. Workloads (see ``bench/README.md``):

- ``start``: process spawn to the first answered ``GET /-/ping`` (``pytest-npm-registry serve`` vs
  ``verdaccio``); beside it the floor (a werkzeug hello-world process, the best any server on our
  core dependencies can do), the embedded registry cold (import, start and first answer in a fresh
  interpreter) and warm (in-process start, what the pytest fixture does per session server).
- ``get``: ``GET /demo-pkg`` (JSON and corgi, anonymous), 8 keep-alive clients: req/s and p99.
- ``publish``: 10 KB tarballs, distinct versions of one package, 4 keep-alive clients.
- ``big``: one 20 MB tarball publish: time and the server's peak RSS.
- ``npm``: wall time of a real ``npm publish``.

Ratios are "how many times better ours is": Verdaccio / ours for times and memory, ours / Verdaccio
for throughput. Above 1 we are ahead.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run  # bench/run.py: process handling, the load generator, package bodies
from run import MB, Child, bearer, log, median, percentile, publish_body, random_tarball, write_requests

from pytest_npm_registry.api.clients import run_npm
from pytest_npm_registry.domain.packaging import make_tarball, manifest_for, write_package
from pytest_npm_registry.wire.server import RegistryServer

OURS = "registry"
VERDACCIO = "verdaccio"
DEFAULT_SPEC = "verdaccio@6"
PUBLISH_HEADERS = {**run.PUBLISH_HEADERS}
PUBLISH_OK = (200, 201)  # Verdaccio answers a publish with 201

VERDACCIO_CONFIG = """\
storage: {storage}
auth:
  htpasswd:
    file: {htpasswd}
    max_users: 1000
uplinks: {{}}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
  '**':
    access: $all
    publish: $authenticated
max_body_size: 200mb
# JWT API tokens: with the default (legacy) tokens Verdaccio re-checks the password with bcrypt on
# every authenticated request, which would cap its publishes at ~12/s.
security:
  api:
    jwt:
      sign:
        expiresIn: 7d
web:
  enable: false
log: {{type: stdout, format: pretty, level: warn}}
"""


@dataclass(frozen=True)
class Settings:
    quick: bool
    start_runs: int
    rounds: int
    get_seconds: float
    publish_count: int
    big_runs: int
    npm_runs: int

    @classmethod
    def make(cls, *, quick: bool) -> Settings:
        if quick:
            return cls(quick, start_runs=3, rounds=1, get_seconds=1.5, publish_count=200, big_runs=1, npm_runs=5)
        return cls(quick, start_runs=7, rounds=3, get_seconds=3.0, publish_count=500, big_runs=3, npm_runs=15)


# -- Verdaccio: install and spawn -----------------------------------------------------------------------


def install_verdaccio(directory: Path, spec: str) -> Path:
    """``npm install <spec>`` into ``directory`` (reused when already there); returns its bin script."""
    script = directory / "node_modules" / "verdaccio" / "bin" / "verdaccio"
    if script.exists():
        return script
    directory.mkdir(parents=True, exist_ok=True)
    # node-fetch@cjs is a dist-tag some mirrors do not carry; 2.7.0 is what it names.
    (directory / "package.json").write_text(
        json.dumps({"name": "bench-verdaccio", "private": True, "overrides": {"node-fetch": "2.7.0"}})
    )
    log(f"installing {spec} into {directory} (npm install)")
    started = time.perf_counter()
    proc = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", spec],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm install {spec} failed:\n{proc.stdout}\n{proc.stderr}")
    log(f"installed in {time.perf_counter() - started:.1f} s")
    return script


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_answered(port: int, proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """Poll ``GET /-/ping`` until it answers 200."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before answering")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/-/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.001)
        finally:
            conn.close()
    raise RuntimeError(f"{proc.args} did not answer within {timeout} s")


@dataclass
class Verdaccio:
    script: Path
    root: Path
    counter: int = 0

    def argv(self, port: int) -> tuple[list[str], Path]:
        """A fresh storage and config per process: every run starts from an empty registry."""
        self.counter += 1
        home = self.root / f"v{self.counter}"
        (home / "storage").mkdir(parents=True)
        config = home / "config.yaml"
        config.write_text(VERDACCIO_CONFIG.format(storage=home / "storage", htpasswd=home / "htpasswd"))
        return ["node", str(self.script), "--config", str(config), "--listen", f"127.0.0.1:{port}"], home


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn_verdaccio(verdaccio: Verdaccio, *, seed: bool = True) -> Child:
    """Verdaccio on a free port, with user ``bench`` (its token) and ``demo-pkg@1.0.0`` published."""
    port = free_port()
    argv, home = verdaccio.argv(port)
    log_file = (home / "verdaccio.log").open("w")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT, text=True)
    log_file.close()
    child = Child(VERDACCIO, proc, f"http://127.0.0.1:{port}/", proc.pid, None, VERDACCIO)
    try:
        wait_answered(port, proc)
        status, body = run.http_request(
            child,
            "PUT",
            "/-/user/org.couchdb.user:bench",
            body=json.dumps({"name": "bench", "password": "bench-password"}).encode(),
            headers={"content-type": "application/json"},
        )
        if status != 201:
            raise RuntimeError(f"verdaccio adduser: {status} {body[:200]!r}")
        child.token = json.loads(body)["token"]
        if seed:
            tarball = make_tarball(manifest_for("demo-pkg", "1.0.0"))
            status, body = run.http_request(
                child,
                "PUT",
                "/demo-pkg",
                body=publish_body("demo-pkg", "1.0.0", tarball).encode(),
                headers={**PUBLISH_HEADERS, **bearer(child.token)},
            )
            if status not in PUBLISH_OK:
                raise RuntimeError(f"verdaccio seed publish: {status} {body[:200]!r}")
    except BaseException:
        _stop(proc)
        raise
    return child


def spawn_ours() -> Child:
    """``bench/serve.py registry``: user ``alice``, a bypass-2FA token, ``demo-pkg@1.0.0``."""
    return run.spawn(OURS)


@contextmanager
def servers(verdaccio: Verdaccio, which: Sequence[str] = (OURS, VERDACCIO)) -> Iterator[dict[str, Child]]:
    started: dict[str, Child] = {}
    try:
        for name in which:
            started[name] = spawn_ours() if name == OURS else spawn_verdaccio(verdaccio)
        yield started
    finally:
        for name, child in started.items():
            if name == OURS:
                child.close()
            else:
                _stop(child.proc)


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    metric: str
    ours: float
    theirs: float
    unit: str
    higher_is_better: bool
    goal: float | None = None  # minimum ratio, when there is one
    fmt: str = "{:.1f}"

    @property
    def ratio(self) -> float:
        """How many times better ours is (> 1: ahead)."""
        if self.higher_is_better:
            return self.ours / self.theirs if self.theirs else float("inf")
        return self.theirs / self.ours if self.ours else float("inf")

    @property
    def passed(self) -> bool | None:
        return None if self.goal is None else self.ratio >= self.goal


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        log(
            f"{row.workload} / {row.metric}: ours {row.fmt.format(row.ours)}, verdaccio "
            f"{row.fmt.format(row.theirs)} {row.unit} -> x{row.ratio:.2f}"
        )


def print_table(report: Report) -> None:
    header = ["workload", "metric", OURS, VERDACCIO, "unit", "ours better by", "goal", "result"]
    lines = [header]
    for row in report.rows:
        goal = "-" if row.goal is None else f">= x{row.goal:g}"
        verdict = {True: "PASS", False: "MISS", None: ""}[row.passed]
        lines.append(
            [
                row.workload,
                row.metric,
                row.fmt.format(row.ours),
                row.fmt.format(row.theirs),
                row.unit,
                f"x{row.ratio:.2f}",
                goal,
                verdict,
            ]
        )
    run.print_lines(lines)


# -- 1. cold start ---------------------------------------------------------------------------------


# A werkzeug "hello world" served the way pytest-httpserver serves: the least any process built on
# our core dependencies can take to answer its first request (interpreter, werkzeug, make_server).
FLOOR_SCRIPT = """
import sys
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response
app = Request.application(lambda request: Response("{}", content_type="application/json"))
make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
"""

# What a test session pays for the embedded registry the first time: importing the package,
# starting the server and the first answer, in a fresh interpreter. The interpreter's own start is
# left out: pytest is already running when the fixture is first used.
EMBEDDED_COLD_SCRIPT = """
import http.client, time
started = time.perf_counter()
from pytest_npm_registry import NpmRegistry
registry = NpmRegistry()
registry.start()
conn = http.client.HTTPConnection(registry.server.host, registry.server.port)
conn.request("GET", "/-/ping")
assert conn.getresponse().read() is not None
print((time.perf_counter() - started) * 1e3)
registry.close()
"""


def _time_process_start(make_argv: Callable[[int], list[str]], env: dict[str, str] | None = None) -> float:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        make_argv(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        wait_answered(port, proc)
        return time.perf_counter() - started
    finally:
        _stop(proc)


def _time_embedded_cold() -> float:
    out = subprocess.run([sys.executable, "-c", EMBEDDED_COLD_SCRIPT], capture_output=True, text=True, check=True)
    return float(out.stdout) / 1e3


def bench_start(settings: Settings, report: Report, verdaccio: Verdaccio) -> None:
    log(f"1. cold start: process spawn -> first answered GET /-/ping, {settings.start_runs} runs each")
    run.compile_package()
    argvs: dict[str, Callable[[int], list[str]]] = {
        OURS: lambda port: [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", str(port)],
        VERDACCIO: lambda port: verdaccio.argv(port)[0],
        "werkzeug_floor": lambda port: [sys.executable, "-c", FLOOR_SCRIPT, str(port)],
    }
    samples: dict[str, list[float]] = {name: [] for name in (*argvs, "registry_embedded_cold", "registry_in_process")}
    for _ in range(settings.start_runs):  # interleaved, so drift on the machine hits every column alike
        for name, argv in argvs.items():
            samples[name].append(_time_process_start(argv))
        samples["registry_embedded_cold"].append(_time_embedded_cold())
        samples["registry_in_process"].append(run._time_start_registry(RegistryServer)[0])
    data = {
        name: {"median_ms": median(runs) * 1e3, "runs_ms": [t * 1e3 for t in runs]} for name, runs in samples.items()
    }
    report.data["start"] = data
    theirs = data[VERDACCIO]["median_ms"]
    rows = [
        ("process spawn -> first answer", OURS, 10, "{:.0f}"),
        ("  floor: werkzeug hello-world spawn", "werkzeug_floor", None, "{:.0f}"),
        ("embedded, cold: import+start+answer", "registry_embedded_cold", 10, "{:.0f}"),
        ("embedded, warm: in-process start", "registry_in_process", 10, "{:.1f}"),
    ]
    for metric, name, goal, fmt in rows:
        report.add(
            Row("1 start", metric, data[name]["median_ms"], theirs, "ms", higher_is_better=False, goal=goal, fmt=fmt)
        )


# -- 2. packument GET --------------------------------------------------------------------------------

GET_VARIANTS = {"json": "application/json", "corgi": run.CORGI}


def bench_get(settings: Settings, report: Report, verdaccio: Verdaccio, workdir: Path) -> None:
    log(f"2. packument GET, 8 keep-alive clients, {settings.get_seconds} s x {settings.rounds} rounds")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with servers(verdaccio) as children:
        sizes = {}
        for name, child in children.items():
            status, body = run.http_request(child, "GET", "/demo-pkg", headers={"accept": "application/json"})
            assert status == 200, (name, status)
            sizes[name] = len(body)
        files = {
            variant: write_requests(
                workdir / f"get-{variant}.jsonl",
                [{"method": "GET", "path": "/demo-pkg", "headers": {"accept": accept}}],
            )
            for variant, accept in GET_VARIANTS.items()
        }
        plan = [(name, variant) for variant in GET_VARIANTS for name in children]
        for round_no in range(settings.rounds):
            for name, variant in plan if round_no % 2 == 0 else list(reversed(plan)):
                result = run.run_load(
                    children[name], files[variant], workdir, concurrency=8, duration=settings.get_seconds, warmup=300
                )
                results.setdefault((name, variant), []).append(result)
    summary = {f"{name} {variant}": run.summarize_rounds(rounds) for (name, variant), rounds in results.items()}
    report.data["get"] = {"packument_bytes": sizes, **summary}
    for variant in GET_VARIANTS:
        ours, theirs = summary[f"{OURS} {variant}"], summary[f"{VERDACCIO} {variant}"]
        report.add(
            Row(
                "2 GET",
                f"{variant} packument: req/s",
                ours["rps"],
                theirs["rps"],
                "req/s",
                higher_is_better=True,
                goal=1,
                fmt="{:.0f}",
            )
        )
        report.add(
            Row(
                "2 GET",
                f"{variant} packument: p99",
                ours["p99_ms"],
                theirs["p99_ms"],
                "ms",
                higher_is_better=False,
                fmt="{:.2f}",
            )
        )


# -- 3. publish throughput ----------------------------------------------------------------------------


PUBLISH_CLIENTS = (4, 1)


def bench_publish(settings: Settings, report: Report, verdaccio: Verdaccio, workdir: Path) -> None:
    count, warmup = settings.publish_count, 50
    log(
        f"3. publish throughput: {count} x 10 KB, {' and '.join(map(str, PUBLISH_CLIENTS))} keep-alive clients, "
        "fresh servers per round"
    )
    rng = random.Random(4)
    requests = []
    for i in range(count + warmup):
        version = f"1.0.{i}"
        tarball = random_tarball("bench-pub", version, 10 * 1024, rng)
        requests.append({"method": "PUT", "path": "/bench-pub", "body": publish_body("bench-pub", version, tarball)})
    bodies = write_requests(workdir / "publish.jsonl", requests)
    del requests
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for round_no in range(settings.rounds):
        order = [OURS, VERDACCIO] if round_no % 2 == 0 else [VERDACCIO, OURS]
        for clients in PUBLISH_CLIENTS:
            for name in order:
                with servers(verdaccio, [name]) as children:
                    child = children[name]
                    result = run.run_load(
                        child,
                        bodies,
                        workdir,
                        concurrency=clients,
                        count=count,
                        warmup=warmup,
                        cycle=False,
                        headers={**PUBLISH_HEADERS, **bearer(child.token)},
                        expect=PUBLISH_OK,
                    )
                    status, body = run.http_request(child, "GET", "/bench-pub", headers={"accept": "application/json"})
                    stored = len(json.loads(body).get("versions", {})) if status == 200 else 0
                    if stored != count + warmup:
                        raise RuntimeError(f"{name}: {stored} versions stored after {count + warmup} publishes")
                    results.setdefault((name, clients), []).append(result)
    summary = {f"{name} {clients} clients": run.summarize_rounds(r) for (name, clients), r in results.items()}
    report.data["publish"] = summary
    for clients in PUBLISH_CLIENTS:
        ours, theirs = summary[f"{OURS} {clients} clients"], summary[f"{VERDACCIO} {clients} clients"]
        what = f"{clients} client{'s' if clients > 1 else ''}"
        report.add(
            Row(
                "3 publish",
                f"10 KB publishes/s, {what}",
                ours["rps"],
                theirs["rps"],
                "/s",
                higher_is_better=True,
                goal=1,
                fmt="{:.0f}",
            )
        )
        report.add(
            Row(
                "3 publish",
                f"publish p99, {what}",
                ours["p99_ms"],
                theirs["p99_ms"],
                "ms",
                higher_is_better=False,
                fmt="{:.1f}",
            )
        )


# -- 4. 20 MB publish ----------------------------------------------------------------------------------


def bench_big(settings: Settings, report: Report, verdaccio: Verdaccio) -> None:
    log(f"4. 20 MB publish: time and server peak RSS, {settings.big_runs} run(s), a fresh server each")
    rng = random.Random(6)
    meta = manifest_for("bench-big", "1.0.0")
    tarball = make_tarball(meta, {"index.js": "module.exports = 42;\n", "blob.bin": rng.randbytes(20 * MB)})
    body = publish_body("bench-big", "1.0.0", tarball).encode()
    samples: dict[str, list[dict[str, float]]] = {OURS: [], VERDACCIO: []}
    for _ in range(settings.big_runs):
        for name in (OURS, VERDACCIO):
            with servers(verdaccio, [name]) as children:
                child = children[name]
                time.sleep(0.2)  # let the server settle after seeding
                child.reset_peak()
                before = child.status()
                started = time.perf_counter()
                status, answer = run.http_request(
                    child, "PUT", "/bench-big", body=body, headers={**PUBLISH_HEADERS, **bearer(child.token)}
                )
                elapsed = time.perf_counter() - started
                after = child.status()
            if status not in PUBLISH_OK:
                raise RuntimeError(f"20 MB publish to {name}: {status} {answer[:300]!r}")
            samples[name].append(
                {
                    "seconds": elapsed,
                    "rss_before": before["VmRSS"],
                    "peak": after["VmHWM"],
                    "peak_growth": after["VmHWM"] - before["VmRSS"],
                }
            )
    data = {
        name: {
            "median_ms": median(s["seconds"] for s in runs) * 1e3,
            "rss_before_mb": median(s["rss_before"] for s in runs) / MB,
            "peak_mb_max": max(s["peak"] for s in runs) / MB,
            "peak_growth_mb_max": max(s["peak_growth"] for s in runs) / MB,
        }
        for name, runs in samples.items()
    }
    data["body_mb"] = {"value": len(body) / MB}
    report.data["big_publish"] = data
    ours, theirs = data[OURS], data[VERDACCIO]
    report.add(
        Row(
            "4 20 MB publish",
            f"time ({len(body) / MB:.1f} MB body)",
            ours["median_ms"],
            theirs["median_ms"],
            "ms",
            higher_is_better=False,
            fmt="{:.0f}",
        )
    )
    memory = (
        ("server RSS before (idle, seeded)", "rss_before_mb"),
        ("server peak RSS", "peak_mb_max"),
        ("server peak RSS growth", "peak_growth_mb_max"),
    )
    for metric, key in memory:
        report.add(Row("4 20 MB publish", metric, ours[key], theirs[key], "MB", higher_is_better=False, goal=1))


# -- 5. real npm publish -------------------------------------------------------------------------------


def bench_npm(settings: Settings, report: Report, verdaccio: Verdaccio, workdir: Path) -> None:
    runs = settings.npm_runs
    log(f"5. real `npm publish` wall time, {runs} runs per server (+1 warm-up), interleaved")
    packages = [write_package(workdir / "npm-pkgs" / f"p{i}", f"bench-npm-{i}", "1.0.0") for i in range(runs + 1)]
    times: dict[str, list[float]] = {OURS: [], VERDACCIO: []}
    with servers(verdaccio) as children:
        envs = {}
        for name, child in children.items():
            envs[name] = run.npm_env(workdir / f"npm-{name}", child)
        for i, package in enumerate(packages):
            for name in (OURS, VERDACCIO) if i % 2 == 0 else (VERDACCIO, OURS):
                result = run_npm(["publish"], env=envs[name], cwd=package, timeout=120)
                if not result.ok:
                    raise RuntimeError(f"npm publish against {name} failed:\n{result}")
                if i > 0:
                    times[name].append(result.duration)
    data = {
        name: {"median_ms": median(ts) * 1e3, "p90_ms": percentile(ts, 90) * 1e3, "runs_ms": [t * 1e3 for t in ts]}
        for name, ts in times.items()
    }
    report.data["npm_publish"] = data
    report.add(
        Row(
            "5 npm publish",
            "wall time, median",
            data[OURS]["median_ms"],
            data[VERDACCIO]["median_ms"],
            "ms",
            higher_is_better=False,
            goal=1,
            fmt="{:.0f}",
        )
    )


# -- driver ----------------------------------------------------------------------------------------

WORKLOADS = ("start", "get", "publish", "big", "npm")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run: one round, smaller counts")
    parser.add_argument("--only", help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument(
        "--verdaccio-dir", type=Path, help="install Verdaccio here and reuse it next time (default: a temporary folder)"
    )
    parser.add_argument("--verdaccio-spec", default=DEFAULT_SPEC, help=f"what to npm install (default {DEFAULT_SPEC})")
    parser.add_argument("--output", type=Path, default=run.RESULTS / "verdaccio.json")
    args = parser.parse_args(argv)
    selected = args.only.split(",") if args.only else list(WORKLOADS)
    unknown = set(selected) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}: choose among {', '.join(WORKLOADS)}")
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")

    settings = Settings.make(quick=args.quick)
    report = Report()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="npm-registry-vs-verdaccio-") as tmp:
        workdir = Path(tmp)
        script = install_verdaccio(args.verdaccio_dir or workdir / "verdaccio-install", args.verdaccio_spec)
        version = json.loads((script.parent.parent / "package.json").read_text())["version"]
        verdaccio = Verdaccio(script, workdir / "verdaccio-runs")
        steps: dict[str, Callable[[], None]] = {
            "start": lambda: bench_start(settings, report, verdaccio),
            "get": lambda: bench_get(settings, report, verdaccio, workdir),
            "publish": lambda: bench_publish(settings, report, verdaccio, workdir),
            "big": lambda: bench_big(settings, report, verdaccio),
            "npm": lambda: bench_npm(settings, report, verdaccio, workdir),
        }
        for name in WORKLOADS:
            if name in selected:
                steps[name]()

    output = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": time.time() - started,
        "verdaccio_version": version,
        "settings": settings.__dict__,
        "environment": run.environment(),
        "table": [{**row.__dict__, "ratio": row.ratio, "passed": row.passed} for row in report.rows],
        "workloads": report.data,
    }
    run.save_results(args.output, output)
    print(f"\npytest-npm-registry vs Verdaccio {version} ({os.cpu_count()} CPUs); ratio > 1: ours is ahead\n")
    print_table(report)
    print(f"\nwrote {args.output} ({output['duration_s']:.0f} s)")
    missed = [f"{row.workload} / {row.metric}" for row in report.rows if row.passed is False]
    if missed:
        print(f"behind the goal: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
