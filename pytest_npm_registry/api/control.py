"""The control API: everything the fixture API does, as JSON under ``/-/_mock/api/``.

For pipelines that are not written in Python (a bash release script, a Node tool, a CI job): seed
users and tokens, read an OTP, approve a web login, read the journal, move the clock, reset,
inject faults. Every call needs the admin token the server printed at start
(``Authorization: Bearer <admin token>``), so a shared CI network cannot reset someone's registry.
No npm client uses ``/-/_mock/``: package names cannot start with ``-``.

It lives with the Python API, not in ``wire/``: every call is a fixture-API method taken over JSON
(``jsoncall`` checks each field against that method's annotations), so the control API and the
fixture API are one implementation. ``NpmRegistry`` mounts these views into the server's dispatch
table (``RegistryApp.mount("control", ...)``); a server without them answers ``control.*`` with a 501.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.errors import ControlRefused, MalformedBody, UsageError
from pytest_npm_registry.domain.models import Call
from pytest_npm_registry.wire.host import Admin
from pytest_npm_registry.wire.parsing import bearer, json_body
from pytest_npm_registry.wire.responses import json_response

from . import jsoncall
from .seed import apply_seed

if TYPE_CHECKING:
    from .registry import NpmRegistry

#: The fault kinds ``POST faults`` takes: the methods of ``reg.faults`` of the same name.
FAULT_KINDS = (
    "fail_publishes",
    "fail_requests",
    "delay",
    "drop_connection",
    "throttle_otp_failures",
    "advance_clock_after_publish",
)


class ControlViews:
    """The ``control.*`` endpoints, acting through the :class:`~pytest_npm_registry.NpmRegistry`
    that mounted them, behind the admin token."""

    def __init__(self, reg: NpmRegistry, admin: Admin) -> None:
        self.reg = reg
        self.admin = admin

    def _control(self, request: Request, body: bool = False) -> tuple[NpmRegistry, dict[str, Any]]:
        if not self.admin.is_token(bearer(request) or ""):
            raise ControlRefused(
                "control API: send the admin token the server printed at start as `Authorization: Bearer <token>`",
                reason="control API call without the admin token",
            )
        data: Any = json_body(request) if body and request.get_data() else {}
        if not isinstance(data, dict):
            raise MalformedBody("control API bodies are JSON objects")
        return self.reg, data

    # -- state -------------------------------------------------------------------------------------

    def state(self, request: Request, call: Call, origin: str) -> Response:
        reg, _ = self._control(request)
        registry = reg.registry
        return json_response(
            {
                "url": reg.url,
                "policy": registry.policy.name,
                "now": registry.clock.isoformat(),
                "users": sorted(registry.state.users),
                "packages": {n: sorted(p.versions) for n, p in sorted(registry.state.packages.items())},
                "orgs": sorted(registry.state.orgs),
                "pending_web_auth": [s.id for s in reg.web_auth_sessions(pending=True)],
                "pending_web_logins": [w.id for w in reg.web_logins(pending=True)],
                "stages": [s.id for s in registry.state.stages.values()],
            }
        )

    def reset(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        jsoncall.call(reg.reset, data, where="POST reset")
        return json_response({"policy": reg.policy.name})

    def seed(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        made = apply_seed(reg, data)
        return json_response(
            {
                "users": [u.name for u in made["users"]],
                "tokens": [{"user": t.record.user, "token": t.key} for t in made["tokens"]],
            },
            201,
        )

    def settings(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        jsoncall.call(reg.configure, data, where="POST settings")  # configure checks all, then changes
        return json_response(reg.settings())

    # -- accounts ----------------------------------------------------------------------------------

    def users(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        user = jsoncall.call(reg.add_user, data, where="POST users")
        return json_response(
            {
                "name": user.name,
                "email": user.email,
                "tfa": user.tfa.value,
                "totp_secret": user.totp_secret,
                "recovery_codes": user.recovery_codes,
            },
            201,
        )

    def otp(self, request: Request, call: Call, origin: str, name: str) -> Response:
        reg, _ = self._control(request)
        user = reg.user(name)
        now = reg.clock.now()
        return json_response({"user": name, "otp": user.otp(), "valid_for": round(30 - now % 30, 1)})

    def emails(self, request: Request, call: Call, origin: str, name: str) -> Response:
        reg, _ = self._control(request)
        return json_response({"user": name, "codes": reg.user(name).emails})

    def tokens(self, request: Request, call: Call, origin: str, name: str) -> Response:
        reg, data = self._control(request, body=True)
        token = jsoncall.call(reg.user(name).create_token, data, where=f"POST users/{name}/tokens")
        return json_response({"token": token.key, "id": token.id, "kind": token.kind.value}, 201)

    # -- packages, orgs, trust, invitations ----------------------------------------------------------

    def packages(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        view = jsoncall.call(reg.publish, data, where="POST packages")
        return json_response({"name": view.name, "versions": view.versions, "dist-tags": view.dist_tags}, 201)

    def orgs(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        org = jsoncall.call(reg.add_org, data, where="POST orgs")
        return json_response({"name": org.name, "members": {u: r.value for u, r in org.members.items()}}, 201)

    def trust(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        config = jsoncall.call(reg.trust, data, where="POST trust")
        return json_response(config.as_dict(), 201)

    def github_job(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        return json_response({"env": jsoncall.call(reg.github_actions_env, data, where="POST ci/github")}, 201)

    def invitations(self, request: Request, call: Call, origin: str, action: str | None = None) -> Response:
        reg, data = self._control(request, body=action is not None)
        if action is None:
            return json_response(
                [
                    {"id": i.id, "user": i.user, "package": i.package, "org": i.org, "inviter": i.inviter}
                    for i in reg.invitations()
                ]
            )
        answer = reg.accept_invitation if action == "accept" else reg.decline_invitation
        invitation = jsoncall.call(answer, data, where=f"POST invitations/{action}")
        return json_response({"id": invitation.id, "state": invitation.state})

    # -- web 2FA and web login -------------------------------------------------------------------------

    def web_auth(self, request: Request, call: Call, origin: str) -> Response:
        reg, _ = self._control(request)
        return json_response(
            [
                {
                    "id": s.id,
                    "user": s.user,
                    "operation": s.operation.value,
                    "description": s.description,
                    "authUrl": origin + s.auth_path,
                    "doneUrl": origin + s.done_path,
                }
                for s in reg.web_auth_sessions(pending=True)
            ]
        )

    def web_auth_approve(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        if unknown := sorted(set(data) - {"id", "user"}):
            raise UsageError(f"POST web-auth/approve: unknown field(s) {unknown}; known: id, user")
        # "id" is the session_id parameter: checked here so the error names the field that was sent.
        jsoncall.check("POST web-auth/approve", "id", data.get("id"), str | None)
        fields = {"user": data["user"]} if "user" in data else {}
        approved = jsoncall.call(reg.approve_web_auth, fields, where="POST web-auth/approve", session_id=data.get("id"))
        return json_response({"approved": [s.id for s in approved]})

    def web_login_approve(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=True)
        login = jsoncall.call(reg.approve_web_login, data, where="POST web-logins/approve")
        return json_response({"id": login.id, "user": login.user})

    # -- journal, clock, faults ------------------------------------------------------------------------

    def journal(self, request: Request, call: Call, origin: str) -> Response:
        reg, _ = self._control(request)
        entries, cursor = reg.journal.since(
            int(request.args.get("since", 0)),
            operation=request.args.get("operation"),
            package=request.args.get("package"),
        )
        return json_response({"entries": [e.as_dict() for e in entries], "next": cursor})

    def clock(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=request.method == "POST")
        if unknown := sorted(set(data) - {"advance"}):
            raise UsageError(f"POST clock: unknown field(s) {unknown}; known: advance")
        if "advance" in data:
            jsoncall.check("POST clock", "advance", data["advance"], float)
            reg.clock.advance(data["advance"])
        return json_response({"now": reg.clock.isoformat(), "epoch": reg.clock.now()})

    def faults(self, request: Request, call: Call, origin: str) -> Response:
        reg, data = self._control(request, body=request.method == "POST")
        if request.method == "DELETE":
            reg.faults.clear()
            return json_response({"faults": []})
        kind = data.pop("kind", None)
        if kind not in FAULT_KINDS:
            raise UsageError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        fault = jsoncall.call(getattr(reg.faults, kind), data, where=f"POST faults {kind}")
        return json_response({"fault": fault.label}, 201)
