"""What the registry checks of the ``.sigstore`` bundle a publish carries (``npm publish
--provenance``), before it accepts the version: :func:`check_bundle`.

Two kinds of check, each refused with :class:`~.errors.ProvenanceInvalid` (422, ``Error verifying
sigstore provenance bundle: <why>``):

- **Sigstore verification**, in ``@sigstore/verify``'s order (``@sigstore/bundle``'s shape for the
  media type, then ``verifier.js``: timestamps, signing key (chain, then the embedded SCTs), tlog
  entries (signed entry timestamp, checkpoint and Merkle inclusion proof, body), signature) and
  with its messages. The public registry verifies with
  sigstore-js and passes its error text through: it answered ``Error verifying sigstore provenance
  bundle: error refreshing TUF metadata``, ``@sigstore/tuf``'s own message (sigstore/sigstore-js#1330).
  Trusted here: our Fulcio's CA, our CT log's key and our Rekor's key, nothing else (what
  domain/tuf.py's ``trusted_root.json`` lists).
- **The registry's policy** with the public registry's own texts where they are known: the source
  repository must be public, the runner hosted, the certificate must name the repository and its
  ref, and ``repository.url`` must match it (docs/coverage.md cites each).

Not checked (the mock has none): TSA timestamps; the logs' ``validFor`` windows (ours have no end).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import identity
from .errors import ProvenanceInvalid
from .sigstore import REKOR_HOST, Sigstore, canonical_json, ecdsa_verify, fulcio_extension, pae, spki_der

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


#: ``@sigstore/bundle`` ``bundle.js``: the two media types with their own shape rules; any other is "latest".
_V01, _V02 = (f"application/vnd.dev.sigstore.bundle+json;version=0.{n}" for n in (1, 2))
_MEDIA_TYPE = re.compile(
    r"^application/vnd\.dev\.sigstore\.bundle\+json;version=\d\.\d|^application/vnd\.dev\.sigstore\.bundle\.v\d\.\d\+json"
)
#: Where our Rekor says it lives (``tlogs[].baseUrl`` in domain/tuf.py's trusted root).
_REKOR_URL = f"https://{REKOR_HOST}"


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
    try:
        parsed = _parse(bundle)
        _verify_certificate(parsed, _timestamps(parsed), sigstore)
        _verify_scts(parsed.leaf, sigstore)
        _verify_tlog(parsed, sigstore)
        if not ecdsa_verify(parsed.leaf.public_key(), parsed.signature, pae(parsed.payload_type, parsed.payload)):
            raise ProvenanceInvalid("signature verification failed")
        _check_subject(parsed.statement, tarball, manifest)
        _check_policy(parsed.leaf, manifest)
    except ProvenanceInvalid:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, OverflowError, RecursionError):
        # The bundle is the client's: a string where an object belongs, 1e400 for a time, JSON
        # nested past the interpreter's depth. Each check guards what it reads; whatever slips
        # through is still the client's mistake, a 422, never a 500.
        raise ProvenanceInvalid("the bundle could not be parsed") from None


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
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError):
        raise ProvenanceInvalid("the bundle could not be parsed") from None
    if (
        not isinstance(statement, dict)
        or not isinstance(entries, list)
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise ProvenanceInvalid("the bundle could not be parsed")
    _check_shape(str(document.get("mediaType", "")), material, entries)
    return _Bundle(str(envelope.get("payloadType")), payload, signature, leaf, statement, entries)


def _check_shape(media_type: str, material: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """``@sigstore/bundle`` ``bundleFromJSON``: a v0.1 bundle's entries need an inclusion promise,
    later ones an inclusion proof with a checkpoint (and v0.3 the leaf alone, no chain)."""
    missing = not _MEDIA_TYPE.match(media_type) or any("logId" not in e or "kindVersion" not in e for e in entries)
    if media_type == _V01:
        if missing or any(e.get("inclusionPromise") is None for e in entries):
            raise ProvenanceInvalid("invalid v0.1 bundle")
        return
    proofs = [e.get("inclusionProof") for e in entries]
    missing = missing or any(not isinstance(p, dict) or p.get("checkpoint") is None for p in proofs)
    if media_type == _V02:
        if missing:
            raise ProvenanceInvalid("invalid v0.2 bundle")
        return
    if missing or "x509CertificateChain" in material:
        raise ProvenanceInvalid("invalid bundle")


def _timestamps(bundle: _Bundle) -> list[int | None]:
    """``verifyTimestamps``: each entry with an inclusion promise gives its ``integratedTime``
    (an entry with only an inclusion proof gives none); one is needed, no two alike."""
    found = [
        (str((e.get("logId") or {}).get("keyId")), _integer(e.get("integratedTime")))
        for e in bundle.tlog_entries
        if e.get("inclusionPromise") is not None
    ]
    if len(set(found)) < len(found):
        raise ProvenanceInvalid("duplicate timestamp")
    if not found:
        raise ProvenanceInvalid("expected 1 timestamps, got 0")
    return [time for _, time in found]


def _verify_certificate(bundle: _Bundle, times: list[int | None], sigstore: Sigstore) -> None:
    """The leaf must chain to our Fulcio and be valid at each timestamp (sigstore-js wraps every
    chain failure, an unknown issuer or an expired leaf, in this one message)."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    try:
        bundle.leaf.verify_directly_issued_by(sigstore.fulcio.authority.cert)
    except (ValueError, TypeError, InvalidSignature):
        raise ProvenanceInvalid("Failed to verify certificate chain") from None
    leaf = bundle.leaf
    start, end = leaf.not_valid_before_utc.timestamp(), leaf.not_valid_after_utc.timestamp()
    if any(t is None or not start <= t <= end for t in times):
        raise ProvenanceInvalid("Failed to verify certificate chain")


