"""`npm access`, `npm org` and `npm team` with the real npm CLI."""

from __future__ import annotations

import pytest


@pytest.fixture
def alice(npm_registry):
    alice = npm_registry.add_user("alice")
    npm_registry.add_org("obs", owner=alice)
    npm_registry.publish("@obs/scoped-pkg", "1.0.0", by=alice, access="public")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return alice


@pytest.fixture
def token(alice):
    return alice.create_token("session")


def test_access_get_and_set_status(npm_registry, alice, token):
    assert npm_registry.npm("access", "get", "status", "@obs/scoped-pkg", token=token).stdout == (
        "@obs/scoped-pkg: public\n"
    )
    private = npm_registry.npm("access", "set", "status=private", "@obs/scoped-pkg", token=token)
    assert private.error_code == "E402"  # the org has no paid plan
    npm_registry.org("obs").paid = True
    private = npm_registry.npm("access", "set", "status=private", "@obs/scoped-pkg", token=token)
    assert private.stdout == "@obs/scoped-pkg: private\n", private
    assert npm_registry.package("@obs/scoped-pkg").access.value == "restricted"
    public = npm_registry.npm("access", "set", "status=public", "@obs/scoped-pkg", token=token)
    assert public.stdout == "@obs/scoped-pkg: public\n", public


@pytest.mark.parametrize(("mfa", "rule"), [("none", "none"), ("publish", "publish"), ("automation", "automation")])
def test_access_set_mfa_sets_the_publishing_rule(npm_registry, alice, token, mfa, rule):
    result = npm_registry.npm("access", "set", f"mfa={mfa}", "demo-pkg", token=token)
    assert result.returncode == 0, result
    assert npm_registry.package("demo-pkg").publish_requirement.value == rule


def test_access_set_mfa_publish_then_bypass_token_is_challenged(npm_registry, alice, token, package_dir):
    ci = alice.create_token(bypass_2fa=True)
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=ci).returncode == 0
    assert npm_registry.npm("access", "set", "mfa=publish", "demo-pkg", token=token).returncode == 0
    refused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.2.0"), token=ci)
    assert refused.error_code == "EOTP"


def test_access_changes_are_2fa_gated(npm_registry):
    carol = npm_registry.add_user("carol", tfa="auth-and-writes")
    npm_registry.publish("carol-pkg", "1.0.0", by=carol)
    session = carol.create_token("session")
    assert npm_registry.npm("access", "set", "mfa=publish", "carol-pkg", token=session).error_code == "EOTP"
    ok = npm_registry.npm("access", "set", "mfa=publish", "carol-pkg", token=session, otp=carol.otp())
    assert ok.returncode == 0, ok
    bypass = carol.create_token(bypass_2fa=True)
    refused = npm_registry.npm("access", "set", "mfa=automation", "carol-pkg", token=bypass)
    assert refused.error_code == "E403"
    assert "cannot be used to change package access" in refused.error_lines[1]


def test_access_list_packages_for_user_org_and_team(npm_registry, alice, token):
    mine = npm_registry.npm("access", "list", "packages", token=token)
    assert mine.stdout == "@obs/scoped-pkg: read-write\ndemo-pkg: read-write\n", mine
    org = npm_registry.npm("access", "list", "packages", "@obs", token=token)
    assert org.stdout == "@obs/scoped-pkg: read-write\n", org
    team = npm_registry.npm("access", "list", "packages", "@obs:developers", token=token)
    assert team.stdout == "@obs/scoped-pkg: read-write\n", team


