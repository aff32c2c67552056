"""Latency tail of ours beside a plain werkzeug registry (issue 20), in one run.

    python bench/tail.py                      # 3 rounds of 4 s per GET variant, publishes (~2 min)
    python bench/tail.py --rounds 2 --seconds 3
    python bench/tail.py --variant gc-freeze:gc=freeze --variant sw1ms:switch=0.001
    python bench/tail.py --probe              # ours instrumented: where its time goes (see below)

Servers, each in its own process:

- ``ours``: an ``NpmRegistry`` (public API only: ``add_user``, ``create_token``, ``publish``,
  ``url``) with user ``alice``, a bypass-2FA granular token and ``demo-pkg@1.0.0``;
- ``floor``: ``bench/floor.py``, a ~100-line registry on stock threaded werkzeug (HTTP/1.0, as
  werkzeug ships), serving the packument ours serves from a dict and storing publishes;
- ``floor-ka`` (``--keepalive-floor``, on by default): the same with ``protocol_version``
  HTTP/1.1, to tell connection handling from the rest;
- ``--variant LABEL:knob=v,...``: more copies of ours with what-if knobs applied at run time by
  ``bench/tail_probe.py`` (which reaches into internals; the package's files are never changed);
- ``--checkout LABEL:DIR[:knob=v,...]``: another copy of ours that imports ``pytest_npm_registry`` from ``DIR``
  (a patched tree), measured beside the current one in the same run.

Workloads: ``wrk -t2 -c8 --latency`` on ``GET /demo-pkg`` with ``Accept: application/json``,
anonymous and with ``Authorization: Bearer <token>`` (interleaved across servers, order reversed
every other round, a 1 s warm-up per server first); then 10 KB publishes (``PUT /bench-pub-<round>``,
a fresh version each) from 8 ``http.client`` threads of this process, bounded by count and time.
Prints mean, p50, p99 and p99.9 (medians of the rounds) and the ratios ours / floor; writes
``bench/results/tail.json``. Debian's ``wrk`` is installed with apt-get when it is missing.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tail_probe  # bench/tail_probe.py: what-if knobs and instrumentation (reaches into internals)
from run import http_request  # bench/ is sys.path[0] when this runs as a script

from pytest_npm_registry import NpmRegistry, make_tarball, publish_document

BENCH = Path(__file__).resolve().parent
FLOOR_PY = BENCH / "floor.py"
RESULTS = BENCH / "results"
PATH = "/demo-pkg"
PUBLISH_HEADERS = {"content-type": "application/json", "npm-command": "publish", "npm-auth-type": "web"}

# wrk 4 "corrects" for coordinated omission after the run (stats_correct in src/wrk.c): with
# E = run time / (requests per connection), every recorded latency n >= 2E adds synthetic samples
# at n - E, n - 2E, ... down to E, the requests an open-loop client would have sent meanwhile. What
# it prints (and what --latency shows) includes them; done() below reports both that and the
# recorded latencies, recovered exactly by undoing the correction from the top bucket down.
WRK_LUA = r"""
local CONNECTIONS = 8

local function percentile(vals, cnts, total, p)
  local rank = math.floor((p / 100.0) * total + 0.5 + 0.5)
  local seen = 0
  for i = 1, #vals do
    seen = seen + cnts[i]
    if seen >= rank then return vals[i] end
  end
  return 0
end

done = function(summary, latency, requests)
  local vals, cnts = {}, {}
  for i = 1, #latency do vals[i], cnts[i] = latency(i) end
  local per = math.floor(summary.requests / CONNECTIONS)
  local E = per > 0 and math.floor(summary.duration / per) or 0
  local real, above, total, recorded, sum, max = {}, {}, 0, 0, 0, 0
  for i = #vals, 1, -1 do
    local v, c = vals[i], cnts[i]
    total = total + c
    if E > 0 and v > E then c = c - (above[v % E] or 0) end
    if c < 0 then c = 0 end
    real[i] = c
    if E > 0 and v >= 2 * E then above[v % E] = (above[v % E] or 0) + c end
    recorded = recorded + c
    sum = sum + c * v
    if c > 0 and v > max then max = v end
  end
  local e = summary.errors
  io.write(string.format(
    'TAILJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"mean_us":%.1f,"stdev_us":%.1f,"max_us":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"p999_us":%d,"samples":%d,"expected_us":%d,"raw_samples":%d,"raw_mean_us":%.1f,' ..
    '"raw_p50_us":%d,"raw_p99_us":%d,"raw_p999_us":%d,"raw_max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), total, E, recorded,
    recorded > 0 and sum / recorded or 0, percentile(vals, real, recorded, 50),
    percentile(vals, real, recorded, 99), percentile(vals, real, recorded, 99.9), max))
