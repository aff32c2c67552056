"""The registry's own publish attestation (domain/attestations.py): made, signed and logged when a
version with provenance is accepted, served before the provenance bundle, and verified by the real
npm's ``npm audit signatures`` with the key our TUF ``keys.json`` lists for ``npm:attestations``."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pytest_npm_registry import make_tarball, publish_document
from pytest_npm_registry.domain import sigstore
from tests.conftest import http
from tests.test_provenance import REPO, publish_with_provenance
from tests.test_registry_signatures import VERIFIED_WITH_ATTESTATION, audit_lines, install

PUBLISH = "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"
SLSA = "https://slsa.dev/provenance/v1"


@pytest.fixture
def published(npm_registry, package_dir, tmp_path):
    """demo-pkg@1.1.0 published by the real npm with provenance (1.0.0 before it, without)."""
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.trust("demo-pkg", github={"repository": REPO, "workflow": "release.yml"})
    result, _ = publish_with_provenance(npm_registry, package_dir, tmp_path)
    assert result.returncode == 0, result
    return alice


def served(reg) -> list[dict]:
    answer = http(reg, "GET", "/-/npm/v1/attestations/demo-pkg@1.1.0")
    assert answer.status == 200, answer
    return answer.json()["attestations"]


def test_the_publish_attestation_is_served_first_signed_with_the_attestations_key(npm_registry, published):
    publish_attestation, provenance = served(npm_registry)
    stored = npm_registry.package("demo-pkg").attachments("1.1.0")["demo-pkg-1.1.0.sigstore"]
    assert provenance == {"predicateType": SLSA, "bundle": json.loads(stored)}
    assert publish_attestation["predicateType"] == PUBLISH
    bundle = publish_attestation["bundle"]
    # The key: the one keys.json lists for npm:attestations (and for npm:signatures, as the public
    # registry's does), and the keys endpoint's.
    (tuf_key,) = [k for k in npm_registry.registry.signatures.tuf_keys()["keys"] if k["keyUsage"] == "npm:attestations"]
    (listed,) = http(npm_registry, "GET", "/-/npm/v1/keys").json()["keys"]
    assert tuf_key["keyId"] == listed["keyid"]
    assert tuf_key["publicKey"]["rawBytes"] == listed["key"]
    keyid = listed["keyid"]
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle+json;version=0.2"
    material = bundle["verificationMaterial"]
    assert set(material) == {"publicKey", "tlogEntries", "timestampVerificationData"}
    assert material["publicKey"] == {"hint": keyid}
    assert material["timestampVerificationData"] == {"rfc3161Timestamps": []}
    envelope = bundle["dsseEnvelope"]
    (signature,) = envelope["signatures"]
    assert (envelope["payloadType"], signature["keyid"]) == ("application/vnd.in-toto+json", keyid)
    payload = base64.b64decode(envelope["payload"])
    tarball = npm_registry.package("demo-pkg").tarball("1.1.0")
    assert json.loads(payload) == {
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": "pkg:npm/demo-pkg@1.1.0", "digest": {"sha512": hashlib.sha512(tarball).hexdigest()}}],
        "predicateType": PUBLISH,
        "predicate": {"name": "demo-pkg", "version": "1.1.0", "registry": npm_registry.url.rstrip("/")},
    }
    # The DSSE signature, checked with cryptography against the listed key (raises when invalid).
    key = serialization.load_der_public_key(base64.b64decode(listed["key"]))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    sig = base64.b64decode(signature["sig"])
    key.verify(sig, sigstore.pae(envelope["payloadType"], payload), ec.ECDSA(hashes.SHA256()))
    # The tlog entry: our Rekor's last, after npm's provenance entry, an intoto 0.0.2 body.
    (tlog,) = material["tlogEntries"]
    rekor = npm_registry.registry.sigstore.rekor
    first, last = rekor.entries
    assert (tlog["logIndex"], tlog["kindVersion"]) == (
        str(sigstore.LOG_INDEX_BASE + 1),
        {"kind": "intoto", "version": "0.0.2"},
    )
    assert base64.b64decode(tlog["canonicalizedBody"]) == last.body
    assert tlog["integratedTime"] == str(last.integrated_time)
    assert provenance["bundle"]["verificationMaterial"]["tlogEntries"][0]["logIndex"] == str(
        sigstore.LOG_INDEX_BASE + first.index
    )
    body = json.loads(last.body)
    (logged,) = body["spec"]["content"]["envelope"]["signatures"]
    assert base64.b64decode(logged["sig"]).decode() == signature["sig"]  # base64 twice, as Rekor keeps it
    assert logged["keyid"] == keyid
    assert body["spec"]["content"]["payloadHash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(payload).hexdigest(),
    }
    # Its signed entry timestamp verifies with our Rekor's key.
    stamp = {
        "body": tlog["canonicalizedBody"],
        "integratedTime": int(tlog["integratedTime"]),
        "logID": rekor.log_id,
        "logIndex": int(tlog["logIndex"]),
    }
    set_sig = base64.b64decode(tlog["inclusionPromise"]["signedEntryTimestamp"])
    rekor.key.public_key().verify(set_sig, sigstore.canonical_json(stamp), ec.ECDSA(hashes.SHA256()))
    assert tlog["inclusionProof"]["treeSize"] == "2"
    # What npm view shows is unchanged: the provenance's predicate type only.
    view = npm_registry.npm("view", "demo-pkg@1.1.0", "dist.attestations", "--json")
    assert json.loads(view.stdout) == {
        "url": f"{npm_registry.url}-/npm/v1/attestations/demo-pkg@1.1.0",
        "provenance": {"predicateType": SLSA},
    }


def test_a_publish_without_provenance_gets_no_publish_attestation(npm_registry):
    """The public registry makes none then (its ``dist.attestations`` stays absent)."""
    alice = npm_registry.add_user("alice")
    manifest = {"name": "plain-pkg", "version": "1.0.0"}
    document = publish_document(manifest, make_tarball(manifest), registry_url=npm_registry.url)
    token = alice.create_token(bypass_2fa=True)
    answer = http(npm_registry, "PUT", "/plain-pkg", token=token, json_body=document)
    assert answer.status == 200, answer
    assert http(npm_registry, "GET", "/-/npm/v1/attestations/plain-pkg@1.0.0").status == 404
    assert npm_registry.registry.sigstore.rekor.entries == []


def test_a_refused_publish_logs_no_publish_attestation(npm_registry, published):
    """Only an accepted version is attested: the same PUT again (a retry, 409) logs nothing."""
    package = npm_registry.package("demo-pkg")
    bundle = package.attachments("1.1.0")["demo-pkg-1.1.0.sigstore"]
    manifest, tarball = package.manifest("1.1.0"), package.tarball("1.1.0")
    document = publish_document(manifest, tarball, access="public", registry_url=npm_registry.url)
    text = bundle.decode()
    document["_attachments"]["demo-pkg-1.1.0.sigstore"] = {"data": text, "length": len(text)}
    token = published.create_token(bypass_2fa=True)
    assert http(npm_registry, "PUT", "/demo-pkg", token=token, json_body=document).status == 409
    assert len(npm_registry.registry.sigstore.rekor.entries) == 2  # npm's provenance entry and ours


def test_npm_audit_signatures_verifies_both_attestations(npm_registry, published, tmp_path):
    app = install(npm_registry, tmp_path, "demo-pkg@1.1.0")
    result = npm_registry.npm("audit", "signatures", cwd=app)
    assert result.returncode == 0, result
    assert audit_lines(result) == VERIFIED_WITH_ATTESTATION
    details = npm_registry.npm("audit", "signatures", "--json", "--include-attestations", cwd=app)
    assert details.returncode == 0, details
    report = json.loads(details.stdout)
    assert (report["invalid"], report["missing"]) == ([], [])
    (verified,) = report["verified"]
    assert verified["attestationBundles"] == served(npm_registry)
    assert [b["predicateType"] for b in verified["attestationBundles"]] == [PUBLISH, SLSA]


@pytest.mark.parametrize("kind", ["publish", "provenance"])
def test_npm_reports_an_attestation_another_key_signed(npm_registry, published, tmp_path, kind):
    """``reg.faults.tamper_attestation``: the served publish attestation (or the provenance
    bundle) re-signed with another key; npm finds the entry in our log no longer matches the
    envelope, and reports the package as tampered with. The stored bundles are untouched."""
    stored = npm_registry.registry.state.packages["demo-pkg"].versions["1.1.0"].publish_attestation
    npm_registry.faults.tamper_attestation("demo-pkg", "1.1.0", kind=kind)
    app = install(npm_registry, tmp_path, "demo-pkg@1.1.0")
    result = npm_registry.npm("audit", "signatures", cwd=app)
    assert result.returncode == 1, result
    assert audit_lines(result) == [
        "",
        "1 package has an invalid attestation:",
        "",
        f"demo-pkg@1.1.0 ({npm_registry.url})",
        "",
        "Someone might have tampered with this package since it was published on the registry!",
        "",
        "",
    ]
    details = npm_registry.npm("audit", "signatures", "--json", cwd=app)
    (invalid,) = json.loads(details.stdout)["invalid"]
    assert (invalid["code"], invalid["predicateType"], invalid["message"]) == (
        "EATTESTATIONVERIFY",
        PUBLISH if kind == "publish" else SLSA,
        "demo-pkg@1.1.0 failed to verify attestation: tlog entry signature mismatch",
    )
    if kind == "publish":
        assert invalid["keyid"] == npm_registry.registry.signatures.keyid
    assert npm_registry.registry.state.packages["demo-pkg"].versions["1.1.0"].publish_attestation == stored
    npm_registry.faults.clear()
    assert npm_registry.npm("audit", "signatures", cwd=app).returncode == 0
