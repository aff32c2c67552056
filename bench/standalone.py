"""Standalone-server numbers: `serve` readiness, and publish throughput with and without --storage.

    python bench/standalone.py            # 7 start-ups, 600 publishes per configuration
    python bench/standalone.py --quick

Readiness is measured from process start to the first answered request (what a CI job waits for).
Publish throughput uses bench/load.js (Node, its own process) with 4 keep-alive clients sending
distinct 10 KB publishes, against `serve` in memory and against `serve --storage` (SQLite, every
acknowledged write committed before the answer). Target: storage >= 50 % of in-memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import run  # bench/run.py: compile_package

HERE = Path(__file__).parent
TOKEN = "npm_bench0000000000000000000000000000000"
SEED = f"""
[[users]]
name = "bench"

[[tokens]]
user = "bench"
key = "{TOKEN}"
bypass_2fa = true
"""


def serve(workdir: Path, *extra: str) -> tuple[subprocess.Popen[str], str, float]:
    seed = workdir / "seed.toml"
    seed.write_text(SEED)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_npm_registry", "serve", "--port", "0", "--json", "--seed", str(seed), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = json.loads(proc.stdout.readline())["url"]
    with urllib.request.urlopen(url + "-/ping", timeout=10) as answer:  # noqa: S310 - loopback
        answer.read()
    return proc, url, (time.perf_counter() - started) * 1000


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def publish_requests(path: Path, count: int) -> Path:
    """``count`` distinct 10 KB publishes of bench-pkg, built as bench/run.py builds its own."""
    rng = random.Random(7)
    versions = [f"1.0.{i}" for i in range(count)]
    return run.write_requests(
        path,
        (
            {
                "method": "PUT",
                "path": "/bench-pkg",
                "body": run.publish_body("bench-pkg", v, run.random_tarball("bench-pkg", v, 10 * 1024, rng)),
                "headers": {"content-type": "application/json"},
            }
            for v in versions
        ),
    )


def publish_rate(url: str, requests: Path, workdir: Path, count: int) -> float:
    spec = {
        "url": url.rstrip("/"),
        "requests": str(requests),
        "concurrency": 4,
        "count": count,
        "warmup": 0,
        "cycle": False,
        "headers": {"authorization": f"Bearer {TOKEN}"},
    }
    spec_file = workdir / "spec.json"
    spec_file.write_text(json.dumps(spec))
    out = subprocess.run(["node", str(HERE / "load.js"), str(spec_file)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    bad = {k: v for k, v in result["statuses"].items() if k != "200"}
    if bad:
        raise RuntimeError(f"unexpected answers {bad}")
    return float(result["rps"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, count = (3, 200) if args.quick else (7, 600)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ready = []
        run.compile_package()
        for _ in range(rounds):
            proc, _, ms = serve(workdir)
            ready.append(ms)
            stop(proc)
        requests = publish_requests(workdir / "publishes.jsonl", count)
        rates: dict[str, list[float]] = {"memory": [], "sqlite": []}
        for _ in range(max(1, rounds // 2)):
            for label, measured in rates.items():
                db = workdir / "registry.db"
                for leftover in workdir.glob("registry.db*"):
                    leftover.unlink()
                proc, url, _ = serve(workdir, *(["--storage", str(db)] if label == "sqlite" else []))
                try:
                    measured.append(publish_rate(url, requests, workdir, count))
                finally:
                    stop(proc)
    memory, sqlite = statistics.median(rates["memory"]), statistics.median(rates["sqlite"])
    print(
        f"serve ready (process start -> first answer): median {statistics.median(ready):.0f} ms "
        f"(min {min(ready):.0f}, max {max(ready):.0f}; target <= 300 ms)"
    )
    print(f"publish 10 KB, 4 clients, in memory:  {memory:,.0f}/s")
    print(
        f"publish 10 KB, 4 clients, --storage:  {sqlite:,.0f}/s = {100 * sqlite / memory:.0f} % of in-memory "
        "(target >= 50 %)"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
