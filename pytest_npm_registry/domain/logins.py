"""Logging in and out: ``npm login`` / ``npm adduser`` in the browser (``loginUrl`` + ``doneUrl``),
the CouchDB login older clients and ``--auth-type=legacy`` use, and ``npm logout``.

A login is 2FA-gated for accounts with 2FA in both modes; a web login is approved on its page by
someone who proves the account (its password) or by a trusted caller (the fixture, the admin).
"""

from __future__ import annotations

import secrets
from typing import Any

from .accounts import Accounts, new_password
from .challenges import Challenges
from .errors import (
    BadRequest,
    IncorrectPassword,
    MalformedBody,
    NoSuchUser,
    NotFound,
    RegistryError,
    TokenNotFound,
    TooManyPending,
    UserExists,
    WebLoginAnswered,
)
from .models import (
    POLL_PENDING_STATUS,
    Call,
    Operation,
    Principal,
    TokenKind,
    User,
    WebLogin,
    password_matches,
    secret_hash,
)
from .state import RegistryState
from .validation import check_package_name

#: Web logins waiting at once, at most (see ``Logins._limit_pending_logins``).
MAX_PENDING_LOGINS = 1000

#: The couch login's success (a session token made): 201, as the public registry answers it.
COUCH_LOGIN_STATUS = 201


