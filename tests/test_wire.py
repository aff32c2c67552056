"""The registry on the wire: exact status, reason phrase, headers and body, as ``shared/WIRE.md`` fixes them.

npm reads our answers literally (WIRE.md §2): ``www-authenticate`` decides EOTP, ``npm-notice`` is
printed, only ``body.error`` is shown, and the reason phrase appears in every error line. So these
tests compare whole bodies and the exact header values, not just status codes.
"""

from __future__ import annotations

import http.client
import re
from typing import Any

import pytest

from pytest_npm_registry import NpmRegistry, Token, User
from pytest_npm_registry.domain.packaging import integrity_of, make_tarball, manifest_for, publish_document
from tests.conftest import _ABSENT, HttpAnswer, http

JSON = "application/json"
CORGI = "application/vnd.npm.install-v1+json"
CORGI_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
OTP_BODY = {"error": "You must provide a one-time pass. Upgrade your client to npm@latest in order to use 2FA."}
NOT_FOUND = {"error": "Not found"}
EXPIRED_NOTICE = "Access token expired or revoked. Please try logging in again."
WEB = {"npm-auth-type": "web", "npm-command": "publish"}
LEGACY = {"npm-auth-type": "legacy", "npm-command": "publish"}


# -- helpers ----------------------------------------------------------------------------------------


Answer = HttpAnswer
call = http


def origin(reg: NpmRegistry) -> str:
    return reg.url.rstrip("/")


def body_for(name: str, version: str = "1.0.0", *, tag: str = "latest", access: str | None = None) -> dict[str, Any]:
    return publish_document(manifest_for(name, version), tag=tag, access=access)


def put_package(
    reg: NpmRegistry, path: str, doc: dict[str, Any], token: Token | str | None, headers: dict[str, str] | None = None
) -> Answer:
    return call(reg, "PUT", path, token=token, json_body=doc, headers=headers)


def assert_answer(answer: Answer, status: int, reason: str, body: Any) -> None:
    """Status, standard reason phrase (npm prints it), JSON content type and the whole body."""
    __tracebackhide__ = True
    assert (answer.status, answer.reason) == (status, reason), answer.body
    assert answer.headers["content-type"] == JSON
    assert answer.json() == body


def assert_otp_challenge(answer: Answer) -> None:
    """The classic challenge: 401, ``www-authenticate: OTP`` and the exact classic body."""
    __tracebackhide__ = True
    assert_answer(answer, 401, "Unauthorized", OTP_BODY)
    assert answer.headers["www-authenticate"] == "OTP"


@pytest.fixture
def alice(npm_registry: NpmRegistry) -> User:
    return npm_registry.add_user("alice")


@pytest.fixture
def alice_token(alice: User) -> Token:
    """Publishes without a challenge: an account without 2FA and a bypass-2FA granular token."""
    return alice.create_token(bypass_2fa=True)


@pytest.fixture
def tfa_user(npm_registry: NpmRegistry) -> User:
    return npm_registry.add_user("tess", tfa="auth-and-writes")


@pytest.fixture
def tfa_token(tfa_user: User) -> Token:
    """A non-bypass token of a 2FA account: every publish is challenged (WIRE.md §4)."""
    return tfa_user.create_token()


# -- packuments ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, JSON, "*/*"])
def test_full_packument(npm_registry: NpmRegistry, alice: User, accept: str | None) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    npm_registry.clock.advance(10)
    npm_registry.publish("demo", "1.1.0", by=alice)
    answer = call(npm_registry, "GET", "/demo", headers={"accept": accept} if accept else {})

    assert (answer.status, answer.reason) == (200, "OK")
    assert answer.headers["content-type"] == JSON
    doc = answer.json()
    assert doc["_id"] == "demo"
    assert doc["name"] == "demo"
    assert re.fullmatch(r"\d+-[0-9a-f]{32}", doc["_rev"]), doc["_rev"]
    assert doc["dist-tags"] == {"latest": "1.1.0"}
    assert sorted(doc["versions"]) == ["1.0.0", "1.1.0"]
    for version in ("1.0.0", "1.1.0"):
        manifest = doc["versions"][version]
        assert manifest["name"] == "demo"
        assert manifest["version"] == version
        assert manifest["_id"] == f"demo@{version}"
        tarball = npm_registry.package("demo").tarball(version)
        assert manifest["dist"] == {
            "integrity": integrity_of(tarball),
            "shasum": manifest["dist"]["shasum"],
            "tarball": f"{origin(npm_registry)}/demo/-/demo-{version}.tgz",
            "signatures": [
                {"keyid": npm_registry.registry.signatures.keyid, "sig": manifest["dist"]["signatures"][0]["sig"]}
            ],
        }
        assert re.fullmatch(r"[0-9a-f]{40}", manifest["dist"]["shasum"])
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert set(doc["time"]) == {"created", "modified", "1.0.0", "1.1.0"}
    assert all(re.fullmatch(iso, t) for t in doc["time"].values()), doc["time"]
    assert doc["time"]["created"] == doc["time"]["1.0.0"] < doc["time"]["1.1.0"] == doc["time"]["modified"]
    assert doc["maintainers"] == [{"name": "alice", "email": "alice@example.com"}]