end
"""


def log(message: str) -> None:
    print(f"[tail {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, -(-len(ordered) * p // 100) - 1))
    return ordered[int(rank)]


# -- our registry, as a child process ----------------------------------------------------------------


def serve_ours(knobs: str, probe_out: str | None) -> None:
    """The child: a seeded NpmRegistry, its URL on stdout; stdin lines are probe marks, EOF stops."""
    reg = NpmRegistry("current")
    reg.start()
    alice = reg.add_user("alice")
    token = alice.create_token(bypass_2fa=True)
    reg.publish("demo-pkg", "1.0.0", by=alice)
    probe = None
    if knobs:
        probe = tail_probe.apply(reg, knobs)
    print(json.dumps({"url": reg.url, "pid": os.getpid(), "token": str(token)}), flush=True)
    for line in sys.stdin:  # "mark <label>": the probe closes a segment of its measurements
        if probe is not None and line.startswith("mark "):
            probe.mark(line[5:].strip())
    if probe is not None and probe_out:
        Path(probe_out).write_text(json.dumps(probe.report(), indent=1))
    reg.close()


@dataclass
class Child:
    label: str
    proc: subprocess.Popen[str]
    url: str
    token: str
    probe_out: Path | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def mark(self, label: str) -> None:
        if self.probe_out is not None and self.proc.stdin is not None:
            self.proc.stdin.write(f"mark {label}\n")
            self.proc.stdin.flush()

    def close(self) -> dict[str, Any] | None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.probe_out is not None and self.probe_out.exists():
            report: dict[str, Any] = json.loads(self.probe_out.read_text())
            return report
        return None


def spawn(label: str, argv: list[str], probe_out: Path | None = None, env: dict[str, str] | None = None) -> Child:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode} before printing its URL")
    info = json.loads(line)
    child = Child(label, proc, info["url"], info["token"], probe_out)
    status, _ = request(child, "GET", PATH, headers={"accept": "application/json"})
    if status != 200:
        raise RuntimeError(f"{label}: GET {PATH} answered {status}")
    return child


def request(
    child: Child, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    return http_request(child, method, path, body, headers)


# -- wrk -----------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, timeout=300)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get install wrk did not put wrk on PATH")
    return found


def run_wrk(wrk: str, script: Path, child: Child, seconds: float, *, token: bool) -> dict[str, Any]:
    argv = [wrk, "-t2", "-c8", f"-d{seconds:g}s", "--latency", "--timeout", "5s", "-s", str(script)]
    argv += ["-H", "Accept: application/json"]
    if token:
        argv += ["-H", f"Authorization: Bearer {child.token}"]
    argv.append(child.url.rstrip("/") + PATH)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("TAILJSON ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    raw = json.loads(lines[-1][len("TAILJSON ") :])
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "mean_ms": raw["mean_us"] / 1e3,
        "p50_ms": raw["p50_us"] / 1e3,
        "p90_ms": raw["p90_us"] / 1e3,
        "p99_ms": raw["p99_us"] / 1e3,
        "p999_ms": raw["p999_us"] / 1e3,
        "max_ms": raw["max_us"] / 1e3,
        "requests": raw["requests"],
        # the share of wrk's samples that its coordinated-omission correction added
        "synthetic_pct": 100 * (raw["samples"] - raw["raw_samples"]) / max(1, raw["samples"]),
        "raw_mean_ms": raw["raw_mean_us"] / 1e3,
        "raw_p50_ms": raw["raw_p50_us"] / 1e3,
        "raw_p99_ms": raw["raw_p99_us"] / 1e3,
        "raw_p999_ms": raw["raw_p999_us"] / 1e3,
        "raw_max_ms": raw["raw_max_us"] / 1e3,
        "errors": errors,
    }


# -- publishes -----------------------------------------------------------------------------------------


def publish_bodies(name: str, count: int, rng: random.Random) -> list[bytes]:
    """``count`` publish documents of distinct versions of ``name``, each a ~10 KB random tarball."""

    def tarball(version: str, payload: int) -> tuple[dict[str, str], bytes]:
        manifest = {"name": name, "version": version, "description": "bench", "main": "index.js", "license": "MIT"}
        files: dict[str, str | bytes] = {"index.js": "module.exports = 42;\n", "data.bin": rng.randbytes(payload)}
        return manifest, make_tarball(manifest, files)

    _, probe = tarball("0.0.0", 10 * 1024)
    payload = max(1, 2 * 10 * 1024 - len(probe))  # the tarball, not its payload, is ~10 KB
    bodies = []
    for i in range(count):
        manifest, tgz = tarball(f"1.0.{i}", payload)
        bodies.append(json.dumps(publish_document(manifest, tgz)).encode())
    return bodies


def run_publishes(
    child: Child, name: str, bodies: list[bytes], *, threads: int, warmup: int, seconds: float
) -> dict[str, Any]:
    """``threads`` keep-alive http.client threads; the first ``warmup`` bodies are not measured."""
    host, port = child.host_port
    headers = {**PUBLISH_HEADERS, "authorization": f"Bearer {child.token}"}

    def phase(first: int, last: int, deadline: float) -> tuple[list[float], Counter[int], float]:
        counter = itertools.count(first)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        failures: list[BaseException] = []

        def worker() -> None:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                while True:
                    i = next(counter)
                    if i >= last or time.perf_counter() > deadline:
                        return
                    started = time.perf_counter()
                    conn.request("PUT", f"/{name}", body=bodies[i], headers=headers)
                    response = conn.getresponse()
                    response.read()
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status] += 1
            except BaseException as exc:  # reported below: a failed publish invalidates the run
                failures.append(exc)
            finally:
                conn.close()

        started = time.perf_counter()
        workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=seconds + 60)
        elapsed = time.perf_counter() - started
        if failures:
            raise RuntimeError(f"{child.label}: publish failed: {failures[0]!r}")
        return latencies, statuses, elapsed

    phase(0, warmup, time.perf_counter() + seconds)
    latencies, statuses, elapsed = phase(warmup, len(bodies), time.perf_counter() + seconds)
    if set(statuses) != {200}:
        raise RuntimeError(f"{child.label}: publish answers {dict(statuses)}")
    ms = [x * 1e3 for x in latencies]
    return {
        "rps": len(ms) / elapsed,
        "count": len(ms),
        "mean_ms": statistics.fmean(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "p999_ms": percentile(ms, 99.9),
        "max_ms": max(ms),
    }


# -- the run -------------------------------------------------------------------------------------------


@dataclass
class Results:
    get: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    publish: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    probes: dict[str, Any] = field(default_factory=dict)

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
        return {k: median([r[k] for r in rows]) for k in keys}


def start_servers(args: argparse.Namespace, workdir: Path) -> list[Child]:
    py = sys.executable
    servers: list[Child] = []
    probe = ["probe=1"] if args.probe else []
    ours: list[tuple[str, str, str | None]] = [("ours", ",".join(probe), None)]
    for spec in args.variant:
        label, _, knobs = spec.partition(":")
        ours.append((label, ",".join([knobs or label, *probe]), None))
    for spec in args.checkout:
        label, _, rest = spec.partition(":")
        path, _, knobs = rest.partition(":")
        if not (Path(path) / "pytest_npm_registry" / "__init__.py").is_file():
            raise SystemExit(f"--checkout {spec}: no pytest_npm_registry package in {path}")
        ours.append((label, ",".join(filter(None, [knobs, *probe])), str(Path(path).resolve())))
    for label, knobs, checkout in ours:
        env = None
        if checkout is not None:  # this copy of ours imports the package from that folder
            path = os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")]))
            env = {**os.environ, "PYTHONPATH": path}
        out = workdir / f"probe-{label}.json" if "probe" in knobs else None
        argv = [py, str(Path(__file__).resolve()), "--serve-ours", "--knobs", knobs]
        if out is not None:
            argv += ["--probe-out", str(out)]
        servers.append(spawn(label, argv, out, env))
    status, packument = request(servers[0], "GET", PATH, headers={"accept": "application/json"})
    assert status == 200, status
    seed = workdir / "seed.json"
    seed.write_text(json.dumps({PATH[1:]: json.loads(packument)}))
    servers.append(spawn("floor", [py, str(FLOOR_PY), "--seed", str(seed)]))
    if args.keepalive_floor:
        servers.append(spawn("floor-ka", [py, str(FLOOR_PY), "--seed", str(seed), "--http11"]))
    return servers


def run(args: argparse.Namespace) -> Results:
    wrk = ensure_wrk()
    results = Results()
    with tempfile.TemporaryDirectory(prefix="npm-registry-tail-") as tmp:
        workdir = Path(tmp)
        script = workdir / "report.lua"
        script.write_text(WRK_LUA)
        servers = start_servers(args, workdir)
        try:
            log(f"servers: {', '.join(f'{s.label} {s.url}' for s in servers)}")
            for child in servers:  # warm-up, not measured
                run_wrk(wrk, script, child, 1, token=False)
                child.mark("warmup")
            plan = [(child, auth) for child in servers for auth in ("anon", "token")]
            for round_no in range(args.rounds if "get" in args.only else 0):
                order = plan if round_no % 2 == 0 else list(reversed(plan))
                for child, auth in order:
                    result = run_wrk(wrk, script, child, args.seconds, token=auth == "token")
                    child.mark(f"get-{auth}")
                    results.get.setdefault((child.label, auth), []).append(result)
                    log(
                        f"round {round_no + 1} {child.label:>9} {auth:5}: {result['rps']:7.0f} req/s  "
                        f"mean {result['mean_ms']:.2f}  p50 {result['p50_ms']:.2f}  p99 {result['p99_ms']:.2f}  "
                        f"p99.9 {result['p999_ms']:.2f}  max {result['max_ms']:.1f} ms {result['errors'] or ''}| "
                        f"recorded: p99 {result['raw_p99_ms']:.2f}  p99.9 {result['raw_p999_ms']:.2f}, "
                        f"{result['synthetic_pct']:.1f} % of wrk's samples synthetic"
                    )
            rng = random.Random(20)
            for round_no in range(args.rounds if "publish" in args.only else 0):
                name = f"bench-pub-{round_no}"
                bodies = publish_bodies(name, args.publish_warmup + args.publishes, rng)
                in_turn = servers if round_no % 2 == 0 else list(reversed(servers))
                for child in in_turn:
                    result = run_publishes(
                        child, name, bodies, threads=8, warmup=args.publish_warmup, seconds=args.publish_seconds
                    )
                    child.mark("publish")
                    results.publish.setdefault(child.label, []).append(result)
                    log(
                        f"round {round_no + 1} {child.label:>9} publish: {result['rps']:6.0f}/s ({result['count']})  "
                        f"mean {result['mean_ms']:.2f}  p50 {result['p50_ms']:.2f}  p99 {result['p99_ms']:.2f}  "
                        f"p99.9 {result['p999_ms']:.2f} ms"
                    )
        finally:
            for child in servers:
                probe = child.close()
                if probe is not None:
                    results.probes[child.label] = probe
    return results


def ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "-"


def print_report(results: Results, args: argparse.Namespace) -> None:
    labels = list(dict.fromkeys([*(label for label, _ in results.get), *results.publish]))
    ours = [label for label in labels if not label.startswith("floor")]
    cols = ("rps", "mean_ms", "p50_ms", "p99_ms", "p999_ms", "max_ms")
    heads = ("req/s", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms")

    def line(cells: list[str]) -> str:
        return f"{cells[0]:<18} {cells[1]:<6}" + "".join(f"{c:>10}" for c in cells[2:])

    if results.get:
        print()
        print(
            f"GET {PATH} (Accept: application/json), wrk -t2 -c8, {args.seconds:g} s x {args.rounds} rounds (medians)"
        )
        print(line(["server", "auth", *heads]))
        for auth in ("anon", "token"):
            for label in labels:
                s = results.summary(results.get[label, auth])
                print(line([label, auth, f"{s['rps']:.0f}", *(f"{s[c]:.2f}" for c in cols[1:])]))
            floor = results.summary(results.get["floor", auth])
            for label in [*ours, *(["floor-ka"] if "floor-ka" in labels else [])]:
                s = results.summary(results.get[label, auth])
                print(line([f"{label}/floor", auth, *(ratio(s[c], floor[c]) for c in cols)]))
            print()
        raw = ("synthetic_pct", "raw_mean_ms", "raw_p50_ms", "raw_p99_ms", "raw_p999_ms", "raw_max_ms")
        print("the same runs, latencies as recorded (wrk's coordinated-omission correction undone)")
        print(line(["server", "auth", "synth. %", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms"]))
        for auth in ("anon", "token"):
            for label in labels:
                s = results.summary(results.get[label, auth])
                print(line([label, auth, f"{s[raw[0]]:.1f}", *(f"{s[c]:.2f}" for c in raw[1:])]))
            floor = results.summary(results.get["floor", auth])
            for label in ours:
                s = results.summary(results.get[label, auth])
                print(line([f"{label}/floor", auth, "", *(ratio(s[c], floor[c]) for c in raw[1:])]))
            print()
    if results.publish:
        print(
            f"10 KB publishes, 8 http.client threads, up to {args.publishes} per round after "
            f"{args.publish_warmup} warm-up (medians of {args.rounds} rounds)"
        )
        print(line(["server", "", "/s", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms"]))
        for label in labels:
            s = results.summary(results.publish[label])
            print(line([label, "", f"{s['rps']:.0f}", *(f"{s[c]:.2f}" for c in cols[1:])]))
        floor = results.summary(results.publish["floor"])
        for label in [*ours, *(["floor-ka"] if "floor-ka" in labels else [])]:
            s = results.summary(results.publish[label])
            print(line([f"{label}/floor", "", *(ratio(s[c], floor[c]) for c in cols)]))
        print()
    print("goals (issue 20): GET p99 <= x1.20 of the floor's with req/s >= x1.50; publishes/s >= x1.00")
    for label in ours:
        verdicts = []
        for auth in ("anon", "token") if results.get else ():
            s, f = results.summary(results.get[label, auth]), results.summary(results.get["floor", auth])
            p99, rps = s["p99_ms"] / f["p99_ms"], s["rps"] / f["rps"]
            ok = p99 <= 1.2 and rps >= 1.5
            verdicts.append(f"{auth} p99 x{p99:.2f} req/s x{rps:.2f} {'PASS' if ok else 'MISS'}")
        if results.publish:
            pub = results.summary(results.publish[label])["rps"] / results.summary(results.publish["floor"])["rps"]
            verdicts.append(f"publish x{pub:.2f} {'PASS' if pub >= 1.0 else 'MISS'}")
        print(f"  {label}: " + "; ".join(verdicts))
    for label, probe in results.probes.items():
        print()
        print(f"probe of {label} (times inside the server process):")
        print(tail_probe.format_report(probe))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="wrk duration per GET variant and round")
    parser.add_argument("--publishes", type=int, default=1500, help="measured publishes per server and round")
    parser.add_argument("--publish-warmup", type=int, default=100)
    parser.add_argument("--publish-seconds", type=float, default=15.0, help="time bound of each publish phase")
    parser.add_argument("--no-keepalive-floor", dest="keepalive_floor", action="store_false")
    parser.add_argument("--variant", action="append", default=[], help="LABEL:knob=v,... (bench/tail_probe.py)")
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        help="LABEL:DIR[:knobs] another copy of ours importing pytest_npm_registry from DIR (a patched tree)",
    )
    parser.add_argument("--probe", action="store_true", help="instrument every copy of ours (tail_probe)")
    parser.add_argument("--only", default="get,publish", help="comma-separated: get, publish")
    parser.add_argument("--output", type=Path, default=RESULTS / "tail.json")
    parser.add_argument("--serve-ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--knobs", default="", help=argparse.SUPPRESS)
    parser.add_argument("--probe-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_ours:
        serve_ours(args.knobs, args.probe_out)
        return 0
    started = time.time()
    results = run(args)
    print_report(results, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "duration_s": time.time() - started,
                "settings": {k: v for k, v in vars(args).items() if k not in ("output", "serve_ours")},
                "get": {f"{label} {auth}": rows for (label, auth), rows in results.get.items()},
                "publish": results.publish,
                "probes": results.probes,
            },
            indent=1,
            default=str,
        )
        + "\n"
    )
    print(f"\nwrote {args.output} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
