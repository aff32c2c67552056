"""What the registry checks of the ``.sigstore`` bundle a publish carries (``npm publish
--provenance``), before it accepts the version: :func:`check_bundle`.

Two kinds of check, each refused with :class:`~.errors.ProvenanceInvalid` (422, ``Error verifying
sigstore provenance bundle: <why>``):

- **Sigstore verification**, in ``@sigstore/verify``'s order (``verifier.js``: timestamps, signing
  key, tlog entries, signature) and with its messages. The public registry verifies with
  sigstore-js and passes its error text through: it answered ``Error verifying sigstore provenance
  bundle: error refreshing TUF metadata``, ``@sigstore/tuf``'s own message (sigstore/sigstore-js#1330).
  Trusted here: our Fulcio's CA and our Rekor's key, nothing else.
- **The registry's policy** with the public registry's own texts where they are known: the source
  repository must be public, the runner hosted, the certificate must name the repository and its
  ref, and ``repository.url`` must match it (docs/coverage.md cites each).

Not checked (the mock has none of them): SCTs, the Merkle inclusion proof and checkpoint, TSA
timestamps.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import identity
from .errors import ProvenanceInvalid
from .sigstore import Sigstore, canonical_json, ecdsa_verify, fulcio_extension, pae

if TYPE_CHECKING:
    from cryptography import x509

#: Fulcio extension arcs (``1.3.6.1.4.1.57264.1.<arc>``, Fulcio's docs/oid-info.md).
ISSUER, RUNNER_ENVIRONMENT, SOURCE_REPOSITORY_URI, SOURCE_REPOSITORY_REF = "8", "11", "12", "14"
SOURCE_REPOSITORY_VISIBILITY = "22"


@dataclass(frozen=True)
class _Provider:
    """What the registry accepts from one CI provider, and how its refusals name it."""

    name: str
    hosted_runner: str


#: GitHub's texts are the public registry's (projen/projen#3866, worldcoin/minikit-js#350); the
#: GitLab ones are ours, built the same way with ci-info's name for it (``GitLab CI``).
_PROVIDERS = {
    identity.GITHUB_ISSUER: _Provider("GitHub Actions", "github-hosted"),
    identity.GITLAB_ISSUER: _Provider("GitLab CI", "gitlab-hosted"),
}


@dataclass(frozen=True)
class _Bundle:
    """The parts of a bundle the checks read."""

    payload_type: str
    payload: bytes
    signature: bytes
    leaf: x509.Certificate
    statement: dict[str, Any]
    tlog_entries: list[dict[str, Any]]


def check_bundle(bundle: bytes, tarball: bytes, manifest: dict[str, Any], sigstore: Sigstore) -> None:
    """Refuse (``ProvenanceInvalid``) a provenance bundle that does not verify against this
    registry's Sigstore, does not name this tarball and version, or breaks the registry's policy."""
    parsed = _parse(bundle)
    _verify_certificate(parsed, sigstore)
    _verify_tlog(parsed, sigstore)
    if not ecdsa_verify(parsed.leaf.public_key(), parsed.signature, pae(parsed.payload_type, parsed.payload)):
        raise ProvenanceInvalid("signature verification failed")
    _check_subject(parsed.statement, tarball, manifest)
    _check_policy(parsed.leaf, manifest)


def _parse(bundle: bytes) -> _Bundle:
    from cryptography import x509  # noqa: PLC0415 - lazy, like sigstore.py

    try:
        document = json.loads(bundle)
        envelope = document["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"])
        signature = base64.b64decode(envelope["signatures"][0]["sig"])
        material = document["verificationMaterial"]
        # v0.3 bundles carry the leaf alone; v0.1/v0.2 a chain, leaf first.
        certificate = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
        leaf = x509.load_der_x509_certificate(base64.b64decode(certificate["rawBytes"]))
        statement = json.loads(payload)
        entries = material.get("tlogEntries") or []
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise ProvenanceInvalid("the bundle could not be parsed") from None
    if not isinstance(statement, dict) or not isinstance(entries, list):
        raise ProvenanceInvalid("the bundle could not be parsed")
    return _Bundle(str(envelope.get("payloadType")), payload, signature, leaf, statement, entries)


def _verify_certificate(bundle: _Bundle, sigstore: Sigstore) -> None:
    """The leaf must chain to our Fulcio and be valid when the log took the entry (sigstore-js
    wraps every chain failure, an unknown issuer or an expired leaf, in this one message)."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    try:
        bundle.leaf.verify_directly_issued_by(sigstore.fulcio.authority.cert)
    except (ValueError, TypeError, InvalidSignature):
        raise ProvenanceInvalid("Failed to verify certificate chain") from None
    times = [_integer(entry.get("integratedTime")) for entry in bundle.tlog_entries if isinstance(entry, dict)]
    leaf = bundle.leaf
    start, end = leaf.not_valid_before_utc.timestamp(), leaf.not_valid_after_utc.timestamp()
    if any(t is None or not start <= t <= end for t in times):
        raise ProvenanceInvalid("Failed to verify certificate chain")


