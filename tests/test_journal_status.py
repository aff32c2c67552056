"""The journal says the status the client got: each success that answers ``201 Created`` is
journaled as 201 (it said 200 for dist-tag add, team create/add, grants, couch login and the
stage steps), from one rule in the domain (``Operation.accepted_status``)."""

from __future__ import annotations

from pytest_npm_registry import NpmRegistry
from pytest_npm_registry.domain.models import Operation

from .conftest import http


def _journaled(reg: NpmRegistry, operation: Operation) -> int:
    return reg.journal.entries(operation=operation.value)[-1].status


def test_each_created_answer_is_journaled_with_its_status(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice", password="correct horse battery")
    token = alice.create_token("session")
    npm_registry.publish("demo-pkg", "1.0.0", by=alice)
    npm_registry.add_org("acme", owner=alice, paid=True)
    npm_registry.publish("@acme/lib", "1.0.0", by=alice)
    calls = [
        (Operation.ADD_DIST_TAG, "PUT", "/-/package/demo-pkg/dist-tags/next", "1.0.0"),
        (Operation.CREATE_TEAM, "PUT", "/-/org/acme/team", {"name": "release"}),
        (Operation.ADD_TEAM_MEMBER, "PUT", "/-/team/acme/release/user", {"user": "alice"}),
        (Operation.GRANT, "PUT", "/-/team/acme/release/package", {"package": "@acme/lib", "permissions": "read-only"}),
        (Operation.REMOVE_TEAM_MEMBER, "DELETE", "/-/team/acme/release/user", {"user": "alice"}),
        (Operation.REMOVE_DIST_TAG, "DELETE", "/-/package/demo-pkg/dist-tags/next", None),
    ]
    for operation, method, path, body in calls:
        kwargs = {} if body is None else {"json_body": body}
        answer = http(npm_registry, method, path, token=token, **kwargs)
        assert (operation, answer.status) == (operation, operation.accepted_status), answer.body
        assert _journaled(npm_registry, operation) == answer.status
    login = http(
        npm_registry,
        "PUT",
        "/-/user/org.couchdb.user:alice",
        json_body={"name": "alice", "password": "correct horse battery"},
    )
    assert login.status == 201
    assert _journaled(npm_registry, Operation.LOGIN) == 201
    assert [op.value for op in Operation if op.accepted_status == 201] == [
        "dist-tag-add",
        "access-grant",
        "team-create",
        "team-add",
        "oidc-exchange",
        "stage-publish",
        "stage-approve",
    ]


def test_a_deletion_that_answers_nothing_is_journaled_as_204(npm_registry: NpmRegistry) -> None:
    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    doomed = alice.create_token()
    path = f"/-/npm/v1/tokens/token/{doomed.record.id}"
    answer = http(npm_registry, "DELETE", path, token=session, headers={"npm-otp": alice.otp()})
    assert answer.status == 204, answer.body
    assert _journaled(npm_registry, Operation.REVOKE_TOKEN) == 204
    assert [op.value for op in Operation if op.accepted_status == 204] == [
        "token-revoke",
        "trust-revoke",
        "stage-reject",
    ]
