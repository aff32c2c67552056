"""The control API (`/-/_mock/api/`): every endpoint, and its refusal without the admin token."""

from __future__ import annotations

import pyotp
import pytest

from pytest_npm_registry import UsageError
from tests.conftest import http

ENDPOINTS = [
    ("GET", "state", None),
    ("POST", "reset", {}),
    ("POST", "seed", {}),
    ("POST", "settings", {}),
    ("POST", "users", {"name": "x"}),
    ("GET", "users/x/otp", None),
    ("GET", "users/x/emails", None),
    ("POST", "users/x/tokens", {}),
    ("POST", "packages", {"name": "p", "by": "x"}),
    ("POST", "orgs", {"name": "o", "owner": "x"}),
    ("POST", "trust", {"package": "p"}),
    ("POST", "ci/github", {"repository": "o/r"}),
    ("GET", "invitations", None),
    ("POST", "invitations/accept", {"user": "x"}),
    ("GET", "web-auth", None),
    ("POST", "web-auth/approve", {}),
    ("POST", "web-logins/approve", {"user": "x"}),
    ("GET", "journal", None),
    ("GET", "clock", None),
    ("POST", "clock", {"advance": 1}),
    ("POST", "faults", {"kind": "delay", "seconds": 0}),
    ("DELETE", "faults", None),
]


def api(reg, method, path, body=None, token="admin"):  # noqa: S107 - "admin" picks the real one
    extra = {} if body is None else {"json_body": body}
    return http(reg, method, f"/-/_mock/api/{path}", token=reg.admin_token if token == "admin" else token, **extra)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_every_control_endpoint_refuses_without_the_admin_token(npm_registry, method, path, body, token):
    npm_registry.add_user("before")
    answer = api(npm_registry, method, path, body, token=token)
    assert answer.status == 401
    assert "www-authenticate" not in answer.headers
    assert answer.json() == {
        "error": "control API: send the admin token the server printed at start as `Authorization: Bearer <token>`"
    }
    assert list(npm_registry.registry.state.users) == ["before"]  # nothing happened


def test_users_tokens_otp_and_emails(npm_registry):
    made = api(npm_registry, "POST", "users", {"name": "alice", "tfa": "auth-and-writes", "password": "pw-alice"})
    assert made.status == 201
    secret = made.json()["totp_secret"]
    assert len(made.json()["recovery_codes"]) == 5
    otp = api(npm_registry, "GET", "users/alice/otp").json()
    assert otp["otp"] == pyotp.TOTP(secret).at(int(npm_registry.clock.now()))
    assert 0 < otp["valid_for"] <= 30
    token = api(npm_registry, "POST", "users/alice/tokens", {"bypass_2fa": True, "name": "ci"}).json()
    assert http(npm_registry, "GET", "/-/whoami", token=token["token"]).json() == {"username": "alice"}
    assert api(npm_registry, "GET", "users/alice/emails").json() == {"user": "alice", "codes": []}
    bad = api(npm_registry, "POST", "users", {"name": "bob", "tfa": "sometimes"})
    assert bad.status == 400
    assert bad.json() == {
        "error": "control API: POST users: tfa must be one of none, auth-only, auth-and-writes or null, not 'sometimes'"
    }


def test_packages_orgs_trust_invitations(npm_registry):
    api(npm_registry, "POST", "users", {"name": "alice"})
    api(npm_registry, "POST", "users", {"name": "bob"})
    org = api(npm_registry, "POST", "orgs", {"name": "acme", "owner": "alice"})
    assert org.json() == {"name": "acme", "members": {"alice": "owner"}}
    package = api(npm_registry, "POST", "packages", {"name": "@acme/lib", "version": "1.0.0", "by": "alice"})
    assert package.json() == {"name": "@acme/lib", "versions": ["1.0.0"], "dist-tags": {"latest": "1.0.0"}}
    trust = api(
        npm_registry,
        "POST",
        "trust",
        {"package": "@acme/lib", "github": {"repository": "acme/lib", "workflow": "release.yml"}},
    )
    assert trust.json()["claims"] == {"repository": "acme/lib", "workflow_ref": {"file": "release.yml"}}
    env = api(npm_registry, "POST", "ci/github", {"repository": "acme/lib"}).json()["env"]
    assert env["GITHUB_ACTIONS"] == "true"
    npm_registry.registry.orgs.invite("bob", "alice", package="@acme/lib")
    (pending,) = api(npm_registry, "GET", "invitations").json()
    assert (pending["user"], pending["package"]) == ("bob", "@acme/lib")
    accepted = api(npm_registry, "POST", "invitations/accept", {"user": "bob", "package": "@acme/lib"})
    assert accepted.json()["state"] == "accepted"
    assert npm_registry.package("@acme/lib").maintainers == ["alice", "bob"]