def _verify_tlog(bundle: _Bundle, sigstore: Sigstore) -> None:
    """Each tlog entry's signed entry timestamp must verify with our Rekor's key, and its body
    must describe this envelope (``tlog/set.js``, ``tlog/index.js``, ``tlog/dsse.js``)."""
    rekor = sigstore.rekor
    if not bundle.tlog_entries:
        raise ProvenanceInvalid("expected 1 tlog entries, got 0")
    for entry in bundle.tlog_entries:
        try:
            key_id = base64.b64decode(entry["logId"]["keyId"]).hex()
            stamp = {
                "body": entry["canonicalizedBody"],
                "integratedTime": int(entry["integratedTime"]),
                "logID": key_id,
                "logIndex": int(entry["logIndex"]),
            }
            promise = base64.b64decode(entry["inclusionPromise"]["signedEntryTimestamp"])
            body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
            kind, version = entry["kindVersion"]["kind"], entry["kindVersion"]["version"]
        except (KeyError, TypeError, ValueError):
            raise ProvenanceInvalid("inclusion promise could not be verified") from None
        # A SET is checked only with the log whose key id it names (``filterTLogAuthorities``).
        if key_id != rekor.log_id or not ecdsa_verify(rekor.key.public_key(), promise, canonical_json(stamp)):
            raise ProvenanceInvalid("inclusion promise could not be verified")
        _verify_body(body, str(kind), str(version), bundle)


def _verify_body(body: Any, kind: str, version: str, bundle: _Bundle) -> None:
    if not isinstance(body, dict) or body.get("kind") != kind or body.get("apiVersion") != version:
        got = f"{body.get('kind')}/{body.get('apiVersion')}" if isinstance(body, dict) else "?"
        raise ProvenanceInvalid(f"kind/version mismatch - expected: {kind[:20]}/{version[:20]}, received: {got[:60]}")
    spec: dict[str, Any] = body["spec"] if isinstance(body.get("spec"), dict) else {}
    payload_hash = hashlib.sha256(bundle.payload).hexdigest()
    if kind == "dsse" and version == "0.0.1":
        signatures = spec.get("signatures")
        if not isinstance(signatures, list) or len(signatures) != 1:
            raise ProvenanceInvalid("signature count mismatch")
        if _b64(signatures[0].get("signature") if isinstance(signatures[0], dict) else None) != bundle.signature:
            raise ProvenanceInvalid("tlog entry signature mismatch")
        if (spec.get("payloadHash") or {}).get("value") != payload_hash:
            raise ProvenanceInvalid("DSSE payload hash mismatch")
    elif kind == "intoto" and version == "0.0.2":
        # Rekor keeps an intoto entry's hashes, not its envelope (see sigstore._canonical_body).
        if ((spec.get("content") or {}).get("payloadHash") or {}).get("value") != payload_hash:
            raise ProvenanceInvalid("DSSE payload hash mismatch")
    else:
        raise ProvenanceInvalid(f"unsupported {kind[:20]} version: {version[:20]}")


