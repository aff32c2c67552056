"""``PUT /<name>`` with a bad body: a 4xx whose ``error`` names the problem, and nothing changes.

Every case starts from a body exactly as npm 11 builds it (``packaging.publish_document``) and breaks
one thing, so the breakage is the only reason for the refusal (``test_the_unbroken_body_is_accepted``
proves the base body passes). Each refusal is checked three ways: the answer (status, JSON ``error``),
the state (no new package, version, dist-tag or tarball) and the journal (a rejected publish with a
reason). The last tests check that publishing is atomic under concurrent PUTs.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest

from pytest_npm_registry import NpmRegistry, Token
from pytest_npm_registry.domain.packaging import integrity_of, make_tarball, manifest_for, publish_document
from tests.conftest import HttpAnswer, http

NAME = "widget"
VERSION = "1.1.0"
TAG = "next"


# -- helpers ----------------------------------------------------------------------------------------


Answer = HttpAnswer


def send(reg: NpmRegistry, method: str, path: str, *, token: Token | None = None, data: bytes = b"") -> Answer:
    """One raw request, path sent as given, as npm sends a publish."""
    headers = {"content-type": "application/json", "npm-command": "publish"}
    return http(reg, method, path, token=token, data=data, headers=headers)


def path_of(name: str) -> str:
    """The URL path npm uses for ``name``: scoped names travel as ``@scope%2fname``."""
    return "/" + quote(name, safe="@").replace("%2F", "%2f")


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def valid_doc(name: str = NAME, version: str = VERSION, *, tag: str = TAG, **fields: Any) -> dict[str, Any]:
    return publish_document(manifest_for(name, version, **fields), tag=tag)


def attachment(doc: dict[str, Any]) -> dict[str, Any]:
    return next(iter(doc["_attachments"].values()))


def dist(doc: dict[str, Any]) -> dict[str, Any]:
    return next(iter(doc["versions"].values()))["dist"]


@pytest.fixture
def publisher(npm_registry: NpmRegistry) -> Token:
    """A token that may publish anything without a challenge (no 2FA account, bypass-2FA token)."""
    return npm_registry.add_user("alice").create_token(bypass_2fa=True)


@pytest.fixture(params=[False, True], ids=["new-package", "existing-package"])
def existing(request: pytest.FixtureRequest, npm_registry: NpmRegistry, publisher: Token) -> bool:
    """Run each case against a name nobody has published, and against alice's package with 1.0.0."""
    if request.param:
        npm_registry.publish(NAME, "1.0.0", by="alice")
    return bool(request.param)


def assert_refused(answer: Answer, fragment: str) -> None:
    __tracebackhide__ = True
    assert 400 <= answer.status < 500, (answer.status, answer.body)
    assert answer.headers["content-type"] == "application/json"
    error = answer.json().get("error")
    assert isinstance(error, str), answer.body
    assert fragment.lower() in error.lower(), f"{error!r} does not mention {fragment!r}"


def assert_journaled(reg: NpmRegistry, name: str, status: int) -> None:
    __tracebackhide__ = True
    entries = reg.journal.entries(operation="publish", package=name)
    assert entries, f"no publish of {name!r} in the journal:\n{reg.journal.format()}"
    last = entries[-1]
    assert last.outcome == "rejected", str(last)
    assert last.status == status, str(last)
    assert last.reason, str(last)


def assert_nothing_published(reg: NpmRegistry, name: str, *, had_1_0_0: bool) -> None:
    """No package (or only the seeded 1.0.0 with its ``latest`` tag), and no new tarball served."""
    __tracebackhide__ = True
    if not had_1_0_0:
        assert not reg.has_package(name), f"{name!r} was created by a refused publish"
        return
    package = reg.package(name)
    assert package.versions == ["1.0.0"]
    assert package.dist_tags == {"latest": "1.0.0"}
    assert send(reg, "GET", f"{path_of(name)}/-/{name}-{VERSION}.tgz").status == 404
    assert send(reg, "GET", f"{path_of(name)}/{VERSION}").status == 404


# -- the base body is fine ----------------------------------------------------------------------------


def test_the_unbroken_body_is_accepted(npm_registry: NpmRegistry, publisher: Token, existing: bool) -> None:
    answer = send(npm_registry, "PUT", path_of(NAME), token=publisher, data=encode(valid_doc()))
    assert answer.status == 200, answer.body
    assert answer.json() == {"success": True}
    assert VERSION in npm_registry.package(NAME).versions
    assert npm_registry.package(NAME).dist_tags[TAG] == VERSION


