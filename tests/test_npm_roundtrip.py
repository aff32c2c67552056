"""Publish, view and install with the real npm CLI; whoami, ping and dist-tags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_npm_registry import UsageError


@pytest.fixture
def alice(npm_registry):
    return npm_registry.add_user("alice", tfa="auth-and-writes")


@pytest.fixture
def ci_token(alice):
    return alice.create_token(bypass_2fa=True)


@pytest.mark.parametrize(("name", "args"), [("demo-pkg", []), ("@obs/scoped-pkg", ["--access", "public"])])
def test_publish_view_install_round_trip(npm_registry, package_dir, ci_token, tmp_path, name, args):
    npm_registry.add_org("obs", owner="alice")
    published = npm_registry.npm("publish", *args, cwd=package_dir(name, "1.2.3"), token=ci_token)
    assert published.returncode == 0, published
    assert published.stdout == f"+ {name}@1.2.3\n"
    access = "public" if args else "default"
    assert f"Publishing to {npm_registry.url} with tag latest and {access} access" in published.notices

    view = npm_registry.npm("view", name, "--json", token=ci_token)
    assert view.returncode == 0, view
    doc = json.loads(view.stdout)
    assert doc["name"] == name
    assert doc["version"] == "1.2.3"
    assert doc["dist-tags"] == {"latest": "1.2.3"}
    assert doc["maintainers"] == ["alice <alice@example.com>"]
    basename = name.rsplit("/", 1)[-1]
    assert doc["dist"]["tarball"] == f"{npm_registry.url}{name}/-/{basename}-1.2.3.tgz"

    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    installed = npm_registry.npm("install", name, cwd=app, token=ci_token)
    assert installed.returncode == 0, installed
    assert "found 0 vulnerabilities" in installed.stdout
    manifest = json.loads((app / "node_modules" / name / "package.json").read_text())
    assert manifest["version"] == "1.2.3"
    assert (app / "node_modules" / name / "index.js").read_text() == "module.exports = 42;\n"
    assert npm_registry.package(name).publisher("1.2.3") == "alice"


def test_anonymous_install_of_a_public_package(npm_registry, alice, tmp_path):
    npm_registry.publish("demo-pkg", "2.0.0", by=alice)
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    result = npm_registry.npm("install", "demo-pkg", "--no-audit", cwd=app)
    assert result.returncode == 0, result
    assert json.loads((app / "node_modules/demo-pkg/package.json").read_text())["version"] == "2.0.0"


def test_view_of_unknown_package_is_e404(npm_registry, ci_token):
    result = npm_registry.npm("view", "nope-pkg", token=ci_token)
    assert result.error_code == "E404"
    assert result.error_lines[1] == f"npm error 404 Not Found - GET {npm_registry.url}nope-pkg - Not found"


def test_publish_with_tag(npm_registry, package_dir, ci_token):
    result = npm_registry.npm("publish", "--tag", "beta", cwd=package_dir("demo-pkg", "2.0.0-beta.1"), token=ci_token)
    assert result.returncode == 0, result
    assert npm_registry.package("demo-pkg").dist_tags == {"beta": "2.0.0-beta.1"}


def test_force_publish_over_existing_version_is_refused_by_the_registry(npm_registry, package_dir, alice, ci_token):
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.clock.advance(600)  # not a retry of a publish just accepted
    result = npm_registry.npm("publish", "--force", cwd=package_dir("demo-pkg", "1.0.0"), token=ci_token)
    assert result.error_code == "E403"
    assert result.error_lines[1] == (
        f"npm error 403 403 Forbidden - PUT {npm_registry.url}demo-pkg - "
        "You cannot publish over the previously published versions: 1.0.0."
    )


def test_new_scoped_package_without_access_needs_a_paid_account(npm_registry, package_dir, ci_token):
    npm_registry.add_org("obs", owner="alice")  # an unpaid org
    result = npm_registry.npm("publish", cwd=package_dir("@obs/private-pkg"), token=ci_token)
    assert result.error_code == "E402"
    assert result.error_lines[1] == (
        f"npm error 402 Payment Required - PUT {npm_registry.url}@obs%2fprivate-pkg"
        " - You must sign up for private packages"
    )
    assert not npm_registry.has_package("@obs/private-pkg")


def test_paid_account_publishes_restricted_scoped_package(npm_registry, package_dir, tmp_path):
    bob = npm_registry.add_user("bob", paid=True)
    token = bob.create_token(bypass_2fa=True)
    result = npm_registry.npm("publish", cwd=package_dir("@bob/private-pkg"), token=token)
    assert result.returncode == 0, result
    assert npm_registry.package("@bob/private-pkg").access.value == "restricted"
    # Restricted packages are invisible to others.
    other = npm_registry.add_user("eve").create_token(bypass_2fa=True)
    assert npm_registry.npm("view", "@bob/private-pkg", token=other).error_code == "E404"
    assert npm_registry.npm("view", "@bob/private-pkg", "version", token=token).stdout.strip() == "1.0.0"


def test_new_package_in_someone_elses_scope_is_refused(npm_registry, package_dir, ci_token):
    npm_registry.add_user("bob")
    others = npm_registry.npm("publish", "--access", "public", cwd=package_dir("@bob/pkg"), token=ci_token)
    assert others.error_code == "E404"
    nobody = npm_registry.npm("publish", "--access", "public", cwd=package_dir("@nobody/pkg"), token=ci_token)
    assert nobody.error_lines[1] == (f"npm error 404 Not Found - PUT {npm_registry.url}@nobody%2fpkg - Scope not found")
    own = npm_registry.npm("publish", "--access", "public", cwd=package_dir("@alice/pkg"), token=ci_token)
    assert own.returncode == 0, own


def test_whoami(npm_registry, alice, ci_token):
    result = npm_registry.npm("whoami", token=ci_token)
    assert (result.returncode, result.stdout) == (0, "alice\n")


def test_whoami_with_revoked_token_is_plain_e401(npm_registry, ci_token):
    ci_token.revoke()
    result = npm_registry.npm("whoami", token=ci_token)
    assert result.error_code == "E401"
    assert result.error_lines[1] == f"npm error 401 Unauthorized - GET {npm_registry.url}-/whoami"


def test_whoami_without_token_needs_auth(npm_registry):
    result = npm_registry.npm("whoami")
    assert result.error_code == "ENEEDAUTH"


def test_ping(npm_registry, ci_token):
    result = npm_registry.npm("ping", token=ci_token)
    assert result.returncode == 0, result
    assert result.notices[0] == f"PING {npm_registry.url}"
    assert result.notices[1].startswith("PONG ")


def test_dist_tag_add_ls_rm(npm_registry, alice, ci_token):
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.publish("demo-pkg", "1.1.0", by=alice)

    added = npm_registry.npm("dist-tag", "add", "demo-pkg@1.0.0", "stable", token=ci_token)
    assert (added.returncode, added.stdout) == (0, "+stable: demo-pkg@1.0.0\n"), added
    listed = npm_registry.npm("dist-tag", "ls", "demo-pkg", token=ci_token)
    assert listed.stdout == "latest: 1.1.0\nstable: 1.0.0\n"
    removed = npm_registry.npm("dist-tag", "rm", "demo-pkg", "stable", token=ci_token)
    assert (removed.returncode, removed.stdout) == (0, "-stable: demo-pkg@1.0.0\n"), removed
    assert npm_registry.package("demo-pkg").dist_tags == {"latest": "1.1.0"}


def test_dist_tag_on_scoped_package(npm_registry, alice, ci_token):
    npm_registry.publish("@obs/scoped-pkg", "1.0.0", by=alice)
    result = npm_registry.npm("dist-tag", "add", "@obs/scoped-pkg@1.0.0", "next", token=ci_token)
    assert result.stdout == "+next: @obs/scoped-pkg@1.0.0\n", result


def test_non_latest_dist_tag_is_exempt_from_auth_and_writes_2fa(npm_registry, alice):
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.publish("demo-pkg", "1.1.0", by=alice)
    session = alice.create_token("session")
    beta = npm_registry.npm("dist-tag", "add", "demo-pkg@1.1.0", "beta", token=session)
    assert beta.returncode == 0, beta
    latest = npm_registry.npm("dist-tag", "add", "demo-pkg@1.0.0", "latest", token=session)
    assert latest.error_code == "EOTP"
    with_otp = npm_registry.npm("dist-tag", "add", "demo-pkg@1.0.0", "latest", token=session, otp=alice.otp())
    assert with_otp.returncode == 0, with_otp
    assert npm_registry.package("demo-pkg").dist_tags == {"latest": "1.0.0", "beta": "1.1.0"}


def test_dist_tag_with_read_only_token_is_refused(npm_registry, alice):
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    result = npm_registry.npm("dist-tag", "add", "demo-pkg@1.0.0", "beta", token=alice.create_token(read_only=True))
    assert result.error_code == "E403"
    assert result.error_lines[1].endswith("You may not perform that action with these credentials.")


def test_npmrc_and_env_point_any_npm_at_the_registry(npm_registry, ci_token, tmp_path: Path):
    npmrc = npm_registry.npmrc(tmp_path, token=ci_token)
    text = npmrc.read_text()
    host = npm_registry.url.split("://", 1)[1]
    assert f"registry={npm_registry.url}\n" in text
    assert f"//{host}:_authToken={ci_token.key}\n" in text
    env = npm_registry.env(token=ci_token)
    assert Path(env["npm_config_userconfig"]).read_text().count(ci_token.key) == 1
    assert "npm_config_cache" in env


def test_a_run_past_its_timeout_is_a_usage_error_with_or_without_a_terminal(npm_registry):
    # One runner for npm and the other clients: the same error whichever way the run was made.
    for tty in (False, True):
        with pytest.raises(UsageError, match=r"npm ping did not finish within 0\.01s"):
            npm_registry.npm("ping", tty=tty, timeout=0.01)