def _check_subject(statement: dict[str, Any], tarball: bytes, manifest: dict[str, Any]) -> None:
    """The statement must name this package version and this tarball. No public text is known:
    these are npm's own, from ``libnpmpublish/lib/provenance.js`` ``verifyProvenance``, which
    checks the same for ``--provenance-file``."""
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise ProvenanceInvalid("No subject found in sigstore bundle payload")
    if len(subjects) > 1:
        raise ProvenanceInvalid("Found more than one subject in the sigstore bundle payload")
    subject = subjects[0] if isinstance(subjects[0], dict) else {}
    expected = purl(str(manifest.get("name", "")), str(manifest.get("version", "")))
    if subject.get("name") != expected:
        raise ProvenanceInvalid(
            f"Provenance subject {str(subject.get('name'))[:200]} does not match the package: {expected}"
        )
    if (subject.get("digest") or {}).get("sha512") != hashlib.sha512(tarball).hexdigest():
        raise ProvenanceInvalid("Provenance subject digest does not match the package")


def purl(name: str, version: str) -> str:
    """``npa.toPurl``: ``pkg:npm/<name>@<version>``, the scope's ``@`` escaped (``%40acme/x``)."""
    return f"pkg:npm/{name.replace('@', '%40', 1) if name.startswith('@') else name}@{version}"


def _check_policy(leaf: x509.Certificate, manifest: dict[str, Any]) -> None:
    issuer = fulcio_extension(leaf, ISSUER) or ""
    provider = _PROVIDERS.get(issuer)
    if provider is None:
        raise ProvenanceInvalid(f"Unsupported OIDC issuer: {issuer[:100]!r}")  # ours: Fulcio issues for both
    visibility = fulcio_extension(leaf, SOURCE_REPOSITORY_VISIBILITY) or ""
    if visibility != "public":
        raise ProvenanceInvalid(
            f'Unsupported {provider.name} source repository visibility: "{visibility[:40]}". Only public source'
            " repositories are supported when publishing with provenance."
        )
    runner = fulcio_extension(leaf, RUNNER_ENVIRONMENT) or ""
    if runner != provider.hosted_runner:
        raise ProvenanceInvalid(
            f'Unsupported {provider.name} runner environment: "{runner[:40]}". Only "{provider.hosted_runner}"'
            " runners are supported when publishing with provenance."
        )
    source = fulcio_extension(leaf, SOURCE_REPOSITORY_URI)
    if not source:
        raise ProvenanceInvalid("Missing SourceRepositoryURI in signing certificate")  # ours, like the next
    if not fulcio_extension(leaf, SOURCE_REPOSITORY_REF):
        raise ProvenanceInvalid("Missing SourceRepositoryRef in signing certificate")  # npm/cli#8699
    actual = _repository_url(manifest)
    if _comparable(actual) != source:
        raise ProvenanceInvalid(
            f'Failed to validate repository information: package.json: "repository.url" is "{actual[:200]}",'
            f' expected to match "{source[:200]}" from provenance'
        )


def _repository_url(manifest: dict[str, Any]) -> str:
    repository = manifest.get("repository")
    url = repository.get("url") if isinstance(repository, dict) else repository
    return url if isinstance(url, str) else ""


def _comparable(url: str) -> str:
    # npm itself rewrites "https://github.com/o/r" to "git+https://github.com/o/r.git" on publish
    # (its "auto-corrected" warning), and the public registry accepts that; case counts.
    return url.removeprefix("git+").removesuffix(".git")


def _integer(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _b64(value: Any) -> bytes | None:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        return None