# -- broken documents ----------------------------------------------------------------------------------


def edited(edit: Callable[[dict[str, Any]], object]) -> Callable[[], bytes]:
    def build() -> bytes:
        doc = valid_doc()
        edit(doc)
        return encode(doc)

    return build


def raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def second_version(doc: dict[str, Any]) -> None:
    doc["versions"]["1.2.0"] = {**doc["versions"][VERSION], "version": "1.2.0", "_id": f"{NAME}@1.2.0"}


BROKEN_BODIES = [
    pytest.param(raw(b'{"name": "widget", "versions": '), "JSON", id="malformed-json"),
    pytest.param(raw(b"{'name': 'widget'}"), "JSON", id="single-quoted-json"),
    pytest.param(raw(b""), "empty", id="empty-body"),
    pytest.param(raw(b'["widget"]'), "object", id="array-body"),
    pytest.param(raw(b'"widget"'), "object", id="string-body"),
    pytest.param(raw(b"null"), "object", id="null-body"),
    pytest.param(raw(b"42"), "object", id="number-body"),
    pytest.param(edited(lambda d: d.pop("_attachments")), "_attachments", id="missing-attachments"),
    pytest.param(edited(lambda d: d.update(_attachments={})), "_attachments", id="empty-attachments"),
    pytest.param(edited(lambda d: d.pop("versions")), "versions", id="missing-versions"),
    pytest.param(edited(lambda d: d.update(versions={})), "versions", id="empty-versions"),
    pytest.param(edited(second_version), "one version", id="two-versions"),
    pytest.param(edited(lambda d: d["dist-tags"].update(beta=VERSION)), "dist-tags", id="two-dist-tags"),
    pytest.param(edited(lambda d: d.pop("dist-tags")), "dist-tags", id="missing-dist-tags"),
    pytest.param(
        edited(lambda d: attachment(d).update(length=attachment(d)["length"] + 1)), "length", id="length-too-big"
    ),
    pytest.param(
        edited(lambda d: attachment(d).update(length=attachment(d)["length"] - 1)), "length", id="length-too-small"
    ),
    pytest.param(edited(lambda d: attachment(d).update(data="!!not base64!!")), "base64", id="invalid-base64"),
    pytest.param(
        edited(lambda d: attachment(d).update(data=attachment(d)["data"][:-2])),
        "base64",
        id="truncated-base64",
    ),
    pytest.param(
        edited(lambda d: dist(d).update(integrity=integrity_of(b"other bytes"))), "integrity", id="integrity-mismatch"
    ),
    pytest.param(edited(lambda d: dist(d).update(shasum="0" * 40)), "shasum", id="shasum-mismatch"),
    pytest.param(
        edited(lambda d: d.update(_attachments={f"{NAME}-9.9.9.tgz": attachment(d)})),
        "attachment",
        id="attachment-named-for-another-version",
    ),
    pytest.param(
        edited(lambda d: d["_attachments"].update({f"{NAME}-1.2.0.tgz": attachment(d)})),
        "one .tgz",
        id="two-tarballs",
    ),
    pytest.param(
        edited(lambda d: attachment(d).update(length=str(attachment(d)["length"]))), "length", id="length-str"
    ),
    pytest.param(edited(lambda d: attachment(d).pop("data")), "data", id="missing-data"),
    pytest.param(
        edited(lambda d: d["versions"][VERSION].update(version="1.2.0")), "1.2.0", id="manifest-version-differs"
    ),
    pytest.param(edited(lambda d: d["versions"][VERSION].update(name="gadget")), "gadget", id="manifest-name-differs"),
    pytest.param(edited(lambda d: d["versions"][VERSION].pop("dist")), "dist", id="missing-dist"),
    pytest.param(
        edited(lambda d: [dist(d).pop("integrity"), dist(d).pop("shasum")]), "integrity", id="no-integrity-no-shasum"
    ),
    pytest.param(edited(lambda d: d.update(access="private")), "access", id="access-private"),
    pytest.param(edited(lambda d: d.update(access="PUBLIC")), "access", id="access-uppercase"),
    pytest.param(edited(lambda d: d.update(access=True)), "access", id="access-boolean"),
]


@pytest.mark.parametrize(("build", "fragment"), BROKEN_BODIES)
def test_broken_document_is_refused_and_changes_nothing(
    npm_registry: NpmRegistry, publisher: Token, existing: bool, build: Callable[[], bytes], fragment: str
) -> None:
    answer = send(npm_registry, "PUT", path_of(NAME), token=publisher, data=build())
    assert_refused(answer, fragment)
    assert_nothing_published(npm_registry, NAME, had_1_0_0=existing)
    assert_journaled(npm_registry, NAME, answer.status)