def test_web_auth_and_web_login_approval(npm_registry):
    from pytest_npm_registry import make_tarball, publish_document
    from pytest_npm_registry.domain.packaging import manifest_for

    alice = npm_registry.add_user("alice", tfa="auth-and-writes")
    session = alice.create_token("session")
    doc = publish_document(manifest_for("demo", "1.0.0"), make_tarball(manifest_for("demo", "1.0.0")))
    challenge = http(npm_registry, "PUT", "/demo", token=session, json_body=doc, headers={"npm-auth-type": "web"})
    assert challenge.status == 401
    (pending,) = api(npm_registry, "GET", "web-auth").json()
    assert pending["authUrl"] == challenge.json()["authUrl"]
    assert pending["description"] == "publish demo@1.0.0"
    approved = api(npm_registry, "POST", "web-auth/approve", {"user": "alice"}).json()
    assert approved == {"approved": [pending["id"]]}
    login = http(npm_registry, "POST", "/-/v1/login", json_body={}).json()
    result = api(npm_registry, "POST", "web-logins/approve", {"user": "alice"}).json()
    assert result["user"] == "alice"
    done = http(npm_registry, "GET", login["doneUrl"].split(npm_registry.url.rstrip("/"), 1)[1]).json()
    assert http(npm_registry, "GET", "/-/whoami", token=done["token"]).json() == {"username": "alice"}


def test_journal_through_the_control_api(npm_registry):
    http(npm_registry, "GET", "/-/ping")
    journal = api(npm_registry, "GET", "journal").json()
    assert [e["operation"] for e in journal["entries"]] == ["ping"]
    assert api(npm_registry, "GET", f"journal?since={journal['next']}").json()["entries"] == []


def test_clock_through_the_control_api(npm_registry):
    before = npm_registry.clock.now()
    assert api(npm_registry, "POST", "clock", {"advance": 3600}).json()["epoch"] >= before + 3600


def test_settings_through_the_control_api(npm_registry):
    settings = api(npm_registry, "POST", "settings", {"auto_approve_web_auth": True, "client_ip": "10.0.0.1"}).json()
    assert settings["auto_approve_web_auth"] is True
    assert npm_registry.client_ip == "10.0.0.1"
    assert api(npm_registry, "POST", "settings", {"colour": "red"}).status == 400


def test_seed_then_reset_through_the_control_api(npm_registry):
    seeded = api(npm_registry, "POST", "seed", {"users": [{"name": "carol"}], "tokens": [{"user": "carol"}]})
    assert seeded.status == 201
    assert seeded.json()["users"] == ["carol"]
    assert api(npm_registry, "POST", "reset", {"policy": "classic"}).json() == {"policy": "classic"}
    assert npm_registry.registry.state.users == {}
    assert api(npm_registry, "GET", "state").json()["policy"] == "classic"


def test_faults_through_the_control_api(npm_registry):
    fault = api(npm_registry, "POST", "faults", {"kind": "fail_requests", "times": 1, "status": 503})
    assert fault.status == 201
    assert http(npm_registry, "GET", "/-/ping").status == 503
    assert http(npm_registry, "GET", "/-/ping").status == 200
    assert api(npm_registry, "POST", "faults", {"kind": "explode"}).status == 400
    assert api(npm_registry, "DELETE", "faults").json() == {"faults": []}


