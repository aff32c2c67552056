"""Web pages: the approval pages npm's ``loginUrl`` and ``authUrl`` open (the dashboard, built on
the same helpers, is in ``dashboard.py``).

Plain server-rendered HTML with a little CSS; every value is escaped. The approval pages are
reachable only with the session's one-time id (16 hex digits) in the URL, which is no proof (whoever
started the login or triggered the challenge knows it): approving, and denying, needs the account's
password and, for a 2FA account, a code from its authenticator app or a recovery code. Every form
carries a CSRF token and a post another site sent (``Origin``/``Referer`` not ours, port included)
is refused. The admin answers on copies of these pages under the dashboard's secret path
(``/-/_mock/<secret>/login/<id>``, ``.../auth/<id>``), the only place its cookie is sent to and
accepted (``host.AdminToken``); a script answers with the admin token as a bearer token.

No secret appears on any page: tokens show their 8-character prefix, passwords, recovery codes,
TOTP secrets and web OTPs never appear; the dashboard deliberately shows each account's current
authenticator code, as ``GET /-/_mock/api/users/<name>/otp`` does.

A browser form post gets a page (or a 303 back to one); any other body keeps the JSON answers the
approve and deny endpoints always gave, so scripts and the fixture's helpers are unaffected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.errors import (
    CrossSiteRequest,
    MalformedBody,
    NotFound,
    RegistryError,
    WebLoginAnswered,
    cut,
    redact_path,
)
from pytest_npm_registry.domain.models import WEB_AUTH_TTL, Call, Operation, WebAuthSession, WebLogin

from .host import CSRF_FIELD, SIGN_IN_PATH, AdminToken, Host, foreign_origin
from .html import admin_page, ago, card_page, clock, e, is_form, redirect, span
from .parsing import json_body
from .responses import json_response

if TYPE_CHECKING:
    from pytest_npm_registry.domain.registry import Registry


class PageViews:
    """The approval pages behind npm's ``loginUrl`` and ``authUrl``, and their admin variants.

    On the public pages a login or a web-2FA request is answered (approved or denied) with the
    account's password and, for a 2FA account, its code, or by a script holding the admin token
    (``Authorization: Bearer``). The admin in a browser answers on the same pages under the secret
    path (``/-/_mock/<secret>/login/<id>``, ``.../auth/<id>``), where the dashboard's cookie is
    sent and accepted; the public pages never see it."""

    def __init__(self, registry: Registry, host: Host, admin: AdminToken) -> None:
        self.registry = registry
        self.host = host
        self.admin = admin

    # -- who asked: the client behind a session ------------------------------------------------------

    def _client_of(self, marker: str, *, path: str | None = None) -> str:
        """``npm publish · npm/11.6.2 node/v20 ...`` from the logged request whose answer named ``marker``."""
        for request, response in reversed(list(self.host.log)):
            if path is not None and request.path != path:
                continue
            if (response.content_length or 0) > 4096 or marker not in response.get_data(as_text=True):
                continue
            command = request.headers.get("npm-command")
            agent = request.headers.get("user-agent", "unknown client")
            return f"npm {command} · {agent}" if command else agent
        return "unknown (the request is no longer in the server's log)"

    # -- the admin's variants: who may use them ------------------------------------------------------

    def _page_path(self, origin: str, public: str, *, admin: bool) -> str:
        """``/-/_mock/auth/<id>``, or for the admin ``/-/_mock/<secret>/auth/<id>``."""
        return self.admin.home(origin) + public[len(SIGN_IN_PATH) :] if admin else public

    def _admin_gate(self, request: Request, origin: str, secret: str, *, post: bool) -> Response | None:
        """None when the admin may use this page; else the answer: a wrong secret is 404 (JSON, as
        any unknown address), a post another site sent 403, a browser without the cookie is sent
        to sign in."""
        if not self.admin.is_secret(secret, origin):
            raise NotFound(reason="an admin page under a wrong secret path")
        sender = foreign_origin(request, origin, null_ok=True)
        if post and sender is not None:  # before the cookie check, which ignores such requests
            raise CrossSiteRequest(reason=f"a form posted from {sender} to {redact_path(request.path)}")
        if post and not is_form(request):
            raise MalformedBody(
                "The admin's pages take their own forms; a script answers with the admin token as "
                "`Authorization: Bearer` on the public approve and deny endpoints"
            )
        if self.admin.is_admin(request, origin):
            return None
        inner = (
            "<p class='state bad' id=state>This page is the admin's: sign in first.</p>"
            f"<p><a href='{SIGN_IN_PATH}'>Sign in with the admin token</a></p>"
        )
        return admin_page(card_page("Sign in", "mock npm registry", inner, status=401))

    # -- web 2FA: the authUrl page ---------------------------------------------------------------------

    def _missing(self, what: str, ident: str) -> Response:
        return card_page(
            f"No such {what}",
            "mock npm registry",
            f"<p>Nothing is waiting at this address ({e(ident)}). The link may be mistyped, or the registry "
            "was reset. Run the npm command again for a new link.</p>",
            status=404,
        )

    def _expired(self, what: str, expires: float) -> Response | None:
        now = self.registry.clock.now()
        if now <= expires:
            return None
        return card_page(
            f"This {what} expired",
            "mock npm registry",
            f"<p class='state bad'>It expired {ago(expires, now)} (links last "
            f"{WEB_AUTH_TTL / 60:.0f} minutes). Run the npm command again for a new link.</p>",
            status=410,
        )

    def _auth_session(self, session_id: str) -> WebAuthSession | Response:
        session = self.registry.state.web_auth.get(session_id)
        if session is None:
            return self._missing("request", session_id)
        return self._expired("request", session.expires) or session

    def web_auth_page(self, request: Request, call: Call, origin: str, session_id: str) -> Response:
        found = self._auth_session(session_id)
        if isinstance(found, Response):
            return found
        return self._auth_page(request, origin, found)

    def admin_auth_page(self, request: Request, call: Call, origin: str, secret: str, session_id: str) -> Response:
        refused = self._admin_gate(request, origin, secret, post=False)
        if refused is not None:
            return refused
        found = self._auth_session(session_id)
        if isinstance(found, Response):
            return admin_page(found)
        return self._auth_page(request, origin, found, admin=True)

    def _csrf(self, request: Request, origin: str, scope: str) -> str:
        token = self.admin.csrf_token(request, origin, scope)
        return f"<input type=hidden name={CSRF_FIELD} value='{e(token)}'>"

    def _proof_fields(self, *, user: str = "", otp: bool = True) -> str:
        """What a person types to prove they are the account (the admin's pages need none)."""
        fields = (
            "<label for=password>Password</label>"
            "<input id=password name=password type=password autocomplete=current-password>"
        )
        if otp:
            whose = f"The code from {e(user)}'s" if user else "For an account with 2FA: the code from its"
            fields += (
                "<label for=otp>One-time password</label>"
                "<input id=otp name=otp inputmode=numeric autocomplete=one-time-code spellcheck=false>"
                f"<p class=hint>{whose} authenticator app, or a recovery code.</p>"
            )
        return fields

    def _answer_form(self, request: Request, origin: str, page: str, fields: str, approve_label: str) -> str:
        """One form: the fields, then Approve (its action) and Deny (``formaction``): both answers
        need the same proof, typed once; the CSRF token is the page's (``host.csrf_scope``)."""
        return (
            f"<form method=post action='{e(page)}/approve'>{self._csrf(request, origin, page)}{fields}"
            f"<div class=actions style='margin-top:14px'><button class=primary id=approve>{e(approve_label)}</button>"
            f"<button class=danger id=deny formaction='{e(page)}/deny'>Deny</button></div></form>"
        )

    def _auth_page(
        self,
        request: Request,
        origin: str,
        session: WebAuthSession,
        *,
        admin: bool = False,
        status: int = 200,
        note: str = "",
    ) -> Response:
        now = self.registry.clock.now()
        user = self.registry.state.users.get(session.user)
        account = e(session.user) + (f" (2FA: {e(user.tfa.value)})" if user is not None else "")
        credential = session.credential
        client = e(self._client_of(session.id))
        if credential:
            client += f"<br>with {e(credential)}"
        details = (
            f"<dl><dt>Account</dt><dd>{account}</dd><dt>Operation</dt><dd>{e(session.description)}</dd>"
            f"<dt>Client</dt><dd>{client}</dd>"
            f"<dt>Requested</dt><dd>{clock(session.created)} ({ago(session.created, now)})</dd></dl>"
        )
        if session.denied:
            state = (
                "<p class='state bad' id=state>Denied. npm's wait ended with "
                "<code>E404 Web authentication was denied</code>.</p>"
            )
        elif session.approved:
            state = (
                "<p class='state ok' id=state>Approved. npm picks up a one-time password on its next poll "
                "and carries on; you can close this tab.</p>"
            )
        else:
            page = self._page_path(origin, session.auth_path, admin=admin)
            proof = (
                "<p class=hint>As the admin: no password needed.</p>"
                if admin
                else self._proof_fields(user=session.user)
            )
            state = self._answer_form(request, origin, page, proof, "Approve") + (
                "<p class=hint>npm is polling and waits for this answer; this link expires in "
                f"{span(session.expires - now)}.</p>"
            )
        inner = (f"<p class=error id=error>{e(note)}</p>" if note else "") + details + state
        response = card_page(
            f"Approve: {session.description}", f"two-factor authentication for {session.user}", inner, status=status
        )
        return _mark(response, admin=admin)

    def web_auth_approve(self, request: Request, call: Call, origin: str, session_id: str) -> Response:
        return self._answer_web_auth(request, call, origin, session_id, approve=True)

    def web_auth_deny(self, request: Request, call: Call, origin: str, session_id: str) -> Response:
        return self._answer_web_auth(request, call, origin, session_id, approve=False)

    def admin_auth_approve(self, request: Request, call: Call, origin: str, secret: str, session_id: str) -> Response:
        refused = self._admin_gate(request, origin, secret, post=True)
        return refused or self._answer_web_auth(request, call, origin, session_id, approve=True, admin=True)

    def admin_auth_deny(self, request: Request, call: Call, origin: str, secret: str, session_id: str) -> Response:
        refused = self._admin_gate(request, origin, secret, post=True)
        return refused or self._answer_web_auth(request, call, origin, session_id, approve=False, admin=True)

    def _answer(self, request: Request, session_id: str, *, approve: bool, admin: bool, form: bool) -> WebAuthSession:
        """Answer as the admin (``admin``: the caller checked), or as a person who proves they are
        the account: the same proof for approve and deny."""
        challenges = self.registry.challenges
        if admin:
            by = "by the admin in the browser" if form else "by the admin"
            if approve:
                return challenges.approve_web_auth(session_id, by=by)
            return challenges.deny_web_auth(session_id, by=by)
        password, otp = _proof(request.form if form else _json_object(request))
        return challenges.answer_web_auth_as_person(
            session_id, approve=approve, password=password, otp=otp, by="in the browser"
        )

    def _answer_web_auth(
        self, request: Request, call: Call, origin: str, session_id: str, *, approve: bool, admin: bool = False
    ) -> Response:
        if not is_form(request):
            _refuse_other_sites(request, origin)
            # A script's JSON post: the admin only by its bearer token (no cookie reaches this path).
            bearer_admin = self.admin.is_admin(request, origin, cookie=False)
            session = self._answer(request, session_id, approve=approve, admin=bearer_admin, form=False)
            return json_response({"id": session.id, "approved" if approve else "denied": True})
        found = self._auth_session(session_id)
        if isinstance(found, Response):
            return _mark(found, admin=admin)
        answered = found.approved or found.denied  # nothing left to change: the answer says so (409)
        if not answered and not self.admin.csrf_ok(request, origin):
            return self._cross_site(request, call, origin, Operation.WEB_AUTH_APPROVE, found, admin=admin)
        try:
            self._answer(request, found.id, approve=approve, admin=admin, form=True)
        except RegistryError as error:
            self.registry.state.refuse(Operation.WEB_AUTH_APPROVE, call, None, error)
            return self._auth_page(request, origin, found, admin=admin, status=error.status, note=error.message)
        return _mark(redirect(self._page_path(origin, found.auth_path, admin=admin)), admin=admin)

    def _cross_site(
        self,
        request: Request,
        call: Call,
        origin: str,
        operation: Operation,
        found: WebAuthSession | WebLogin,
        *,
        admin: bool,
    ) -> Response:
        sender = foreign_origin(request, origin, null_ok=admin)
        why = f"a form posted from {sender}" if sender else "a form without this page's CSRF token"
        error = CrossSiteRequest(reason=f"{why} to {redact_path(request.path)}")
        self.registry.state.refuse(operation, call, None, error)
        if isinstance(found, WebAuthSession):
            return self._auth_page(request, origin, found, admin=admin, status=error.status, note=error.message)
        return self._login_page(request, origin, found, admin=admin, status=error.status, note=error.message)

    # -- web login: the loginUrl page ------------------------------------------------------------------

    def _login(self, login_id: str) -> WebLogin | Response:
        login = self.registry.state.web_logins.get(login_id)
        if login is None:
            return self._missing("login", login_id)
        return self._expired("login", login.expires) or login

    def web_login_page(self, request: Request, call: Call, origin: str, login_id: str) -> Response:
        found = self._login(login_id)
        if isinstance(found, Response):
            return found
        return self._login_page(request, origin, found)

    def admin_login_page(self, request: Request, call: Call, origin: str, secret: str, login_id: str) -> Response:
        refused = self._admin_gate(request, origin, secret, post=False)
        if refused is not None:
            return refused
        found = self._login(login_id)
        if isinstance(found, Response):
            return admin_page(found)
        return self._login_page(request, origin, found, admin=True)

    def _login_page(
        self,
        request: Request,
        origin: str,
        login: WebLogin,
        *,
        admin: bool = False,
        status: int = 200,
        note: str = "",
        typed: str = "",
    ) -> Response:
        now = self.registry.clock.now()
        command = "npm adduser" if login.create else "npm login"
        title = "Create an account" if login.create else "Log in to the mock npm registry"
        details = (
            f"<dl><dt>Operation</dt><dd>{command}: {'create an account and log in' if login.create else 'log in'}"
            f"</dd><dt>Client</dt><dd>{e(self._client_of(login.id, path='/-/v1/login'))}</dd>"
            f"<dt>Requested</dt><dd>{clock(login.created)} ({ago(login.created, now)})</dd></dl>"
        )
        if login.user is not None:
            inner = details + (
                f"<p class='state ok' id=state>Logged in as <b>{e(login.user)}</b>. npm receives a session "
                "token on its next poll; you can close this tab.</p>"
            )
            response = card_page(title, command, inner, status=status)
            return _mark(response, admin=admin)
        names = sorted(self.registry.state.users)
        options = "".join(f"<option value='{e(n)}'>" for n in names)
        known = ", ".join(names) if names else "none yet"
        field = (
            "<label for=user>User name</label>"
            f"<input id=user name=user required autocomplete=username autocapitalize=none spellcheck=false "
            f"list=accounts value='{e(typed)}'><datalist id=accounts>{options}</datalist>"
        )
        if admin:
            field += "<p class=hint>As the admin: no password needed; Deny needs no name either.</p>"
        else:
            field += self._proof_fields(otp=not login.create)
            field += "<p class=hint>Deny takes the same proof: whoever has this link cannot end the login alone.</p>"
        if login.create:
            field += "<p class=hint>A new name creates the account with this password; an existing one logs in.</p>"
        else:
            field += f"<p class=hint>Accounts on this registry: {e(known)}.</p>"
        page = self._page_path(origin, login.login_path, admin=admin)
        label = "Create account and log in" if login.create else "Log in"
        inner = (
            (f"<p class=error id=error>{e(note)}</p>" if note else "")
            + details
            + self._answer_form(request, origin, page, field, label)
            + "<p class=hint>npm is polling and waits for this answer; this link expires in "
            f"{span(login.expires - now)}.</p>"
        )
        response = card_page(title, command, inner, status=status)
        return _mark(response, admin=admin)

    def web_login_approve(self, request: Request, call: Call, origin: str, login_id: str) -> Response:
        if not is_form(request):
            _refuse_other_sites(request, origin)
            body = json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("user"), str):
                raise MalformedBody('Approve a login with {"user": "<name>", "password": "<password>"}')
            password, otp = _proof(body)
            login = self.registry.logins.approve_web_login(
                login_id,
                body["user"],
                password=password,
                otp=otp,
                trusted=self.admin.is_admin(request, origin, cookie=False),
                by="in the browser",
            )
            return json_response({"id": login.id, "user": login.user})
        return self._answer_login(request, call, origin, login_id, approve=True, admin=False)

    def admin_login_approve(self, request: Request, call: Call, origin: str, secret: str, login_id: str) -> Response:
        refused = self._admin_gate(request, origin, secret, post=True)
        return refused or self._answer_login(request, call, origin, login_id, approve=True, admin=True)

    def web_login_deny(self, request: Request, call: Call, origin: str, login_id: str) -> Response:
        if not is_form(request):
            _refuse_other_sites(request, origin)
            body = _json_object(request)
            user = body.get("user")
            if user is not None and not isinstance(user, str):
                raise MalformedBody('Deny a login with {"user": "<name>", "password": "<password>"}')
            trusted = self.admin.is_admin(request, origin, cookie=False)
            password, otp = _proof(body)
            login = self.registry.logins.cancel_web_login(
                login_id,
                user,
                password=password,
                otp=otp,
                trusted=trusted,
                by="by the admin" if trusted else "in the browser",
            )
            return json_response({"id": login.id, "denied": True})
        return self._answer_login(request, call, origin, login_id, approve=False, admin=False)

    def admin_login_deny(self, request: Request, call: Call, origin: str, secret: str, login_id: str) -> Response:
        refused = self._admin_gate(request, origin, secret, post=True)
        return refused or self._answer_login(request, call, origin, login_id, approve=False, admin=True)

    def _answer_login(
        self, request: Request, call: Call, origin: str, login_id: str, *, approve: bool, admin: bool
    ) -> Response:
        """A form post on a login page: approve or deny, by a person with proof or by the admin."""
        found = self._login(login_id)
        if isinstance(found, Response):
            return _mark(found, admin=admin)
        if found.user is not None:
            if approve:
                return self._login_page(request, origin, found, admin=admin)
            error = WebLoginAnswered(found.id, found.user)
            return self._login_page(request, origin, found, admin=admin, status=error.status, note=error.message)
        if not self.admin.csrf_ok(request, origin):
            return self._cross_site(request, call, origin, Operation.LOGIN, found, admin=admin)
        name = request.form.get("user", "").strip()
        if not name and (approve or not admin):
            what = "log in as" if approve else "deny this login as (with its password)"
            return self._login_page(
                request, origin, found, admin=admin, status=400, note=f"Type the user name to {what}."
            )
        by = "by the admin in the browser" if admin else "in the browser"
        password, otp = request.form.get("password") or None, request.form.get("otp") or None
        try:
            if approve:
                self.registry.logins.approve_web_login(found.id, name, password=password, otp=otp, trusted=admin, by=by)
            else:
                self.registry.logins.cancel_web_login(
                    found.id, name or None, password=password, otp=otp, trusted=admin, by=by
                )
        except RegistryError as error:
            self.registry.state.refuse(Operation.ADDUSER if found.create else Operation.LOGIN, call, None, error)
            name = cut(name, 100)  # echoed into the page: a form field must not make a megabyte answer
            note = f"{name}: {error.message}" if name else error.message
            return self._login_page(request, origin, found, admin=admin, status=error.status, typed=name, note=note)
        if approve:
            return _mark(redirect(self._page_path(origin, found.login_path, admin=admin)), admin=admin)
        response = card_page(
            "Login denied",
            "npm adduser" if found.create else "npm login",
            "<p class='state bad' id=state>Denied. npm's next poll answers 404; npm then falls back to its "
            "username and password prompt (or fails without a terminal).</p>",
        )
        return _mark(response, admin=admin)


def _mark(response: Response, *, admin: bool) -> Response:
    """An answer of an admin page carries its referrer policy; a public page's keeps its own."""
    return admin_page(response) if admin else response


def _refuse_other_sites(request: Request, origin: str) -> None:
    """A JSON post a browser sent from another site (``text/plain`` bodies need no preflight)."""
    sender = foreign_origin(request, origin)
    if sender is not None:
        raise CrossSiteRequest(reason=f"a post from {sender} to {request.path}")


def _proof(fields: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``password`` and ``otp`` of an approval, each text or absent (a JSON ``[1]`` is a 400)."""
    password, otp = fields.get("password"), fields.get("otp")
    if not all(value is None or isinstance(value, str) for value in (password, otp)):
        raise MalformedBody('"password" and "otp" must be strings')
    return password or None, otp or None


def _json_object(request: Request) -> dict[str, Any]:
    """The JSON object a script posts to an approval endpoint; none is an empty one."""
    if not request.get_data():
        return {}
    body = json_body(request)
    if not isinstance(body, dict):
        raise MalformedBody('Approve with {"password": "<password>", "otp": "<one-time password>"}')
    return body
