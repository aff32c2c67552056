"""npm's naming and versioning rules, and the shape of a publish document.

Names follow ``validate-npm-package-name`` (rules for new packages), versions follow SemVer 2.0 as
``node-semver`` parses them strictly, and a dist-tag may not be something ``semver.validRange``
accepts (npm's own rule: a tag like ``1.x`` would shadow version ranges).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import AttachmentMismatch, InvalidPackageName, InvalidTag, InvalidVersion, MalformedBody
from .models import Version

MAX_NAME_LENGTH = 214
_BLOCKED_NAMES = frozenset({"node_modules", "favicon.ico"})
# Node's core modules: validate-npm-package-name refuses them for new packages.
_CORE_MODULES = frozenset(
    (
        "assert async_hooks buffer child_process cluster console constants crypto dgram diagnostics_channel dns"
        " domain events fs http http2 https inspector module net os path perf_hooks process punycode querystring"
        " readline repl stream string_decoder sys timers tls trace_events tty url util v8 vm wasi worker_threads"
        " zlib"
    ).split()
)
_SPECIAL = re.compile(r"[~'!()*]")

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_BUILD_ID = r"[0-9a-zA-Z-]+"
SEMVER = re.compile(
    rf"^(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?$"
)
# One comparator of a node-semver range: an optional operator and a partial version with x-ranges.
_XR = r"(?:[xX*]|0|[1-9]\d*)"
_PARTIAL = rf"v?{_XR}(?:\.{_XR}(?:\.{_XR}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)?)?"
_COMPARATOR = re.compile(rf"^(?:<=|>=|<|>|=|~>|~|\^)?\s*{_PARTIAL}$")
_HYPHEN = re.compile(rf"^{_PARTIAL}\s+-\s+{_PARTIAL}$")
_TAG_CHARS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_package_name(name: str) -> None:
    """Raise :class:`InvalidPackageName` naming the first rule ``name`` breaks."""
    problem = package_name_problem(name)
    if problem:
        raise InvalidPackageName(f"Invalid package name {name!r}: {problem}")


def package_name_problem(name: str) -> str | None:
    if not name:
        return "name length must be greater than zero"
    if len(name) > MAX_NAME_LENGTH:
        return f"name can no longer contain more than {MAX_NAME_LENGTH} characters"
    if name.strip() != name:
        return "name cannot contain leading or trailing spaces"
    if name.startswith("."):
        return "name cannot start with a period"
    if name.startswith("_"):
        return "name cannot start with an underscore"
    if name.lower() in _BLOCKED_NAMES:
        return f"{name} is not a valid package name"
    if name in _CORE_MODULES:
        return f"{name} is a core module name"
    if name.lower() != name:
        return "name can no longer contain capital letters"
    if _SPECIAL.search(name.rsplit("/", maxsplit=1)[-1]):
        return 'name can no longer contain special characters ("~\'!()*")'
    parts = name[1:].split("/") if name.startswith("@") else [name]
    if name.startswith("@") and (len(parts) != 2 or not all(parts)):
        return "a scoped name must look like @scope/name"
    if any(quote(part, safe="") != part for part in parts):
        return "name can only contain URL-friendly characters"
    return None


def integrity_of(data: bytes) -> str:
    """npm's ``dist.integrity``: Subresource Integrity, SHA-512."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball_version(name: str, filename: str) -> str | None:
    """The version in ``<name>-<v>.tgz`` (scoped: with or without the scope); ``None`` when the file
    is not one of ``name``'s tarballs."""
    basename = name.rsplit("/", 1)[-1]
    for prefix in (f"{name}-", f"{basename}-"):
        if filename.startswith(prefix) and filename.endswith(".tgz"):
            version = filename[len(prefix) : -len(".tgz")]
            if SEMVER.match(version):
                return version
    return None


def check_version(version: str) -> None:
    if not isinstance(version, str) or not SEMVER.match(version):
        raise InvalidVersion(f"Invalid version: {version!r} is not a valid semver version")


def is_prerelease(version: str) -> bool:
    match = SEMVER.match(version)
    return bool(match and match["pre"])


def version_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """Sort key in SemVer precedence order (a release sorts after its prereleases)."""
    match = SEMVER.match(version)
    if not match:
        return (-1, -1, -1, -1, ())
    pre = match["pre"]
    ids: tuple[tuple[int, int | str], ...] = ()
    if pre:
        ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(match["major"]), int(match["minor"]), int(match["patch"]), 0 if pre else 1, ids)


def is_semver_range(text: str) -> bool:
    """Whether node-semver's ``validRange`` would accept ``text``."""
    text = text.strip()
    if text in ("", "*", "x", "X"):
        return True
    for part in re.split(r"\s*\|\|\s*", text):
        alternative = part.strip()
        if not alternative:
            continue  # `1.x || ` is still a range for node-semver
        if _HYPHEN.match(alternative):
            continue
        comparators = re.sub(r"(<=|>=|<|>|=|~>|~|\^)\s+", r"\1", alternative).split()
        if not comparators or not all(_COMPARATOR.match(c) for c in comparators):
            return False
    return True


def check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not tag:
        raise InvalidTag("Invalid tag: a dist-tag must be a non-empty string")
    if is_semver_range(tag):
        raise InvalidTag(f"Invalid tag {tag!r}: a dist-tag cannot be a valid semver range")
    if not _TAG_CHARS.match(tag) or len(tag) > MAX_NAME_LENGTH:
        raise InvalidTag(f"Invalid tag {tag!r}: use letters, digits, '.', '_' and '-'")