def test_advertise_public_visibility_setting_reaches_the_publish_time_answer(npm_registry):
    """The publish-time question is the one asked with an OIDC token (npm-command does not matter:
    pnpm 11 sends none), changed from the npm-command rule in issue 17. It hears the truth unless
    the opt-out is set (issue 16: provenance signs offline now)."""
    alice = npm_registry.add_user("alice")
    npm_registry.publish("pkg", by="alice", access="public")
    oidc = alice.create_token("oidc", packages=["pkg"])
    assert npm_registry.advertise_public_visibility is True
    assert http(npm_registry, "GET", "/-/package/pkg/visibility", token=oidc).json() == {"public": True}
    settings = api(npm_registry, "POST", "settings", {"advertise_public_visibility": False}).json()
    assert settings["advertise_public_visibility"] is False
    assert npm_registry.advertise_public_visibility is False
    for headers in ({"npm-command": "publish"}, {}):
        answer = http(npm_registry, "GET", "/-/package/pkg/visibility", token=oidc, headers=headers)
        assert answer.json() == {"public": False}
        assert http(npm_registry, "GET", "/-/package/pkg/visibility", headers=headers).json() == {"public": True}
    npm_registry.reset()
    assert npm_registry.advertise_public_visibility is True


def test_settings_max_body_reaches_the_running_server(npm_registry):
    assert api(npm_registry, "POST", "settings", {"max_body": 1000}).json()["max_body"] == 1000
    assert http(npm_registry, "PUT", "/demo-pkg", data=b" " * 1001).status == 413


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("auto_approve_web_auth", "yes", "auto_approve_web_auth must be true or false, not 'yes'"),
        ("advertise_public_visibility", 1, "advertise_public_visibility must be true or false, not 1"),
        ("client_ip", "10.0.0.300", "client_ip must be an IP address (or None), not '10.0.0.300'"),
        ("client_ip", 5, "client_ip must be an IP address (or None), not 5"),
        (
            "auto_approve_web_login",
            ["alice"],
            "auto_approve_web_login takes a user (or its name) or None, not ['alice']",
        ),
        ("max_body", "1MB", "max_body must be a whole number of bytes from 1 to 1099511627776 (1 TiB), not '1MB'"),
        ("max_body", 0, "max_body must be a whole number of bytes from 1 to 1099511627776 (1 TiB), not 0"),
        ("auto_approve_web_login", "", "auto_approve_web_login takes a user (or its name) or None, not ''"),
    ],
)
def test_a_bad_setting_is_refused_and_changes_nothing(npm_registry, setting, value, error):
    before = api(npm_registry, "POST", "settings", {}).json()
    # A good value first: all or nothing, it must not stay applied either.
    answer = api(npm_registry, "POST", "settings", {"client_ip": "10.0.0.1", "max_body": 5000, setting: value})
    assert (answer.status, answer.json()) == (400, {"error": f"control API: {error}"})
    assert api(npm_registry, "POST", "settings", {}).json() == before


def test_configure_checks_every_value_before_changing_any(npm_registry):
    # A value the setters would refuse, left by an older version's storage file: configure must not
    # need to write it back.
    npm_registry.registry.state.auto_approve_web_auth = 1  # type: ignore[assignment]
    with pytest.raises(UsageError, match="max_body must be a whole number of bytes"):
        npm_registry.configure(client_ip="10.0.0.1", auto_approve_web_auth=True, max_body=0)
    assert npm_registry.client_ip is None
    assert npm_registry.registry.state.auto_approve_web_auth == 1
    npm_registry.configure(client_ip="10.0.0.1", auto_approve_web_auth=True, max_body=5000)
    assert npm_registry.settings() == {
        "advertise_public_visibility": True,
        "auto_approve_web_auth": True,
        "auto_approve_web_login": None,
        "client_ip": "10.0.0.1",
        "max_body": 5000,
        "visibility_delay": 0.0,
    }


