"""Packuments and manifests as the public registry serves them.

Two shapes of ``GET /<name>``: the full document (``application/json``) and the abbreviated
"corgi" one (``application/vnd.npm.install-v1+json``) that pacote asks for first. The registry
rewrites each version's ``dist.tarball`` to its own URL, so documents depend on the origin.
Every version's ``dist`` carries the registry's signature (``dist.signatures``, both shapes, as
the public registry's corgis do too), which ``npm audit signatures`` verifies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pytest_npm_registry.domain.attestations import PUBLISH_PREDICATE_TYPE
from pytest_npm_registry.domain.clock import iso
from pytest_npm_registry.domain.models import Package, Permission, StagedVersion, Token, TokenKind, User, Version
from pytest_npm_registry.domain.signatures import RegistrySigner
from pytest_npm_registry.domain.sigstore import bundle_predicate_type, provenance_bundle
from pytest_npm_registry.domain.validation import is_prerelease, version_key

CORGI = "application/vnd.npm.install-v1+json"
# The fields an installer needs, as the public registry's corgi documents carry them.
_CORGI_FIELDS = (
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "deprecated",
    "funding",
    "license",
    "_hasShrinkwrap",
    "hasInstallScript",
)


def tarball_url(origin: str, name: str, version: str) -> str:
    # Scoped tarballs live at /@scope/name/-/name-1.0.0.tgz on the public registry.
    return f"{origin}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"


def person(user: User | None, name: str) -> dict[str, str]:
    return {"name": name, "email": user.email if user else f"{name}@example.com"}


def dist(package: Package, version: Version, origin: str, signer: RegistrySigner) -> dict[str, Any]:
    """A version's ``dist`` as the registry serves it: what was published there, then its own fields."""
    return {
        **(version.manifest.get("dist") or {}),
        "integrity": version.integrity,
        "shasum": version.shasum,
        "tarball": tarball_url(origin, package.name, version.version),
        "signatures": signer.signatures(package.name, version.version, version.integrity),
    }


def manifest(
    package: Package, version: Version, origin: str, users: dict[str, User], signer: RegistrySigner
) -> dict[str, Any]:
    doc = dict(version.manifest)
    doc["_id"] = f"{package.name}@{version.version}"
    doc["_npmUser"] = person(users.get(version.publisher), version.publisher)
    doc["maintainers"] = [person(users.get(m), m) for m in package.maintainers]
    doc["dist"] = dist(package, version, origin, signer)
    bundle = provenance_bundle(version.attachments)
    predicate = bundle_predicate_type(bundle) if bundle is not None else None
    if predicate is not None:
        # As the public registry lists a version with provenance (npm view, pacote's verify).
        doc["dist"]["attestations"] = {
            "url": attestations_url(origin, package.name, version.version),
            "provenance": {"predicateType": predicate},
        }
    return doc


def attestations_url(origin: str, name: str, version: str) -> str:
    return f"{origin}/-/npm/v1/attestations/{name}@{version}"


def attestations(version: Version) -> dict[str, Any] | None:
    """``GET /-/npm/v1/attestations/<name>@<version>``, None for a version without provenance.
    The public registry's order: its own publish attestation first, then the provenance bundle
    as published (slsa-verifier's npm test data; ``npm audit signatures --json
    --include-attestations`` lists them so in ``attestationBundles``)."""
    bundle = provenance_bundle(version.attachments)
    if bundle is None:
        return None
    listed = []
    if version.publish_attestation is not None:
        listed.append({"predicateType": PUBLISH_PREDICATE_TYPE, "bundle": json.loads(version.publish_attestation)})
    listed.append({"predicateType": bundle_predicate_type(bundle), "bundle": json.loads(bundle)})
    return {"attestations": listed}


def _latest(package: Package) -> Version | None:
    tagged = package.dist_tags.get("latest")
    if tagged in package.versions:
        return package.versions[tagged]
    if not package.versions:
        return None
    releases = [v for v in package.versions if not is_prerelease(v)] or list(package.versions)
    return package.versions[max(releases, key=version_key)]