def test_packument_rev_changes_with_each_write(npm_registry: NpmRegistry, alice: User) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    first = call(npm_registry, "GET", "/demo").json()["_rev"]
    npm_registry.publish("demo", "1.0.1", by=alice)
    second = call(npm_registry, "GET", "/demo").json()["_rev"]
    assert first != second
    assert int(second.split("-")[0]) == int(first.split("-")[0]) + 1


def test_corgi_packument(npm_registry: NpmRegistry, alice: User) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice, dependencies={"left-pad": "^1.0.0"}, readme="# demo")
    answer = call(npm_registry, "GET", "/demo", headers={"accept": CORGI_ACCEPT})

    assert (answer.status, answer.reason) == (200, "OK")
    assert answer.headers["content-type"] == CORGI
    doc = answer.json()
    assert set(doc) == {"name", "modified", "dist-tags", "versions"}
    assert doc["name"] == "demo"
    assert doc["dist-tags"] == {"latest": "1.0.0"}
    manifest = doc["versions"]["1.0.0"]
    assert manifest["name"] == "demo"
    assert manifest["version"] == "1.0.0"
    assert manifest["dependencies"] == {"left-pad": "^1.0.0"}
    assert manifest["dist"]["tarball"] == f"{origin(npm_registry)}/demo/-/demo-1.0.0.tgz"
    assert manifest["dist"]["integrity"] == integrity_of(npm_registry.package("demo").tarball("1.0.0"))
    # Install metadata only: no readme, no publisher bookkeeping.
    assert not {"readme", "_npmVersion", "_nodeVersion", "description", "maintainers"} & set(manifest)


def test_write_true_gets_the_full_packument_even_with_corgi_accept(npm_registry: NpmRegistry, alice: User) -> None:
    """``npm deprecate``/``unpublish`` read ``GET /<pkg>?write=true`` and need ``_rev``."""
    npm_registry.publish("demo", "1.0.0", by=alice)
    answer = call(npm_registry, "GET", "/demo?write=true", headers={"accept": CORGI_ACCEPT})
    assert answer.status == 200
    assert answer.headers["content-type"] == JSON
    assert "_rev" in answer.json()


@pytest.mark.parametrize("path", ["/@scope%2fname", "/@scope%2Fname", "/@scope/name"])
@pytest.mark.parametrize("accept", [JSON, CORGI_ACCEPT])
def test_scoped_packument_in_every_spelling(npm_registry: NpmRegistry, alice: User, path: str, accept: str) -> None:
    npm_registry.publish("@scope/name", "1.0.0", by=alice)
    answer = call(npm_registry, "GET", path, headers={"accept": accept})
    assert answer.status == 200, answer.body
    doc = answer.json()
    assert doc["name"] == "@scope/name"
    if accept == JSON:
        assert doc["_id"] == "@scope/name"
    # The public registry serves scoped tarballs at /@scope/name/-/name-<v>.tgz.
    assert doc["versions"]["1.0.0"]["dist"]["tarball"] == f"{origin(npm_registry)}/@scope/name/-/name-1.0.0.tgz"


@pytest.mark.parametrize("path", ["/nope", "/@scope%2fnope", "/@scope/nope", "/nope/1.0.0", "/nope/-/nope-1.0.0.tgz"])
def test_unknown_package_is_404_not_found(npm_registry: NpmRegistry, path: str) -> None:
    answer = call(npm_registry, "GET", path)
    assert_answer(answer, 404, "Not Found", NOT_FOUND)
    assert "npm-notice" not in answer.headers


def test_unknown_package_with_a_dead_token_carries_the_expiry_notice(npm_registry: NpmRegistry, alice: User) -> None:
    token = alice.create_token()
    token.revoke()
    answer = call(npm_registry, "GET", "/nope", token=token)
    assert_answer(answer, 404, "Not Found", NOT_FOUND)
    assert answer.headers["npm-notice"] == EXPIRED_NOTICE


# -- versions and tarballs ----------------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "name"), [("/demo", "demo"), ("/@scope%2fdemo", "@scope/demo")])
@pytest.mark.parametrize("spec", ["1.0.0", "latest"])
def test_version_manifest(npm_registry: NpmRegistry, alice: User, prefix: str, name: str, spec: str) -> None:
    npm_registry.publish(name, "1.0.0", by=alice)
    npm_registry.publish(name, "0.9.0", by=alice, tag="old")
    answer = call(npm_registry, "GET", f"{prefix}/{spec}")

    assert (answer.status, answer.reason) == (200, "OK")
    assert answer.headers["content-type"] == JSON
    doc = answer.json()
    assert doc["_id"] == f"{name}@1.0.0"
    assert doc["name"] == name
    assert doc["version"] == "1.0.0"
    basename = name.rsplit("/", 1)[-1]
    assert doc["dist"]["tarball"] == f"{origin(npm_registry)}/{name}/-/{basename}-1.0.0.tgz"
    assert doc["dist"]["integrity"] == integrity_of(npm_registry.package(name).tarball("1.0.0"))