@dataclass(frozen=True)
class PublishRequest:
    """A validated publish document: one version, one tag, one tarball whose bytes check out."""

    name: str
    version: str
    tag: str
    manifest: dict[str, Any]
    tarball: bytes
    integrity: str
    shasum: str
    access: str | None
    extra_attachments: dict[str, bytes]

    def version_record(self, *, publisher: str, published: float) -> Version:
        """The version as the registry stores it."""
        return Version(
            version=self.version,
            manifest=self.manifest,
            tarball=self.tarball,
            integrity=self.integrity,
            shasum=self.shasum,
            published=published,
            publisher=publisher,
            attachments=self.extra_attachments,
        )


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise MalformedBody(message)


def parse_publish(url_name: str, doc: Any) -> PublishRequest:
    """Check a ``PUT /<name>`` body against everything npm sends and the registry verifies."""
    _require(isinstance(doc, dict), "Invalid publish body: expected a JSON object")
    check_package_name(url_name)
    body_name = doc.get("name")
    _require(isinstance(body_name, str), "Invalid publish body: missing 'name'")
    if body_name != url_name:
        raise InvalidPackageName(f"Package name in the body ({body_name!r}) does not match the URL ({url_name!r})")
    if "_id" in doc and doc["_id"] != url_name:
        raise InvalidPackageName(f"Package _id in the body ({doc['_id']!r}) does not match the URL ({url_name!r})")

    versions = doc.get("versions")
    _require(isinstance(versions, dict) and len(versions) > 0, "Invalid publish body: missing 'versions'")
    assert isinstance(versions, dict)
    _require(len(versions) == 1, f"Invalid publish body: exactly one version per publish, got {len(versions)}")
    version, manifest = next(iter(versions.items()))
    check_version(version)
    _require(isinstance(manifest, dict), f"Invalid publish body: versions[{version!r}] must be an object")
    if manifest.get("name") != url_name:
        raise InvalidPackageName(
            f"Package name in versions[{version!r}] ({manifest.get('name')!r}) does not match the URL ({url_name!r})"
        )
    if manifest.get("version") != version:
        raise InvalidVersion(f"versions[{version!r}].version is {manifest.get('version')!r}, not {version!r}")

    tags = doc.get("dist-tags")
    _require(isinstance(tags, dict) and len(tags) == 1, "Invalid publish body: 'dist-tags' must hold exactly one tag")
    assert isinstance(tags, dict)
    tag, tagged = next(iter(tags.items()))
    check_tag(tag)
    if tagged != version:
        raise InvalidTag(f"dist-tags[{tag!r}] points at {tagged!r}, not the published version {version!r}")

    access = doc.get("access")
    _require(access in (None, "public", "restricted"), f"Invalid access {access!r}: use 'public' or 'restricted'")

    attachments = doc.get("_attachments")
    _require(isinstance(attachments, dict) and bool(attachments), "Invalid publish body: missing '_attachments'")
    assert isinstance(attachments, dict)
    tarballs = {k: v for k, v in attachments.items() if k.endswith(".tgz")}
    _require(len(tarballs) == 1, f"Invalid publish body: expected one .tgz attachment, got {len(tarballs)}")
    key, attachment = next(iter(tarballs.items()))
    _require(
        tarball_version(url_name, key) == version,
        f"Invalid attachment name {key!r}: expected '{url_name}-{version}.tgz'",
    )
    tarball = _decode_attachment(key, attachment)

    dist = manifest.get("dist")
    _require(isinstance(dist, dict), f"Invalid publish body: versions[{version!r}].dist is missing")
    assert isinstance(dist, dict)
    integrity = integrity_of(tarball)
    shasum = hashlib.sha1(tarball).hexdigest()  # noqa: S324 - npm's shasum is sha1 by definition
    declared_integrity = dist.get("integrity")
    if declared_integrity is not None and declared_integrity != integrity:
        raise AttachmentMismatch(
            f"dist.integrity {declared_integrity!r} does not match the attached tarball ({integrity})"
        )
    declared_shasum = dist.get("shasum")
    if declared_shasum is not None and declared_shasum != shasum:
        raise AttachmentMismatch(f"dist.shasum {declared_shasum!r} does not match the attached tarball ({shasum})")
    _require(declared_integrity is not None or declared_shasum is not None, "dist.integrity or dist.shasum is required")

    extras = {k: _decode_sigstore(k, v) for k, v in attachments.items() if k != key}
    return PublishRequest(
        name=url_name,
        version=version,
        tag=tag,
        manifest=manifest,
        tarball=tarball,
        integrity=integrity,
        shasum=shasum,
        access=access,
        extra_attachments=extras,
    )


def _decode_attachment(key: str, attachment: Any) -> bytes:
    _require(isinstance(attachment, dict), f"Invalid attachment {key!r}: expected an object")
    data = attachment.get("data")
    _require(isinstance(data, str) and data != "", f"Invalid attachment {key!r}: 'data' must be base64 text")
    try:
        # a2b_base64 validates like b64decode(validate=True) without first copying the text to bytes.
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentMismatch(f"Invalid attachment {key!r}: 'data' is not valid base64 ({exc})") from None
    length = attachment.get("length")
    _require(
        isinstance(length, int) and not isinstance(length, bool),
        f"Invalid attachment {key!r}: 'length' must be an integer",
    )
    if length != len(raw):
        raise AttachmentMismatch(f"Attachment {key!r} declares length {length} but holds {len(raw)} bytes")
    return raw


def _decode_sigstore(key: str, attachment: Any) -> bytes:
    # A provenance bundle travels as JSON text, not base64 (libnpmpublish); keep it as data.
    _require(key.endswith(".sigstore"), f"Unexpected attachment {key!r}: a publish carries one .tgz (and a .sigstore)")
    _require(isinstance(attachment, dict) and isinstance(attachment.get("data"), str), f"Invalid attachment {key!r}")
    data: str = attachment["data"]
    return data.encode()
