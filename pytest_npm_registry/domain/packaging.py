"""Make packages in Python: tarballs and publish documents exactly as ``npm publish`` sends them.

Used to seed a registry without running npm, to write package folders for npm to publish, and by
HTTP-level tests that need a well-formed (or deliberately broken) publish body.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from .validation import integrity_of


def manifest_for(name: str, version: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "description": f"{name} test package",
        "main": "index.js",
        "license": "MIT",
        **fields,
    }


def make_tarball(manifest: dict[str, Any], files: dict[str, str | bytes] | None = None) -> bytes:
    """A gzipped tarball with everything under ``package/``, like ``npm pack`` makes."""
    contents: dict[str, str | bytes] = {"package.json": json.dumps(manifest, indent=2) + "\n"}
    contents.update(files if files is not None else {"index.js": "module.exports = 42;\n"})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path, data in sorted(contents.items()):
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(raw)
            info.mode = 0o644
            info.mtime = 499162500  # npm's fixed mtime (1985-10-26)
            tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def publish_document(
    manifest: dict[str, Any],
    tarball: bytes | None = None,
    *,
    tag: str = "latest",
    access: str | None = None,
    registry_url: str = "http://127.0.0.1/",
) -> dict[str, Any]:
    """The body of ``PUT /<name>``, key for key as npm 11 builds it."""
    name, version = manifest["name"], manifest["version"]
    tarball = make_tarball(manifest) if tarball is None else tarball
    version_doc = {
        **manifest,
        "readme": manifest.get("readme", "ERROR: No README data found!"),
        "_id": f"{name}@{version}",
        "_nodeVersion": "20.20.2",
        "_npmVersion": "11.19.1",
        "dist": {
            "integrity": integrity_of(tarball),
            "shasum": hashlib.sha1(tarball).hexdigest(),  # noqa: S324 - npm's shasum is sha1
            "tarball": f"{registry_url.rstrip('/')}/{name}/-/{name}-{version}.tgz",
        },
    }
    doc: dict[str, Any] = {"_id": name, "name": name}
    if "description" in manifest:
        doc["description"] = manifest["description"]
    doc.update(
        {
            "dist-tags": {tag: version},
            "versions": {version: version_doc},
            "access": access,
            "_attachments": {
                f"{name}-{version}.tgz": {
                    "content_type": "application/octet-stream",
                    "data": base64.b64encode(tarball).decode(),
                    "length": len(tarball),
                }
            },
        }
    )
    return doc


def write_package(
    directory: Path | str,
    name: str,
    version: str = "1.0.0",
    *,
    files: dict[str, str] | None = None,
    **fields: Any,
) -> Path:
    """Write a minimal package folder (``package.json`` and ``index.js``) for npm to publish."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / "package.json").write_text(json.dumps(manifest_for(name, version, **fields), indent=2) + "\n")
    for rel, text in (files if files is not None else {"index.js": "module.exports = 42;\n"}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path
