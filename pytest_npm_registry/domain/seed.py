"""Seed files: the starting state of a registry, in TOML, for pipelines not written in Python.

```toml
policy = "current"

[[users]]
name = "maintainer"
tfa = "auth-and-writes"
totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"   # fixed, so a CI script can compute codes

[[tokens]]
user = "maintainer"
key = "npm_ci000000000000000000000000000000000"   # fixed, so .npmrc files can be committed
bypass_2fa = true
packages = ["fauxauth"]

[[orgs]]
name = "acme"
owner = "maintainer"
members = { bot = "developer" }

[[packages]]
name = "fauxauth"
versions = ["1.0.0", "1.1.0"]       # generated, or [{ version = "1.0.0", tarball = "dist/x.tgz" }]
maintainers = ["maintainer"]
requirement = "automation"

[[trust]]
package = "fauxauth"
github = { repository = "acme/fauxauth", workflow = "release.yml" }
```

A mistake is reported with the file, the line and the field: ``seed.toml:7: users[0].tfa: ...``.
The control API's ``POST seed`` takes the same text (TOML, or JSON) as its body.
"""

from __future__ import annotations

import json
import re
import tarfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .admin import Operator
from .errors import BadRequest, RegistryError, UsageError
from .models import Permission, PublishRequirement, Team
from .packaging import manifest_for, publish_document
from .registry import Registry

#: What a seed made: ``users`` as (record, password) pairs, ``tokens`` as (record, secret) pairs.
Made = dict[str, list[Any]]


_SECTIONS = {
    "users": {"name", "password", "email", "tfa", "totp_secret", "paid", "challenge", "security_key"},
    "tokens": {
        "user",
        "kind",
        "key",
        "read_only",
        "stage_only",
        "bypass_2fa",
        "packages",
        "scopes",
        "cidr",
        "expires_in_days",
        "name",
        "description",
        "orgs",
    },
    "orgs": {"name", "owner", "members", "paid", "teams"},
    "packages": {"name", "versions", "maintainers", "publisher", "access", "requirement", "dist_tags", "description"},
    "trust": {"package", "github", "gitlab", "circleci", "permissions"},
}


class SeedError(UsageError):
    """A seed file that cannot be applied; the message names the file, line and field."""