def test_body_name_differing_from_url_name_is_refused(
    npm_registry: NpmRegistry, publisher: Token, existing: bool
) -> None:
    answer = send(npm_registry, "PUT", path_of(NAME), token=publisher, data=encode(valid_doc("gadget")))
    assert_refused(answer, "does not match")
    assert_nothing_published(npm_registry, NAME, had_1_0_0=existing)
    assert not npm_registry.has_package("gadget")
    assert_journaled(npm_registry, NAME, answer.status)


def test_scoped_body_name_differing_from_url_name_is_refused(npm_registry: NpmRegistry, publisher: Token) -> None:
    doc = valid_doc("@acme/gadget", access="public")
    answer = send(npm_registry, "PUT", path_of("@acme/widget"), token=publisher, data=encode(doc))
    assert_refused(answer, "does not match")
    assert not npm_registry.has_package("@acme/widget")
    assert not npm_registry.has_package("@acme/gadget")
    assert_journaled(npm_registry, "@acme/widget", answer.status)


INVALID_NAMES = [
    pytest.param("", "name", id="empty"),
    pytest.param("a" * 215, "214", id="215-chars"),
    pytest.param("Widget", "capital", id="capital-letters"),
    pytest.param("@acme/Widget", "capital", id="scoped-capital-letters"),
    pytest.param(".widget", "period", id="leading-period"),
    pytest.param("_widget", "underscore", id="leading-underscore"),
    pytest.param("wid get", "URL-friendly", id="space"),
    pytest.param("wid%get", "URL-friendly", id="percent"),
    pytest.param("wid~get", "special characters", id="tilde"),
    pytest.param("wid'get", "special characters", id="quote"),
    pytest.param("wid!get", "special characters", id="bang"),
    pytest.param("wid(get)", "special characters", id="parentheses"),
    pytest.param("wid*get", "special characters", id="star"),
    pytest.param("http", "core module", id="core-module-http"),
    pytest.param("fs", "core module", id="core-module-fs"),
    pytest.param("node_modules", "not a valid package name", id="node_modules"),
    pytest.param("favicon.ico", "not a valid package name", id="favicon.ico"),
]


@pytest.mark.parametrize(("name", "fragment"), INVALID_NAMES)
def test_invalid_package_name_is_refused(npm_registry: NpmRegistry, publisher: Token, name: str, fragment: str) -> None:
    doc = valid_doc(name, access="public" if name.startswith("@") else None)
    answer = send(npm_registry, "PUT", path_of(name), token=publisher, data=encode(doc))
    assert_refused(answer, fragment)
    assert not npm_registry.has_package(name)
    assert npm_registry.registry.state.packages == {}
    assert_journaled(npm_registry, name, answer.status)


@pytest.mark.parametrize("version", ["1.0", "01.0.0", "1.01.0", "v1.0.0", "1.0.0-", "1.0.0+", "1", "1.0.0.0"])
def test_invalid_semver_is_refused(npm_registry: NpmRegistry, publisher: Token, existing: bool, version: str) -> None:
    answer = send(npm_registry, "PUT", path_of(NAME), token=publisher, data=encode(valid_doc(version=version)))
    assert_refused(answer, "semver")
    assert version in answer.json()["error"]
    assert_nothing_published(npm_registry, NAME, had_1_0_0=existing)
    assert not (npm_registry.has_package(NAME) and version in npm_registry.package(NAME).versions)
    assert_journaled(npm_registry, NAME, answer.status)


@pytest.mark.parametrize("tag", ["1.x", "^1.0.0", "~1.2", "1", ">=2", "1.0.0 - 2.0.0", "*", "1.2.3"])
def test_dist_tag_that_is_a_semver_range_is_refused(
    npm_registry: NpmRegistry, publisher: Token, existing: bool, tag: str
) -> None:
    answer = send(npm_registry, "PUT", path_of(NAME), token=publisher, data=encode(valid_doc(tag=tag)))
    assert_refused(answer, "range")
    assert_nothing_published(npm_registry, NAME, had_1_0_0=existing)
    assert_journaled(npm_registry, NAME, answer.status)