# Each field is checked against the fixture API's parameter type before anything runs: JSON that
# Python would take (a string for a list, "no" for a flag) is refused with the field named.
BAD_BODIES = [
    ("users", {"name": 5}, "POST users: name must be a string, not 5"),
    ("users", {}, "POST users: needs 'name'"),
    ("users", {"name": "c", "email": ["x"]}, "POST users: email must be a string or null, not ['x']"),
    ("users", {"name": "c", "paid": "yes"}, "POST users: paid must be true or false, not 'yes'"),
    (
        "users",
        {"name": "c", "tfa": 2},
        "POST users: tfa must be one of none, auth-only, auth-and-writes or null, not 2",
    ),
    (
        "users",
        {"name": "c", "colour": "red"},
        "POST users: unknown field 'colour'; known: challenge, email, name, paid, password, security_key, tfa, "
        "totp_secret",
    ),
    (
        "users/alice/tokens",
        {"packages": "abc"},
        "POST users/alice/tokens: packages must be a list of strings or null, not 'abc'",
    ),
    ("users/alice/tokens", {"bypass_2fa": "no"}, "POST users/alice/tokens: bypass_2fa must be true or false, not 'no'"),
    (
        "users/alice/tokens",
        {"expires_in_days": "3"},
        "POST users/alice/tokens: expires_in_days must be a number or null, not '3'",
    ),
    (
        "users/alice/tokens",
        {"cidr": "10.0.0.0/8"},
        "POST users/alice/tokens: cidr must be a list of strings or null, not '10.0.0.0/8'",
    ),
    ("packages", {"name": "p", "by": "alice", "version": 5}, "POST packages: version must be a string, not 5"),
    ("packages", {"by": "alice"}, "POST packages: needs 'name'"),
    (
        "orgs",
        {"name": "o", "owner": "alice", "members": "abc"},
        "POST orgs: members must be an object or null, not 'abc'",
    ),
    ("orgs", {"name": "o", "owner": "alice", "paid": "x"}, "POST orgs: paid must be true or false, not 'x'"),
    ("reset", {"policy": 5}, "POST reset: policy must be a string or null, not 5"),
    ("clock", {"advance": "10"}, "POST clock: advance must be a number, not '10'"),
    ("clock", {"advance": True}, "POST clock: advance must be a number, not True"),
    ("clock", {"advance": 1, "back": 1}, "POST clock: unknown field(s) ['back']; known: advance"),
    (
        "trust",
        {"package": "p", "permissions": "createPackage"},
        "POST trust: permissions must be a list of strings, not 'createPackage'",
    ),
    (
        "trust",
        {"package": "p", "repository": "o/r"},
        "POST trust: unknown field 'repository'; known: circleci, github, gitlab, package, permissions",
    ),
    ("ci/github", {"repository": 5}, "POST ci/github: repository must be a string, not 5"),
    ("faults", {"kind": "delay", "seconds": "x"}, "POST faults delay: seconds must be a number, not 'x'"),
    (
        "faults",
        {"kind": "fail_requests", "times": "2"},
        "POST faults fail_requests: times must be a whole number, not '2'",
    ),
    ("web-logins/approve", {"user": "alice", "wait": "x"}, "POST web-logins/approve: wait must be a number, not 'x'"),
    ("web-auth/approve", {"id": 5}, "POST web-auth/approve: id must be a string or null, not 5"),
    ("web-auth/approve", {"user": 5}, "POST web-auth/approve: user must be a string or null, not 5"),
    ("invitations/accept", {"user": 5}, "POST invitations/accept: user must be a string, not 5"),
]


@pytest.mark.parametrize(("path", "body", "error"), BAD_BODIES, ids=[f"{p}-{'-'.join(b)}" for p, b, _ in BAD_BODIES])
def test_a_field_of_the_wrong_type_is_a_400_that_names_it_and_changes_nothing(npm_registry, path, body, error):
    npm_registry.add_user("alice")
    clock = npm_registry.clock.freeze()  # so "now" in the state only moves if a call moved it
    state = api(npm_registry, "GET", "state").json()
    answer = api(npm_registry, "POST", path, body)
    assert (answer.status, answer.json()) == (400, {"error": f"control API: {error}"})
    assert api(npm_registry, "GET", "state").json() == state
    assert npm_registry.clock.now() == clock
    assert npm_registry.user("alice").tokens() == []
    assert npm_registry.faults.active == []


def test_a_seed_that_fails_half_way_leaves_nothing_behind(npm_registry):
    npm_registry.add_user("alice")
    npm_registry.clock.freeze()
    before = api(npm_registry, "GET", "state").json()
    seed = {"policy": "classic", "users": [{"name": "carol"}], "tokens": [{"user": "carol", "colour": "red"}]}
    answer = api(npm_registry, "POST", "seed", seed)
    assert answer.status == 400
    assert answer.json()["error"].startswith("control API: <seed>:")
    assert "tokens[0].colour: unknown field" in answer.json()["error"]
    assert api(npm_registry, "GET", "state").json() == before  # no carol, alice kept, policy current
    assert npm_registry.policy.name == "current"


