"""A TUF repository of the registry's own, standing in for Sigstore's (``tuf-repo-cdn.sigstore.dev``).

Why npm needs one (read in npm 11.19.1, see docs/provenance-design.md): ``npm audit signatures``
starts with ``@sigstore/tuf`` ``initTUF`` (``lib/utils/verify-signatures.js:37``), which refreshes
root, timestamp, snapshot and targets from the mirror and fails the whole command when it cannot;
then it asks for the target ``<registry host>/keys.json`` before falling back to
``/-/npm/v1/keys``; and pacote verifies provenance against the target ``trusted_root.json``. The
client trusts whatever ``root.json`` sits in its cache (``<npm cache>/_tuf/<mirror host>/``) and
copies its embedded production root there only when none does (``@sigstore/tuf``
``client.js:132``), so a root of ours, seeded into the cache before npm's first run, makes npm
trust the metadata below and nothing of the public repository.

Built with python-tuf's ``tuf.api.metadata`` and securesystemslib's ``CryptoSigner``: the TUF
reference implementation's model of the four roles, their canonical-JSON signing and key ids,
rather than our own reading of the specification. One ECDSA P-256 key per role, as Sigstore's
repository has (``ecdsa-sha2-nistp256``, which ``@tufjs/models`` verifies).

Expiry is wall-clock time, not the registry clock's: npm's client checks it against its own
``new Date()``, and a test that moves the registry clock must not make the metadata expire.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .ctlog import CT_LOG_URL
from .sigstore import FULCIO_HOST, REKOR_HOST, TUF_HOST, spki_der

__all__ = ["TUF_CACHE_DIR", "TUF_HOST", "Published", "TufRepository", "trusted_root"]

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner

    from .sigstore import Sigstore

#: The cache folder ``@sigstore/tuf`` uses under npm's ``tufCache`` (``<cache>/_tuf``): the
#: mirror URL's host and path, ``encodeURIComponent``-ed (``client.js:89``).
TUF_CACHE_DIR = "_tuf/" + TUF_HOST
ROOT_TTL = timedelta(days=3650)
#: Timestamp, snapshot and targets: longer than any test run or ``serve`` session.
METADATA_TTL = timedelta(days=365)
ROLES = ("root", "targets", "snapshot", "timestamp")


@dataclass(frozen=True)
class Published:
    """One signed state of the repository: its files by the path the client asks for."""

    targets: dict[str, bytes]
    files: dict[str, bytes]


class TufRepository:
    """Root, targets, snapshot and timestamp, signed with keys made on first use.

    :meth:`publish` re-signs when the targets change, with the three non-root versions one up,
    so a client holding the previous timestamp in its cache takes the new one (an equal version
    would be kept, tuf-js ``updater.js:218``). The root stays version 1: its keys never change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signers: dict[str, CryptoSigner] | None = None
        self._root: bytes | None = None
        self._version = 0
        self._published: Published | None = None

    def _keys(self) -> dict[str, CryptoSigner]:
        if self._signers is None:
            from securesystemslib.signer import CryptoSigner  # noqa: PLC0415 - lazy: most tests never audit

            self._signers = {role: CryptoSigner.generate_ecdsa() for role in ROLES}
        return self._signers

    def root(self) -> bytes:
        """``root.json`` (version 1): what a client's cache is seeded with, and ``1.root.json``."""
        with self._lock:
            return self._root_bytes()

    def _root_bytes(self) -> bytes:
        if self._root is None:
            from tuf.api.metadata import Metadata, Root  # noqa: PLC0415

            signers = self._keys()
            root = Root(expires=_now() + ROOT_TTL, consistent_snapshot=True)
            for role, signer in signers.items():
                root.add_key(signer.public_key, role)
            metadata = Metadata(root)
            metadata.sign(signers["root"])
            self._root = metadata.to_bytes()
        return self._root

    def publish(self, targets: dict[str, bytes]) -> Published:
        """The repository serving ``targets`` (target path -> content), signed anew if they changed."""
        with self._lock:
            if self._published is not None and self._published.targets == targets:
                return self._published
            self._version += 1
            self._published = Published(dict(targets), self._sign(targets, self._version))
            return self._published

    def _sign(self, targets: dict[str, bytes], version: int) -> dict[str, bytes]:
        from tuf.api.metadata import Metadata, MetaFile, Snapshot, TargetFile, Targets, Timestamp  # noqa: PLC0415

        signers = self._keys()
        expires = _now() + METADATA_TTL
        files = {"1.root.json": self._root_bytes()}
        target_files = {}
        for path, data in targets.items():
            target = TargetFile.from_data(path, data, ["sha256"])
            target_files[path] = target
            # Consistent snapshots: the client asks for ``<dir>/<sha256>.<name>`` under /targets.
            folder, _, name = path.rpartition("/")
            files["targets/" + (f"{folder}/" if folder else "") + f"{target.hashes['sha256']}.{name}"] = data
        signed_targets = Metadata(Targets(version=version, expires=expires, targets=target_files))
        signed_targets.sign(signers["targets"])
        files[f"{version}.targets.json"] = signed_targets.to_bytes()
        snapshot = Metadata(Snapshot(version=version, expires=expires, meta={"targets.json": MetaFile(version)}))
        snapshot.sign(signers["snapshot"])
        files[f"{version}.snapshot.json"] = snapshot.to_bytes()
        timestamp = Metadata(Timestamp(version=version, expires=expires, snapshot_meta=MetaFile(version)))
        timestamp.sign(signers["timestamp"])
        files["timestamp.json"] = timestamp.to_bytes()
        return files