def test_version_by_other_tag(npm_registry: NpmRegistry, alice: User) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    npm_registry.publish("demo", "2.0.0-rc.1", by=alice, tag="next")
    assert call(npm_registry, "GET", "/demo/next").json()["version"] == "2.0.0-rc.1"


@pytest.mark.parametrize("spec", ["9.9.9", "nosuchtag"])
def test_unknown_version_is_404(npm_registry: NpmRegistry, alice: User, spec: str) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    answer = call(npm_registry, "GET", f"/demo/{spec}")
    assert (answer.status, answer.reason) == (404, "Not Found")
    assert answer.headers["content-type"] == JSON
    assert spec in answer.json()["error"]


@pytest.mark.parametrize("put_path", ["/demo", "/@scope%2fdemo"], ids=["unscoped", "scoped"])
def test_tarball_downloads_are_byte_equal_to_the_upload(
    npm_registry: NpmRegistry, alice_token: Token, put_path: str
) -> None:
    name = "demo" if put_path == "/demo" else "@scope/demo"
    if name != "demo":
        npm_registry.add_org("scope", owner="alice")  # a new scoped package needs its scope
    manifest = manifest_for(name, "1.0.0")
    tarball = make_tarball(manifest, {"index.js": "module.exports = 'exact bytes';\n", "data.bin": bytes(range(256))})
    answer = put_package(npm_registry, put_path, publish_document(manifest, tarball, access="public"), alice_token)
    assert_answer(answer, 200, "OK", {"success": True})

    if name == "demo":
        paths = ["/demo/-/demo-1.0.0.tgz"]
    else:
        paths = [
            "/@scope/demo/-/demo-1.0.0.tgz",
            "/@scope/demo/-/@scope/demo-1.0.0.tgz",
            "/@scope%2fdemo/-/demo-1.0.0.tgz",
            "/@scope%2fdemo/-/@scope%2fdemo-1.0.0.tgz",
        ]
    for path in paths:
        download = call(npm_registry, "GET", path)
        assert (download.status, download.reason) == (200, "OK"), path
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.body == tarball, path
    # ...and the URL the packument advertises is one of them.
    advertised = call(npm_registry, "GET", put_path).json()["versions"]["1.0.0"]["dist"]["tarball"]
    assert call(npm_registry, "GET", advertised.removeprefix(origin(npm_registry))).body == tarball


@pytest.mark.parametrize("path", ["/demo/-/demo-9.9.9.tgz", "/demo/-/other-1.0.0.tgz", "/demo/-/demo-1.0.0.tar"])
def test_unknown_tarball_is_404(npm_registry: NpmRegistry, alice: User, path: str) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    assert_answer(call(npm_registry, "GET", path), 404, "Not Found", NOT_FOUND)


# -- dead tokens, whoami, ping, audit --------------------------------------------------------------------


def dead_token(reg: NpmRegistry, user: User, how: str) -> Token | str:
    if how == "unknown":
        return "npm_" + "Z" * 36
    token = user.create_token(bypass_2fa=True, expires_in_days=1)
    if how == "revoked":
        token.revoke()
    else:
        reg.clock.advance(2 * 24 * 3600)
    return token


@pytest.mark.parametrize("how", ["expired", "revoked", "unknown"])
def test_publish_with_a_dead_token_is_404_with_notice(npm_registry: NpmRegistry, alice: User, how: str) -> None:
    token = dead_token(npm_registry, alice, how)
    answer = put_package(npm_registry, "/demo", body_for("demo"), token)
    assert_answer(answer, 404, "Not Found", NOT_FOUND)
    assert answer.headers["npm-notice"] == EXPIRED_NOTICE
    assert "www-authenticate" not in answer.headers
    assert not npm_registry.has_package("demo")


@pytest.mark.parametrize("how", ["expired", "revoked", "unknown"])
def test_publish_new_version_with_a_dead_token_changes_nothing(
    npm_registry: NpmRegistry, alice: User, how: str
) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    token = dead_token(npm_registry, alice, how)
    answer = put_package(npm_registry, "/demo", body_for("demo", "1.0.1"), token)
    assert_answer(answer, 404, "Not Found", NOT_FOUND)
    assert answer.headers["npm-notice"] == EXPIRED_NOTICE
    assert npm_registry.package("demo").versions == ["1.0.0"]