def test_the_fixture_seed_is_all_or_nothing_too(npm_registry):
    alice = npm_registry.add_user("alice")
    npm_registry.client_ip = "10.0.0.1"
    clock = npm_registry.clock
    with pytest.raises(UsageError):
        npm_registry.seed(
            {
                "policy": "classic",
                "users": [{"name": "carol"}],
                "packages": [{"name": "p", "maintainers": ["nobody"]}],
            }
        )
    assert list(npm_registry.registry.state.users) == ["alice"]
    assert npm_registry.policy.name == "current"
    # What a test holds is still the registry's own (the seed was tried on a copy first), and a
    # seed's policy resets the registry's state, not the test's settings.
    assert alice.record is npm_registry.registry.state.users["alice"]
    assert npm_registry.clock is clock
    assert npm_registry.client_ip == "10.0.0.1"


@pytest.mark.parametrize("seconds", [1e308, -1e12])
def test_the_clock_cannot_leave_the_years_its_dates_can_show(npm_registry, seconds):
    now = npm_registry.clock.freeze()
    answer = api(npm_registry, "POST", "clock", {"advance": seconds})
    assert answer.status == 400
    assert answer.json()["error"].endswith("would leave the years 1970 to 9999, which the registry's dates cannot show")
    assert npm_registry.clock.now() == now
    with pytest.raises(UsageError, match="would leave the years 1970 to 9999"):
        npm_registry.clock.advance(seconds)
    assert api(npm_registry, "GET", "clock").status == 200


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(npm_registry, constant):
    # Python's json would read them; they would hang approve_web_login's wait or break a date.
    answer = http(
        npm_registry,
        "POST",
        "/-/_mock/api/web-logins/approve",
        data=b'{"user": "alice", "wait": %s}' % constant.encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {npm_registry.admin_token}"},
    )
    assert (answer.status, answer.json()) == (400, {"error": f"Malformed JSON body: {constant} is not a JSON value"})


def test_trust_takes_permissions_as_a_json_list(npm_registry):
    npm_registry.add_user("alice")
    npm_registry.publish("p", by="alice")
    body = {"package": "p", "github": {"repository": "o/r"}, "permissions": ["createPackage", "createStagedPackage"]}
    answer = api(npm_registry, "POST", "trust", body)
    assert answer.status == 201, answer.body
    assert answer.json()["permissions"] == ["createPackage", "createStagedPackage"]


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "orgs",
            {"name": "o", "owner": "alice", "members": {"alice": "bogus"}},
            "add_org('o'): alice's role must be one of owner, admin, developer, not 'bogus'",
        ),
        (
            "packages",
            {"name": "p", "by": "alice", "requirement": "bogus"},
            "POST packages: requirement must be one of none, automation, publish or null, not 'bogus'",
        ),
        ("packages", {"name": "p", "by": "alice", "self": 1}, "POST packages: unknown field 'self'"),
        (
            "trust",
            {"package": "p", "github": {"repository": "o/r", "environment": ["x"]}},
            "trust(github=...): environment must be a string, not ['x']",
        ),
        ("users/alice/tokens", {"expires_in_days": -1}, "Token lifetime must be more than 0 and at most 36500 days"),
        ("faults", {"kind": "delay", "seconds": 1e9}, "delay(seconds=1000000000.0): give a latency from 0 to 3600"),
        ("faults", {"kind": "advance_clock_after_publish", "seconds": 1e300}, "advance_clock_after_publish: 1e+300 s"),
        ("web-logins/approve", {"user": "alice", "wait": 1e9}, "approve_web_login(wait=1000000000.0): wait from 0"),
    ],
)
def test_values_the_types_allow_but_the_registry_cannot_use_are_refused_first(npm_registry, path, body, error):
    npm_registry.add_user("alice")
    npm_registry.clock.freeze()
    state = api(npm_registry, "GET", "state").json()
    answer = api(npm_registry, "POST", path, body)
    assert answer.status == 400
    assert answer.json()["error"].startswith(f"control API: {error}")
    assert api(npm_registry, "GET", "state").json() == state
    assert npm_registry.faults.active == []


