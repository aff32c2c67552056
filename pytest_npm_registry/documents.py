"""Packuments and manifests as the public registry serves them.

Two shapes of ``GET /<name>``: the full document (``application/json``) and the abbreviated
"corgi" one (``application/vnd.npm.install-v1+json``) that pacote asks for first. The registry
rewrites each version's ``dist.tarball`` to its own URL, so documents depend on the origin.
"""

from __future__ import annotations

from typing import Any

from .clock import iso
from .models import Package, User, Version
from .validation import is_prerelease, version_key

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


def manifest(package: Package, version: Version, origin: str, users: dict[str, User]) -> dict[str, Any]:
    doc = dict(version.manifest)
    doc["_id"] = f"{package.name}@{version.version}"
    doc["_npmUser"] = person(users.get(version.publisher), version.publisher)
    doc["maintainers"] = [person(users.get(m), m) for m in package.maintainers]
    doc["dist"] = {
        **(doc.get("dist") or {}),
        "integrity": version.integrity,
        "shasum": version.shasum,
        "tarball": tarball_url(origin, package.name, version.version),
    }
    return doc


def _latest(package: Package) -> Version | None:
    tagged = package.dist_tags.get("latest")
    if tagged in package.versions:
        return package.versions[tagged]
    if not package.versions:
        return None
    releases = [v for v in package.versions if not is_prerelease(v)] or list(package.versions)
    return package.versions[max(releases, key=version_key)]


def packument(package: Package, origin: str, users: dict[str, User]) -> dict[str, Any]:
    latest = _latest(package)
    head = latest.manifest if latest else {}
    versions = sorted(package.versions.values(), key=lambda v: version_key(v.version))
    doc: dict[str, Any] = {
        "_id": package.name,
        "_rev": package.rev_id,
        "name": package.name,
        "dist-tags": dict(package.dist_tags),
        "versions": {v.version: manifest(package, v, origin, users) for v in versions},
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


def corgi(package: Package, origin: str) -> dict[str, Any]:
    versions = sorted(package.versions.values(), key=lambda v: version_key(v.version))
    out: dict[str, Any] = {}
    for v in versions:
        m = {k: v.manifest[k] for k in _CORGI_FIELDS if k in v.manifest}
        m["dist"] = {
            "integrity": v.integrity,
            "shasum": v.shasum,
            "tarball": tarball_url(origin, package.name, v.version),
        }
        out[v.version] = m
    return {
        "name": package.name,
        "modified": iso(package.modified),
        "dist-tags": dict(package.dist_tags),
        "versions": out,
    }