def test_whoami(npm_registry: NpmRegistry, alice_token: Token) -> None:
    assert_answer(call(npm_registry, "GET", "/-/whoami", token=alice_token), 200, "OK", {"username": "alice"})


@pytest.mark.parametrize("how", ["expired", "revoked", "unknown", "none"])
def test_whoami_with_a_bad_token_is_a_plain_401(npm_registry: NpmRegistry, alice: User, how: str) -> None:
    token = None if how == "none" else dead_token(npm_registry, alice, how)
    answer = call(npm_registry, "GET", "/-/whoami", token=token)
    assert (answer.status, answer.reason) == (401, "Unauthorized")
    # No www-authenticate (it would turn into EOTP / a Bearer hint) and no `error` (npm prints
    # nothing after the URL on the real registry).
    assert "www-authenticate" not in answer.headers
    assert "error" not in answer.json()


def test_ping(npm_registry: NpmRegistry) -> None:
    answer = call(npm_registry, "GET", "/-/ping")
    assert_answer(answer, 200, "OK", {})
    assert answer.body == b"{}"


def test_audit_bulk_answers_an_empty_report(npm_registry: NpmRegistry, alice_token: Token) -> None:
    answer = call(
        npm_registry, "POST", "/-/npm/v1/security/advisories/bulk", token=alice_token, json_body={"demo": ["1.0.0"]}
    )
    assert_answer(answer, 200, "OK", {})


# -- dist-tags --------------------------------------------------------------------------------------------


@pytest.fixture
def tagged(npm_registry: NpmRegistry, alice: User) -> str:
    npm_registry.publish("demo", "1.0.0", by=alice)
    npm_registry.publish("demo", "1.1.0", by=alice)
    return "demo"


def test_dist_tags_list(npm_registry: NpmRegistry, tagged: str) -> None:
    assert_answer(call(npm_registry, "GET", "/-/package/demo/dist-tags"), 200, "OK", {"latest": "1.1.0"})


@pytest.mark.parametrize("spelling", ["@scope%2fdemo", "@scope/demo"])
def test_scoped_dist_tags(npm_registry: NpmRegistry, alice: User, alice_token: Token, spelling: str) -> None:
    npm_registry.publish("@scope/demo", "1.0.0", by=alice)
    answer = call(npm_registry, "PUT", f"/-/package/{spelling}/dist-tags/beta", token=alice_token, json_body="1.0.0")
    assert answer.status in (200, 201), answer.body
    listed = call(npm_registry, "GET", f"/-/package/{spelling}/dist-tags")
    assert_answer(listed, 200, "OK", {"latest": "1.0.0", "beta": "1.0.0"})


def test_dist_tag_add_move_and_remove(npm_registry: NpmRegistry, tagged: str, alice_token: Token) -> None:
    # npm sends the version as a JSON string body: "1.0.0". The status is not pinned by any source
    # (npm treats any 2xx as success), so 200 and 201 are both accepted.
    added = call(npm_registry, "PUT", "/-/package/demo/dist-tags/beta", token=alice_token, json_body="1.0.0")
    assert added.status in (200, 201), added.body
    assert added.headers["content-type"] == JSON
    assert npm_registry.package("demo").dist_tags == {"latest": "1.1.0", "beta": "1.0.0"}

    moved = call(npm_registry, "PUT", "/-/package/demo/dist-tags/latest", token=alice_token, json_body="1.0.0")
    assert moved.status in (200, 201), moved.body
    assert_answer(
        call(npm_registry, "GET", "/-/package/demo/dist-tags"), 200, "OK", {"latest": "1.0.0", "beta": "1.0.0"}
    )
    assert call(npm_registry, "GET", "/demo/latest").json()["version"] == "1.0.0"

    removed = call(npm_registry, "DELETE", "/-/package/demo/dist-tags/beta", token=alice_token)
    assert (removed.status, removed.reason) == (200, "OK"), removed.body
    assert_answer(call(npm_registry, "GET", "/-/package/demo/dist-tags"), 200, "OK", {"latest": "1.0.0"})


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        pytest.param("PUT", "/-/package/demo/dist-tags/beta", {"version": "1.0.0"}, 400, "string", id="object-body"),
        pytest.param("PUT", "/-/package/demo/dist-tags/beta", None, 400, "string", id="null-body"),
        pytest.param("PUT", "/-/package/demo/dist-tags/beta", "not-a-version", 400, "not-a-version", id="bad-semver"),
        pytest.param("PUT", "/-/package/demo/dist-tags/beta", "9.9.9", 404, "9.9.9", id="unknown-version"),
        pytest.param("PUT", "/-/package/demo/dist-tags/1.x", "1.0.0", 400, "range", id="range-tag"),
        pytest.param("PUT", "/-/package/nope/dist-tags/beta", "1.0.0", 404, "Not found", id="unknown-package"),
        pytest.param("DELETE", "/-/package/demo/dist-tags/nosuchtag", None, 404, "nosuchtag", id="rm-unknown-tag"),
        pytest.param("DELETE", "/-/package/nope/dist-tags/beta", None, 404, "Not found", id="rm-unknown-package"),
    ],
)
def test_dist_tag_errors(
    npm_registry: NpmRegistry,
    tagged: str,
    alice_token: Token,
    method: str,
    path: str,
    body: Any,
    status: int,
    fragment: str,
) -> None:
    answer = call(npm_registry, method, path, token=alice_token, json_body=body if method == "PUT" else _ABSENT)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == JSON
    assert fragment.lower() in answer.json()["error"].lower()
    assert npm_registry.package("demo").dist_tags == {"latest": "1.1.0"}


