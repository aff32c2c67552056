"""`npm owner` with the real npm CLI: invitations under `current`, immediate under `classic`."""

from __future__ import annotations

import pytest


@pytest.fixture
def alice(npm_registry):
    alice = npm_registry.add_user("alice")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    return alice


@pytest.fixture
def token(alice):
    return alice.create_token("session")


def test_owner_ls(npm_registry, alice, token):
    result = npm_registry.npm("owner", "ls", "demo-pkg", token=token)
    assert result.stdout == "alice <alice@example.com>\n", result


def test_owner_add_sends_an_invitation_and_the_invitee_accepts(npm_registry, alice, token, package_dir):
    bob = npm_registry.add_user("bob")
    result = npm_registry.npm("owner", "add", "bob", "demo-pkg", token=token)
    assert result.returncode == 0, result
    assert result.stdout == "+ bob (demo-pkg)\n"
    assert "npm notice INFO: User bob invited to package demo-pkg successfully." in result.stderr
    assert npm_registry.package("demo-pkg").maintainers == ["alice"]
    (invitation,) = npm_registry.invitations(bob)
    assert (invitation.package, invitation.inviter) == ("demo-pkg", "alice")

    bob_token = bob.create_token(bypass_2fa=True)
    refused = npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=bob_token)
    assert refused.error_code == "E403"

    npm_registry.accept_invitation(bob, package="demo-pkg")
    assert npm_registry.npm("owner", "ls", "demo-pkg", token=token).stdout == (
        "alice <alice@example.com>\nbob <bob@example.com>\n"
    )
    assert npm_registry.npm("publish", cwd=package_dir("demo-pkg", "1.1.0"), token=bob_token).returncode == 0
    assert npm_registry.journal.entries(operation="invitation-accept")[-1].user == "bob"


def test_declined_and_expired_invitations_do_not_make_maintainers(npm_registry, alice, token):
    from pytest_npm_registry import UsageError

    npm_registry.add_user("bob")
    npm_registry.add_user("carol")
    assert npm_registry.npm("owner", "add", "bob", "demo-pkg", token=token).returncode == 0
    assert npm_registry.npm("owner", "add", "carol", "demo-pkg", token=token).returncode == 0
    npm_registry.decline_invitation("bob", package="demo-pkg")
    npm_registry.clock.advance(8 * 86400)  # invitations last a week
    with pytest.raises(UsageError, match="0 pending invitations for carol"):
        npm_registry.accept_invitation("carol", package="demo-pkg")
    assert npm_registry.package("demo-pkg").maintainers == ["alice"]
    # An expired invitation can be sent again (with a fresh login: sessions last two hours).
    fresh = alice.create_token("session")
    assert npm_registry.npm("owner", "add", "carol", "demo-pkg", token=fresh).returncode == 0


def test_second_invitation_is_refused_while_one_is_pending(npm_registry, alice, token):
    npm_registry.add_user("bob")
    assert npm_registry.npm("owner", "add", "bob", "demo-pkg", token=token).returncode == 0
    again = npm_registry.npm("owner", "add", "bob", "demo-pkg", token=token)
    assert again.error_code == "EOWNERMUTATE"
    assert again.error_lines[1] == (
        f'npm error Failed to update package: "409 Conflict - PUT {npm_registry.url}demo-pkg/-rev/'
        f'{npm_registry.package("demo-pkg").record.rev_id} - User already has a pending invite"'
    )


def test_owner_add_of_unknown_user(npm_registry, alice, token):
    result = npm_registry.npm("owner", "add", "nobody", "demo-pkg", token=token)
    assert result.error_code == "E404"
    assert result.error_lines[0] == "npm error owner mutate Error getting user data for nobody"


def test_owner_rm(npm_registry, alice, token):
    npm_registry.add_user("bob")
    npm_registry.npm("owner", "add", "bob", "demo-pkg", token=token)
    npm_registry.accept_invitation("bob", package="demo-pkg")
    result = npm_registry.npm("owner", "rm", "bob", "demo-pkg", token=token)
    assert result.stdout == "- bob (demo-pkg)\n", result
    assert npm_registry.package("demo-pkg").maintainers == ["alice"]


def test_removing_the_last_owner_is_refused(npm_registry, alice, token):
    result = npm_registry.npm("owner", "rm", "alice", "demo-pkg", token=token)
    assert result.error_code == "EOWNERRM"
    assert npm_registry.package("demo-pkg").maintainers == ["alice"]


def test_classic_owner_add_takes_effect_at_once(npm_registry):
    npm_registry.reset("classic")
    alice = npm_registry.add_user("alice")
    npm_registry.add_user("bob")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    result = npm_registry.npm("owner", "add", "bob", "demo-pkg", token=alice.create_token("publish"))
    assert result.returncode == 0, result
    assert "invited" not in result.stderr
    assert npm_registry.package("demo-pkg").maintainers == ["alice", "bob"]


def test_owner_changes_are_2fa_gated_and_shown_as_eownermutate_in_ci(npm_registry):
    carol = npm_registry.add_user("carol", tfa="auth-and-writes")
    npm_registry.add_user("bob")
    npm_registry.publish("carol-pkg", "1.0.0", by=carol)
    session = carol.create_token("session")
    ci = npm_registry.npm("owner", "add", "bob", "carol-pkg", token=session)
    assert ci.error_code == "EOWNERMUTATE"
    assert ci.error_lines[1] == 'npm error Failed to update package: "OTP required for authentication"'
    ok = npm_registry.npm("owner", "add", "bob", "carol-pkg", token=session, otp=carol.otp())
    assert ok.returncode == 0, ok


def test_bypass_token_may_not_change_owners(npm_registry, alice):
    npm_registry.add_user("bob")
    result = npm_registry.npm("owner", "add", "bob", "demo-pkg", token=alice.create_token(bypass_2fa=True))
    assert result.error_code == "EOWNERMUTATE"
    assert "cannot be used to change maintainers" in result.error_lines[1]


def test_non_maintainer_cannot_change_owners(npm_registry, alice):
    mallory = npm_registry.add_user("mallory")
    result = npm_registry.npm("owner", "add", "mallory", "demo-pkg", token=mallory.create_token("session"))
    assert result.error_code == "EOWNERMUTATE"
    assert "You do not have permission to change the maintainers of" in result.error_lines[1]


def test_a_refused_owner_change_invites_nobody(npm_registry, alice, token):
    from tests.conftest import http

    npm_registry.add_user("bob")
    npm_registry.add_user("carol")
    npm_registry.registry.orgs.invite("carol", "alice", package="demo-pkg")  # carol is invited already
    doc = http(npm_registry, "GET", "/demo-pkg", token=token).json()
    people = [{"name": n, "email": f"{n}@example.com"} for n in ("alice", "bob", "carol")]
    answer = http(
        npm_registry,
        "PUT",
        f"/demo-pkg/-rev/{doc['_rev']}",
        token=token,
        json_body={"_id": "demo-pkg", "_rev": doc["_rev"], "maintainers": people},
    )
    assert (answer.status, answer.json()) == (409, {"error": "User already has a pending invite"})
    assert npm_registry.invitations("bob") == []
