"""Concurrency: publishes, races for one version, packument reads and dist-tag changes, all at once.

Over HTTP, on keep-alive connections, from threads that start together:
- publishers of distinct versions: every accepted version is there at the end (none lost);
- racers publishing the same versions with different bytes: exactly one winner per version, the
  losers get the registry's 403/409, and the stored tarball is the winner's;
- readers: every packument they see is whole: each version it lists has its tarball, whose bytes
  match ``dist.integrity``, and every dist-tag points at a version in that same packument;
- taggers moving and removing a non-``latest`` tag: the tag always names an existing version.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.domain.packaging import make_tarball, manifest_for, publish_document

NAME = "busy-pkg"
PUBLISHERS = 4
VERSIONS_PER_PUBLISHER = 40
RACERS = 4
RACED_VERSIONS = 25
READERS = 3
TAGGERS = 2


class Client:
    """One keep-alive connection."""

    def __init__(self, reg: NpmRegistry, token: Token | None = None) -> None:
        parts = urlsplit(reg.url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.auth = {"authorization": f"Bearer {token.key}"} if token else {}

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, bytes]:
        sent = {**self.auth, **headers}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["content-type"] = "application/json"
        self.conn.request(method, path, body=data, headers=sent)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def publish_body(version: str, salt: str = "") -> tuple[dict[str, Any], bytes]:
    meta = manifest_for(NAME, version, description=f"published by {salt or 'a publisher'}")
    tarball = make_tarball(meta, {"index.js": f"module.exports = {json.dumps(salt)};\n"})
    return publish_document(meta, tarball), tarball


@dataclass
class Outcome:
    accepted: list[str] = field(default_factory=list)
    race: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    reads: int = 0
    tarballs_checked: int = 0
    tag_moves: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


@pytest.fixture
def publisher(npm_registry: NpmRegistry) -> Token:
    alice = npm_registry.add_user("alice")
    npm_registry.publish(NAME, "0.0.1", by=alice)
    return alice.create_token(bypass_2fa=True)


class Scenario:
    """The threads of the mixed test; each method is one kind of worker."""

    def __init__(self, reg: NpmRegistry, token: Token) -> None:
        self.reg, self.token = reg, token
        self.outcome = Outcome()
        self.start = threading.Barrier(PUBLISHERS + RACERS + READERS + TAGGERS)
        self.done = threading.Event()
        #: version -> racer -> (document, tarball): every racer sends different bytes.
        self.raced = {
            f"2.0.{i}": {r: publish_body(f"2.0.{i}", salt=f"racer {r}") for r in range(RACERS)}
            for i in range(RACED_VERSIONS)
        }

    def publish_distinct(self, worker: int) -> None:
        bodies = [publish_body(f"1.{worker}.{i}") for i in range(VERSIONS_PER_PUBLISHER)]
        client = Client(self.reg, self.token)
        self.start.wait()
        for doc, _ in bodies:
            (version,) = doc["versions"]
            status, body = client.request("PUT", f"/{NAME}", doc, **{"npm-command": "publish"})
            if status == 200:
                with self.outcome.lock:
                    self.outcome.accepted.append(version)
            else:
                self.outcome.problem(f"distinct publish {version}: {status} {body[:200]!r}")
        client.close()

    def race(self, racer: int) -> None:
        client = Client(self.reg, self.token)
        self.start.wait()
        for version, by_racer in self.raced.items():
            status, body = client.request("PUT", f"/{NAME}", by_racer[racer][0], **{"npm-command": "publish"})
            with self.outcome.lock:
                self.outcome.race.setdefault(version, []).append((status, body))
        client.close()

    def read(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - picks versions to check, not secrets
        client = Client(self.reg)
        self.start.wait()
        while not self.done.is_set():
            accept = rng.choice(["application/json", "application/vnd.npm.install-v1+json"])
            status, body = client.request("GET", f"/{NAME}", accept=accept)
            if status != 200:
                self.outcome.problem(f"packument read: {status}")
                continue
            self.check_whole(client, json.loads(body), rng)

    def check_whole(self, client: Client, doc: dict[str, Any], rng: random.Random) -> None:
        versions = doc["versions"]
        for tag, version in doc["dist-tags"].items():
            if version not in versions:
                self.outcome.problem(f"torn packument: dist-tag {tag} -> {version}, not among {len(versions)} versions")
        for version in rng.sample(sorted(versions), min(3, len(versions))):
            dist = versions[version]["dist"]
            status, tarball = client.request("GET", urlsplit(dist["tarball"]).path)
            digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
            if status != 200 or digest != dist["integrity"]:
                self.outcome.problem(f"torn packument: {version} listed, its tarball answers {status}")
            with self.outcome.lock:
                self.outcome.tarballs_checked += 1
        with self.outcome.lock:
            self.outcome.reads += 1

    def move_tags(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311
        client = Client(self.reg, self.token)
        self.start.wait()
        while not self.done.is_set():
            status, body = client.request("GET", f"/{NAME}", accept="application/json")
            target = rng.choice(sorted(json.loads(body)["versions"]))
            if rng.random() < 0.8:
                status, body = client.request("PUT", f"/-/package/{NAME}/dist-tags/beta", target)
                ok = status == 201
            else:
                status, body = client.request("DELETE", f"/-/package/{NAME}/dist-tags/beta")
                ok = status in (200, 404)  # 404: another tagger removed it first
            if not ok:
                self.outcome.problem(f"dist-tag change: {status} {body[:200]!r}")
            with self.outcome.lock:
                self.outcome.tag_moves += 1
        client.close()

    def run(self) -> float:
        writers = [threading.Thread(target=self.publish_distinct, args=(i,)) for i in range(PUBLISHERS)]
        writers += [threading.Thread(target=self.race, args=(i,)) for i in range(RACERS)]
        others = [threading.Thread(target=self.read, args=(i,)) for i in range(READERS)]
        others += [threading.Thread(target=self.move_tags, args=(100 + i,)) for i in range(TAGGERS)]
        started = time.perf_counter()
        for thread in writers + others:
            thread.start()
        for thread in writers:
            thread.join(timeout=60)
        self.done.set()
        for thread in others:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in writers + others), "a thread hung"
        return time.perf_counter() - started


def test_publishes_races_reads_and_tag_changes_at_once(npm_registry: NpmRegistry, publisher: Token) -> None:
    scenario = Scenario(npm_registry, publisher)
    scenario.run()
    outcome = scenario.outcome
    assert outcome.problems == [], outcome.problems[:10]
    package = npm_registry.package(NAME)
    stored = set(package.versions)
    # No lost version.
    assert len(outcome.accepted) == PUBLISHERS * VERSIONS_PER_PUBLISHER
    assert set(outcome.accepted) <= stored
    # Exactly one winner per raced version, the others refused, the winner's bytes stored.
    for version, answers in outcome.race.items():
        statuses = Counter(status for status, _ in answers)
        assert statuses[200] == 1, (version, answers)
        assert set(statuses) <= {200, 403, 409}, (version, answers)
        assert package.tarball(version) in {tarball for _, tarball in scenario.raced[version].values()}
    assert stored == {"0.0.1"} | set(outcome.accepted) | set(scenario.raced)
    assert set(package.dist_tags.values()) <= stored
    # The readers and taggers really ran alongside the writers.
    assert outcome.reads > 0
    assert outcome.tarballs_checked > 0
    assert outcome.tag_moves > 0


def test_one_version_raced_by_many_threads_has_one_winner(npm_registry: NpmRegistry, publisher: Token) -> None:
    """16 threads publish 3.0.0 with different bytes at the same instant: one 200, the rest refused."""
    threads = 16
    bodies = [publish_body("3.0.0", salt=f"thread {i}") for i in range(threads)]
    start = threading.Barrier(threads)
    answers: list[tuple[int, int]] = []
    lock = threading.Lock()

    def go(i: int) -> None:
        client = Client(npm_registry, publisher)
        client.request("GET", "/-/ping")  # connected before the barrier
        start.wait()
        status, _ = client.request("PUT", f"/{NAME}", bodies[i][0])
        with lock:
            answers.append((i, status))
        client.close()

    workers = [threading.Thread(target=go, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    winners = [i for i, status in answers if status == 200]
    assert len(winners) == 1, answers
    assert {status for _, status in answers} <= {200, 403, 409}
    assert npm_registry.package(NAME).tarball("3.0.0") == bodies[winners[0]][1]
    published = npm_registry.journal.entries(operation="publish", outcome="accepted", package=NAME)
    assert [e.version for e in published] == ["3.0.0"]
