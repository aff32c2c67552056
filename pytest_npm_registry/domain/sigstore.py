"""A mock Sigstore: Fulcio (a certificate authority for CI identities) and Rekor (a transparency
log), with per-registry keys, so ``npm publish --provenance`` can sign without the internet.

What npm's signer needs (``@sigstore/sign``, read in npm 11.19): Fulcio ``POST /api/v2/signingCert``
answering ``signedCertificateEmbeddedSct.chain.certificates`` (PEMs, leaf first, ``ca.js``), and
Rekor ``POST /api/v1/log/entries`` answering ``{uuid: {body, integratedTime, logID, logIndex,
verification: {signedEntryTimestamp, inclusionProof}}}`` (``witness/tlog/index.js``). It verifies
neither at signing time; what we sign is still real (ECDSA P-256, RFC 6962 Merkle proofs), so the
registry's provenance checks and ``npm audit signatures`` can verify it later.

Each certificate embeds an SCT from a CT log of ours (domain/ctlog.py). Not done: Rekor v2, TSA.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import fulcio_claims, identity
from .ctlog import CTLog

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from .clock import Clock

FULCIO_HOST = "fulcio.sigstore.dev"
REKOR_HOST = "rekor.sigstore.dev"
#: Sigstore's TUF repository (``@sigstore/tuf`` ``DEFAULT_MIRROR_URL``), served by domain/tuf.py.
TUF_HOST = "tuf-repo-cdn.sigstore.dev"
#: The public names the egress proxy serves (everything else is refused).
SIGSTORE_HOSTS = (FULCIO_HOST, REKOR_HOST, TUF_HOST)
#: Fulcio's audience for CI id tokens (``CIContextProvider('sigstore')``).
SIGSTORE_AUDIENCE = "sigstore"
#: Fulcio certificates live ten minutes, as the public one's do.
CERT_TTL = 600.0
#: The tree id Rekor puts in front of entry UUIDs and into its checkpoint origin.
TREE_ID = 1193050959916656506
FULCIO_OID = "1.3.6.1.4.1.57264.1."
#: Where this log's global ``logIndex`` starts. Rekor numbers entries across its shards, so the
#: global index and the tree's own (the inclusion proof's) differ; and the bundle's protobuf JSON
#: drops a ``logIndex`` of 0, after which npm prints ``?logIndex=undefined``.
LOG_INDEX_BASE = 700_000_000


class SigstoreRefusal(Exception):
    """A refusal by Fulcio or Rekor: ``status`` and the ``message`` their JSON error body carries
    (``@sigstore/sign`` prints ``body.message``, ``external/fetch.js``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message[:300]


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_utf8(text: str) -> bytes:
    """DER ``UTF8String``: how Fulcio encodes its v2 extensions (OIDs ``...57264.1.8`` and up)."""
    raw = text.encode()
    return b"\x0c" + _der_length(len(raw)) + raw


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415 - lazy, like identity.py

    return ec.generate_private_key(ec.SECP256R1())


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def pem(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def public_pem(key: ec.EllipticCurvePublicKey) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _ecdsa_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def ecdsa_verify(key: Any, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@dataclass
class Authority:
    """A self-signed CA: its key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, common_name: str, organization: str, now: float) -> Authority:
        from cryptography import x509  # noqa: PLC0415
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.x509.oid import NameOID  # noqa: PLC0415

        key = _new_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_when(now - 86400))
            .not_valid_after(_when(now + 10 * 365 * 86400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue_tls(self, hosts: tuple[str, ...], now: float) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A server certificate for ``hosts`` (what the egress proxy's TLS end presents)."""
        from cryptography import x509  # noqa: PLC0415
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

        key = _new_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_when(now - 86400))
            .not_valid_after(_when(now + 365 * 86400))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key


def fulcio_extensions(claims: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The certificate's identity (its SAN URI) and Fulcio's extensions, by arc, from a CI id
    token's claims, as Fulcio maps GitHub's and GitLab's (domain/fulcio_claims.py)."""
    try:
        fields = fulcio_claims.certificate_fields(claims)
    except fulcio_claims.MissingClaim as exc:
        raise SigstoreRefusal(400, str(exc)) from None  # ca.ValidationError: a 400 with the text
    if fields is None:
        raise SigstoreRefusal(400, f"unsupported issuer: {str(claims.get('iss'))[:100]}")
    return fields


class Fulcio:
    """Code-signing certificates for CI identities, from a per-registry CA."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.authority = Authority.create("sigstore", "sigstore.dev (pytest-npm-registry mock)", clock.now())
        #: The CT log whose SCT each certificate embeds (npm's verifier wants one, domain/ctlog.py).
        self.ct_log = CTLog()

    def signing_certificate(self, id_token: str, public_key_pem: str, proof_of_possession: str) -> list[str]:
        """``POST /api/v2/signingCert``: the chain, leaf first, for the key the token's subject
        signed (Fulcio's proof of possession: an ECDSA signature over ``sub``)."""
        from cryptography import x509  # noqa: PLC0415
        from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
        from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier  # noqa: PLC0415

        now = self.clock.now()
        try:
            claims = identity.verify(id_token, audience=SIGSTORE_AUDIENCE, now=now)
        except identity.InvalidIdToken as exc:
            raise SigstoreRefusal(401, f"There was an error processing the identity token: {exc}") from None
        try:
            key = serialization.load_pem_public_key(public_key_pem.encode())
            proof = base64.b64decode(proof_of_possession, validate=True)
        except ValueError:
            raise SigstoreRefusal(400, "The public key supplied in the request could not be parsed") from None
        subject = str(claims.get("email") or claims.get("sub") or "")
        if not ecdsa_verify(key, proof, subject.encode()):
            raise SigstoreRefusal(400, "The signature supplied in the request could not be verified")
        san, extensions = fulcio_extensions(claims)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.authority.cert.subject)
            .public_key(key)  # type: ignore[arg-type]  # checked EC by ecdsa_verify above
            .serial_number(x509.random_serial_number())
            .not_valid_before(_when(now))
            .not_valid_after(_when(now + CERT_TTL))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=True)
        )
        for arc, value in extensions.items():
            extension = x509.UnrecognizedExtension(ObjectIdentifier(FULCIO_OID + arc), encode_extension(arc, value))
            builder = builder.add_extension(extension, critical=False)
        leaf = self.ct_log.embed_sct(builder, self.authority.key, now).sign(self.authority.key, hashes.SHA256())
        return [pem(leaf), pem(self.authority.cert)]


def _leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two below ``n`` (RFC 6962 section 2.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """The inclusion proof of leaf ``index`` (RFC 6962 section 2.1.1), bottom first."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*audit_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*audit_path(index - k, leaves[k:]), merkle_root(leaves[:k])]


def canonical_json(value: Any) -> bytes:
    """Rekor's canonical JSON (RFC 8785 for the ASCII keys and values it signs)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def foreign_signature(envelope: dict[str, Any]) -> str:
    """A valid-looking signature of a DSSE envelope by a key nobody trusts (a tampering fault)."""
    signed = pae(str(envelope["payloadType"]), base64.b64decode(str(envelope["payload"])))
    return base64.b64encode(_ecdsa_sign(_new_key(), signed)).decode()


@dataclass
class LogEntry:
    index: int
    body: bytes
    integrated_time: int
    uuid: str
    kind: str


@dataclass
class Rekor:
    """A transparency log with one signing key: entries, signed entry timestamps, checkpoints."""

    clock: Clock
    key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    entries: list[LogEntry] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def log_id(self) -> str:
        """Hex SHA-256 of the log's public key (DER SPKI), as in ``logID``."""
        return hashlib.sha256(spki_der(self.key.public_key())).hexdigest()

    def add(self, proposed: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/v1/log/entries`` with a ``dsse`` or ``intoto`` proposed entry."""
        body = canonical_json(_canonical_body(proposed))
        with self.lock:
            leaf = _leaf_hash(body)
            uuid = f"{TREE_ID:016x}"[-16:] + leaf.hex()
            if any(e.uuid == uuid for e in self.entries):
                raise SigstoreRefusal(409, "An equivalent entry already exists in the transparency log")
            entry = LogEntry(len(self.entries), body, int(self.clock.now()), uuid, str(proposed["kind"]))
            self.entries.append(entry)
            return {uuid: self.render(entry)}

    def get(self, uuid: str) -> dict[str, Any]:
        with self.lock:
            for entry in self.entries:
                if entry.uuid == uuid or entry.uuid.endswith(uuid):
                    return {entry.uuid: self.render(entry)}
        raise SigstoreRefusal(404, "Entry not found in the transparency log")

    def render(self, entry: LogEntry) -> dict[str, Any]:
        """An entry as Rekor answers it; the caller holds the lock (the tree is the current one)."""
        body = base64.b64encode(entry.body).decode()
        stamp = {
            "body": body,
            "integratedTime": entry.integrated_time,
            "logID": self.log_id,
            "logIndex": LOG_INDEX_BASE + entry.index,
        }
        leaves = [_leaf_hash(e.body) for e in self.entries]
        root = merkle_root(leaves)
        return {
            **stamp,
            "verification": {
                "signedEntryTimestamp": base64.b64encode(_ecdsa_sign(self.key, canonical_json(stamp))).decode(),
                "inclusionProof": {
                    "logIndex": entry.index,
                    "treeSize": len(leaves),
                    "rootHash": root.hex(),
                    "hashes": [h.hex() for h in audit_path(entry.index, leaves)],
                    "checkpoint": self.checkpoint(len(leaves), root),
                },
            },
        }

    def checkpoint(self, size: int, root: bytes) -> str:
        """A signed note (``golang.org/x/mod/sumdb/note``) over the tree head."""
        text = f"{REKOR_HOST} - {TREE_ID}\n{size}\n{base64.b64encode(root).decode()}\n"
        hint = hashlib.sha256(spki_der(self.key.public_key())).digest()[:4]
        signature = base64.b64encode(hint + _ecdsa_sign(self.key, text.encode())).decode()
        return f"{text}\n\u2014 {REKOR_HOST} {signature}\n"

    def log_info(self) -> dict[str, Any]:
        with self.lock:
            root = merkle_root([_leaf_hash(e.body) for e in self.entries])
            size = len(self.entries)
            return {
                "rootHash": root.hex(),
                "treeSize": size,
                "signedTreeHead": self.checkpoint(size, root),
                "treeID": str(TREE_ID),
            }


def _canonical_body(proposed: dict[str, Any]) -> dict[str, Any]:
    """What Rekor stores for a proposed entry, after checking the envelope's signature."""
    from cryptography import x509  # noqa: PLC0415

    kind, version, spec = proposed.get("kind"), proposed.get("apiVersion"), proposed.get("spec")
    if not isinstance(spec, dict):
        raise SigstoreRefusal(400, "the entry has no spec")
    if kind == "dsse" and version == "0.0.1":
        content = spec.get("proposedContent") or {}
        try:
            envelope = json.loads(content["envelope"])
            verifier = str(content["verifiers"][0])
            cert = x509.load_pem_x509_certificate(base64.b64decode(verifier))
            payload = base64.b64decode(envelope["payload"])
            signature = base64.b64decode(envelope["signatures"][0]["sig"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise SigstoreRefusal(400, "the dsse entry could not be parsed") from None
        if not ecdsa_verify(cert.public_key(), signature, pae(str(envelope["payloadType"]), payload)):
            raise SigstoreRefusal(400, "the envelope's signature does not verify with the given verifier")
        return {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(canonical_json(envelope)).hexdigest()},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": [{"signature": envelope["signatures"][0]["sig"], "verifier": verifier}],
            },
        }
    if kind == "intoto" and version == "0.0.2":
        return _intoto_body(spec)
    raise SigstoreRefusal(400, f"unsupported entry kind {str(kind)[:40]!r} version {str(version)[:20]!r}")


def _intoto_body(spec: dict[str, Any]) -> dict[str, Any]:
    """An ``intoto`` 0.0.2 entry as Rekor stores it: the envelope without its payload, each
    signature with its ``keyid``, ``publicKey`` (base64 PEM) and ``sig`` (base64 of the base64
    signature: ``@sigstore/sign`` ``toProposedIntotoEntry`` double-encodes payload and signature),
    the envelope's hash and the payload's. The shape of a public registry publish attestation's
    ``canonicalizedBody``; ``@sigstore/verify`` ``tlog/intoto.js`` reads
    ``spec.content.envelope.signatures[0].sig`` and ``spec.content.payloadHash``."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    content = spec.get("content") or {}
    try:
        envelope = content["envelope"]
        payload_type = str(envelope["payloadType"])
        payload = base64.b64decode(base64.b64decode(envelope["payload"]))
        (signature,) = envelope["signatures"]
        key = serialization.load_pem_public_key(base64.b64decode(signature["publicKey"]))
        sig = base64.b64decode(base64.b64decode(signature["sig"]))
    except (KeyError, TypeError, ValueError):
        raise SigstoreRefusal(400, "the intoto entry could not be parsed") from None
    if not ecdsa_verify(key, sig, pae(payload_type, payload)):
        raise SigstoreRefusal(400, "the envelope's signature does not verify with the given public key")
    kept = {k: str(signature[k]) for k in ("keyid", "publicKey", "sig") if signature.get(k)}
    # The envelope's hash as sigstore-js computes it (``calculateDSSEHash``): single-encoded.
    hashed = {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{**kept, "sig": base64.b64encode(sig).decode()}],
    }
    return {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {"payloadType": payload_type, "signatures": [kept]},
                "hash": {"algorithm": "sha256", "value": hashlib.sha256(canonical_json(hashed)).hexdigest()},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            }
        },
    }


def bundle_predicate_type(bundle: bytes) -> str | None:
    """The ``predicateType`` of the in-toto statement a ``.sigstore`` attachment carries, or None
    when it carries none (what ``dist.attestations.provenance`` reports)."""
    try:
        document = json.loads(bundle)
        statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
        kind = statement["predicateType"]
    except (KeyError, TypeError, ValueError):
        return None
    return kind if isinstance(kind, str) else None


def provenance_bundle(attachments: dict[str, bytes]) -> bytes | None:
    """A version's provenance bundle: its ``<name>-<version>.sigstore`` attachment."""
    return next((data for key, data in attachments.items() if key.endswith(".sigstore")), None)


def der_utf8_value(der: bytes) -> str:
    """The text of a DER ``UTF8String`` (what :func:`der_utf8` writes)."""
    if len(der) < 2 or der[0] != 0x0C:
        return ""
    length, start = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    return der[start : start + length].decode(errors="replace")


def fulcio_extension(cert: x509.Certificate, arc: str) -> str | None:
    """The value of Fulcio's extension ``1.3.6.1.4.1.57264.1.<arc>`` in ``cert``, or None when
    the certificate has none (``.1.1`` to ``.1.6`` are raw strings, ``.1.8`` and up UTF8Strings)."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.x509.oid import ObjectIdentifier  # noqa: PLC0415

    try:
        value = cert.extensions.get_extension_for_oid(ObjectIdentifier(FULCIO_OID + arc)).value
    except x509.ExtensionNotFound:
        return None
    return decode_extension(arc, bytes(getattr(value, "value", b"")))


def raw_arc(arc: str) -> bool:
    """Fulcio's ``.1`` to ``.6`` (deprecated) hold the raw string; ``.8`` and up a DER
    UTF8String (``pkg/certificate/extensions.go``)."""
    return arc.isdigit() and int(arc) < 8


def encode_extension(arc: str, value: str) -> bytes:
    return value.encode() if raw_arc(arc) else der_utf8(value)


def decode_extension(arc: str, raw: bytes) -> str:
    return raw.decode(errors="replace") if raw_arc(arc) else der_utf8_value(raw)


class Sigstore:
    """The registry's Sigstore: its Fulcio and its Rekor, made on first use (keys and the CA
    cost a few milliseconds and the ``cryptography`` import, which most tests never need)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._fulcio: Fulcio | None = None
        self._rekor: Rekor | None = None

    @property
    def fulcio(self) -> Fulcio:
        with self._lock:  # one CA per registry, even when two requests come first at once
            if self._fulcio is None:
                self._fulcio = Fulcio(self.clock)
            return self._fulcio

    @property
    def rekor(self) -> Rekor:
        with self._lock:
            if self._rekor is None:
                self._rekor = Rekor(self.clock)
            return self._rekor

    def reset(self) -> None:
        """Empty the log (a registry reset): each test's first entry is ``LOG_INDEX_BASE`` again.
        The keys stay, so the egress proxy and a bundle signed before still verify."""
        with self._lock:
            rekor = self._rekor
        if rekor is not None:
            with rekor.lock:
                rekor.entries.clear()