def test_dist_tag_put_with_non_json_body_is_400(npm_registry: NpmRegistry, tagged: str, alice_token: Token) -> None:
    answer = call(
        npm_registry,
        "PUT",
        "/-/package/demo/dist-tags/beta",
        token=alice_token,
        data=b"1.0.0",
        headers={"content-type": JSON},
    )
    assert answer.status == 400
    assert "error" in answer.json()
    assert npm_registry.package("demo").dist_tags == {"latest": "1.1.0"}


def test_dist_tag_unknown_package_listing_is_404(npm_registry: NpmRegistry) -> None:
    assert_answer(call(npm_registry, "GET", "/-/package/nope/dist-tags"), 404, "Not Found", NOT_FOUND)


def test_dist_tag_by_a_non_maintainer_is_403(npm_registry: NpmRegistry, tagged: str, alice_token: Token) -> None:
    call(npm_registry, "PUT", "/-/package/demo/dist-tags/beta", token=alice_token, json_body="1.0.0")
    mallory = npm_registry.add_user("mallory").create_token(bypass_2fa=True)
    answer = call(npm_registry, "PUT", "/-/package/demo/dist-tags/next", token=mallory, json_body="1.1.0")
    assert_answer(
        answer,
        403,
        "Forbidden",
        {
            "error": 'You do not have permission to change the dist-tags of "demo".'
            " Are you logged in as the correct user?"
        },
    )
    answer = call(npm_registry, "DELETE", "/-/package/demo/dist-tags/beta", token=mallory)
    assert answer.status == 403
    assert npm_registry.package("demo").dist_tags == {"latest": "1.1.0", "beta": "1.0.0"}


@pytest.mark.parametrize("how", ["expired", "revoked", "unknown"])
def test_dist_tag_with_a_dead_token_is_404_with_notice(
    npm_registry: NpmRegistry, tagged: str, alice: User, how: str
) -> None:
    token = dead_token(npm_registry, alice, how)
    answer = call(npm_registry, "PUT", "/-/package/demo/dist-tags/beta", token=token, json_body="1.0.0")
    assert_answer(answer, 404, "Not Found", NOT_FOUND)
    assert answer.headers["npm-notice"] == EXPIRED_NOTICE
    assert npm_registry.package("demo").dist_tags == {"latest": "1.1.0"}


def test_dist_tag_without_credentials_is_refused(npm_registry: NpmRegistry, tagged: str) -> None:
    answer = call(npm_registry, "PUT", "/-/package/demo/dist-tags/beta", json_body="1.0.0")
    assert answer.status == 401
    assert "error" in answer.json()
    assert npm_registry.package("demo").dist_tags == {"latest": "1.1.0"}


def test_latest_dist_tag_change_is_challenged_but_other_tags_are_exempt(
    npm_registry: NpmRegistry, tfa_user: User, tfa_token: Token
) -> None:
    npm_registry.publish("demo", "1.0.0", by=tfa_user)
    npm_registry.publish("demo", "1.1.0", by=tfa_user)
    beta = call(npm_registry, "PUT", "/-/package/demo/dist-tags/beta", token=tfa_token, json_body="1.0.0")
    assert beta.status in (200, 201), beta.body
    latest = call(npm_registry, "PUT", "/-/package/demo/dist-tags/latest", token=tfa_token, json_body="1.0.0")
    assert_otp_challenge(latest)
    assert npm_registry.package("demo").dist_tags == {"latest": "1.1.0", "beta": "1.0.0"}
    with_otp = call(
        npm_registry,
        "PUT",
        "/-/package/demo/dist-tags/latest",
        token=tfa_token,
        json_body="1.0.0",
        headers={"npm-otp": tfa_user.otp()},
    )
    assert with_otp.status in (200, 201), with_otp.body
    assert npm_registry.package("demo").dist_tags["latest"] == "1.0.0"


# -- two-factor challenges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, LEGACY, {"npm-command": "publish"}], ids=["no-auth-type", "legacy", "cmd-only"]
)
def test_classic_challenge(npm_registry: NpmRegistry, tfa_token: Token, headers: dict[str, str]) -> None:
    answer = put_package(npm_registry, "/demo", body_for("demo"), tfa_token, headers)
    assert_otp_challenge(answer)
    assert "npm-notice" not in answer.headers
    assert not npm_registry.has_package("demo")
    [entry] = npm_registry.journal.entries(operation="publish")
    assert entry.outcome == "challenged"


