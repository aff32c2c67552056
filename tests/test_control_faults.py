"""Every fault of ``reg.faults`` through the control API's ``POST faults``: what a pipeline outside
Python injects into the registry (its answers, its signatures) and into the mock Sigstore's two
signing steps, checked over HTTP and with the real npm against a ``serve`` process."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import threading
import time
import typing
from collections.abc import Iterator
from http.client import HTTPSConnection
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pytest_npm_registry import make_tarball, publish_document
from pytest_npm_registry.api.clients import run_npm
from pytest_npm_registry.domain.packaging import manifest_for
from pytest_npm_registry.domain.signatures import signed_message
from pytest_npm_registry.domain.tuf import TUF_CACHE_DIR
from pytest_npm_registry.wire.control import FAULT_KINDS
from pytest_npm_registry.wire.faults import Fault, Faults
from tests.conftest import http
from tests.test_control_api import api
from tests.test_provenance import assert_only_loopback, read_trace, trace_env
from tests.test_standalone import PROVENANCE_SEED, Served

FULCIO = ("fulcio.sigstore.dev", "/api/v2/signingCert")
REKOR = ("rekor.sigstore.dev", "/api/v1/log/entries")
#: What the mock Fulcio answers an empty request when no fault stands in front of it.
UNFAULTED = (400, {"code": 400, "message": "the signing request lacks credentials or publicKeyRequest"})


def sigstore_post(env: dict[str, str], step: tuple[str, str]) -> tuple[int, dict[str, object]]:
    """``POST {}`` to a Sigstore step as a client outside Python reaches it: ``CONNECT`` through the
    egress proxy in ``env``, TLS trusted through ``NODE_EXTRA_CA_CERTS``."""
    host, path = step
    proxy = urlsplit(env["HTTPS_PROXY"])
    context = ssl.create_default_context(cafile=env["NODE_EXTRA_CA_CERTS"])
    conn = HTTPSConnection(proxy.hostname or "", proxy.port, context=context, timeout=30)
    conn.set_tunnel(host, 443)
    conn.request("POST", path, body=b"{}", headers={"content-type": "application/json"})
    answer = conn.getresponse()
    result = answer.status, json.loads(answer.read())
    conn.close()
    return result


# -- the kinds -----------------------------------------------------------------------------------------


def test_every_public_fault_of_reg_faults_is_a_kind():
    """A fault added to ``Faults`` without a kind would be a fault only Python tests can inject."""
    injects = {
        name
        for name, member in vars(Faults).items()
        if not name.startswith("_") and callable(member) and typing.get_type_hints(member).get("return") is Fault
    }
    assert sorted(FAULT_KINDS) == sorted(injects)
    assert len(FAULT_KINDS) == 13


def test_an_unknown_kind_is_a_400_listing_every_kind(npm_registry):
    answer = api(npm_registry, "POST", "faults", {"kind": "fulcio_down"})
    assert (answer.status, answer.json()) == (
        400,
        {
            "error": "control API: unknown fault kind 'fulcio_down'; use one of fail_publishes, fail_requests, "
            "delay, drop_connection, throttle_otp_failures, advance_clock_after_publish, visibility_delay, "
            "tamper_signature, tamper_attestation, fulcio, rekor, fulcio_timeout, rekor_timeout"
        },
    )


BAD_ARGUMENTS = [
    ({"kind": "fulcio", "status": "403"}, "POST faults fulcio: status must be a whole number, not '403'"),
    ({"kind": "fulcio", "status": 200}, "fulcio(status=200): give an error status, 400 to 599"),
    ({"kind": "fulcio", "times": 0}, "times=0: give a count of at least 1"),
    ({"kind": "rekor", "message": 5}, "POST faults rekor: message must be a string or null, not 5"),
    ({"kind": "rekor", "reason": "x"}, "POST faults rekor: unknown field 'reason'; known: message, status, times"),
    ({"kind": "fulcio_timeout", "seconds": "1"}, "POST faults fulcio_timeout: seconds must be a number, not '1'"),
    ({"kind": "rekor_timeout", "seconds": -1}, "rekor_timeout(seconds=-1): give a hold from 0 to 3600 seconds"),
    ({"kind": "rekor_timeout", "seconds": 3601}, "rekor_timeout(seconds=3601): give a hold from 0 to 3600 seconds"),
    ({"kind": "tamper_signature", "name": "demo-pkg"}, "POST faults tamper_signature: needs 'version'"),
    (
        {"kind": "tamper_signature", "name": "demo-pkg", "version": 1},
        "POST faults tamper_signature: version must be a string, not 1",
    ),
    (
        {"kind": "tamper_signature", "name": "demo-pkg", "version": "1.0.0", "times": 0},
        "times=0: give a count of at least 1",
    ),
    ({"kind": "visibility_delay", "low": 5}, "POST faults visibility_delay: needs 'high'"),
    (
        {"kind": "visibility_delay", "low": 9, "high": 1},
        "visibility_delay(9, 1): 0 <= low <= high <= one year, in seconds",
    ),
    ({"kind": "delay", "seconds": 1, "times": -1}, "times=-1: give a count of at least 1"),
]


@pytest.mark.parametrize(
    ("body", "error"),
    BAD_ARGUMENTS,
    ids=["-".join(f"{k}={v}" if k != "kind" else v for k, v in b.items()) for b, _ in BAD_ARGUMENTS],
)
def test_a_bad_argument_is_a_400_naming_it_and_injects_nothing(npm_registry, body, error):
    answer = api(npm_registry, "POST", "faults", body)
    assert (answer.status, answer.json()) == (400, {"error": f"control API: {error}"})
    assert npm_registry.faults.active == []
    assert sigstore_post(npm_registry.server.egress.client_env(), FULCIO) == UNFAULTED


# -- the mock Sigstore's steps, over HTTP ----------------------------------------------------------------


def test_fulcio_and_rekor_refuse_as_many_times_as_asked(npm_registry):
    env = npm_registry.server.egress.client_env()
    fulcio = api(npm_registry, "POST", "faults", {"kind": "fulcio", "times": 2, "status": 403, "message": "no"})
    assert (fulcio.status, fulcio.json()) == (201, {"fault": "fulcio status=403"})
    rekor = api(npm_registry, "POST", "faults", {"kind": "rekor", "status": 503})
    assert (rekor.status, rekor.json()) == (201, {"fault": "rekor status=503"})
    assert [f.label for f in npm_registry.faults.active] == ["fulcio status=403", "rekor status=503"]
    assert sigstore_post(env, FULCIO) == (403, {"code": 403, "message": "no"})
    # What a pipeline outside Python sees of them (reg.faults.active and each fault's hits).
    listed = api(npm_registry, "GET", "faults")
    assert (listed.status, listed.json()) == (
        200,
        {
            "faults": [
                {"fault": "fulcio status=403", "hits": 1, "remaining": 1},
                {"fault": "rekor status=503", "hits": 0, "remaining": 1},
            ]
        },
    )
    assert sigstore_post(env, FULCIO) == (403, {"code": 403, "message": "no"})
    assert sigstore_post(env, FULCIO) == UNFAULTED  # ran out
    assert sigstore_post(env, REKOR) == (
        503,
        {"code": 503, "message": "Service Unavailable (fault injected by the test)"},
    )
    # A registry request is not a Sigstore step: the registry answers it.
    assert http(npm_registry, "GET", "/-/ping").status == 200
    assert npm_registry.faults.active == []
    assert api(npm_registry, "GET", "faults").json() == {"faults": []}


def test_a_sigstore_timeout_holds_the_request_then_answers_504(npm_registry):
    env = npm_registry.server.egress.client_env()
    answer = api(npm_registry, "POST", "faults", {"kind": "rekor_timeout", "seconds": 0.3})
    assert answer.json() == {"fault": "rekor_timeout 0.3s"}
    began = time.monotonic()
    assert sigstore_post(env, REKOR) == (504, {"code": 504, "message": "Gateway Timeout (fault injected by the test)"})
    assert 0.3 <= time.monotonic() - began < 5


def test_delete_faults_lets_a_held_request_go_at_once(npm_registry):
    """A pipeline that meets the 60 s default hold (npm gave up after its fetch-timeout) frees the
    server's thread with ``DELETE faults``, as a reset would."""
    env = npm_registry.server.egress.client_env()
    assert api(npm_registry, "POST", "faults", {"kind": "fulcio_timeout"}).json() == {"fault": "fulcio_timeout 60s"}
    (fault,) = npm_registry.faults.active
    answers: list[tuple[int, dict[str, object]]] = []
    held = threading.Thread(target=lambda: answers.append(sigstore_post(env, FULCIO)))
    held.start()
    deadline = time.monotonic() + 10
    while fault.hits == 0:  # the request is being held
        assert time.monotonic() < deadline
        time.sleep(0.02)
    began = time.monotonic()
    assert api(npm_registry, "DELETE", "faults").json() == {"faults": []}
    held.join(timeout=10)
    assert time.monotonic() - began < 2
    assert answers == [(504, {"code": 504, "message": "Gateway Timeout (fault injected by the test)"})]