class _Located:
    """Finds the line of ``[[section]]`` number ``index`` and of a field inside it."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def line_of(self, section: str | None, index: int | None = None, field: str | None = None) -> int:
        start, end = 0, len(self.lines)
        if section is not None:
            headers = [i for i, line in enumerate(self.lines) if re.match(rf"\s*\[\[{re.escape(section)}\]\]", line)]
            if index is not None and index < len(headers):
                start = headers[index]
                following = [i for i, line in enumerate(self.lines) if i > start and re.match(r"\s*\[", line)]
                end = following[0] if following else len(self.lines)
        if field is not None:
            for i in range(start, end):
                if re.match(rf"\s*\"?{re.escape(field)}\"?\s*=", self.lines[i]):
                    return i + 1
        return start + 1

    def error(
        self, message: str, section: str | None = None, index: int | None = None, field: str | None = None
    ) -> SeedError:
        where = f"{section}[{index}]" if section is not None and index is not None else section or ""
        if field:
            where = f"{where}.{field}" if where else field
        line = self.line_of(section, index, field)
        return SeedError(f"{self.source}:{line}: {where + ': ' if where else ''}{message}")


def load_seed(path: Path | str) -> tuple[dict[str, Any], _Located]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed file ({exc.strerror})") from None
    return parse_seed(text, str(path), toml=path.suffix != ".json")


def parse_seed(text: str, source: str, *, toml: bool) -> tuple[dict[str, Any], _Located]:
    """The seed in ``text`` (TOML, or JSON when ``toml`` is false); ``source`` names it in errors."""
    located = _Located(source, text)
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise SeedError(f"{source}:{match.group(1) if match else '?'}: invalid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SeedError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    return data, located


def apply_seed_file(registry: Registry, path: Path | str) -> Made:
    return Seed.from_file(path).apply(registry)


@dataclass(frozen=True)
class Seed:
    """A seed that can be applied again: what ``serve --seed`` re-applies after every reset."""

    data: dict[str, Any]
    located: _Located | None = None
    #: Where ``tarball = "..."`` paths are relative to: the seed file's folder.
    base: Path | None = None

    @classmethod
    def from_file(cls, path: Path | str) -> Seed:
        data, located = load_seed(path)
        return cls(data, located, Path(path).parent)

    def apply(self, registry: Registry) -> Made:
        return apply_seed(registry, self.data, self.located, base=self.base)

    def without_policy(self) -> Seed:
        """The same seed without its ``policy``: applied after a reset, it keeps the policy the
        reset chose."""
        return replace(self, data={k: v for k, v in self.data.items() if k != "policy"})


def apply_seed(registry: Registry, data: Any, located: _Located | None = None, *, base: Path | None = None) -> Made:
    """Create what ``data`` describes, in order: policy, users, orgs, packages, tokens, trust.
    All of it, or on an error none of it (the registry is as it was).

    Returns what was made (users and tokens, for printing ``.npmrc`` lines).
    """
    # Tried on a copy first, so a mistake in any section leaves this registry untouched, and the
    # records a test holds stay the registry's own. The lock keeps requests out in between.
    with registry.exclusive():
        trial = Registry(registry.policy)
        trial.copy_from(registry)
        _apply(Operator(trial), data, located, base)
        return _apply(Operator(registry), data, located, base)


def _apply(admin: Operator, data: Any, located: _Located | None, base: Path | None) -> Made:
    located = located or _Located("<seed>", json.dumps(data, indent=1) if isinstance(data, dict) else "")
    if not isinstance(data, dict):
        raise located.error("a seed is a table (TOML) or an object (JSON)")
    unknown = set(data) - {"policy", *_SECTIONS}
    if unknown:
        raise located.error(f"unknown section(s) {sorted(unknown)}; use policy, {', '.join(_SECTIONS)}")
    if "policy" in data:
        try:
            admin.registry.reset(str(data["policy"]))  # the registry's state only: settings and faults stay
        except UsageError as exc:
            raise located.error(str(exc), field="policy") from None
    made: Made = {"users": [], "tokens": []}
    for section in ("users", "orgs", "packages", "tokens", "trust"):
        entries = data.get(section, [])
        if not isinstance(entries, list):
            raise located.error(f"use [[{section}]] tables", section)
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise located.error("expected a table", section, index)
            extra = set(entry) - _SECTIONS[section]
            if extra:
                field = sorted(extra)[0]
                raise located.error(
                    f"unknown field; known: {', '.join(sorted(_SECTIONS[section]))}", section, index, field
                )
            try:
                made_one = _APPLY[section](admin, entry, base or Path.cwd())
            except _FieldError as exc:
                raise located.error(exc.message, section, index, exc.field) from None
            except (UsageError, RegistryError, ValueError, TypeError, KeyError) as exc:
                raise located.error(_message(exc), section, index, _guess_field(exc, entry)) from None
            if section in made:
                made[section].append(made_one)
    return made


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _message(exc: Exception) -> str:
    if isinstance(exc, RegistryError):
        return exc.message
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


def _guess_field(exc: Exception, entry: dict[str, Any]) -> str | None:
    if isinstance(exc, KeyError):
        return None
    text = str(exc)
    # The field whose value the message quotes, else the one it names.
    quoted = [key for key in entry if repr(entry[key]) in text]
    if quoted:
        return max(quoted, key=lambda key: len(repr(entry[key])))
    return next((key for key in entry if key in text), None)


def _require(entry: dict[str, Any], field: str, kind: type = str) -> Any:
    if field not in entry:
        raise _FieldError(field, "is required")
    if not isinstance(entry[field], kind):
        raise _FieldError(field, f"must be a {kind.__name__}")
    return entry[field]


def _user(admin: Operator, entry: dict[str, Any], base: Path) -> Any:
    del base
    options = {k: v for k, v in entry.items() if k != "name"}
    return admin.add_user(_require(entry, "name"), **options)


def _token(admin: Operator, entry: dict[str, Any], base: Path) -> Any:
    del base
    user = admin.user(_require(entry, "user")).name
    options = {k: v for k, v in entry.items() if k != "user"}
    if "key" in options and not re.fullmatch(r"npm_[A-Za-z0-9]{36}", str(options["key"])):
        raise _FieldError("key", "a token key looks like npm_ and 36 letters or digits")
    return admin.create_token(user, **options)


def _org(admin: Operator, entry: dict[str, Any], base: Path) -> Any:
    del base
    teams = entry.get("teams", [])
    org = admin.add_org(
        _require(entry, "name"),
        owner=_require(entry, "owner"),
        members=entry.get("members"),
        paid=entry.get("paid", False),
    )
    for team in teams if isinstance(teams, list) else []:
        name = str(team.get("name", ""))
        if not name:
            raise _FieldError("teams", "each team needs a name")
        members = set(team.get("members", []))
        org.teams.setdefault(name, Team(name)).members |= members
        for package, permission in (team.get("grants") or {}).items():
            org.teams[name].grants[package] = Permission(permission)
    return org


def _package(admin: Operator, entry: dict[str, Any], base: Path) -> Any:
    name = _require(entry, "name")
    maintainers = entry.get("maintainers") or []
    publisher = entry.get("publisher") or (maintainers[0] if maintainers else None)
    if not publisher:
        raise _FieldError("maintainers", "a package needs at least one maintainer (or a publisher)")
    versions = entry.get("versions", ["1.0.0"])
    if not isinstance(versions, list) or not versions:
        raise _FieldError(
            "versions", 'a list of versions, like ["1.0.0"] or [{ version = "1.0.0", tarball = "x.tgz" }]'
        )
    view = None
    for spec in versions:
        if isinstance(spec, str):
            view = admin.publish(
                name,
                spec,
                by=publisher,
                access=entry.get("access"),
                description=entry.get("description", f"{name} package"),
            )
            continue
        if not isinstance(spec, dict) or "version" not in spec:
            raise _FieldError("versions", "each version is a string or a table with version (and tarball)")
        view = _publish_tarball(admin, name, spec, publisher=publisher, access=entry.get("access"), base=base)
    for maintainer in maintainers:
        if maintainer != publisher:
            admin.user(maintainer)
            admin.registry.orgs.add_maintainer(name, maintainer)
    if "requirement" in entry:
        admin.registry.publishing.set_publish_requirement(name, PublishRequirement(entry["requirement"]))
    for tag, version in (entry.get("dist_tags") or {}).items():
        try:
            admin.registry.publishing.seed_dist_tag(name, tag, version)
        except BadRequest as exc:
            raise _FieldError("dist_tags", exc.message) from None
    return view


def _publish_tarball(
    admin: Operator, name: str, spec: dict[str, Any], *, publisher: str, access: str | None, base: Path
) -> Any:
    path = base / str(spec.get("tarball", ""))
    if "tarball" not in spec or not path.is_file():
        raise _FieldError("versions", f"tarball {spec.get('tarball')!r} not found (relative to {base})")
    data = path.read_bytes()
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile("package/package.json")
            manifest = json.loads(member.read()) if member else manifest_for(name, spec["version"])
    except (tarfile.TarError, KeyError, json.JSONDecodeError):
        raise _FieldError("versions", f"{path} is not an npm tarball with package/package.json") from None
    if manifest.get("name") != name or manifest.get("version") != spec["version"]:
        raise _FieldError("versions", f"{path} holds {manifest.get('name')}@{manifest.get('version')}")
    document = publish_document(manifest, data, access=access or ("public" if name.startswith("@") else None))
    return admin.registry.publishing.seed(name, document, maintainer=publisher)


def _trust(admin: Operator, entry: dict[str, Any], base: Path) -> Any:
    del base
    return admin.trust(
        _require(entry, "package"),
        github=entry.get("github"),
        gitlab=entry.get("gitlab"),
        circleci=entry.get("circleci"),
        permissions=tuple(entry.get("permissions", ["createPackage"])),
    )


_APPLY = {"users": _user, "tokens": _token, "orgs": _org, "packages": _package, "trust": _trust}
