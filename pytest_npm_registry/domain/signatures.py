"""Registry signatures: the ECDSA P-256 signature the registry puts on every version it serves.

What npm verifies (``npm audit signatures``; pacote ``lib/registry.js`` ``manifest()``, npm
11.19): each ``dist.signatures[]`` entry ``{keyid, sig}`` is looked up by ``keyid`` among the
registry's keys, then ``crypto.createVerify('SHA256')`` checks the base64 DER ``sig`` over
``<name>@<version>:<dist.integrity>``. The keys come from Sigstore's TUF repository (target
``<registry host>/keys.json``) or, failing that, from ``GET /-/npm/v1/keys``; both shapes are
drawn here from one key. The public registry's conventions (docs.npmjs.com, "About ECDSA
registry signatures"): ``keyid`` is ``SHA256:`` + the base64 SHA-256 of the public key's SPKI DER,
``keytype`` and ``scheme`` ``ecdsa-sha2-nistp256``, ``expires`` null or an ISO 8601 time.

The same key signs the registry's publish attestations (domain/attestations.py): ``keys.json``
lists it for ``npm:signatures`` and ``npm:attestations``, as the public registry lists its one key.

One key per registry, made on first use and kept for the registry's life (like the mock
Sigstore's keys): a reset does not rotate it, so a seeded TUF root stays valid.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .sigstore import spki_der

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

#: ``keytype`` and ``scheme`` of the keys endpoint: the only ones npm supports (npm's docs).
KEY_SCHEME = "ecdsa-sha2-nistp256"
#: ``publicKey.keyDetails`` of the TUF ``keys.json`` target (Sigstore's protobuf enum name).
KEY_DETAILS = "PKIX_ECDSA_P256_SHA_256"
#: ``validFor.start`` of our key in ``keys.json``: npm reads only ``validFor.end`` (as
#: ``expires``); the public registry's first ECDSA key starts here too.
KEY_VALID_FROM = "1999-01-01T00:00:00.000Z"
#: Signatures remembered per ``(name, version, integrity)``: ECDSA draws a fresh nonce each
#: time, and a version's signature should not change from one read to the next.
_MEMO_LIMIT = 10_000


def signed_message(name: str, version: str, integrity: str) -> bytes:
    """What the signature covers: ``${name}@${version}:${integrity}`` (pacote's ``message``)."""
    return f"{name}@{version}:{integrity}".encode()


class RegistrySigner:
    """The registry's signing key and the signatures it makes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._memo: dict[tuple[str, str, str], str] = {}

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        with self._lock:  # one key per registry, even when two reads come first at once
            if self._key is None:
                from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415 - lazy: most tests never sign

                self._key = ec.generate_private_key(ec.SECP256R1())
            return self._key

    # Both derive from the key, which never changes: worked out once, not on every version of
    # every packument read.
    @cached_property
    def public_key(self) -> str:
        """The public key as npm's keys endpoint gives it: base64 SPKI DER (no PEM armour)."""
        return base64.b64encode(spki_der(self.key.public_key())).decode()

    @cached_property
    def keyid(self) -> str:
        digest = hashlib.sha256(spki_der(self.key.public_key())).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    def sign(self, name: str, version: str, integrity: str) -> str:
        """The base64 DER ECDSA (SHA-256) signature over :func:`signed_message`."""
        memo = (name, version, integrity)
        cached = self._memo.get(memo)
        if cached is not None:
            return cached
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

        sig = base64.b64encode(self.key.sign(signed_message(*memo), ec.ECDSA(hashes.SHA256()))).decode()
        with self._lock:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo] = sig
        return sig

    def signatures(self, name: str, version: str, integrity: str) -> list[dict[str, str]]:
        """A version's ``dist.signatures``."""
        return [{"keyid": self.keyid, "sig": self.sign(name, version, integrity)}]

    def keys(self) -> dict[str, Any]:
        """``GET /-/npm/v1/keys``, in the shape npm's docs give for third-party registries."""
        key = {"expires": None, "keyid": self.keyid, "keytype": KEY_SCHEME, "scheme": KEY_SCHEME}
        return {"keys": [{**key, "key": self.public_key}]}

    def tuf_keys(self) -> dict[str, Any]:
        """The TUF target ``<registry host>/keys.json``, in the shape of the public registry's
        (``registry.npmjs.org/keys.json`` in ``@sigstore/tuf``'s ``seeds.json``): npm maps
        ``keyId``, ``publicKey.rawBytes`` and ``publicKey.validFor.end`` (verify-signatures.js)."""
        public = {"rawBytes": self.public_key, "keyDetails": KEY_DETAILS, "validFor": {"start": KEY_VALID_FROM}}
        return {
            "keys": [
                {"keyId": self.keyid, "keyUsage": usage, "publicKey": public}
                for usage in ("npm:signatures", "npm:attestations")
            ]
        }