class Logins:
    """What ``npm login``, ``npm adduser`` and ``npm logout`` do."""

    def __init__(self, state: RegistryState, accounts: Accounts, challenges: Challenges) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges

    # -- web login ---------------------------------------------------------------------------------

    def begin_web_login(self, call: Call, *, create: bool) -> WebLogin:
        """``POST /-/v1/login``: a session a person completes on ``loginUrl``."""
        with self.state.recording(Operation.ADDUSER if create else Operation.LOGIN, call, None), self.state.lock:
            self._limit_pending_logins()
            login = WebLogin(id=secrets.token_hex(8), create=create, created=self.state.clock.now())
            self.state.web_logins[login.id] = login
            if self.state.auto_approve_web_login is not None:
                try:
                    self.approve_web_login(
                        login.id, self.state.auto_approve_web_login, trusted=True, by="at once (auto_approve_web_login)"
                    )
                except RegistryError:
                    del self.state.web_logins[login.id]  # a refused request leaves nothing behind
                    raise
            return login

    def _limit_pending_logins(self) -> None:
        """Anyone may start a login, anonymously: expired ones go, and past ``MAX_PENDING_LOGINS``
        new ones are refused, so a loop of ``POST /-/v1/login`` cannot fill memory (issue 19)."""
        logins, now = self.state.web_logins, self.state.clock.now()
        for login_id in [i for i, w in logins.items() if w.expired(now)]:
            del logins[login_id]
        if len(logins) >= MAX_PENDING_LOGINS:
            raise TooManyPending(f"{len(logins)} web logins are waiting")

    def web_login(self, login_id: str) -> WebLogin:
        login = self.state.web_logins.get(login_id)
        if login is None or login.expired(self.state.clock.now()):
            raise NotFound(reason=f"no pending web login {login_id}")
        return login

    def approve_web_login(
        self,
        login_id: str,
        user: str,
        *,
        password: str | None = None,
        otp: str | None = None,
        trusted: bool = False,
        by: str = "by the test",
    ) -> WebLogin:
        """Log ``user`` in on the ``loginUrl`` page; for ``npm adduser`` an unknown name is created.

        A person on the page proves the account with its password and, for a 2FA account, a code
        from its authenticator app (``Challenges.prove``; a new account needs a password);
        ``trusted`` callers (the fixture, the admin token) need none. The login id alone is no
        proof: whoever starts ``npm login`` chooses it. ``by``: how, for the journal.
        """
        with self.state.lock:
            login = self.web_login(login_id)
            if self._check_proof(login, user, password, otp, trusted=trusted):
                self.accounts.add_user(user, password=password or new_password())
            if login.user is None:
                # The session token is minted when npm polls, not now: an approved login that was
                # never polled holds no secret (in memory or in a storage file).
                login.user = user
                self.state.journal_event(
                    Operation.ADDUSER if login.create else Operation.LOGIN,
                    user=user,
                    package=None,
                    accepted=True,
                    reason=f"web login approved {by} as {user}",
                )
            return login

    def _check_proof(self, login: WebLogin, user: str, password: str | None, otp: str | None, *, trusted: bool) -> bool:
        """What the ``loginUrl`` page asks before it answers as ``user`` (approve or deny): an
        existing account's password and, with 2FA, its code; for ``npm adduser`` a new name needs
        a valid name and a password. True when ``user`` is a new account to create."""
        if user not in self.state.users:
            if not login.create:
                raise NoSuchUser(user)
            check_package_name(user.lower())  # user names follow the package-name URL rules
            if not trusted and not password:
                raise BadRequest("A new account needs a password")
            return True
        if not trusted:
            self.challenges.prove(self.state.users[user], password, otp)
        return False

    def cancel_web_login(
        self,
        login_id: str,
        user: str | None = None,
        *,
        password: str | None = None,
        otp: str | None = None,
        trusted: bool = False,
        by: str = "in the browser",
    ) -> WebLogin:
        """What closing the browser tab amounts to: the next poll of ``doneUrl`` answers 404.

        On the page this is "Deny", and it needs what approving needs (``approve_web_login``):
        the login id is no proof, and whoever started ``npm login`` could otherwise end the login
        of whoever they hand the link to. ``trusted`` callers (the fixture, the admin) need none.
        A login approved already answers 409 before any proof is asked.
        """
        with self.state.lock:
            login = self.web_login(login_id)
            if login.user is not None:
                raise WebLoginAnswered(login_id, login.user)
            if not trusted:
                if user is None:
                    raise BadRequest("Type the user name (and its password) to deny this login")
                self._check_proof(login, user, password, otp, trusted=False)
            del self.state.web_logins[login_id]
            self.state.journal_event(
                Operation.ADDUSER if login.create else Operation.LOGIN,
                user=user or "",
                package=None,
                accepted=False,
                reason=f"web login denied {by}; its done poll now answers 404",
            )
            return login

    def poll_web_login(self, call: Call, login_id: str) -> str | None:
        with self.state.recording(Operation.LOGIN_POLL, call, None) as rec, self.state.lock:
            login = self.web_login(login_id)
            if login.done:
                raise NotFound(reason=f"web login {login_id} was completed already")
            if login.user is None:
                rec.status = POLL_PENDING_STATUS
                return None
            # Handed out once, made now: the session token is never kept in the registry's state.
            _, token = self.accounts.create_token(login.user, kind=TokenKind.SESSION)
            login.done = True
            return token

    # -- CouchDB login -----------------------------------------------------------------------------

    def couch_user(self, call: Call, name: str) -> User:
        """``GET /-/user/org.couchdb.user:<name>`` (owner add and the 409 login path read it)."""
        with self.state.recording(Operation.READ_USER, call, None):
            return self.accounts.user(name)

    def couch_login(self, call: Call, name: str, body: Any) -> str:
        """``PUT /-/user/org.couchdb.user:<name>``: log in (or, with ``email``, create the account)."""
        create = isinstance(body, dict) and "email" in body
        with self.state.recording(Operation.ADDUSER if create else Operation.LOGIN, call, None) as rec:
            if not isinstance(body, dict) or not isinstance(body.get("password"), str) or body.get("name") != name:
                raise MalformedBody("Invalid login body: expected {name, password} matching the URL")
            user = self.state.users.get(name)
            if user is None:
                if not create:
                    raise NoSuchUser(name)
                check_package_name(name.lower())  # user names follow the same URL-safety rules
                user = self.accounts.add_user(name, password=body["password"], email=str(body["email"]))
            elif create and call.credential is None:
                raise UserExists(name)
            if not password_matches(user.password_hash, body["password"]):
                raise IncorrectPassword(reason=f"wrong password for {name}")
            rec.principal = Principal(user, None)
            if user.tfa_enabled:  # login is gated in both modes
                rec.otp = self.challenges.second_factor(call, rec, f"log in as {name}", "login needs 2FA")
            _, secret = self.accounts.create_token(name, kind=TokenKind.SESSION)
            rec.status = COUCH_LOGIN_STATUS
            return secret

    def logout(self, call: Call, secret: str) -> None:
        """``DELETE /-/user/token/<token>``: the session token revokes itself."""
        with self.state.recording(Operation.LOGOUT, call, None) as rec:
            rec.principal = self.accounts.require_principal(call)
            token = self.state.tokens.get(secret_hash(secret))
            if token is None or token.revoked or token.user != rec.principal.user.name:
                raise TokenNotFound(reason="logout of a token that is not the caller's")
            token.revoked = True