# -- the registry's signatures and visibility, over HTTP -------------------------------------------------


def test_tamper_signature_serves_a_signature_that_does_not_verify(npm_registry):
    alice = npm_registry.add_user("alice")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    honest = http(npm_registry, "GET", "/demo-pkg/1.0.0").json()["dist"]
    body = {"kind": "tamper_signature", "name": "demo-pkg", "version": "1.0.0"}
    answer = api(npm_registry, "POST", "faults", body)
    assert (answer.status, answer.json()) == (201, {"fault": "tamper_signature demo-pkg@1.0.0"})
    key = serialization.load_der_public_key(base64.b64decode(npm_registry.registry.signatures.public_key))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    message = signed_message("demo-pkg", "1.0.0", honest["integrity"])
    served = [
        http(npm_registry, "GET", "/demo-pkg/1.0.0").json()["dist"],
        http(npm_registry, "GET", "/demo-pkg").json()["versions"]["1.0.0"]["dist"],
    ]
    for dist in served:
        (signature,) = dist["signatures"]
        assert signature["keyid"] == honest["signatures"][0]["keyid"]
        assert dist["integrity"] == honest["integrity"]  # only the signature changed
        with pytest.raises(InvalidSignature):
            key.verify(base64.b64decode(signature["sig"]), message, ec.ECDSA(hashes.SHA256()))
    assert api(npm_registry, "DELETE", "faults").status == 200
    assert http(npm_registry, "GET", "/demo-pkg/1.0.0").json()["dist"] == honest


