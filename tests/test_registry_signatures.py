"""Registry signatures (``dist.signatures``, ``/-/npm/v1/keys``) and the TUF repository that hands
their key to ``npm audit signatures``: the real npm verifies what it installed from us, reports a
tampered signature, and reaches nothing but loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pytest_npm_registry.domain.signatures import signed_message
from pytest_npm_registry.domain.tuf import TUF_CACHE_DIR, TufRepository
from tests.conftest import http
from tests.test_provenance import REPO, TRACE_JS, assert_only_loopback, publish_with_provenance

DER, SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
TIMING = re.compile(r"audited 1 package in \d+s")
#: What `npm audit signatures` prints under its timing line for one package published with
#: provenance: its registry signature and its attestations (publish + SLSA) verified.
VERIFIED_WITH_ATTESTATION = [
    "",
    "1 package has a verified registry signature",
    "",
    "1 package has a verified attestation",
    "(use --json --include-attestations to view attestation details)",
    "",
    "",
]


@pytest.fixture
def installed(npm_registry, tmp_path) -> Path:
    """A project that installed ``demo-pkg@1.0.0`` from the registry."""
    alice = npm_registry.add_user("alice")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return install(npm_registry, tmp_path, "demo-pkg@1.0.0")


def install(reg, tmp_path: Path, spec: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    result = reg.npm("install", spec, "--no-audit", cwd=app)
    assert result.returncode == 0, result
    return app


def audit_lines(result) -> list[str]:
    lines = result.stdout.split("\n")
    assert TIMING.fullmatch(lines[0]), result
    return lines[1:]


def verify(key_b64: str, sig_b64: str, message: bytes) -> None:
    key = serialization.load_der_public_key(base64.b64decode(key_b64))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(sig_b64), message, ec.ECDSA(hashes.SHA256()))  # raises when invalid


def test_audit_signatures_verifies_an_install_with_keys_from_our_tuf_repository(npm_registry, installed):
    result = npm_registry.npm("audit", "signatures", cwd=installed)
    assert result.returncode == 0, result
    assert audit_lines(result) == ["", "1 package has a verified registry signature", "", ""]
    # The keys came from TUF: npm never fell back to the keys endpoint.
    assert "Fetching verification keys using TUF failed" not in result.stderr
    assert "/-/npm/v1/keys" not in [request.path for request, _ in npm_registry.server.log]
    tuf = npm_registry.server.egress.tuf.requests
    host = npm_registry.url.split("//", 1)[1].rstrip("/")
    assert [(method, re.sub(r"[0-9a-f]{64}", "<sha256>", path), status) for method, path, status in tuf] == [
        ("GET", "/2.root.json", 404),  # no root rotation: ours stays version 1
        ("GET", "/timestamp.json", 200),
        ("GET", "/1.snapshot.json", 200),
        ("GET", "/1.targets.json", 200),
        ("GET", f"/targets/{host}/<sha256>.keys.json", 200),
    ]


def test_without_keys_in_tuf_npm_reads_the_keys_endpoint(npm_registry, installed):
    """A registry Sigstore's TUF repository does not list (any but the public one): npm warns
    and asks ``/-/npm/v1/keys``."""
    npm_registry.server.egress.tuf.registry_keys = False
    result = npm_registry.npm("audit", "signatures", cwd=installed)
    assert result.returncode == 0, result
    assert audit_lines(result) == ["", "1 package has a verified registry signature", "", ""]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("npm warn")]
    assert warnings == [
        f"npm warn Fetching verification keys using TUF failed.  Fetching directly from {npm_registry.url}."
    ]
    keys = [response.status_code for request, response in npm_registry.server.log if request.path == "/-/npm/v1/keys"]
    assert keys == [200]


def test_a_tampered_signature_fails_the_audit(npm_registry, installed):
    fault = npm_registry.faults.tamper_signature("demo-pkg", "1.0.0")
    result = npm_registry.npm("audit", "signatures", cwd=installed)
    assert result.returncode == 1, result
    assert audit_lines(result) == [
        "",
        "1 package has an invalid registry signature:",
        "",
        f"demo-pkg@1.0.0 ({npm_registry.url})",
        "",
        "Someone might have tampered with this package since it was published on the registry!",
        "",
        "",
    ]
    assert fault.hits >= 1
    as_json = npm_registry.npm("audit", "signatures", "--json", cwd=installed)
    assert as_json.returncode == 1, as_json
    (invalid,) = json.loads(as_json.stdout)["invalid"]
    keyid = npm_registry.registry.signatures.keyid
    assert (invalid["code"], invalid["keyid"], invalid["name"], invalid["version"]) == (
        "EINTEGRITYSIGNATURE",
        keyid,
        "demo-pkg",
        "1.0.0",
    )
    assert invalid["message"] == (
        f"demo-pkg@1.0.0 has an invalid registry signature with keyid: {keyid} and signature: {invalid['signature']}"
    )
    # Once the fault is gone the same install verifies again: the stored package was never touched.
    npm_registry.faults.clear()
    assert npm_registry.npm("audit", "signatures", cwd=installed).returncode == 0


def test_nothing_but_loopback_is_reached_by_the_audit(npm_registry, installed, tmp_path):
    trace = tmp_path / "egress-trace.jsonl"
    script = tmp_path / "trace.js"
    script.write_text(TRACE_JS)
    npm_registry.server.egress.clear()
    env = {"NODE_OPTIONS": f"--require={script}", "EGRESS_TRACE": str(trace)}
    result = npm_registry.npm("audit", "signatures", cwd=installed, env=env)
    assert result.returncode == 0, result
    events = [tuple(json.loads(line)) for line in trace.read_text().splitlines()]
    assert_only_loopback(events)
    connects = npm_registry.server.egress.connects()
    assert {(c.method, c.host, c.port, c.allowed) for c in connects} == {
        ("CONNECT", "tuf-repo-cdn.sigstore.dev", 443, True)
    }


def test_npm_view_shows_dist_signatures_that_verify_with_the_keys_endpoint(npm_registry, installed):
    view = npm_registry.npm("view", "demo-pkg@1.0.0", "dist", "--json")
    assert view.returncode == 0, view
    dist = json.loads(view.stdout)
    keys = http(npm_registry, "GET", "/-/npm/v1/keys")
    signer = npm_registry.registry.signatures
    assert (keys.status, keys.json()) == (
        200,
        {
            "keys": [
                {
                    "expires": None,
                    "keyid": signer.keyid,
                    "keytype": "ecdsa-sha2-nistp256",
                    "scheme": "ecdsa-sha2-nistp256",
                    "key": signer.public_key,
                }
            ]
        },
    )
    (key,) = keys.json()["keys"]
    (signature,) = dist["signatures"]
    assert signature["keyid"] == key["keyid"]
    verify(key["key"], signature["sig"], f"demo-pkg@1.0.0:{dist['integrity']}".encode())
    # keyid: SHA256: and the unpadded base64 SHA-256 of the SPKI DER, as the public registry's.
    digest = hashes.Hash(hashes.SHA256())
    digest.update(base64.b64decode(key["key"]))
    assert key["keyid"] == "SHA256:" + base64.b64encode(digest.finalize()).decode().rstrip("=")


def test_every_document_carries_the_same_verifying_signature(npm_registry):
    alice = npm_registry.add_user("alice")
    npm_registry.publish("@acme/lib", "2.0.0", by=alice, access="public")
    key = npm_registry.registry.signatures.public_key
    full = http(npm_registry, "GET", "/@acme%2flib").json()["versions"]["2.0.0"]["dist"]
    corgi = http(npm_registry, "GET", "/@acme%2flib", headers={"accept": "application/vnd.npm.install-v1+json"})
    one = http(npm_registry, "GET", "/@acme%2flib/2.0.0").json()["dist"]
    sigs = [full["signatures"], corgi.json()["versions"]["2.0.0"]["dist"]["signatures"], one["signatures"]]
    assert sigs[0] == sigs[1] == sigs[2]
    verify(key, sigs[0][0]["sig"], signed_message("@acme/lib", "2.0.0", full["integrity"]))
    assert signed_message("@acme/lib", "2.0.0", "sha512-x") == b"@acme/lib@2.0.0:sha512-x"


def test_the_fixture_seeds_npm_tuf_cache_with_our_root(npm_registry):
    env = npm_registry.env()
    seeded = Path(env["npm_config_cache"]) / TUF_CACHE_DIR / "root.json"
    assert seeded.read_bytes() == npm_registry.registry.tuf.root()
    assert json.loads(seeded.read_bytes())["signed"]["_type"] == "root"


def test_tuf_metadata_is_signed_and_versions_move_with_the_targets():
    from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

    repo = TufRepository()
    first = repo.publish({"a/keys.json": b"{}"})
    assert repo.publish({"a/keys.json": b"{}"}) is first  # nothing changed: nothing re-signed
    second = repo.publish({"a/keys.json": b"{}", "trusted_root.json": b"[]"})
    root = Metadata[Root].from_bytes(repo.root())
    root.verify_delegate("root", root)
    sha = {path: hashlib.sha256(data).hexdigest() for path, data in (("a", b"{}"), ("root", b"[]"))}
    assert sorted(second.files) == [
        "1.root.json",
        "2.snapshot.json",
        "2.targets.json",
        f"targets/{sha['root']}.trusted_root.json",  # consistent snapshots: <sha256>.<name>
        f"targets/a/{sha['a']}.keys.json",
        "timestamp.json",
    ]
    timestamp = Metadata[Timestamp].from_bytes(second.files["timestamp.json"])
    snapshot = Metadata[Snapshot].from_bytes(second.files["2.snapshot.json"])
    targets = Metadata[Targets].from_bytes(second.files["2.targets.json"])
    for role, metadata in (("timestamp", timestamp), ("snapshot", snapshot), ("targets", targets)):
        root.verify_delegate(role, metadata)
    assert (timestamp.signed.version, timestamp.signed.snapshot_meta.version) == (2, 2)
    assert sorted(targets.signed.targets) == ["a/keys.json", "trusted_root.json"]


def test_a_provenance_publish_has_a_verified_attestation(npm_registry, package_dir, tmp_path):
    """npm verifies the provenance bundle with our Fulcio CA, CT log and Rekor key from
    ``trusted_root.json``: the certificate chain, its embedded SCT, the log entry, the DSSE
    signature."""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    published, _ = publish_with_provenance(npm_registry, package_dir, tmp_path)
    assert published.returncode == 0, published
    app = install(npm_registry, tmp_path, "demo-pkg@1.1.0")
    result = npm_registry.npm("audit", "signatures", cwd=app)
    assert result.returncode == 0, result
    assert audit_lines(result) == VERIFIED_WITH_ATTESTATION
    assert npm_registry.server.egress.tuf.requests[-1][1].endswith(".trusted_root.json")
    details = npm_registry.npm("audit", "signatures", "--json", "--include-attestations", cwd=app)
    (verified,) = json.loads(details.stdout)["verified"]
    stored = json.loads(npm_registry.package("demo-pkg").attachments("1.1.0")["demo-pkg-1.1.0.sigstore"])
    assert (verified["name"], verified["version"]) == ("demo-pkg", "1.1.0")
    publish_attestation = json.loads(
        npm_registry.registry.state.packages["demo-pkg"].versions["1.1.0"].publish_attestation
    )
    assert verified["attestationBundles"] == [
        {
            "predicateType": "https://github.com/npm/attestation/tree/main/specs/publish/v0.1",
            "bundle": publish_attestation,
        },
        {"predicateType": "https://slsa.dev/provenance/v1", "bundle": stored},
    ]
    # The SCT, checked with cryptography's own reading of RFC 6962: over the precertificate TBS
    # (the leaf's, without the SCT list), with our CT log's key.
    leaf = x509.load_der_x509_certificate(base64.b64decode(stored["verificationMaterial"]["certificate"]["rawBytes"]))
    (sct,) = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    fulcio = npm_registry.registry.sigstore.fulcio
    assert sct.log_id == fulcio.ct_log.log_id
    tbs = leaf.tbs_precertificate_bytes
    issuer = hashlib.sha256(fulcio.authority.cert.public_key().public_bytes(DER, SPKI)).digest()
    millis = int(sct.timestamp.replace(tzinfo=UTC).timestamp() * 1000).to_bytes(8, "big")
    signed = b"\x00\x00" + millis + b"\x00\x01" + issuer + len(tbs).to_bytes(3, "big") + tbs + b"\x00\x00"
    fulcio.ct_log.key.public_key().verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
