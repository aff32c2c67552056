"""Web pages: the approval pages npm's ``loginUrl`` and ``authUrl`` open (the dashboard, built on
the same helpers, is in ``dashboard.py``).

Plain server-rendered HTML with a little CSS; every value is escaped. The approval pages are
reachable only with the session's one-time id (16 hex digits) in the URL, which is no proof (whoever
started the login or triggered the challenge knows it): approving needs the account's password and,
for a 2FA account, a code from its authenticator app, or the admin. Every form carries a CSRF token
and a post another site sent (``Origin``/``Referer`` not ours, port included) is refused; the dashboard
(``/-/_mock/``) needs the admin token, as the control API does: ``Authorization: Bearer``, or once
as ``?token=`` / the sign-in form, after which an HttpOnly cookie holding an HMAC of the token
(never the token itself) keeps the browser signed in.

No secret appears on any page: tokens show their 8-character prefix, passwords, recovery codes,
TOTP secrets and web OTPs never appear; the dashboard deliberately shows each account's current
authenticator code, as ``GET /-/_mock/api/users/<name>/otp`` does.

A browser form post gets a page (or a 303 back to one); any other body keeps the JSON answers the
approve and deny endpoints always gave, so scripts and the fixture's helpers are unaffected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.errors import (
    CrossSiteRequest,
    MalformedBody,
    RegistryError,
    WebLoginAnswered,
    cut,
)
from pytest_npm_registry.domain.models import WEB_AUTH_TTL, Call, Operation, WebAuthSession, WebLogin

from .host import CSRF_FIELD, AdminToken, Host, foreign_origin
from .html import ago, card_page, clock, e, is_form, redirect, span
from .parsing import json_body
from .responses import json_response

if TYPE_CHECKING:
    from pytest_npm_registry.domain.registry import Registry


class PageViews:
    """The approval pages behind npm's ``loginUrl`` and ``authUrl``. A login is approved with the
    account's password, or by the registry's admin (``Authorization: Bearer <admin token>`` or the
    dashboard's cookie)."""

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

    def _csrf(self, request: Request, origin: str, action: str) -> str:
        token = self.admin.csrf_token(request, origin, action)
        return f"<input type=hidden name={CSRF_FIELD} value='{e(token)}'>"

    def _proof_fields(self, *, user: str = "", otp: bool = True) -> str:
        """What a person types to prove they are the account (the admin's cookie needs none)."""
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

    def _auth_page(
        self, request: Request, origin: str, session: WebAuthSession, *, status: int = 200, note: str = ""
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
            left = session.expires - now
            approve, deny = f"{session.auth_path}/approve", f"{session.auth_path}/deny"
            admin = self.admin.has_cookie(request, origin)
            proof = "" if admin else self._proof_fields(user=session.user)
            state = (
                f"<form method=post action='{e(approve)}'>{self._csrf(request, origin, approve)}{proof}"
                "<div class=actions style='margin-top:14px'><button class=primary id=approve>Approve</button></div>"
                f"</form><form method=post action='{e(deny)}' class=actions style='margin-top:8px'>"
                f"{self._csrf(request, origin, deny)}<button class=danger id=deny>Deny</button></form>"
                f"<p class=hint>npm is polling and waits for this answer; this link expires in {span(left)}.</p>"
            )
        inner = (f"<p class=error id=error>{e(note)}</p>" if note else "") + details + state
        return card_page(
            f"Approve: {session.description}", f"two-factor authentication for {session.user}", inner, status=status
        )

    def web_auth_approve(self, request: Request, call: Call, origin: str, session_id: str) -> Response:
        return self._answer_web_auth(request, call, origin, session_id, approve=True)

    def web_auth_deny(self, request: Request, call: Call, origin: str, session_id: str) -> Response:
        return self._answer_web_auth(request, call, origin, session_id, approve=False)

    def _answer(self, request: Request, origin: str, session_id: str, *, approve: bool, cookie: bool) -> WebAuthSession:
        """Approve (the admin, or a person who proves they are the account) or deny."""
        challenges = self.registry.challenges
        if not approve:
            return challenges.deny_web_auth(session_id, by="in the browser")
        if self.admin.is_admin(request, origin, cookie=cookie):
            return challenges.approve_web_auth(session_id, by="by the admin in the browser")
        fields = request.form if cookie else _json_object(request)
        return challenges.approve_web_auth_as_person(
            session_id, password=fields.get("password"), otp=fields.get("otp"), by="in the browser"
        )

    def _answer_web_auth(
        self, request: Request, call: Call, origin: str, session_id: str, *, approve: bool
    ) -> Response:
        if not is_form(request):
            _refuse_other_sites(request, origin)
            # A script's JSON post: the admin only by its bearer token (a browser's cookie rides
            # along on any cross-site post, so it proves nothing here).
            session = self._answer(request, origin, session_id, approve=approve, cookie=False)
            return json_response({"id": session.id, "approved" if approve else "denied": True})
        found = self._auth_session(session_id)
        if isinstance(found, Response):
            return found
        answered = found.approved or found.denied  # nothing left to change: the answer says so (409)
        if not answered and not self.admin.csrf_ok(request, origin):
            return self._cross_site(request, call, origin, Operation.WEB_AUTH_APPROVE, found)
        try:
            self._answer(request, origin, found.id, approve=approve, cookie=True)
        except RegistryError as error:
            self.registry.state.refuse(Operation.WEB_AUTH_APPROVE, call, None, error)
            return self._auth_page(request, origin, found, status=error.status, note=error.message)
        return redirect(found.auth_path)

    def _cross_site(
        self, request: Request, call: Call, origin: str, operation: Operation, found: WebAuthSession | WebLogin
    ) -> Response:
        sender = foreign_origin(request, origin)
        why = f"a form posted from {sender}" if sender else "a form without this page's CSRF token"
        error = CrossSiteRequest(reason=f"{why} to {request.path}")
        self.registry.state.refuse(operation, call, None, error)
        if isinstance(found, WebAuthSession):
            return self._auth_page(request, origin, found, status=error.status, note=error.message)
        return self._login_page(request, origin, found, status=error.status, note=error.message)

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

    def _login_page(
        self, request: Request, origin: str, login: WebLogin, *, status: int = 200, note: str = "", typed: str = ""
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
            return card_page(title, command, inner, status=status)
        names = sorted(self.registry.state.users)
        options = "".join(f"<option value='{e(n)}'>" for n in names)
        known = ", ".join(names) if names else "none yet"
        field = (
            "<label for=user>User name</label>"
            f"<input id=user name=user required autocomplete=username autocapitalize=none spellcheck=false "
            f"list=accounts value='{e(typed)}'><datalist id=accounts>{options}</datalist>"
        )
        field += self._proof_fields(otp=not login.create)
        if login.create:
            field += "<p class=hint>A new name creates the account with this password; an existing one logs in.</p>"
        else:
            field += f"<p class=hint>Accounts on this registry: {e(known)}.</p>"
        left = login.expires - now
        approve, deny = f"{login.login_path}/approve", f"{login.login_path}/deny"
        inner = (
            (f"<p class=error id=error>{e(note)}</p>" if note else "")
            + details
            + f"<form method=post action='{e(approve)}'>{self._csrf(request, origin, approve)}{field}"
            "<div class=actions style='margin-top:14px'>"
            f"<button class=primary id=approve>{'Create account and log in' if login.create else 'Log in'}</button>"
            f"</div></form><form method=post action='{e(deny)}' class=actions style='margin-top:8px'>"
            f"{self._csrf(request, origin, deny)}<button class=danger id=deny>Deny</button></form>"
            f"<p class=hint>npm is polling and waits for this answer; this link expires in {span(left)}.</p>"
        )
        return card_page(title, command, inner, status=status)

    def web_login_approve(self, request: Request, call: Call, origin: str, login_id: str) -> Response:
        if not is_form(request):
            _refuse_other_sites(request, origin)
            body = json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("user"), str):
                raise MalformedBody('Approve a login with {"user": "<name>", "password": "<password>"}')
            login = self.registry.logins.approve_web_login(
                login_id,
                body["user"],
                password=body.get("password"),
                otp=body.get("otp"),
                trusted=self.admin.is_admin(request, origin, cookie=False),
                by="in the browser",
            )
            return json_response({"id": login.id, "user": login.user})
        found = self._login(login_id)
        if isinstance(found, Response):
            return found
        if found.user is not None:
            return self._login_page(request, origin, found)
        if not self.admin.csrf_ok(request, origin):
            return self._cross_site(request, call, origin, Operation.LOGIN, found)
        name = request.form.get("user", "").strip()
        if not name:
            return self._login_page(request, origin, found, status=400, note="Type the user name to log in as.")
        try:
            self.registry.logins.approve_web_login(
                found.id,
                name,
                password=request.form.get("password") or None,
                otp=request.form.get("otp") or None,
                trusted=self.admin.is_admin(request, origin),
                by="in the browser",
            )
        except RegistryError as error:
            self.registry.state.refuse(Operation.ADDUSER if found.create else Operation.LOGIN, call, None, error)
            name = cut(name, 100)  # echoed into the page: a form field must not make a megabyte answer
            return self._login_page(
                request, origin, found, status=error.status, typed=name, note=f"{name}: {error.message}"
            )
        return redirect(found.login_path)

    def web_login_deny(self, request: Request, call: Call, origin: str, login_id: str) -> Response:
        if not is_form(request):
            _refuse_other_sites(request, origin)
            login = self.registry.logins.cancel_web_login(login_id)
            return json_response({"id": login.id, "denied": True})
        found = self._login(login_id)
        if isinstance(found, Response):
            return found
        if not self.admin.csrf_ok(request, origin):
            return self._cross_site(request, call, origin, Operation.LOGIN, found)
        try:
            self.registry.logins.cancel_web_login(found.id)
        except WebLoginAnswered as error:
            return self._login_page(request, origin, found, status=error.status, note=error.message)
        return card_page(
            "Login denied",
            "npm adduser" if found.create else "npm login",
            "<p class='state bad' id=state>Denied. npm's next poll answers 404; npm then falls back to its "
            "username and password prompt (or fails without a terminal).</p>",
        )


def _refuse_other_sites(request: Request, origin: str) -> None:
    """A JSON post a browser sent from another site (``text/plain`` bodies need no preflight)."""
    sender = foreign_origin(request, origin)
    if sender is not None:
        raise CrossSiteRequest(reason=f"a post from {sender} to {request.path}")


def _json_object(request: Request) -> dict[str, Any]:
    """The JSON object a script posts to an approval endpoint; none is an empty one."""
    if not request.get_data():
        return {}
    body = json_body(request)
    if not isinstance(body, dict):
        raise MalformedBody('Approve with {"password": "<password>", "otp": "<one-time password>"}')
    return body