def packument(package: Package, origin: str, users: dict[str, User], signer: RegistrySigner) -> dict[str, Any]:
    latest = _latest(package)
    head = latest.manifest if latest else {}
    versions = sorted(package.versions.values(), key=lambda v: version_key(v.version))
    doc: dict[str, Any] = {
        "_id": package.name,
        "_rev": package.rev_id,
        "name": package.name,
        "dist-tags": dict(package.dist_tags),
        "versions": {v.version: manifest(package, v, origin, users, signer) for v in versions},
        "time": {
            "created": iso(package.created),
            "modified": iso(package.modified),
            **{v.version: iso(v.published) for v in versions},
        },
        "maintainers": [person(users.get(m), m) for m in package.maintainers],
        "readme": head.get("readme", ""),
        "readmeFilename": head.get("readmeFilename", ""),
    }
    for key in ("description", "license", "homepage", "repository", "bugs", "keywords", "author"):
        if key in head:
            doc[key] = head[key]
    return doc


def corgi(package: Package, origin: str, signer: RegistrySigner) -> dict[str, Any]:
    versions = sorted(package.versions.values(), key=lambda v: version_key(v.version))
    out: dict[str, Any] = {}
    for v in versions:
        m = {k: v.manifest[k] for k in _CORGI_FIELDS if k in v.manifest}
        m["dist"] = {
            "integrity": v.integrity,
            "shasum": v.shasum,
            "tarball": tarball_url(origin, package.name, v.version),
            "signatures": signer.signatures(package.name, v.version, v.integrity),
        }
        out[v.version] = m
    return {
        "name": package.name,
        "modified": iso(package.modified),
        "dist-tags": dict(package.dist_tags),
        "versions": out,
    }


def couch_user(user: User) -> dict[str, Any]:
    """``GET /-/user/org.couchdb.user:<name>``: what ``npm owner`` and the login 409 path read."""
    return {
        "_id": f"org.couchdb.user:{user.name}",
        # Nothing derived from the password: the document is readable by anyone.
        "_rev": "1-" + hashlib.md5(f"{user.name}:{user.created}".encode()).hexdigest(),  # noqa: S324
        "name": user.name,
        "email": user.email,
        "type": "user",
        "roles": [],
    }


def profile(user: User, tfa: Any) -> dict[str, Any]:
    """``GET|POST /-/npm/v1/user``; ``tfa`` is whatever the operation must answer there."""
    return {
        "tfa": tfa,
        "name": user.name,
        "email": user.email,
        "email_verified": True,
        "created": iso(user.created),
        "updated": iso(user.updated or user.created),
        "cidr_whitelist": None,
        **{key: user.profile.get(key, "") for key in ("fullname", "homepage", "freenode", "twitter", "github")},
    }


def token(record: Token, secret: str | None = None) -> dict[str, Any]:
    """A token as ``GET|POST /-/npm/v1/tokens`` shows it: npm 11 reads ``key``, ``token``, ``name``,
    ``created``, ``readonly``, ``cidr_whitelist`` and ``expires``; the rest is today's GAT shape."""
    expires = iso(record.expires) if record.expires is not None else None
    action = "read" if record.read_only else "write"
    doc: dict[str, Any] = {
        "key": record.id,
        "token": secret if secret is not None else record.prefix,
        "name": record.name,
        "description": record.description,
        "cidr_whitelist": [str(n) for n in record.cidr] if record.cidr is not None else None,
        "readonly": record.read_only,
        "automation": record.kind is TokenKind.AUTOMATION,
        "bypass_2fa": record.bypasses_2fa,
        "type": record.kind.value,
        "created": iso(record.created),
        "updated": iso(record.created),
        "accessed": iso(record.last_used) if record.last_used else None,
        "expiry": expires,
        "expires": expires,
        "revoked": None,
        "permissions": [{"name": "package", "action": action}],
        "packages": list(record.packages) if record.packages is not None else None,
        "scopes": list(record.scopes) if record.scopes is not None else None,
    }
    if record.orgs is not None:
        doc["orgs"] = list(record.orgs)
        doc["permissions"].append(
            {"name": "org", "action": "read" if record.orgs_permission is not Permission.READ_WRITE else "write"}
        )
    return doc


def stage_item(stage: StagedVersion) -> dict[str, Any]:
    """One entry of ``GET /-/stage`` (API docs' ``getStageItems``)."""
    return {
        "id": stage.id,
        "packageName": stage.package,
        "version": stage.version.version,
        "tag": stage.tag,
        "createdAt": iso(stage.created),
        "actor": stage.actor,
        "actorType": stage.actor_type,
        "access": stage.access,
        "shasum": stage.version.shasum,
    }
