"""The registry's own *publish attestation*: what the public registry adds to a version published
with provenance, beside the SLSA provenance bundle the client made.

The shapes are the public registry's (``GET /-/npm/v1/attestations/<name>@<version>`` of a
version with provenance, e.g. slsa-framework/slsa-verifier's
``cli/slsa-verifier/testdata/npm/gha/gundam-visor-cli-v1-tag.tgz.json``; the statement as
npm/attestation's ``specs/publish/v0.1``):

- an in-toto v0.1 statement, subject ``pkg:npm/<name>@<version>`` with the tarball's sha512 hex,
  predicate ``{name, version, registry}`` and nothing else;
- a DSSE envelope signed with the registry's key (``keyid`` its ``SHA256:...`` id): the key
  ``keys.json`` lists with ``keyUsage: "npm:attestations"``, the same key as ``npm:signatures``
  on the public registry (``@sigstore/tuf``'s ``seeds.json``);
- a Sigstore bundle ``application/vnd.dev.sigstore.bundle+json;version=0.2`` whose verification
  material is a ``publicKey`` hint (the keyid, no certificate) and one Rekor ``intoto`` 0.0.2 entry
  with its signed entry timestamp and inclusion proof.

How npm checks it (pacote 21.5.1 ``lib/registry.js``, npm 11.19.1): it takes the DSSE
signature's ``keyid``, finds the registry key with that ``keyid`` (``keyUsage`` is not read), refuses
a key whose ``expires`` is before the entry's ``integratedTime``, checks the subject against the
purl and the integrity, then ``sigstore.verify`` with ``keySelector`` (that key): the signed entry
timestamp and inclusion proof against ``trusted_root.json``'s Rekor key, the tlog body, the DSSE
signature.

Only for versions with provenance: the public registry makes none for a version published without
(its ``dist.attestations`` is absent then; see docs/coverage.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from typing import Any

from .bundles import purl
from .models import Version
from .signatures import RegistrySigner
from .sigstore import Sigstore, pae, provenance_bundle, public_pem

#: ``predicateType`` of the publish attestation (npm/attestation ``specs/publish/v0.1``).
PUBLISH_PREDICATE_TYPE = "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"
#: The statement type the public registry's publish attestations carry (in-toto v0.1).
STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
#: The bundle media type of the public registry's publish attestations.
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle+json;version=0.2"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def statement(name: str, version: str, tarball: bytes, registry: str) -> dict[str, Any]:
    """The publish attestation's in-toto statement, keys in the public registry's order."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": purl(name, version), "digest": {"sha512": hashlib.sha512(tarball).hexdigest()}}],
        "predicateType": PUBLISH_PREDICATE_TYPE,
        "predicate": {"name": name, "version": version, "registry": registry},
    }


class PublishAttester:
    """Makes, signs and logs a version's publish attestation."""

    def __init__(self, sigstore: Sigstore, signer: RegistrySigner) -> None:
        self.sigstore = sigstore  # its Rekor logs the attestation
        self.signer = signer  # the registry's key: keys.json's ``npm:attestations`` entry

    def attest(self, name: str, version: Version, registry: str) -> Version:
        """``version`` with its publish attestation when it came with provenance, else as it is.
        ``registry`` is the registry's URL as the publish addressed it (the predicate's)."""
        if provenance_bundle(version.attachments) is None:
            return version
        return replace(version, publish_attestation=self.bundle(name, version.version, version.tarball, registry))

    def bundle(self, name: str, version: str, tarball: bytes, registry: str) -> bytes:
        """The Sigstore bundle (JSON) of a publish attestation, logged in our Rekor."""
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415 - lazy, like signatures.py
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

        payload = json.dumps(statement(name, version, tarball, registry), separators=(",", ":")).encode()
        key, keyid = self.signer.key, self.signer.keyid
        sig = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": keyid}],
        }
        ((_, entry),) = self.sigstore.rekor.add(_proposed_intoto(envelope, public_pem(key.public_key()))).items()
        material = {
            "publicKey": {"hint": keyid},
            "tlogEntries": [tlog_entry(entry, "intoto", "0.0.2")],
            "timestampVerificationData": {"rfc3161Timestamps": []},
        }
        return json.dumps(
            {"mediaType": BUNDLE_MEDIA_TYPE, "verificationMaterial": material, "dsseEnvelope": envelope}
        ).encode()


def _proposed_intoto(envelope: dict[str, Any], public_key_pem: str) -> dict[str, Any]:
    """The ``intoto`` 0.0.2 entry proposed to Rekor for ``envelope`` (``@sigstore/sign``
    ``toProposedIntotoEntry``: payload and signature base64 twice, the key as base64 PEM)."""
    (signature,) = envelope["signatures"]
    twice = {
        "sig": base64.b64encode(signature["sig"].encode()).decode(),
        "publicKey": base64.b64encode(public_key_pem.encode()).decode(),
        "keyid": signature["keyid"],
    }
    dsse = {
        "payloadType": envelope["payloadType"],
        "payload": base64.b64encode(envelope["payload"].encode()).decode(),
        "signatures": [twice],
    }
    return {"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {"envelope": dsse}}}


def tlog_entry(entry: dict[str, Any], kind: str, version: str) -> dict[str, Any]:
    """A Rekor answer as a bundle's ``tlogEntries[]``, as ``@sigstore/sign`` puts it
    (``witness/tlog``; protobuf JSON: numbers as strings, hex as base64, a zero or empty field
    left out)."""
    proof = entry["verification"]["inclusionProof"]
    rendered = {
        "logIndex": str(proof["logIndex"]),
        "rootHash": base64.b64encode(bytes.fromhex(proof["rootHash"])).decode(),
        "treeSize": str(proof["treeSize"]),
        "hashes": [base64.b64encode(bytes.fromhex(h)).decode() for h in proof["hashes"]],
        "checkpoint": {"envelope": proof["checkpoint"]},
    }
    return {
        "logIndex": str(entry["logIndex"]),
        "logId": {"keyId": base64.b64encode(bytes.fromhex(entry["logID"])).decode()},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": str(entry["integratedTime"]),
        "inclusionPromise": {"signedEntryTimestamp": entry["verification"]["signedEntryTimestamp"]},
        "inclusionProof": {k: v for k, v in rendered.items() if v not in ("0", [])},
        "canonicalizedBody": entry["body"],
    }