def test_visibility_delay_hides_a_publish_until_the_clock_passes_it(npm_registry):
    alice = npm_registry.add_user("alice")
    npm_registry.publish("late-pkg", "1.0.0", by=alice)
    token = alice.create_token(bypass_2fa=True)
    body = {"kind": "visibility_delay", "low": 60, "high": 60, "times": 1}
    assert api(npm_registry, "POST", "faults", body).json() == {"fault": "visibility_delay 60-60s"}
    document = publish_document(manifest_for("late-pkg", "1.1.0"), make_tarball(manifest_for("late-pkg", "1.1.0")))
    assert http(npm_registry, "PUT", "/late-pkg", token=token, json_body=document).status == 200
    assert http(npm_registry, "GET", "/late-pkg").json()["dist-tags"] == {"latest": "1.0.0"}
    api(npm_registry, "POST", "clock", {"advance": 61})
    assert http(npm_registry, "GET", "/late-pkg").json()["dist-tags"] == {"latest": "1.1.0"}


# -- the real npm against `serve`, as a pipeline outside Python ------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``serve --seed`` with alice, demo-pkg@1.0.0 and its trust in acme/demo's release.yml."""
    seed = tmp_path / "seed.toml"
    seed.write_text(PROVENANCE_SEED)
    server = Served("--seed", str(seed))
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def npm_env(served: Served, tmp_path: Path) -> dict[str, str]:
    """What a script gets: its own HOME and cache, serve's exported variables, and the trace
    preload that records every name resolved and socket opened."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".npmrc").write_text(f"registry={served.url}\nfetch-retries=0\nupdate-notifier=false\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "npm_config_cache": str(tmp_path / "cache")}
    return env | served.info["env"] | trace_env(tmp_path)


@pytest.mark.npm
def test_a_fulcio_fault_from_outside_python_fails_npm_publish_provenance(served, tmp_path, package_dir):
    fault = served.control("POST", "faults", {"kind": "fulcio", "status": 403})
    assert (fault.status, fault.json()) == (201, {"fault": "fulcio status=403"})
    job = {"repository": "acme/demo", "workflow": "release.yml", "visibility": "public"}
    env = npm_env(served, tmp_path) | served.control("POST", "ci/github", job).json()["env"]
    package = package_dir("demo-pkg", "1.1.0", repository="https://github.com/acme/demo")
    result = run_npm(["publish", "--provenance", "--access", "public"], env=env, cwd=package)
    assert result.returncode == 1, result
    assert result.error_lines == [
        "npm error code CA_CREATE_SIGNING_CERTIFICATE_ERROR",
        "npm error error creating signing certificate - (403) Forbidden (fault injected by the test)",
        "npm error cause (403) Forbidden (fault injected by the test)",
    ]
    assert served.http("GET", "/demo-pkg").json()["versions"].keys() == {"1.0.0"}
    assert [e["operation"] for e in served.control("GET", "journal?operation=publish").json()["entries"]] == []
    assert_only_loopback(read_trace(tmp_path))
    assert served.stop() == 0


@pytest.mark.npm
def test_a_tampered_signature_from_outside_python_fails_npm_audit_signatures(served, tmp_path):
    env = npm_env(served, tmp_path)
    tuf = tmp_path / "cache" / TUF_CACHE_DIR / "root.json"  # where serve says our TUF root goes
    tuf.parent.mkdir(parents=True)
    shutil.copy(served.info["tuf_root"], tuf)
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    installed = run_npm(["install", "demo-pkg@1.0.0", "--no-audit"], env=env, cwd=app)
    assert installed.returncode == 0, installed
    body = {"kind": "tamper_signature", "name": "demo-pkg", "version": "1.0.0"}
    assert served.control("POST", "faults", body).json() == {"fault": "tamper_signature demo-pkg@1.0.0"}
    audit = run_npm(["audit", "signatures"], env=env, cwd=app)
    assert audit.returncode == 1, audit
    assert audit.stdout.split("\n")[1:] == [
        "",
        "1 package has an invalid registry signature:",
        "",
        f"demo-pkg@1.0.0 ({served.url})",
        "",
        "Someone might have tampered with this package since it was published on the registry!",
        "",
        "",
    ]
    assert_only_loopback(read_trace(tmp_path))
    assert served.stop() == 0