def test_web_challenge_poll_approve_and_retry(npm_registry: NpmRegistry, tfa_token: Token) -> None:
    reg = npm_registry
    first = put_package(reg, "/demo", body_for("demo"), tfa_token, WEB)
    assert (first.status, first.reason) == (401, "Unauthorized")
    assert first.headers["www-authenticate"] == "OTP"
    assert first.headers["content-type"] == JSON
    urls = first.json()
    assert set(urls) == {"authUrl", "doneUrl"}
    for url in urls.values():
        assert url.startswith(origin(reg) + "/"), url
    assert urls["authUrl"] != urls["doneUrl"]
    assert not reg.has_package("demo")

    # A person would open authUrl: it must be a page on our own server.
    page = call(reg, "GET", urls["authUrl"].removeprefix(origin(reg)))
    assert page.status == 200

    done = urls["doneUrl"].removeprefix(origin(reg))
    for _ in range(2):
        pending = call(reg, "GET", done, token=tfa_token)
        assert (pending.status, pending.reason) == (202, "Accepted")
        assert re.fullmatch(r"[1-9]\d*", pending.headers.get("retry-after", "")), pending.headers
        assert pending.headers["content-type"] == JSON
        assert pending.json() == {}  # an empty body crashes npm

    reg.approve_web_auth()
    approved = call(reg, "GET", done, token=tfa_token)
    assert (approved.status, approved.reason) == (200, "OK")
    assert approved.headers["content-type"] == JSON
    assert set(approved.json()) == {"token"}
    otp = approved.json()["token"]
    assert isinstance(otp, str)
    assert otp

    retry = put_package(reg, "/demo", body_for("demo"), tfa_token, {**WEB, "npm-otp": otp})
    assert_answer(retry, 200, "OK", {"success": True})
    assert reg.package("demo").versions == ["1.0.0"]
    [accepted] = reg.journal.entries(operation="publish", outcome="accepted")
    assert accepted.otp == "web"

    # The one-time token is spent.
    reuse = put_package(reg, "/demo", body_for("demo", "1.0.1"), tfa_token, {**WEB, "npm-otp": otp})
    assert_otp_challenge(reuse)
    assert reg.package("demo").versions == ["1.0.0"]


def test_user_preferring_classic_gets_classic_even_from_a_web_client(npm_registry: NpmRegistry) -> None:
    carl = npm_registry.add_user("carl", tfa="auth-and-writes", challenge="classic")
    answer = put_package(npm_registry, "/demo", body_for("demo"), carl.create_token(), WEB)
    assert_otp_challenge(answer)
    assert not npm_registry.has_package("demo")


@pytest.mark.parametrize("poller", ["anonymous", "other-user", "dead-token"])
def test_done_url_answers_whoever_holds_the_session_id(
    npm_registry: NpmRegistry, tfa_token: Token, alice: User, poller: str
) -> None:
    """pnpm 11 polls with no Authorization; the session id in the URL is the secret (the public
    registry answers such polls too), so the credential a poll carries is not consulted."""
    reg = npm_registry
    done = put_package(reg, "/demo", body_for("demo"), tfa_token, WEB).json()["doneUrl"].removeprefix(origin(reg))
    token: Token | str | None = {
        "anonymous": None,
        "other-user": alice.create_token(bypass_2fa=True),
        "dead-token": "npm_" + "Z" * 36,
    }[poller]
    pending = call(reg, "GET", done, token=token)
    assert (pending.status, pending.headers["retry-after"], pending.json()) == (202, "1", {})
    reg.approve_web_auth()
    approved = call(reg, "GET", done, token=token)
    assert approved.status == 200
    otp = approved.json()["token"]
    accepted = put_package(reg, "/demo", body_for("demo"), tfa_token, {**WEB, "npm-otp": otp})
    assert accepted.status == 200
    unknown = call(reg, "GET", "/-/v1/done/0123456789abcdef", token=token)
    assert (unknown.status, unknown.reason) == (404, "Not Found")


@pytest.mark.parametrize("headers", [{}, WEB], ids=["classic", "web"])
def test_wrong_otp_gets_the_classic_challenge(
    npm_registry: NpmRegistry, tfa_user: User, tfa_token: Token, headers: dict[str, str]
) -> None:
    wrong = tfa_user.otp(offset_steps=40)  # a well-formed code twenty minutes away
    answer = put_package(npm_registry, "/demo", body_for("demo"), tfa_token, {**headers, "npm-otp": wrong})
    assert_otp_challenge(answer)
    assert not npm_registry.has_package("demo")


