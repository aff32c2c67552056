"""The control API: everything the fixture API does, as JSON under ``/-/_mock/api/``.

For pipelines that are not written in Python (a bash release script, a Node tool, a CI job): seed
users and tokens, read an OTP, approve a web login, read the journal, move the clock, reset,
inject faults. Every call needs the admin token the server printed at start
(``Authorization: Bearer <admin token>``), so a shared CI network cannot reset someone's registry.
No npm client uses ``/-/_mock/``: package names cannot start with ``-``.

Each call is an operator verb of the domain (``domain/admin.py``) taken over JSON: ``jsoncall``
checks every field against that verb's annotations, and the Python facade calls the same verbs, so
the control API and the fixture API are one implementation. What belongs to the server (settings,
faults, reset, its URL) comes through the narrow :class:`ControlHost` the server implements.
"""

from __future__ import annotations

from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.admin import Operator
from pytest_npm_registry.domain.errors import ControlRefused, MalformedBody, UsageError
from pytest_npm_registry.domain.models import Call
from pytest_npm_registry.domain.policy import Policy
from pytest_npm_registry.domain.registry import Registry
from pytest_npm_registry.domain.seed import apply_seed, parse_seed

from . import jsoncall
from .faults import Faults
from .host import AdminToken, Host
from .parsing import MAX_JSON_DEPTH, bearer, check_document, json_body
from .responses import json_response
from .settings import Settings

#: The fault kinds ``POST faults`` takes: the methods of ``reg.faults`` of the same name, every
#: public one that injects a fault (tests/test_control_faults.py keeps the two lists equal), so a
#: pipeline outside Python can break what a pytest test can: the registry's answers, its
#: signatures, and the mock Sigstore's two signing steps.
FAULT_KINDS = (
    "fail_publishes",
    "fail_requests",
    "delay",
    "drop_connection",
    "throttle_otp_failures",
    "advance_clock_after_publish",
    "visibility_delay",
    "tamper_signature",
    "tamper_attestation",
    "fulcio",
    "rekor",
    "fulcio_timeout",
    "rekor_timeout",
)


class ControlHost(Host, Protocol):
    """What the control API needs of its server, beyond the pages' :class:`Host`."""

    @property
    def settings(self) -> Settings: ...

    @property
    def faults(self) -> Faults: ...

    def reset(self, policy: str | Policy | None = None) -> None: ...