def test_access_grant_and_revoke_and_collaborators(npm_registry, alice, token, package_dir):
    bob = npm_registry.add_user("bob")
    npm_registry.add_org("obs2", owner=alice)  # a second org, to keep developers out of it
    npm_registry.publish("@obs2/lib", "1.0.0", by=alice, access="public")
    assert npm_registry.npm("org", "set", "obs2", "bob", "developer", token=token).returncode == 0
    npm_registry.accept_invitation(bob, org="obs2")
    assert npm_registry.npm("team", "create", "@obs2:release", token=token).returncode == 0
    assert npm_registry.npm("team", "add", "@obs2:release", "bob", token=token).returncode == 0
    # Members join the org's developers team, which may write to the org's packages: take bob out.
    assert npm_registry.npm("team", "rm", "@obs2:developers", "bob", token=token).returncode == 0

    bob_token = bob.create_token(bypass_2fa=True)
    before = npm_registry.npm("publish", cwd=package_dir("@obs2/lib", "1.1.0"), token=bob_token)
    assert before.error_code == "E403"
    granted = npm_registry.npm("access", "grant", "read-write", "@obs2:release", "@obs2/lib", token=token)
    assert granted.returncode == 0, granted
    assert npm_registry.npm("access", "list", "collaborators", "@obs2/lib", token=token).stdout == (
        "alice: read-write\nbob: read-write\n"
    )
    assert npm_registry.npm("publish", cwd=package_dir("@obs2/lib", "1.1.0"), token=bob_token).returncode == 0
    revoked = npm_registry.npm("access", "revoke", "@obs2:release", "@obs2/lib", token=token)
    assert revoked.returncode == 0, revoked
    after = npm_registry.npm("publish", cwd=package_dir("@obs2/lib", "1.2.0"), token=bob_token)
    assert after.error_code == "E403"


def test_org_set_invites_then_ls_and_rm(npm_registry, alice, token):
    npm_registry.add_user("bob")
    result = npm_registry.npm("org", "set", "obs", "bob", "admin", token=token)
    assert result.returncode == 0, result
    assert "npm notice INFO: User bob invited to org obs successfully." in result.stderr
    assert npm_registry.npm("org", "ls", "obs", token=token).stdout.split() == ["alice", "-", "owner"]
    npm_registry.accept_invitation("bob", org="obs")
    listing = npm_registry.npm("org", "ls", "obs", "--json", token=token)
    assert listing.stdout.replace(" ", "").replace("\n", "") == '{"alice":"owner","bob":"admin"}', listing
    removed = npm_registry.npm("org", "rm", "obs", "bob", token=token)
    assert removed.returncode == 0, removed
    assert "bob" not in npm_registry.org("obs").members


def test_classic_org_set_adds_at_once(npm_registry):
    npm_registry.reset("classic")
    alice = npm_registry.add_user("alice")
    npm_registry.add_user("bob")
    npm_registry.add_org("obs", owner=alice)
    result = npm_registry.npm("org", "set", "obs", "bob", token=alice.create_token("publish"))
    assert result.stdout == "Added bob as developer to obs. You now have 2 members in this org.\n", result


def test_only_org_admins_manage_members(npm_registry, alice):
    dave = npm_registry.add_user("dave")
    npm_registry.add_user("eve")
    npm_registry.registry.orgs.join_org(npm_registry.registry.orgs.org("obs"), "dave", "developer")
    result = npm_registry.npm("org", "set", "obs", "eve", token=dave.create_token("session"))
    assert result.error_code == "E403"
    assert "You must be an owner or admin of the obs org to do that." in result.error_lines[1]


def test_team_create_ls_destroy(npm_registry, alice, token):
    assert npm_registry.npm("team", "create", "@obs:qa", token=token).stdout == "+@obs:qa\n"
    teams = npm_registry.npm("team", "ls", "@obs", token=token)
    assert teams.stdout == "@obs has 2 teams:\n@obs:developers\n@obs:qa\n", teams
    members = npm_registry.npm("team", "ls", "@obs:developers", token=token)
    assert members.stdout == "@obs:developers has 1 user:\nalice\n", members
    assert npm_registry.npm("team", "destroy", "@obs:qa", token=token).stdout == "-@obs:qa\n"
    assert "qa" not in npm_registry.org("obs").teams


def test_new_package_in_org_scope_needs_membership(npm_registry, alice, package_dir):
    outsider = npm_registry.add_user("outsider").create_token(bypass_2fa=True)
    refused = npm_registry.npm("publish", "--access", "public", cwd=package_dir("@obs/new"), token=outsider)
    assert refused.error_code == "E404"
    member = npm_registry.add_user("member")
    npm_registry.registry.orgs.join_org(npm_registry.registry.orgs.org("obs"), "member", "developer")
    ok = npm_registry.npm(
        "publish", "--access", "public", cwd=package_dir("@obs/new"), token=member.create_token(bypass_2fa=True)
    )
    assert ok.returncode == 0, ok
    # Created in the org's scope: the developers team may write to it.
    assert npm_registry.org("obs").teams["developers"].grants["@obs/new"].value == "read-write"
