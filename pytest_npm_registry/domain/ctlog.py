"""A certificate transparency log for the mock Fulcio: the SCT its certificates embed.

Why: ``sigstore.verify`` (``@sigstore/verify`` ``verifier.js:96``, npm 11.19.1) wants at least
one verified SCT in a Fulcio certificate (``ctlogThreshold`` 1) before it accepts a provenance
attestation, so ``npm audit signatures`` cannot verify a provenance publish without one.

What it checks (``key/sct.js``): the extension ``1.3.6.1.4.1.11129.2.4.2`` holds an OCTET STRING
with the TLS-encoded ``SignedCertificateTimestampList`` (RFC 6962 3.3); each SCT is verified
with the key of the trusted root's ``ctlogs`` entry whose ``logId`` is the SCT's log id, over
the RFC 6962 3.2 ``digitally-signed`` struct of a ``precert_entry``: the issuer key's SHA-256
and the leaf's TBSCertificate re-encoded without the SCT extension. A certificate built twice
from one builder, once without and once with the extension appended last, has exactly that
TBS, so we sign the first one's TBS and embed the result in the second. No log is kept: nothing
reads one back (Rekor is the log npm's verifier consults). The registry checks the SCT on
publish the same way (domain/bundles.py ``_verify_scts``).
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

#: The embedded SCT list's extension (RFC 6962 3.3).
SCT_LIST_OID = "1.3.6.1.4.1.11129.2.4.2"
#: Where Sigstore's CT log says it lives (``ctlogs[].baseUrl`` in its trusted root).
CT_LOG_URL = "https://ctfe.sigstore.dev/2022"
_SHA256, _ECDSA = 4, 3  # TLS HashAlgorithm / SignatureAlgorithm (RFC 5246 7.4.1.4.1)


def _spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    # Not sigstore.spki_der: the mock Fulcio (sigstore.py) imports this module.
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _der_octet_string(raw: bytes) -> bytes:
    length = len(raw)
    if length < 0x80:
        return b"\x04" + bytes([length]) + raw
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(size)]) + size + raw


class CTLog:
    """One signing key, made on first use; :meth:`embed_sct` is what the mock Fulcio calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: ec.EllipticCurvePrivateKey | None = None

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        with self._lock:
            if self._key is None:
                from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

                self._key = ec.generate_private_key(ec.SECP256R1())
            return self._key

    @property
    def log_id(self) -> bytes:
        """SHA-256 of the log's public key (SPKI DER): an SCT's ``LogID``."""
        return hashlib.sha256(_spki_der(self.key.public_key())).digest()

    def embed_sct(
        self, builder: x509.CertificateBuilder, issuer_key: ec.EllipticCurvePrivateKey, now: float
    ) -> x509.CertificateBuilder:
        """``builder`` with an SCT list extension (one SCT of this log, timestamp ``now``) for
        the certificate it will make when signed by ``issuer_key``."""
        from cryptography import x509  # noqa: PLC0415
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
        from cryptography.x509.oid import ObjectIdentifier  # noqa: PLC0415

        tbs = builder.sign(issuer_key, hashes.SHA256()).tbs_certificate_bytes
        issuer_id = hashlib.sha256(_spki_der(issuer_key.public_key())).digest()
        timestamp = int(now * 1000).to_bytes(8, "big")
        # version v1(0), signature_type certificate_timestamp(0), timestamp, entry_type
        # precert_entry(1), issuer_key_hash, tbs_certificate<1..2^24-1>, extensions<0..2^16-1>
        signed = b"\x00\x00" + timestamp + _u16(1) + issuer_id + len(tbs).to_bytes(3, "big") + tbs + _u16(0)
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = b"\x00" + self.log_id + timestamp + _u16(0) + bytes([_SHA256, _ECDSA]) + _u16(len(signature)) + signature
        sct_list = _u16(len(sct) + 2) + _u16(len(sct)) + sct
        extension = x509.UnrecognizedExtension(ObjectIdentifier(SCT_LIST_OID), _der_octet_string(sct_list))
        return builder.add_extension(extension, critical=False)