@pytest.mark.parametrize("code", ["123", "abcdef", "not an otp"])
def test_malformed_otp_gets_the_classic_challenge(npm_registry: NpmRegistry, tfa_token: Token, code: str) -> None:
    answer = put_package(npm_registry, "/demo", body_for("demo"), tfa_token, {**WEB, "npm-otp": code})
    assert_otp_challenge(answer)
    assert not npm_registry.has_package("demo")


def test_recovery_code_works_once(npm_registry: NpmRegistry, tfa_user: User, tfa_token: Token) -> None:
    code = tfa_user.recovery_codes[0]
    first = put_package(npm_registry, "/demo", body_for("demo"), tfa_token, {"npm-otp": code})
    assert_answer(first, 200, "OK", {"success": True})
    assert code not in tfa_user.recovery_codes
    again = put_package(npm_registry, "/demo", body_for("demo", "1.0.1"), tfa_token, {"npm-otp": code})
    assert_otp_challenge(again)
    assert npm_registry.package("demo").versions == ["1.0.0"]
    outcomes = [(e.outcome, e.otp) for e in npm_registry.journal.entries(operation="publish")]
    assert outcomes == [("accepted", "recovery-code"), ("challenged", "none")]


def test_current_totp_code_works(npm_registry: NpmRegistry, tfa_user: User, tfa_token: Token) -> None:
    answer = put_package(npm_registry, "/demo", body_for("demo"), tfa_token, {"npm-otp": tfa_user.otp()})
    assert_answer(answer, 200, "OK", {"success": True})
    assert npm_registry.package("demo").versions == ["1.0.0"]


@pytest.mark.parametrize("steps", [-1, 1])
def test_adjacent_totp_step_is_accepted(
    npm_registry: NpmRegistry, tfa_user: User, tfa_token: Token, steps: int
) -> None:
    code = tfa_user.otp(offset_steps=steps)
    answer = put_package(npm_registry, "/demo", body_for("demo"), tfa_token, {"npm-otp": code})
    assert_answer(answer, 200, "OK", {"success": True})


def test_stale_totp_code_fails(npm_registry: NpmRegistry, tfa_user: User, tfa_token: Token) -> None:
    code = tfa_user.otp()
    npm_registry.clock.advance(120)
    answer = put_package(npm_registry, "/demo", body_for("demo"), tfa_token, {"npm-otp": code})
    assert_otp_challenge(answer)
    assert not npm_registry.has_package("demo")


@pytest.mark.parametrize("headers", [{}, WEB], ids=["classic", "web"])
def test_security_key_user_gets_classic_challenge_with_notice(
    npm_registry: NpmRegistry, headers: dict[str, str]
) -> None:
    sam = npm_registry.add_user("sam", tfa="auth-and-writes", security_key=True)
    answer = put_package(npm_registry, "/demo", body_for("demo"), sam.create_token(), headers)
    assert_otp_challenge(answer)
    notice = answer.headers["npm-notice"]
    match = re.fullmatch(
        rf"Open ({re.escape(origin(npm_registry))}/\S+) to use your security key for authentication "
        r"or enter OTP from your authenticator app",
        notice,
    )
    assert match, notice
    assert call(npm_registry, "GET", match[1].removeprefix(origin(npm_registry))).status == 200
    assert not npm_registry.has_package("demo")
    # The authenticator app still works.
    with_otp = put_package(npm_registry, "/demo", body_for("demo"), sam.create_token(), {"npm-otp": sam.otp()})
    assert_answer(with_otp, 200, "OK", {"success": True})


# -- publish refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("access", [None, "restricted"])
def test_new_scoped_private_package_on_an_unpaid_account_is_402(
    npm_registry: NpmRegistry, alice_token: Token, access: str | None
) -> None:
    answer = put_package(npm_registry, "/@alice%2fthing", body_for("@alice/thing", access=access), alice_token)
    assert_answer(answer, 402, "Payment Required", {"error": "You must sign up for private packages"})
    assert not npm_registry.has_package("@alice/thing")


def test_new_scoped_package_with_public_access_is_fine_unpaid(npm_registry: NpmRegistry, alice_token: Token) -> None:
    answer = put_package(npm_registry, "/@alice%2fthing", body_for("@alice/thing", access="public"), alice_token)
    assert_answer(answer, 200, "OK", {"success": True})
    assert npm_registry.package("@alice/thing").access == "public"
    assert call(npm_registry, "GET", "/@alice%2fthing").status == 200


def test_new_scoped_package_with_null_access_is_fine_when_paid(npm_registry: NpmRegistry) -> None:
    paula = npm_registry.add_user("paula", paid=True)
    token = paula.create_token(bypass_2fa=True)
    answer = put_package(npm_registry, "/@paula%2fthing", body_for("@paula/thing"), token)
    assert_answer(answer, 200, "OK", {"success": True})
    assert npm_registry.package("@paula/thing").access == "restricted"
    # Restricted: invisible to others, visible to its maintainer.
    assert_answer(call(npm_registry, "GET", "/@paula%2fthing"), 404, "Not Found", NOT_FOUND)
    assert call(npm_registry, "GET", "/@paula%2fthing", token=token).status == 200