def _verify_scts(leaf: x509.Certificate, sigstore: Sigstore) -> None:
    """``key/sct.js``: each SCT the leaf embeds must be signed by a CT log we trust (ours) over the
    RFC 6962 precertificate entry: our CA key's hash and the leaf's TBS without the SCT list
    (``tbs_precertificate_bytes``); and there must be one (``ctlogThreshold`` 1)."""
    from cryptography import x509  # noqa: PLC0415

    ct_log = sigstore.fulcio.ct_log
    try:
        scts = list(leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value)
        tbs = leaf.tbs_precertificate_bytes if scts else b""
    except x509.ExtensionNotFound:
        scts = []
    except ValueError:
        raise ProvenanceInvalid("the bundle could not be parsed") from None
    issuer_id = hashlib.sha256(spki_der(sigstore.fulcio.authority.key.public_key())).digest()
    for sct in scts:
        millis = (sct.timestamp.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
        extensions = sct.extension_bytes
        signed = (
            b"\x00\x00"  # v1, certificate_timestamp
            + millis.to_bytes(8, "big")
            + b"\x00\x01"  # precert_entry
            + issuer_id
            + len(tbs).to_bytes(3, "big")
            + tbs
            + len(extensions).to_bytes(2, "big")
            + extensions
        )
        if sct.log_id != ct_log.log_id or not ecdsa_verify(ct_log.key.public_key(), sct.signature, signed):
            raise ProvenanceInvalid("SCT verification failed")
    if not scts:
        raise ProvenanceInvalid("expected 1 SCTs, got 0")


def _verify_tlog(bundle: _Bundle, sigstore: Sigstore) -> None:
    """``verifyTLogs``: for each entry its inclusion (``tlog/index.js`` ``verifyTLogInclusion``:
    the signed entry timestamp if it has one, the checkpoint and Merkle proof if it has one,
    at least one of them), then its body must describe this envelope (``tlog/dsse.js``)."""
    for entry in bundle.tlog_entries:
        verified = False
        if entry.get("inclusionPromise") is not None:
            _verify_promise(entry, sigstore)
            verified = True
        if entry.get("inclusionProof") is not None:
            _verify_inclusion_proof(entry, sigstore)
            verified = True
        if not verified:
            raise ProvenanceInvalid("inclusion could not be verified")
        try:
            body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
            kind, version = entry["kindVersion"]["kind"], entry["kindVersion"]["version"]
        except (KeyError, TypeError, ValueError):
            raise ProvenanceInvalid("the bundle could not be parsed") from None
        _verify_body(body, str(kind), str(version), bundle)
    if not bundle.tlog_entries:
        raise ProvenanceInvalid("expected 1 tlog entries, got 0")


def _verify_promise(entry: dict[str, Any], sigstore: Sigstore) -> None:
    """``tlog/set.js``: the signed entry timestamp, checked only with the log whose key id it names."""
    rekor = sigstore.rekor
    try:
        key_id = base64.b64decode(entry["logId"]["keyId"]).hex()
        stamp = {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logID": key_id,
            "logIndex": int(entry["logIndex"]),
        }
        promise = base64.b64decode(entry["inclusionPromise"]["signedEntryTimestamp"])
    except (KeyError, TypeError, ValueError):
        raise ProvenanceInvalid("inclusion promise could not be verified") from None
    if key_id != rekor.log_id or not ecdsa_verify(rekor.key.public_key(), promise, canonical_json(stamp)):
        raise ProvenanceInvalid("inclusion promise could not be verified")


def _verify_inclusion_proof(entry: dict[str, Any], sigstore: Sigstore) -> None:
    """``tlog/checkpoint.js`` then ``tlog/merkle.js``: the checkpoint (a signed note) must be signed
    by our Rekor, and the proof must lead from this entry's leaf to the checkpoint's root (the
    proof's own ``rootHash`` and ``treeSize`` are not what counts: the checkpoint's are)."""
    proof = entry["inclusionProof"] if isinstance(entry["inclusionProof"], dict) else {}
    size, root = _verify_checkpoint(str((proof.get("checkpoint") or {}).get("envelope", "")), sigstore)
    index = _bigint(proof.get("logIndex", "0"))  # protobuf JSON drops a logIndex of 0
    if index < 0 or index >= size:
        raise ProvenanceInvalid(f"invalid index: {index}")
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    hashes = [_bytes(h) for h in proof.get("hashes") or []]
    if len(hashes) != inner + border:
        raise ProvenanceInvalid("invalid hash count")
    node = hashlib.sha256(b"\x00" + _bytes(entry.get("canonicalizedBody"))).digest()
    for i, other in enumerate(hashes[:inner]):
        pair = other + node if (index >> i) & 1 else node + other
        node = hashlib.sha256(b"\x01" + pair).digest()
    for other in hashes[inner:]:
        node = hashlib.sha256(b"\x01" + other + node).digest()
    if node != root:
        raise ProvenanceInvalid("calculated root hash does not match inclusion proof")


def _verify_checkpoint(envelope: str, sigstore: Sigstore) -> tuple[int, bytes]:
    """The tree size and root hash of a checkpoint our Rekor signed (``SignedNote``, ``LogCheckpoint``)."""
    if "\n\n" not in envelope:
        raise ProvenanceInvalid("missing checkpoint separator")
    split = envelope.index("\n\n")
    note, data = envelope[: split + 1], envelope[split + 2 :]
    signatures = []
    for name, text in re.findall(r"\u2014 (\S+) (\S+)\n", data):
        raw = _bytes(text)
        if len(raw) < 5:
            raise ProvenanceInvalid("malformed checkpoint signature")
        signatures.append((name, raw[:4], raw[4:]))
    if not signatures:
        raise ProvenanceInvalid("no signatures found in checkpoint")
    lines = note.rstrip().split("\n")
    if len(lines) < 3:
        raise ProvenanceInvalid("too few lines in checkpoint header")
    size, root = _bigint(lines[1]), _bytes(lines[2])
    rekor = sigstore.rekor
    hint = bytes.fromhex(rekor.log_id)[:4]
    # A signature counts for a log whose id starts with its key hint and whose base URL matches
    # its name. sigstore-js uses the name as a pattern (``tlog.baseURL.match(signature.name)``);
    # a server must not run a client's regex (``(.|.|.)*!`` never ends), so the name is looked for
    # literally: the same answer for every real log name, which holds no pattern characters.
    if not any(
        key_hint == hint
        and bool(name)
        and name in _REKOR_URL
        and ecdsa_verify(rekor.key.public_key(), sig, note.encode())
        for name, key_hint, sig in signatures
    ):
        raise ProvenanceInvalid("invalid checkpoint signature")
    return size, root


def _bigint(value: Any) -> int:
    """``BigInt(text)``: surrounding blanks allowed, "" is 0, anything else not a number is refused."""
    text = str(value).strip()
    try:
        return int(text) if text else 0
    except ValueError:
        raise ProvenanceInvalid(f"Cannot convert {text[:40]} to a BigInt") from None


def _bytes(value: Any) -> bytes:
    """``Buffer.from(text, "base64")``, as lenient: what does not decode is no bytes."""
    try:
        return base64.b64decode(str(value) + "==")
    except ValueError:
        return b""


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
        # @sigstore/verify tlog/intoto.js: one signature, double-base64 in the entry, then the hash.
        content: dict[str, Any] = spec["content"] if isinstance(spec.get("content"), dict) else {}
        envelope: dict[str, Any] = content["envelope"] if isinstance(content.get("envelope"), dict) else {}
        signatures = envelope.get("signatures")
        if not isinstance(signatures, list) or len(signatures) != 1:
            raise ProvenanceInvalid("signature count mismatch")
        logged = _b64(signatures[0].get("sig") if isinstance(signatures[0], dict) else None)
        if logged is None or _b64(logged.decode(errors="replace")) != bundle.signature:
            raise ProvenanceInvalid("tlog entry signature mismatch")
        if (content.get("payloadHash") or {}).get("value") != payload_hash:
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