def test_a_kept_setting_survives_a_reset(npm_registry):
    answer = api(npm_registry, "POST", "settings", {"auto_approve_web_auth": True, "keep": True})
    assert answer.json()["auto_approve_web_auth"] is True
    api(npm_registry, "POST", "settings", {"client_ip": "10.0.0.1", "max_body": 1000})  # not kept
    api(npm_registry, "POST", "reset", {})
    assert api(npm_registry, "POST", "settings", {}).json() == {
        "advertise_public_visibility": True,
        "auto_approve_web_auth": True,
        "auto_approve_web_login": None,
        "client_ip": None,
        "max_body": 256 * 1024 * 1024,
        "visibility_delay": 0.0,
    }
    assert api(npm_registry, "POST", "settings", {"max_body": 1000}).json()["max_body"] == 1000
    assert api(npm_registry, "POST", "settings", {"max_body": None}).json()["max_body"] == 256 * 1024 * 1024


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "users",
            {"name": "c", "password": 12345678},
            "POST users: password must be a string or null, not a number (not shown: password is a secret)",
        ),
        ("users/alice/tokens", {"key": ["npm_0123456789abcdef"]}, "key must be a string or null, not a list"),
        ("users", {"name": "c", "totp_secret": 42}, "totp_secret must be a string or null, not a number"),
    ],
)
def test_a_secret_of_the_wrong_type_is_not_repeated_in_the_error(npm_registry, path, body, error):
    npm_registry.add_user("alice")
    answer = api(npm_registry, "POST", path, body)
    assert answer.status == 400
    assert error in answer.json()["error"]
    assert "is a secret)" in answer.json()["error"]
    for value in body.values():
        if value != "c":
            assert str(value).strip("[]'") not in answer.json()["error"]


def test_seed_dist_tags_go_through_the_registry(npm_registry):
    npm_registry.add_user("alice")
    package = {"name": "p", "maintainers": ["alice"], "versions": ["1.0.0", "2.0.0-rc.1"]}
    npm_registry.seed({"packages": [{**package, "dist_tags": {"latest": "1.0.0", "next": "2.0.0-rc.1"}}]})
    assert npm_registry.package("p").dist_tags == {"latest": "1.0.0", "next": "2.0.0-rc.1"}
    with pytest.raises(UsageError, match=r"dist_tags: beta points at 9\.9\.9, which is not among the versions"):
        npm_registry.seed({"packages": [{"name": "q", "maintainers": ["alice"], "dist_tags": {"beta": "9.9.9"}}]})
    assert not npm_registry.has_package("q")


def test_a_kept_seed_comes_back_after_each_reset_but_an_empty_one(npm_registry):
    made = npm_registry.seed({"policy": "classic", "users": [{"name": "carol"}]}, keep=True)
    assert [u.name for u in made["users"]] == ["carol"]
    npm_registry.reset("current")  # the reset's policy wins over the seed's
    assert (npm_registry.policy.name, list(npm_registry.registry.state.users)) == ("current", ["carol"])
    npm_registry.reset(empty=True)
    assert npm_registry.registry.state.users == {}
    assert api(npm_registry, "POST", "reset", {}).json() == {"policy": "current"}
    assert list(npm_registry.registry.state.users) == ["carol"]  # still kept after the empty reset


def test_post_seed_takes_toml_and_says_where_it_is_wrong(npm_registry):
    toml = b'[[users]]\nname = "carol"\n\n[[tokens]]\nuser = "carol"\nname = "ci"\n'
    answer = http(npm_registry, "POST", "/-/_mock/api/seed", token=npm_registry.admin_token, data=toml)
    assert answer.status == 201
    assert answer.json()["users"] == ["carol"]
    assert [(t["user"], t["name"]) for t in answer.json()["tokens"]] == [("carol", "ci")]
    bad = b'[[users]]\nname = "dave"\ntfa = "sometimes"\n'
    answer = http(npm_registry, "POST", "/-/_mock/api/seed?name=ci.toml", token=npm_registry.admin_token, data=bad)
    assert answer.status == 400
    assert answer.json()["error"].startswith("control API: ci.toml:3: users[0].tfa: 'sometimes' is not a 2FA mode")
    empty = http(npm_registry, "POST", "/-/_mock/api/seed", token=npm_registry.admin_token, data=b"")
    assert (empty.status, empty.json()) == (
        400,
        {"error": "POST seed: the body is empty; send a seed file's text (TOML or JSON)"},
    )