def test_publish_by_a_non_maintainer_is_403(npm_registry: NpmRegistry, alice: User) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    mallory = npm_registry.add_user("mallory").create_token(bypass_2fa=True)
    answer = put_package(npm_registry, "/demo", body_for("demo", "1.0.1"), mallory)
    assert_answer(
        answer,
        403,
        "Forbidden",
        {"error": 'You do not have permission to publish "demo". Are you logged in as the correct user?'},
    )
    assert npm_registry.package("demo").versions == ["1.0.0"]
    assert npm_registry.package("demo").maintainers == ["alice"]


def test_immediate_replay_is_409_and_later_republish_is_403(npm_registry: NpmRegistry, alice_token: Token) -> None:
    doc = body_for("demo")
    assert_answer(put_package(npm_registry, "/demo", doc, alice_token), 200, "OK", {"success": True})
    uploaded = npm_registry.package("demo").tarball("1.0.0")

    # npm retries a PUT after a 5xx or a timeout: the same bytes again, moments later.
    replay = put_package(npm_registry, "/demo", doc, alice_token)
    assert_answer(replay, 409, "Conflict", {"error": 'Cannot publish over previously staged version "1.0.0".'})

    npm_registry.clock.advance(121)
    later = put_package(npm_registry, "/demo", doc, alice_token)
    assert_answer(
        later, 403, "Forbidden", {"error": "You cannot publish over the previously published versions: 1.0.0."}
    )
    assert npm_registry.package("demo").versions == ["1.0.0"]
    assert npm_registry.package("demo").tarball("1.0.0") == uploaded


def test_republish_with_different_bytes_is_403_at_once(npm_registry: NpmRegistry, alice_token: Token) -> None:
    manifest = manifest_for("demo", "1.0.0")
    original = make_tarball(manifest, {"index.js": "1;\n"})
    second = publish_document(manifest, make_tarball(manifest, {"index.js": "2;\n"}))
    assert put_package(npm_registry, "/demo", publish_document(manifest, original), alice_token).status == 200
    answer = put_package(npm_registry, "/demo", second, alice_token)
    assert_answer(
        answer, 403, "Forbidden", {"error": "You cannot publish over the previously published versions: 1.0.0."}
    )
    assert call(npm_registry, "GET", "/demo/-/demo-1.0.0.tgz").body == original


def test_publish_without_2fa_or_bypass_is_403(npm_registry: NpmRegistry, alice: User) -> None:
    answer = put_package(npm_registry, "/demo", body_for("demo"), alice.create_token())
    assert_answer(
        answer,
        403,
        "Forbidden",
        {
            "error": "Two-factor authentication or granular access token with bypass 2fa enabled is required to "
            "publish packages."
        },
    )
    assert not npm_registry.has_package("demo")


def test_publish_with_read_only_token_is_403(npm_registry: NpmRegistry, alice: User) -> None:
    answer = put_package(npm_registry, "/demo", body_for("demo"), alice.create_token(read_only=True))
    assert_answer(answer, 403, "Forbidden", {"error": "You may not perform that action with these credentials."})
    assert not npm_registry.has_package("demo")


# -- the edges of the mock --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/-/no/such/endpoint"),
        ("GET", "/-/v1/search"),
        ("GET", "/-/npm/v1/hooks"),
        ("PUT", "/-/npm/v1/hooks/hook/1"),
        ("GET", "/-/all"),
        ("DELETE", "/-/ping"),
        ("POST", "/demo"),
    ],
)
def test_unimplemented_route_is_a_loud_501(npm_registry: NpmRegistry, method: str, path: str) -> None:
    answer = call(npm_registry, method, path, data=b"{}", headers={"content-type": JSON})
    assert_answer(answer, 501, "Not Implemented", {"error": f"not implemented by the mock registry: {method} {path}"})


def test_packument_shows_a_maintainers_new_email(npm_registry: NpmRegistry, alice: User) -> None:
    npm_registry.publish("demo", "1.0.0", by=alice)
    assert call(npm_registry, "GET", "/demo").json()["maintainers"] == [{"name": "alice", "email": "alice@example.com"}]
    session = alice.create_token("session")
    change = {"email": "alice@new.example"}
    assert call(npm_registry, "POST", "/-/npm/v1/user", token=session, json_body=change).status == 401
    (code,) = alice.emails  # an account without 2FA confirms with an emailed code
    changed = call(npm_registry, "POST", "/-/npm/v1/user", token=session, json_body=change, headers={"npm-otp": code})
    assert changed.status == 200, changed.body
    assert call(npm_registry, "GET", "/demo").json()["maintainers"] == [{"name": "alice", "email": "alice@new.example"}]
