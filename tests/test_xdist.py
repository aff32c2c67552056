"""pytest-xdist: each worker process has its own server and registry; nothing leaks between them."""

from __future__ import annotations

import json

import pytest

#: 200 registry tests: each seeds a user, publishes over HTTP, and checks it sees only its own state.
SUITE = """
import json, os, urllib.request
import pytest
from pytest_npm_registry.domain.packaging import manifest_for, publish_document

@pytest.mark.parametrize("n", range(200))
def test_isolated(npm_registry, n):
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    token = alice.create_token(bypass_2fa=True)
    name = f"pkg-{n}"
    body = json.dumps(publish_document(manifest_for(name, "1.0.0"))).encode()
    request = urllib.request.Request(npm_registry.url + name, data=body, method="PUT", headers={
        "authorization": f"Bearer {token.key}", "content-type": "application/json"})
    assert urllib.request.urlopen(request).status == 200
    assert sorted(npm_registry.registry.state.packages) == [name]  # no other test's package
    assert [e.package for e in npm_registry.journal] == [name]
    npm_registry.assert_published(f"{name}@1.0.0", by="alice", credential="granular")
    seen = os.environ.get("SEEN_DIR")
    if seen:
        out = os.path.join(seen, f"seen-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{n}")
        open(out, "w").write(json.dumps([os.getpid(), npm_registry.server.port]))
"""


def test_two_workers_each_get_their_own_registry(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(SUITE)
    seen_dir = pytester.mkdir("seen")
    monkeypatch.setenv("SEEN_DIR", str(seen_dir))
    result = pytester.runpytest_subprocess("-n", "2", "-q", "-p", "no:randomly")
    result.assert_outcomes(passed=200)
    seen = [json.loads(p.read_text()) for p in seen_dir.glob("seen-*")]
    assert len(seen) == 200
    workers = {p.name.split("-")[1] for p in seen_dir.glob("seen-*")}
    assert workers == {"gw0", "gw1"}
    pids = {pid for pid, _ in seen}
    ports = {port for _, port in seen}
    assert len(pids) == 2
    assert len(ports) == 2
