"""`npm deprecate` and `npm unpublish` with the real npm CLI, and the unpublish policy."""

from __future__ import annotations

import json

import pytest

from tests.conftest import http

DAY = 86400


@pytest.fixture
def alice(npm_registry):
    alice = npm_registry.add_user("alice")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.publish("demo-pkg", "1.1.0", by=alice)
    return alice


@pytest.fixture
def token(alice):
    return alice.create_token(bypass_2fa=True)


def test_deprecate_and_undeprecate(npm_registry, alice, token):
    result = npm_registry.npm("deprecate", "demo-pkg@1.0.0", "use 1.1.0", token=token)
    assert result.returncode == 0, result
    assert 'npm notice deprecating demo-pkg@1.0.0 with message "use 1.1.0"' in result.stderr
    assert npm_registry.package("demo-pkg").manifest("1.0.0")["deprecated"] == "use 1.1.0"
    view = npm_registry.npm("view", "demo-pkg@1.0.0", "deprecated", token=token)
    assert view.stdout.strip() == "use 1.1.0"

    undo = npm_registry.npm("deprecate", "demo-pkg", "", token=token)
    assert undo.returncode == 0, undo
    assert "deprecated" not in npm_registry.package("demo-pkg").manifest("1.0.0")
    assert npm_registry.journal.entries(operation="deprecate")[-1].outcome.value == "accepted"


def test_install_of_a_deprecated_version_warns(npm_registry, alice, token, tmp_path):
    npm_registry.npm("deprecate", "demo-pkg@1.0.0", "old", token=token)
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    result = npm_registry.npm("install", "demo-pkg@1.0.0", "--no-audit", cwd=app, token=token)
    assert "npm warn deprecated demo-pkg@1.0.0: old" in result.stderr, result


def test_deprecate_needs_the_otp_under_auth_and_writes(npm_registry):
    carol = npm_registry.add_user("carol", tfa="auth-and-writes")
    npm_registry.publish("carol-pkg", "1.0.0", by=carol)
    session = carol.create_token("session")
    result = npm_registry.npm("deprecate", "carol-pkg@1.0.0", "x", token=session)
    assert result.error_code == "EOTP"
    assert "deprecated" not in npm_registry.package("carol-pkg").manifest("1.0.0")


def test_deprecate_body_may_not_rewrite_history(npm_registry, alice, token):
    doc = http(npm_registry, "GET", "/demo-pkg?write=true", token=token).json()
    doc["versions"]["1.0.0"]["deprecated"] = "old"
    doc["versions"]["1.0.0"]["main"] = "evil.js"
    answer = http(npm_registry, "PUT", "/demo-pkg", token=token, json_body=doc)
    assert answer.status == 400
    assert answer.json() == {"error": "A deprecate may only change versions[*].deprecated; versions['1.0.0'] differs"}
    assert npm_registry.package("demo-pkg").manifest("1.0.0")["main"] == "index.js"


def test_unpublish_one_version(npm_registry, alice, token):
    result = npm_registry.npm("unpublish", "demo-pkg@1.0.0", token=token)
    assert result.stdout == "- demo-pkg@1.0.0\n", result
    package = npm_registry.package("demo-pkg")
    assert package.versions == ["1.1.0"]
    assert package.dist_tags == {"latest": "1.1.0"}
    assert http(npm_registry, "GET", "/demo-pkg/-/demo-pkg-1.0.0.tgz").status == 404


def test_unpublish_latest_version_moves_the_tag(npm_registry, alice, token):
    assert npm_registry.npm("unpublish", "demo-pkg@1.1.0", token=token).returncode == 0
    assert npm_registry.package("demo-pkg").dist_tags == {"latest": "1.0.0"}


def test_unpublish_whole_package_blocks_the_name_for_a_day(npm_registry, alice, token, package_dir):
    result = npm_registry.npm("unpublish", "demo-pkg", "--force", token=token)
    assert result.stdout == "- demo-pkg\n", result
    assert not npm_registry.has_package("demo-pkg")
    again = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "2.0.0"), token=token)
    assert again.error_code == "E403"
    assert "was unpublished less than 24 hours ago" in again.error_lines[1]
    npm_registry.clock.advance(DAY + 1)
    reused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.0.0"), token=token)
    assert reused.error_code == "E403"  # a name@version is never reusable
    assert reused.error_lines[1].endswith("You cannot publish over the previously published versions: 1.0.0.")
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "2.0.0"), token=token).returncode == 0


def test_unpublish_after_72_hours_with_two_maintainers_is_refused(npm_registry, alice, token):
    npm_registry.add_user("bob")
    npm_registry.registry.orgs.add_maintainer("demo-pkg", "bob")
    npm_registry.clock.advance(4 * DAY)
    result = npm_registry.npm("unpublish", "demo-pkg@1.0.0", token=token)
    assert result.error_code == "E403"
    assert result.error_lines[1].endswith(
        "You can no longer unpublish this package. Failed criteria: has more than one maintainer."
    )
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]


def test_unpublish_of_a_package_others_depend_on_is_refused(npm_registry, alice, token):
    npm_registry.publish("app-pkg", "1.0.0", by=alice, dependencies={"demo-pkg": "^1.0.0"})
    result = npm_registry.npm("unpublish", "demo-pkg", "--force", token=token)
    assert result.error_code == "E403"
    assert "has dependent packages in the registry" in result.error_lines[1]
    assert npm_registry.has_package("demo-pkg")


def test_unpublish_by_a_non_maintainer_is_refused(npm_registry, alice):
    mallory = npm_registry.add_user("mallory").create_token(bypass_2fa=True)
    result = npm_registry.npm("unpublish", "demo-pkg@1.0.0", token=mallory)
    assert result.error_code == "E403"
    assert npm_registry.package("demo-pkg").versions == ["1.0.0", "1.1.0"]


def test_unpublish_with_a_stale_rev_is_a_conflict(npm_registry, alice, token):
    doc = http(npm_registry, "GET", "/demo-pkg?write=true", token=token).json()
    npm_registry.publish("demo-pkg", "1.2.0", by=alice)  # the document moves on
    del doc["versions"]["1.0.0"]
    answer = http(npm_registry, "PUT", f"/demo-pkg/-rev/{doc['_rev']}", token=token, json_body=doc)
    assert (answer.status, answer.json()) == (409, {"error": "Document update conflict."})
    assert "1.0.0" in npm_registry.package("demo-pkg").versions


def test_view_shows_deprecation_in_json(npm_registry, alice, token):
    npm_registry.npm("deprecate", "demo-pkg@1.1.0", "bye", token=token)
    doc = json.loads(npm_registry.npm("view", "demo-pkg", "--json", token=token).stdout)
    assert doc["deprecated"] == "bye"