class ControlViews:
    """The ``control.*`` endpoints: operator verbs behind the admin token."""

    def __init__(self, registry: Registry, host: ControlHost, admin: AdminToken) -> None:
        self.registry = registry
        self.verbs = Operator(registry)
        self.host = host
        self.admin = admin

    def _control(self, request: Request, body: bool = False) -> dict[str, Any]:
        if not self.admin.is_token(bearer(request) or ""):
            raise ControlRefused(
                "control API: send the admin token the server printed at start as `Authorization: Bearer <token>`",
                reason="control API call without the admin token",
            )
        data: Any = json_body(request) if body and request.get_data() else {}
        if not isinstance(data, dict):
            raise MalformedBody("control API bodies are JSON objects")
        return data

    # -- state -------------------------------------------------------------------------------------

    def state(self, request: Request, call: Call, origin: str) -> Response:
        self._control(request)
        state = self.registry.state
        with self.registry.exclusive():  # the live dicts must not change while they are walked
            return json_response(
                {
                    "url": self.host.url,
                    "policy": state.policy.name,
                    "now": state.clock.isoformat(),
                    "users": sorted(state.users),
                    "packages": {n: sorted(p.versions) for n, p in sorted(state.packages.items())},
                    "orgs": sorted(state.orgs),
                    "pending_web_auth": [s.id for s in self.verbs.web_auth_sessions(pending=True)],
                    "pending_web_logins": [w.id for w in self.verbs.web_logins(pending=True)],
                    "stages": [s.id for s in state.stages.values()],
                }
            )

    def reset(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        # The server's seed (serve --seed) comes back after a reset; {"empty": true} skips it once.
        empty = data.pop("empty", False)
        jsoncall.check("POST reset", "empty", empty, bool)
        with self.host.settings.seeding(not empty):
            jsoncall.call(self.host.reset, data, where="POST reset")
        return json_response({"policy": self.registry.policy.name})

    def seed(self, request: Request, call: Call, origin: str) -> Response:
        self._control(request)  # the admin token; the body is a seed file, not a JSON call
        text = request.get_data(as_text=True)
        # The seed file as it is, TOML or JSON: JSON when it says so or looks like an object
        # (`curl --data-binary @seed.toml` sends form-encoded, which says nothing).
        toml = request.mimetype != "application/json" and not text.lstrip().startswith("{")
        if not text.strip():
            raise MalformedBody("POST seed: the body is empty; send a seed file's text (TOML or JSON)")
        # ?name=seed.toml: the file the CLI sent, so a mistake reads "seed.toml:7: users[0].tfa: ...".
        name = request.args.get("name", "")[:100] or "<seed>"
        try:
            data, located = parse_seed(text, name, toml=toml)
        except RecursionError:
            raise MalformedBody(f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError:  # Python refuses integers of more than 4,300 digits
            raise MalformedBody("Malformed JSON body: a number has too many digits") from None
        check_document(data)  # the limits every JSON body meets: depth, lone surrogates
        made = apply_seed(self.registry, data, located)
        return json_response(
            {
                "users": [user.name for user, _ in made["users"]],
                "tokens": [
                    {"user": token.user, "name": token.name, "token": secret} for token, secret in made["tokens"]
                ],
            },
            201,
        )

    def settings(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        settings = self.host.settings
        jsoncall.call(settings.configure, data, where="POST settings")  # configure checks all, then changes
        return json_response(settings.values())

    # -- accounts ----------------------------------------------------------------------------------

    def users(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        user, _ = jsoncall.call(self.verbs.add_user, data, where="POST users")
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
        self._control(request)
        now = self.registry.clock.now()
        return json_response({"user": name, "otp": self.verbs.otp(name), "valid_for": round(30 - now % 30, 1)})

    def emails(self, request: Request, call: Call, origin: str, name: str) -> Response:
        self._control(request)
        return json_response({"user": name, "codes": list(self.verbs.user(name).outbox)})

    def tokens(self, request: Request, call: Call, origin: str, name: str) -> Response:
        data = self._control(request, body=True)
        self.verbs.user(name)  # an unknown user is told before the fields are
        token, secret = jsoncall.call(self.verbs.create_token, data, where=f"POST users/{name}/tokens", user=name)
        return json_response({"token": secret, "id": token.id, "kind": token.kind.value}, 201)

    # -- packages, orgs, trust, invitations ----------------------------------------------------------

    def packages(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        package = jsoncall.call(self.verbs.publish, data, where="POST packages")
        return json_response(
            {"name": package.name, "versions": list(package.versions), "dist-tags": dict(package.dist_tags)}, 201
        )

    def orgs(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        org = jsoncall.call(self.verbs.add_org, data, where="POST orgs")
        return json_response({"name": org.name, "members": {u: r.value for u, r in org.members.items()}}, 201)

    def trust(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        config = jsoncall.call(self.verbs.trust, data, where="POST trust")
        return json_response(config.as_dict(), 201)

    def github_job(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        env = jsoncall.call(self.verbs.github_actions_env, data, where="POST ci/github", origin=self.host.url)
        return json_response({"env": env}, 201)

    def invitations(self, request: Request, call: Call, origin: str, action: str | None = None) -> Response:
        data = self._control(request, body=action is not None)
        if action is None:
            return json_response(
                [
                    {"id": i.id, "user": i.user, "package": i.package, "org": i.org, "inviter": i.inviter}
                    for i in self.verbs.invitations()
                ]
            )
        where = f"POST invitations/{action}"
        invitation = jsoncall.call(self.verbs.answer_invitation, data, where=where, accept=action == "accept")
        return json_response({"id": invitation.id, "state": invitation.state})

    # -- web 2FA and web login -------------------------------------------------------------------------

    def web_auth(self, request: Request, call: Call, origin: str) -> Response:
        self._control(request)
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
                for s in self.verbs.web_auth_sessions(pending=True)
            ]
        )

    def web_auth_approve(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        if unknown := sorted(set(data) - {"id", "user", "skip_trust_2fa"}):
            raise UsageError(f"POST web-auth/approve: unknown field(s) {unknown}; known: id, user, skip_trust_2fa")
        # "id" is the session_id parameter: checked here so the error names the field that was sent.
        jsoncall.check("POST web-auth/approve", "id", data.get("id"), str | None)
        fields: dict[str, Any] = {k: data[k] for k in ("user", "skip_trust_2fa") if k in data}
        approved = jsoncall.call(
            self.verbs.approve_web_auth, fields, where="POST web-auth/approve", session_id=data.get("id")
        )
        return json_response({"approved": [s.id for s in approved]})

    def web_login_approve(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=True)
        login = jsoncall.call(self.verbs.approve_web_login, data, where="POST web-logins/approve")
        return json_response({"id": login.id, "user": login.user})

    # -- journal, clock, faults ------------------------------------------------------------------------

    def journal(self, request: Request, call: Call, origin: str) -> Response:
        self._control(request)
        entries, cursor = self.registry.journal.since(
            int(request.args.get("since", 0)),
            operation=request.args.get("operation"),
            package=request.args.get("package"),
        )
        return json_response({"entries": [e.as_dict() for e in entries], "next": cursor})

    def clock(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=request.method == "POST")
        if unknown := sorted(set(data) - {"advance"}):
            raise UsageError(f"POST clock: unknown field(s) {unknown}; known: advance")
        clock = self.registry.clock
        if "advance" in data:
            jsoncall.check("POST clock", "advance", data["advance"], float)
            clock.advance(data["advance"])
        return json_response({"now": clock.isoformat(), "epoch": clock.now()})

    def faults(self, request: Request, call: Call, origin: str) -> Response:
        data = self._control(request, body=request.method == "POST")
        faults = self.host.faults
        if request.method == "DELETE":
            faults.clear()
            return json_response({"faults": []})
        if request.method == "GET":
            # What a pipeline outside Python asks instead of `reg.faults.active` / `fault.hits`.
            active = [{"fault": f.label, "hits": f.hits, "remaining": f.remaining} for f in faults.active]
            return json_response({"faults": active})
        kind = data.pop("kind", None)
        if kind not in FAULT_KINDS:
            raise UsageError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        fault = jsoncall.call(getattr(faults, kind), data, where=f"POST faults {kind}")
        return json_response({"fault": fault.label}, 201)
