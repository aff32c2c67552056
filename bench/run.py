"""The pytest-npm-registry benchmark suite.

    python bench/run.py            # full run (about 5 minutes on 2 cores)
    python bench/run.py --quick    # short run (about 1 minute): smaller counts, fewer rounds
    python bench/run.py --only get,publish

Prints a table of medians beside the do-nothing stubs and the targets, and writes
``bench/results/latest.json``. Workloads and targets are described in ``bench/README.md``.

Servers under HTTP load run in their own processes (``bench/serve.py``) and the load comes from
``bench/load.js`` (Node.js), so neither the driver nor the load generator shares the server's GIL.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import gc
import http.client
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import serve  # bench/serve.py: the server processes and the stub apps

import pytest_npm_registry
from pytest_npm_registry.api.clients import BASE_CONFIG, isolated_env, npmrc_text, run_npm
from pytest_npm_registry.api.registry import NpmRegistry
from pytest_npm_registry.domain.packaging import make_tarball, manifest_for, publish_document, write_package
from pytest_npm_registry.wire.server import RegistryServer

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
LOAD_JS = BENCH / "load.js"
SERVE_PY = BENCH / "serve.py"

CORGI = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
MB = 1024 * 1024

#: Our registry and the two floors.
OURS = "registry"
STUB_WZ = "stub-werkzeug"
STUB_STD = "stub-stdlib"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, -(-len(ordered) * p // 100) - 1))
    return ordered[int(rank)]


@dataclass(frozen=True)
class Settings:
    quick: bool
    rounds: int  # throughput rounds (median taken)
    get_seconds: float
    publish_count: int
    start_runs: int
    reset_runs: int
    npm_runs: int
    big_runs: int
    mixed_requests: int

    @classmethod
    def make(cls, *, quick: bool) -> Settings:
        full = cls(
            quick=False,
            rounds=3,
            get_seconds=3.0,
            publish_count=2000,
            start_runs=12,
            reset_runs=3000,
            npm_runs=7,
            big_runs=5,
            mixed_requests=10_000,
        )
        if not quick:
            return full
        return dataclasses.replace(
            full,
            quick=True,
            rounds=1,
            get_seconds=1.5,
            publish_count=500,
            start_runs=4,
            reset_runs=500,
            npm_runs=3,
            big_runs=2,
        )


# -- server processes ------------------------------------------------------------------------------


@dataclass
class Child:
    """A server process started from ``bench/serve.py``."""

    kind: str
    proc: subprocess.Popen[str]
    url: str
    pid: int
    token: str | None
    label: str

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) of the server process, in bytes."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        return values

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (``echo 5 > /proc/PID/clear_refs``, Linux >= 4.0)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def spawn(kind: str, *, canned: Path | None = None, label: str | None = None) -> Child:
    argv = [sys.executable, str(SERVE_PY), kind]
    if canned is not None:
        argv += ["--canned", str(canned)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode} before printing its URL")
    info = json.loads(line)
    child = Child(kind, proc, info["url"], info["pid"], info["token"], label or kind)
    status, _ = http_request(child, "GET", "/-/ping")  # answers (200 or a stub's 404): it is up
    assert status in (200, 404), status
    return child


@contextmanager
def children(*specs: tuple[str, dict[str, Any]]) -> Iterator[list[Child]]:
    started: list[Child] = []
    try:
        for kind, options in specs:
            started.append(spawn(kind, **options))
        yield started
    finally:
        for child in started:
            child.close()


class Reachable(Protocol):
    """A server a benchmark talks to (``Child`` here, ``tail.Child``)."""

    @property
    def host_port(self) -> tuple[str, int]: ...


def http_request(
    child: Reachable, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    host, port = child.host_port
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- the Node.js load generator --------------------------------------------------------------------


def write_requests(path: Path, requests: Iterable[dict[str, Any]]) -> Path:
    with path.open("w") as out:
        for request in requests:
            out.write(json.dumps(request, separators=(",", ":")) + "\n")
    return path


def run_load(
    child: Child,
    requests_file: Path,
    workdir: Path,
    *,
    concurrency: int,
    count: int | None = None,
    duration: float | None = None,
    warmup: int = 0,
    cycle: bool = True,
    offset: int = 0,
    headers: dict[str, str] | None = None,
    expect: Sequence[int] = (200,),
) -> dict[str, Any]:
    spec = {
        "url": child.url,
        "requests": str(requests_file),
        "concurrency": concurrency,
        "count": count,
        "duration": duration,
        "warmup": warmup,
        "cycle": cycle,
        "offset": offset,
        "headers": headers or {},
    }
    spec_file = workdir / "load-spec.json"
    spec_file.write_text(json.dumps(spec))
    proc = subprocess.run(["node", str(LOAD_JS), str(spec_file)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"load.js failed ({proc.returncode}): {proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    unexpected = {k: v for k, v in result["statuses"].items() if not (k.isdigit() and int(k) in expect)}
    if unexpected:
        raise RuntimeError(f"{child.label}: unexpected answers {unexpected} (expected {list(expect)})")
    return result


def summarize_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": median(r["rps"] for r in rounds),
        "p50_ms": median(r["latency_ms"]["p50"] for r in rounds),
        "p99_ms": median(r["latency_ms"]["p99"] for r in rounds),
        "max_ms": max(r["latency_ms"]["max"] for r in rounds),
        "requests": sum(r["count"] for r in rounds),
        "rounds": rounds,
    }


# -- package bodies --------------------------------------------------------------------------------


_TAR_OVERHEAD: dict[int, int] = {}


def random_tarball(name: str, version: str, size: int, rng: random.Random) -> bytes:
    """A tarball of about ``size`` bytes: one incompressible file plus package.json."""
    meta = manifest_for(name, version)
    if size not in _TAR_OVERHEAD:
        probe = make_tarball(meta, {"index.js": "module.exports = 42;\n", "data.bin": rng.randbytes(size)})
        _TAR_OVERHEAD[size] = max(0, len(probe) - size)
    payload = rng.randbytes(max(1, size - _TAR_OVERHEAD[size]))
    return make_tarball(meta, {"index.js": "module.exports = 42;\n", "data.bin": payload})


def publish_body(name: str, version: str, tarball: bytes) -> str:
    return json.dumps(publish_document(manifest_for(name, version), tarball))


PUBLISH_HEADERS = {"content-type": "application/json", "npm-command": "publish", "npm-auth-type": "web"}


def bearer(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    metric: str
    values: dict[str, float | None]  # column label -> value
    target: str
    passed: bool | None
    unit: str = ""
    fmt: str = "{:.1f}"


@dataclass
class Report:
    settings: Settings
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        verdict = {True: "PASS", False: "MISS", None: "info"}[row.passed]
        values = ", ".join(f"{k}={_fmt(v, row.fmt)}" for k, v in row.values.items())
        log(f"{row.workload} / {row.metric}: {values} {row.unit} (target {row.target}: {verdict})")


def _fmt(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


# -- 1. in-process start ---------------------------------------------------------------------------


def compile_package() -> None:
    """Write the package's bytecode, as ``pip install`` does, before timing a process start.

    An editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (set in many CI and Docker images)
    has none, and every spawn would compile all modules again: ~45 ms that no installed copy pays.
    """
    compileall.compile_dir(Path(pytest_npm_registry.__file__).parent, quiet=1)


def npm_env(home: Path, child: Child) -> dict[str, str]:
    """An isolated npm (config, cache, HOME in ``home``) that publishes to ``child`` with its token."""
    home.mkdir()
    userconfig = home / "npmrc"
    userconfig.write_text(npmrc_text(child.url, child.token or "npm_stubtoken", BASE_CONFIG))
    return isolated_env(home, userconfig)


def _first_answer(host: str, port: int) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/-/ping")
        conn.getresponse().read()
    finally:
        conn.close()


def _time_start_registry(make: Callable[[], RegistryServer]) -> tuple[float, float]:
    started = time.perf_counter()
    server = make()
    server.start()
    _first_answer(server.host, server.port)
    elapsed = time.perf_counter() - started
    stop_started = time.perf_counter()
    server.stop()
    return elapsed, time.perf_counter() - stop_started


def _time_start_stdlib() -> tuple[float, float]:
    started = time.perf_counter()
    httpd = serve.make_stub_stdlib({})
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _first_answer("127.0.0.1", httpd.server_address[1])
    elapsed = time.perf_counter() - started
    stop_started = time.perf_counter()
    httpd.shutdown()
    httpd.server_close()
    thread.join()
    return elapsed, time.perf_counter() - stop_started


def bench_start(settings: Settings, report: Report) -> None:
    log("1. in-process server start (construct, start, first answer)")
    variants: dict[str, Callable[[], tuple[float, float]]] = {
        OURS: lambda: _time_start_registry(RegistryServer),
        STUB_WZ: lambda: _time_start_registry(lambda: serve.make_stub_werkzeug({})),
        STUB_STD: _time_start_stdlib,
    }
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for _ in range(settings.start_runs + 1):  # interleaved; the first round is reported apart (cold)
        for name, measure in variants.items():
            samples[name].append(measure())
    data = {
        name: {
            "first_ms": runs[0][0] * 1e3,
            "median_ms": median(r[0] for r in runs[1:]) * 1e3,
            "max_ms": max(r[0] for r in runs[1:]) * 1e3,
            "stop_median_ms": median(r[1] for r in runs[1:]) * 1e3,
            "runs_ms": [r[0] * 1e3 for r in runs],
        }
        for name, runs in samples.items()
    }
    report.data["start"] = data
    ours = data[OURS]["median_ms"]
    report.add(
        Row(
            "1 start",
            "start -> first answer, median",
            {k: v["median_ms"] for k, v in data.items()},
            "<= 20 ms",
            ours <= 20,
            "ms",
            "{:.2f}",
        )
    )
    report.add(
        Row(
            "1 start",
            "first start in process (cold)",
            {k: v["first_ms"] for k, v in data.items()},
            "-",
            None,
            "ms",
            "{:.2f}",
        )
    )
    report.add(
        Row(
            "1 start",
            "stop() (not part of the target)",
            {k: v["stop_median_ms"] for k, v in data.items()},
            "-",
            None,
            "ms",
            "{:.0f}",
        )
    )


# -- 2. per-test reset -----------------------------------------------------------------------------


def _populate(reg: NpmRegistry) -> None:
    """What a typical test leaves behind: two users, tokens, a package with two versions."""
    alice = reg.add_user("alice", tfa="auth-and-writes")
    bob = reg.add_user("bob")
    alice.create_token(bypass_2fa=True)
    bob.create_token()
    reg.publish("demo-pkg", "1.0.0", by=alice)
    reg.publish("demo-pkg", "1.1.0", by=alice)


def bench_reset(settings: Settings, report: Report) -> None:
    log("2. per-test reset (NpmRegistry(policy, server=session_server))")
    server = RegistryServer()
    server.start()
    try:
        empty: list[float] = []
        populated: list[float] = []
        roundtrip: list[float] = []
        reg = NpmRegistry("current", server=server)
        for i in range(settings.reset_runs):
            started = time.perf_counter()
            reg = NpmRegistry("current", server=server)
            empty.append(time.perf_counter() - started)
            if i % 5 == 0:  # fewer populated runs: populating is slower than what it measures
                _populate(reg)
                started = time.perf_counter()
                reg = NpmRegistry("current", server=server)
                populated.append(time.perf_counter() - started)
            started = time.perf_counter()
            reg = NpmRegistry("current", server=server)
            reg.close()
            server.check()
            roundtrip.append(time.perf_counter() - started)
        gc.collect()
    finally:
        server.stop()
    data = {
        name: {"median_us": median(xs) * 1e6, "p99_us": percentile(xs, 99) * 1e6, "runs": len(xs)}
        for name, xs in (("empty", empty), ("after_typical_test", populated), ("fixture_setup_teardown", roundtrip))
    }
    report.data["reset"] = data
    for name, label in (
        ("empty", "reset of an empty registry"),
        ("after_typical_test", "reset after a typical test"),
        ("fixture_setup_teardown", "fixture set-up + teardown (+check)"),
    ):
        ours = data[name]["median_us"]
        report.add(Row("2 reset", f"{label}, median", {OURS: ours}, "<= 1000 us", ours <= 1000, "us", "{:.0f}"))
        report.add(Row("2 reset", f"{label}, p99", {OURS: data[name]["p99_us"]}, "-", None, "us", "{:.0f}"))


# -- 3. packument GET throughput -------------------------------------------------------------------

GET_VARIANTS = {
    "json anon": ("application/json", False),
    "json token": ("application/json", True),
    "corgi anon": (CORGI, False),
    "corgi token": (CORGI, True),
}
STUB_GET_VARIANTS = ("json anon", "json token")


def server_specs(canned: Path) -> list[tuple[str, dict[str, Any]]]:
    """Ours and the two floors."""
    return [
        (OURS, {"label": OURS}),
        (STUB_WZ, {"canned": canned, "label": STUB_WZ}),
        (STUB_STD, {"canned": canned, "label": STUB_STD}),
    ]


def bench_get(settings: Settings, report: Report, workdir: Path) -> None:
    log("3. packument GET throughput, 8 keep-alive clients (node load.js)")
    with children((OURS, {})) as (ours,):
        status, packument = http_request(ours, "GET", "/demo-pkg", headers={"accept": "application/json"})
        assert status == 200, status
    canned = workdir / "canned.json"
    canned.write_text(json.dumps({"/demo-pkg": packument.decode(), "/-/whoami": '{"username":"alice"}'}))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with children(*server_specs(canned)) as servers:
        plan: list[tuple[Child, str]] = []
        for child in servers:
            names = GET_VARIANTS if child.kind == OURS else STUB_GET_VARIANTS
            plan += [(child, name) for name in names]
        files: dict[tuple[str, str], Path] = {}
        for child, name in plan:
            accept, with_token = GET_VARIANTS[name]
            token = (child.token or "npm_stubtoken") if with_token else None
            files[child.label, name] = write_requests(
                workdir / f"get-{child.label}-{name.replace(' ', '-')}.jsonl",
                [{"method": "GET", "path": "/demo-pkg", "headers": {"accept": accept, **bearer(token)}}],
            )
        for round_no in range(settings.rounds):
            order = plan if round_no % 2 == 0 else list(reversed(plan))
            for child, name in order:
                result = run_load(
                    child, files[child.label, name], workdir, concurrency=8, duration=settings.get_seconds, warmup=300
                )
                results.setdefault(child.label, {}).setdefault(name, []).append(result)
    data = {
        label: {name: summarize_rounds(rounds) for name, rounds in by_name.items()}
        for label, by_name in results.items()
    }
    report.data["get"] = data
    for name in GET_VARIANTS:
        columns = [label for label in data if name in data[label]]
        rps = {label: data[label][name]["rps"] for label in columns}
        p99 = {label: data[label][name]["p99_ms"] for label in columns}
        ok = data[OURS][name]["rps"] >= 2200 and data[OURS][name]["p99_ms"] <= 10
        report.add(Row("3 GET", f"{name}: req/s", rps, ">= 2200 req/s", ok, "req/s", "{:.0f}"))
        report.add(Row("3 GET", f"{name}: p99", p99, "<= 10 ms", ok, "ms", "{:.2f}"))


# -- 4. publish throughput -------------------------------------------------------------------------


def bench_publish(settings: Settings, report: Report, workdir: Path) -> None:
    count = settings.publish_count
    warmup = 100
    log(f"4. publish throughput: {count} x 10 KB tarballs, 4 keep-alive clients, a fresh server per round")
    rng = random.Random(4)
    tarball_sizes: list[int] = []
    requests = []
    for i in range(count + warmup):
        version = f"1.0.{i}"
        tarball = random_tarball("bench-pub", version, 10 * 1024, rng)
        tarball_sizes.append(len(tarball))
        requests.append({"method": "PUT", "path": "/bench-pub", "body": publish_body("bench-pub", version, tarball)})
    bodies = write_requests(workdir / "publish.jsonl", requests)
    body_size = median(len(r["body"]) for r in requests)
    del requests
    canned = workdir / "canned-empty.json"
    canned.write_text("{}")

    results: dict[str, list[dict[str, Any]]] = {}
    specs = server_specs(canned)
    for _ in range(settings.rounds):
        for spec in specs:
            with children(spec) as (child,):  # a fresh registry per round: every version is new
                result = run_load(
                    child,
                    bodies,
                    workdir,
                    concurrency=4,
                    count=count,
                    warmup=warmup,
                    cycle=False,
                    headers={**PUBLISH_HEADERS, **bearer(child.token or "npm_stubtoken")},
                )
                results.setdefault(child.label, []).append(result)
    data: dict[str, Any] = {label: summarize_rounds(rounds) for label, rounds in results.items()}
    labels = list(results)
    data["tarball_bytes_median"] = median(tarball_sizes)
    data["body_bytes_median"] = body_size
    report.data["publish"] = data
    rps = {label: data[label]["rps"] for label in labels}
    report.add(
        Row(
            "4 publish",
            f"10 KB publishes/s ({median(tarball_sizes) / 1024:.1f} KB tgz)",
            rps,
            ">= 900 /s",
            data[OURS]["rps"] >= 900,
            "/s",
            "{:.0f}",
        )
    )
    report.add(
        Row("4 publish", "publish p99", {label: data[label]["p99_ms"] for label in labels}, "-", None, "ms", "{:.2f}")
    )


# -- 5. real npm publish ---------------------------------------------------------------------------


def bench_npm(settings: Settings, report: Report, workdir: Path) -> None:
    if shutil.which("npm") is None:
        log("5. skipped: npm is not on PATH")
        return
    runs = settings.npm_runs
    log(f"5. real `npm publish` wall time, {runs} runs per server (+1 warm-up), interleaved")
    packages = [write_package(workdir / "npm-pkgs" / f"p{i}", f"bench-npm-{i}", "1.0.0") for i in range(runs + 1)]
    canned = workdir / "canned-empty.json"
    canned.write_text("{}")
    specs = server_specs(canned)
    times: dict[str, list[float]] = {options["label"]: [] for _, options in specs}
    with children(*specs) as servers:
        envs: dict[str, dict[str, str]] = {}
        for child in servers:
            envs[child.label] = npm_env(workdir / f"npm-{child.label}", child)
        for i, package in enumerate(packages):
            order = servers[i % len(servers) :] + servers[: i % len(servers)]
            for child in order:
                result = run_npm(["publish"], env=envs[child.label], cwd=package, timeout=120)
                if not result.ok:
                    raise RuntimeError(f"npm publish against {child.label} failed:\n{result}")
                if i > 0:  # the first round warms npm's cache and the OS file cache
                    times[child.label].append(result.duration)
    medians = {label: median(ts) * 1e3 for label, ts in times.items()}
    floor = medians[STUB_STD]
    overhead = {label: (ms / floor - 1) * 100 for label, ms in medians.items()}
    report.data["npm_publish"] = {
        label: {
            "median_ms": medians[label],
            "overhead_vs_stub_stdlib_pct": overhead[label],
            "runs_ms": [t * 1e3 for t in ts],
        }
        for label, ts in times.items()
    }
    report.add(Row("5 npm publish", "wall time, median", medians, "-", None, "ms", "{:.0f}"))
    report.add(Row("5 npm publish", "vs stub-stdlib", overhead, "<= +5 %", overhead[OURS] <= 5, "%", "{:+.1f}"))


# -- 6. 20 MB publish ------------------------------------------------------------------------------


def bench_big(settings: Settings, report: Report, workdir: Path) -> None:
    size = 20 * MB
    log("6. 20 MB tarball publish over HTTP: time and peak RSS growth, a fresh server per publish")
    rng = random.Random(6)
    meta = manifest_for("bench-big", "1.0.0")
    tarball = make_tarball(meta, {"index.js": "module.exports = 42;\n", "blob.bin": rng.randbytes(size)})
    body = publish_body("bench-big", "1.0.0", tarball).encode()
    canned = workdir / "canned-empty.json"
    canned.write_text("{}")
    specs = server_specs(canned)
    samples: dict[str, list[dict[str, float]]] = {options["label"]: [] for _, options in specs}
    for _ in range(settings.big_runs):
        for spec in specs:
            # A fresh process each time: the allocator keeps freed 27 MB blocks, so a second publish
            # in the same process would show a lower peak than a test session's first one.
            with children(spec) as (child,):
                headers = {**PUBLISH_HEADERS, **bearer(child.token or "npm_stubtoken")}
                child.reset_peak()
                before = child.status()
                started = time.perf_counter()
                status, answer = http_request(child, "PUT", "/bench-big", body=body, headers=headers)
                elapsed = time.perf_counter() - started
                after = child.status()
            if status != 200:
                raise RuntimeError(f"20 MB publish to {child.label}: {status} {answer[:300]!r}")
            samples[child.label].append(
                {
                    "seconds": elapsed,
                    "peak_growth_bytes": after["VmHWM"] - before["VmRSS"],
                    "retained_growth_bytes": after["VmRSS"] - before["VmRSS"],
                }
            )
    data: dict[str, Any] = {
        label: {
            "median_ms": median(s["seconds"] for s in runs) * 1e3,
            "max_ms": max(s["seconds"] for s in runs) * 1e3,
            "peak_growth_mb_median": median(s["peak_growth_bytes"] for s in runs) / MB,
            "peak_growth_mb_max": max(s["peak_growth_bytes"] for s in runs) / MB,
            "retained_growth_mb_median": median(s["retained_growth_bytes"] for s in runs) / MB,
            "runs": runs,
        }
        for label, runs in samples.items()
    }
    labels = list(samples)
    data["tarball_mb"] = len(tarball) / MB
    data["body_mb"] = len(body) / MB
    report.data["big_publish"] = data
    ours = data[OURS]
    report.add(
        Row(
            "6 20 MB publish",
            f"time, median ({data['body_mb']:.1f} MB body)",
            {k: data[k]["median_ms"] for k in labels},
            "<= 250 ms",
            ours["median_ms"] <= 250,
            "ms",
            "{:.0f}",
        )
    )
    report.add(Row("6 20 MB publish", "time, max", {k: data[k]["max_ms"] for k in labels}, "-", None, "ms", "{:.0f}"))
    report.add(
        Row(
            "6 20 MB publish",
            "server peak RSS growth, max",
            {k: data[k]["peak_growth_mb_max"] for k in labels},
            "<= 100 MB",
            ours["peak_growth_mb_max"] <= 100,
            "MB",
            "{:.1f}",
        )
    )
    report.add(
        Row(
            "6 20 MB publish",
            "server RSS retained after it, median",
            {k: data[k]["retained_growth_mb_median"] for k in labels},
            "-",
            None,
            "MB",
            "{:.1f}",
        )
    )


# -- 7. RSS over 10,000 mixed requests --------------------------------------------------------------

TOKEN_PLACEHOLDER = "@TOKEN@"


def _mixed_requests(total: int, rng: random.Random) -> list[dict[str, Any]]:
    """Per 10 requests: 1 publish (10 KB, 20 packages in turn), 1 whoami, 8 packument GETs.

    Half the GETs are anonymous; the token is a placeholder replaced per server.
    """
    auth = bearer(TOKEN_PLACEHOLDER)
    requests: list[dict[str, Any]] = []
    for i in range(total):
        block, slot = divmod(i, 10)
        name = f"bench-mix-{block % 20}"
        if slot == 0:
            version = f"1.0.{block // 20}"
            body = publish_body(name, version, random_tarball(name, version, 10 * 1024, rng))
            requests.append({"method": "PUT", "path": f"/{name}", "headers": {**PUBLISH_HEADERS, **auth}, "body": body})
        elif slot == 5:
            requests.append({"method": "GET", "path": "/-/whoami", "headers": auth})
        else:
            path = f"/{name}" if slot in (3, 7) else "/demo-pkg"
            accept = CORGI if slot % 2 else "application/json"
            headers = {"accept": accept, **(auth if slot > 5 else {})}
            requests.append({"method": "GET", "path": path, "headers": headers})
    return requests


def bench_mixed(settings: Settings, report: Report, workdir: Path) -> None:
    total = settings.mixed_requests
    batches = 1 if settings.quick else 2
    log(f"7. server RSS over {batches} x {total} mixed requests (GET, publish, whoami), 8 clients, one server")
    canned = workdir / "canned-mixed.json"
    canned.write_text(json.dumps({"/demo-pkg": '{"name":"demo-pkg"}', "/-/whoami": '{"username":"alice"}'}))
    requests = _mixed_requests(batches * total, random.Random(7))
    published = sum(len(r.get("body") or "") for r in requests[:total])
    template = write_requests(workdir / "mixed-template.jsonl", requests).read_text()
    del requests
    data: dict[str, Any] = {"publish_body_mb_per_batch": published / MB}
    # The stub on our serving stack is as slow as ours while the Nagle stall lasts: full runs only.
    specs = [spec for spec in server_specs(canned) if not (settings.quick and spec[0] == STUB_WZ)]
    for spec in specs:
        with children(spec) as (child,):
            path = workdir / f"mixed-{child.label}.jsonl"
            path.write_text(template.replace(TOKEN_PLACEHOLDER, child.token or "npm_stubtoken"))
            start = child.status()
            results = []
            for batch in range(batches):
                child.reset_peak()
                before = child.status()
                result = run_load(
                    child,
                    path,
                    workdir,
                    concurrency=8,
                    count=total,
                    offset=batch * total,
                    cycle=False,
                    expect=(200, 404),
                )
                after = child.status()
                results.append(
                    {
                        "rss_growth_mb": (after["VmRSS"] - before["VmRSS"]) / MB,
                        "peak_growth_mb": (after["VmHWM"] - before["VmRSS"]) / MB,
                        "rps": result["rps"],
                        "statuses": result["statuses"],
                        "p99_ms": result["latency_ms"]["p99"],
                    }
                )
            data[child.label] = {"rss_start_mb": start["VmRSS"] / MB, "batches": results}
    report.data["mixed"] = data
    labels = [options["label"] for _, options in specs]
    first = data[OURS]["batches"][0]["rss_growth_mb"]
    report.add(
        Row(
            "7 RSS 10k mixed",
            f"RSS growth, first {total} requests",
            {k: data[k]["batches"][0]["rss_growth_mb"] for k in labels},
            "<= 50 MB",
            first <= 50,
            "MB",
            "{:.1f}",
        )
    )
    if batches > 1:
        report.add(
            Row(
                "7 RSS 10k mixed",
                f"RSS growth, next {total} requests",
                {k: data[k]["batches"][1]["rss_growth_mb"] for k in labels},
                "-",
                None,
                "MB",
                "{:.1f}",
            )
        )
    report.add(
        Row(
            "7 RSS 10k mixed",
            "mixed req/s (info)",
            {k: data[k]["batches"][0]["rps"] for k in labels},
            "-",
            None,
            "req/s",
            "{:.0f}",
        )
    )


# -- driver ----------------------------------------------------------------------------------------

WORKLOADS = ("start", "reset", "get", "publish", "npm", "big", "mixed")


def environment() -> dict[str, Any]:
    def version(argv: list[str]) -> str | None:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    return {
        "python": platform.python_version(),
        "node": version(["node", "--version"]),
        "npm": version(["npm", "--version"]),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": version(["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(version(["git", "-C", str(BENCH.parent), "status", "--porcelain", "pytest_npm_registry"])),
    }


def print_table(report: Report) -> None:
    columns: list[str] = []
    for row in report.rows:
        columns += [c for c in row.values if c not in columns]
    header = ["workload", "metric", *columns, "unit", "target", "result"]
    lines = [header]
    for row in report.rows:
        verdict = {True: "PASS", False: "MISS", None: ""}[row.passed]
        cells = [_fmt(row.values.get(c), row.fmt) if c in row.values else "" for c in columns]
        lines.append([row.workload, row.metric, *cells, row.unit, row.target, verdict])
    print_lines(lines)


def print_lines(lines: list[list[str]]) -> None:
    """A header and rows as aligned columns: the first two left-aligned, numbers right-aligned."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(line)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def save_results(path: Path, output: dict[str, Any]) -> None:
    """The run as JSON (every round, the settings, the machine), for comparing runs later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(output, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run: fewer rounds and smaller counts")
    parser.add_argument("--only", help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    selected = args.only.split(",") if args.only else list(WORKLOADS)
    unknown = set(selected) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}: choose among {', '.join(WORKLOADS)}")
    if shutil.which("node") is None:
        parser.error("node is not on PATH: the load generator (bench/load.js) needs Node.js")

    settings = Settings.make(quick=args.quick)
    report = Report(settings)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="npm-registry-bench-") as tmp:
        workdir = Path(tmp)
        steps: dict[str, Callable[[], None]] = {
            "start": lambda: bench_start(settings, report),
            "reset": lambda: bench_reset(settings, report),
            "get": lambda: bench_get(settings, report, workdir),
            "publish": lambda: bench_publish(settings, report, workdir),
            "npm": lambda: bench_npm(settings, report, workdir),
            "big": lambda: bench_big(settings, report, workdir),
            "mixed": lambda: bench_mixed(settings, report, workdir),
        }
        for name in WORKLOADS:
            if name in selected:
                steps[name]()

    output = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": time.time() - started,
        "settings": settings.__dict__,
        "environment": environment(),
        "table": [row.__dict__ for row in report.rows],
        "workloads": report.data,
    }
    save_results(args.output, output)
    sys.stderr.flush()
    print()
    print_table(report)
    print(f"\nwrote {args.output} ({output['duration_s']:.0f} s)")
    missed = [f"{row.workload} / {row.metric}" for row in report.rows if row.passed is False]
    if missed:
        print(f"missed targets: {len(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