#: ``mediaType`` of Sigstore's trusted root (``trusted_root.json`` in ``@sigstore/tuf``'s seeds).
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
#: The protobuf name of an ECDSA P-256 public key with SHA-256 (``publicKey.keyDetails``).
P256_KEY_DETAILS = "PKIX_ECDSA_P256_SHA_256"


def trusted_root(sigstore: Sigstore) -> dict[str, Any]:
    """The target ``trusted_root.json``: our Fulcio's CA and our Rekor's key, in the shape of
    Sigstore's own (what ``sigstore.verify`` builds its trust material from), with the CT log
    whose SCTs the mock Fulcio embeds. No timestamp authority: Rekor's signed entry timestamp
    is the time npm's verifier uses."""
    import base64  # noqa: PLC0415

    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    fulcio, rekor = sigstore.fulcio.authority.cert, sigstore.rekor.key.public_key()
    ct_log = sigstore.fulcio.ct_log
    rekor_spki = spki_der(rekor)
    since = fulcio.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [
            {
                "baseUrl": f"https://{REKOR_HOST}",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64.b64encode(rekor_spki).decode(),
                    "keyDetails": P256_KEY_DETAILS,
                    "validFor": {"start": since},
                },
                "logId": {"keyId": base64.b64encode(bytes.fromhex(sigstore.rekor.log_id)).decode()},
            }
        ],
        "certificateAuthorities": [
            {
                "subject": {"organization": "sigstore.dev", "commonName": "sigstore"},
                "uri": f"https://{FULCIO_HOST}",
                "certChain": {
                    "certificates": [
                        {"rawBytes": base64.b64encode(fulcio.public_bytes(serialization.Encoding.DER)).decode()}
                    ]
                },
                "validFor": {"start": since},
            }
        ],
        "ctlogs": [
            {
                "baseUrl": CT_LOG_URL,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64.b64encode(spki_der(ct_log.key.public_key())).decode(),
                    "keyDetails": P256_KEY_DETAILS,
                    "validFor": {"start": since},
                },
                "logId": {"keyId": base64.b64encode(ct_log.log_id).decode()},
            }
        ],
        "timestampAuthorities": [],
    }


def _now() -> datetime:
    # Whole seconds: TUF's ``expires`` is ``YYYY-MM-DDTHH:MM:SSZ``.
    return datetime.now(UTC).replace(microsecond=0)