def test_dist_tag_pointing_elsewhere_is_refused(npm_registry: NpmRegistry, publisher: Token, existing: bool) -> None:
    doc = valid_doc()
    doc["dist-tags"] = {TAG: "1.0.0"}
    answer = send(npm_registry, "PUT", path_of(NAME), token=publisher, data=encode(doc))
    assert_refused(answer, "1.0.0")
    assert_nothing_published(npm_registry, NAME, had_1_0_0=existing)
    assert_journaled(npm_registry, NAME, answer.status)


# -- atomicity under concurrent publishes ---------------------------------------------------------------


def publish_concurrently(reg: NpmRegistry, token: Token, bodies: list[tuple[str, bytes]]) -> list[Answer]:
    """PUT every ``(name, body)`` at once, each on its own connection, released by one barrier."""
    barrier = threading.Barrier(len(bodies))

    def put(item: tuple[str, bytes]) -> Answer:
        name, data = item
        barrier.wait(timeout=10)
        return send(reg, "PUT", path_of(name), token=token, data=data)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(put, bodies))


def distinct_doc(version: str, marker: int) -> tuple[dict[str, Any], bytes]:
    manifest = manifest_for(NAME, version)
    tarball = make_tarball(manifest, {"index.js": f"module.exports = {marker};\n"})
    return publish_document(manifest, tarball), tarball


@pytest.mark.parametrize("same_bytes", [True, False], ids=["identical-bodies", "different-tarballs"])
@pytest.mark.parametrize("racers", [2, 8])
def test_concurrent_publishes_of_one_version_store_exactly_one(
    npm_registry: NpmRegistry, publisher: Token, racers: int, same_bytes: bool
) -> None:
    docs = [distinct_doc("1.0.0", 0 if same_bytes else i) for i in range(racers)]
    answers = publish_concurrently(npm_registry, publisher, [(NAME, encode(doc)) for doc, _ in docs])

    statuses = [a.status for a in answers]
    assert statuses.count(200) == 1, statuses
    assert all(s in (403, 409) for s in statuses if s != 200), [a.body for a in answers]
    for loser in (a for a in answers if a.status != 200):
        assert "1.0.0" in loser.json()["error"]
    winner = statuses.index(200)
    package = npm_registry.package(NAME)
    assert package.versions == ["1.0.0"]
    assert package.dist_tags == {"latest": "1.0.0"}
    assert package.tarball("1.0.0") == docs[winner][1]
    served = send(npm_registry, "GET", f"/{NAME}/-/{NAME}-1.0.0.tgz")
    assert served.status == 200
    assert served.body == docs[winner][1]
    publishes = npm_registry.journal.entries(operation="publish", package=NAME)
    assert [e.outcome for e in publishes].count("accepted") == 1
    assert [e.outcome for e in publishes].count("rejected") == racers - 1


def test_concurrent_publishes_of_distinct_versions_all_land(npm_registry: NpmRegistry, publisher: Token) -> None:
    versions = [f"1.0.{i}" for i in range(12)]
    docs = {v: distinct_doc(v, i) for i, v in enumerate(versions)}
    answers = publish_concurrently(npm_registry, publisher, [(NAME, encode(doc)) for doc, _ in docs.values()])

    assert [a.status for a in answers] == [200] * len(versions), [a.body for a in answers]
    package = npm_registry.package(NAME)
    assert sorted(package.versions) == sorted(versions)
    assert package.dist_tags["latest"] in versions
    for version, (_, tarball) in docs.items():
        assert package.tarball(version) == tarball
        assert send(npm_registry, "GET", f"/{NAME}/-/{NAME}-{version}.tgz").body == tarball
    packument = send(npm_registry, "GET", f"/{NAME}").json()
    assert sorted(packument["versions"]) == sorted(versions)
    assert set(versions) <= set(packument["time"])
    # One revision per publish: no write was lost or merged.
    assert packument["_rev"].startswith(f"{len(versions)}-")
    publishes = npm_registry.journal.entries(operation="publish", package=NAME)
    assert [e.outcome for e in publishes] == ["accepted"] * len(versions)


def test_concurrent_publishes_of_distinct_new_packages_all_land(npm_registry: NpmRegistry, publisher: Token) -> None:
    names = [f"pkg-{i}" for i in range(10)]
    answers = publish_concurrently(
        npm_registry, publisher, [(n, encode(publish_document(manifest_for(n, "1.0.0")))) for n in names]
    )
    assert [a.status for a in answers] == [200] * len(names)
    for name in names:
        assert npm_registry.package(name).versions == ["1.0.0"]
        assert npm_registry.package(name).maintainers == ["alice"]
