"""Account operations npm drives: login (web and CouchDB), logout, profile, 2FA set-up, tokens.

Token management, profile and 2FA changes are governance actions: 2FA-gated in both account modes,
refused to bypass-2FA tokens under the ``current`` policy (``Policy.governance_gate``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .accounts import Accounts, parse_cidr
from .errors import (
    BadRequest,
    IncorrectPassword,
    MalformedBody,
    NoSuchUser,
    NotFound,
    RegistryError,
    TokenNotFound,
    UserExists,
    WebLoginAnswered,
)
from .models import (
    Call,
    Operation,
    Permission,
    Principal,
    Token,
    TokenKind,
    TwoFactorMode,
    User,
    WebLogin,
    hash_password,
    password_matches,
    secret_hash,
)
from .otp import new_recovery_codes, new_totp_secret, totp_matches
from .policy import Gate
from .validation import check_package_name

PROFILE_FIELDS = ("fullname", "homepage", "freenode", "twitter", "github")
_PERMISSIONS = {
    "read-only": Permission.READ_ONLY,
    "read-write": Permission.READ_WRITE,
    "read-write-stage-only": Permission.STAGE_ONLY,  # npm >= 11.21
}
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class TokenPage:
    tokens: list[Token]
    total: int
    next_page: int | None
    per_page: int


class Profiles(Accounts):
    """What ``npm login``, ``npm logout``, ``npm profile`` and ``npm token`` do."""

    # -- web login ---------------------------------------------------------------------------------

    def begin_web_login(self, call: Call, *, create: bool) -> WebLogin:
        """``POST /-/v1/login``: a session a person completes on ``loginUrl``."""
        with self._recording(Operation.ADDUSER if create else Operation.LOGIN, call, None), self._lock:
            login = WebLogin(id=secrets.token_hex(8), create=create, created=self.clock.now())
            self.web_logins[login.id] = login
            if self.auto_approve_web_login is not None:
                try:
                    self.approve_web_login(
                        login.id, self.auto_approve_web_login, trusted=True, by="at once (auto_approve_web_login)"
                    )
                except RegistryError:
                    del self.web_logins[login.id]  # a refused request leaves nothing behind
                    raise
            return login

    def web_login(self, login_id: str) -> WebLogin:
        login = self.web_logins.get(login_id)
        if login is None or self.clock.now() > login.expires:
            raise NotFound(reason=f"no pending web login {login_id}")
        return login

    def approve_web_login(
        self, login_id: str, user: str, *, password: str | None = None, trusted: bool = False, by: str = "by the test"
    ) -> WebLogin:
        """Log ``user`` in on the ``loginUrl`` page; for ``npm adduser`` an unknown name is created.

        A person on the page proves the account with its password (a new account needs one);
        ``trusted`` callers (the fixture, the admin token) need none. The login id alone is no
        proof: whoever starts ``npm login`` chooses it. ``by``: how, for the journal.
        """
        with self._lock:
            login = self.web_login(login_id)
            if user not in self.users:
                if not login.create:
                    raise NoSuchUser(user)
                check_package_name(user.lower())  # user names follow the package-name URL rules
                if not trusted and not password:
                    raise BadRequest("A new account needs a password")
                self.add_user(user, password=password or f"{user}-password")
            elif not trusted:
                self._check_password(self.users[user], password)
            if login.user is None:
                _, login.token = self.create_token(user, kind=TokenKind.SESSION)
                login.user = user
                self.journal_event(
                    Operation.ADDUSER if login.create else Operation.LOGIN,
                    user=user,
                    package=None,
                    accepted=True,
                    reason=f"web login approved {by} as {user}",
                )
            return login

    def cancel_web_login(self, login_id: str) -> WebLogin:
        """What closing the browser tab amounts to: the next poll of ``doneUrl`` answers 404."""
        with self._lock:
            login = self.web_login(login_id)
            if login.user is not None:
                raise WebLoginAnswered(login_id, login.user)
            del self.web_logins[login_id]
            self.journal_event(
                Operation.ADDUSER if login.create else Operation.LOGIN,
                user="",
                package=None,
                accepted=False,
                reason="web login denied in the browser; its done poll now answers 404",
            )
            return login

    def poll_web_login(self, call: Call, login_id: str) -> str | None:
        with self._recording(Operation.LOGIN_POLL, call, None) as rec, self._lock:
            login = self.web_login(login_id)
            if login.done:
                raise NotFound(reason=f"web login {login_id} was completed already")
            token, rec.status = login.token, 200 if login.token else 202
            if token is not None:
                # Handed out once: the session token is not kept in the registry's state.
                login.token, login.done = None, True
            return token

    # -- CouchDB login -----------------------------------------------------------------------------

    def couch_user(self, call: Call, name: str) -> User:
        """``GET /-/user/org.couchdb.user:<name>`` (owner add and the 409 login path read it)."""
        with self._recording(Operation.READ_USER, call, None):
            return self.user(name)

    def couch_login(self, call: Call, name: str, body: Any) -> str:
        """``PUT /-/user/org.couchdb.user:<name>``: log in (or, with ``email``, create the account)."""
        create = isinstance(body, dict) and "email" in body
        with self._recording(Operation.ADDUSER if create else Operation.LOGIN, call, None) as rec:
            if not isinstance(body, dict) or not isinstance(body.get("password"), str) or body.get("name") != name:
                raise MalformedBody("Invalid login body: expected {name, password} matching the URL")
            user = self.users.get(name)
            if user is None:
                if not create:
                    raise NoSuchUser(name)
                check_package_name(name.lower())  # user names follow the same URL-safety rules
                user = self.add_user(name, password=body["password"], email=str(body["email"]))
            elif create and call.credential is None:
                raise UserExists(name)
            if not password_matches(user.password_hash, body["password"]):
                raise IncorrectPassword(reason=f"wrong password for {name}")
            rec.principal = Principal(user, None)
            if user.tfa_enabled:  # login is gated in both modes
                rec.otp = self._second_factor(call, rec, f"log in as {name}", "login needs 2FA")
            _, secret = self.create_token(name, kind=TokenKind.SESSION)
            return secret

    def logout(self, call: Call, secret: str) -> None:
        """``DELETE /-/user/token/<token>``: the session token revokes itself."""
        with self._recording(Operation.LOGOUT, call, None) as rec:
            rec.principal = self._require_principal(call)
            token = self.tokens.get(secret_hash(secret))
            if token is None or token.revoked or token.user != rec.principal.user.name:
                raise TokenNotFound(reason="logout of a token that is not the caller's")
            token.revoked = True

    # -- profile and 2FA ---------------------------------------------------------------------------

    def profile(self, call: Call) -> User:
        with self._recording(Operation.READ_PROFILE, call, None) as rec:
            rec.principal = self._require_principal(call)
            return rec.principal.user

    def set_profile(self, call: Call, body: Any) -> tuple[User, Any]:
        """``POST /-/npm/v1/user``. Returns the user and what the answer's ``tfa`` must say."""
        if not isinstance(body, dict):
            raise MalformedBody("Invalid profile body: expected a JSON object")
        tfa = body.get("tfa")
        if isinstance(tfa, list):
            return self._confirm_2fa(call, tfa)
        if isinstance(tfa, dict):
            return self._change_2fa(call, tfa)
        with self._recording(Operation.SET_PROFILE, call, None) as rec:
            rec.principal = principal = self._require_principal(call)
            user = principal.user
            unknown = set(body) - {"email", "password", *PROFILE_FIELDS}
            if unknown:
                raise BadRequest(f"Unknown profile field(s): {', '.join(sorted(unknown))}")
            password = body.get("password")
            if password is not None and not (
                isinstance(password, dict)
                and isinstance(password.get("old"), str)
                and isinstance(password.get("new"), str)
            ):
                raise BadRequest('Invalid password change: expected {"old": "...", "new": "..."}')
            if self.policy.governance_gate(principal, "change the profile") is Gate.CHALLENGE:
                rec.otp = self._second_factor(call, rec, "change the profile", "profile")
            with self._lock:
                if password is not None:
                    self._check_password(user, password["old"])
                    user.password_hash = hash_password(password["new"])
                if body.get("email") and body["email"] != user.email:
                    user.email = str(body["email"])
                    self.people_rev += 1
                for key in PROFILE_FIELDS:
                    if key in body:
                        user.profile[key] = "" if body[key] is None else str(body[key])
                user.updated = self.clock.now()
                return user, self.tfa_state(user)

    def _change_2fa(self, call: Call, tfa: dict[str, Any]) -> tuple[User, Any]:
        mode = tfa.get("mode")
        operation = Operation.DISABLE_2FA if mode == "disable" else Operation.ENABLE_2FA
        with self._recording(operation, call, None) as rec:
            rec.principal = principal = self._require_principal(call)
            user = principal.user
            if mode not in ("disable", TwoFactorMode.AUTH_ONLY, TwoFactorMode.AUTH_AND_WRITES):
                raise BadRequest(f"Invalid 2FA mode {mode!r}: use auth-only, auth-and-writes or disable")
            self._check_password(user, tfa.get("password"))
            action = "disable two-factor authentication" if mode == "disable" else "change two-factor authentication"
            if mode == "disable" and not user.tfa_enabled:
                user.pending_secret = user.pending_mode = None  # npm clears a pending set-up this way
                return user, None
            if user.tfa_enabled:
                # Switching or disabling an active 2FA needs that 2FA.
                if self.policy.governance_gate(principal, action) is Gate.CHALLENGE:
                    rec.otp = self._second_factor(call, rec, action, f"{action} needs 2FA")
                if mode == "disable":
                    user.tfa, user.totp_secret, user.recovery_codes = TwoFactorMode.NONE, None, []
                    return user, None
                user.tfa = TwoFactorMode(mode)
                return user, self.tfa_state(user)
            self.policy.governance_gate(principal, action)  # refusals only: this step is password-checked
            user.pending_secret = new_totp_secret()
            user.pending_mode = TwoFactorMode(mode)
            # The shape the public registry sends: otpauth://totp/npm:<name>?secret=...&issuer=npm
            return user, f"otpauth://totp/npm:{quote(user.name)}?secret={user.pending_secret}&issuer=npm"

    def _confirm_2fa(self, call: Call, codes: list[Any]) -> tuple[User, Any]:
        with self._recording(Operation.CONFIRM_2FA, call, None) as rec:
            rec.principal = principal = self._require_principal(call)
            user = principal.user
            if user.pending_secret is None or user.pending_mode is None:
                raise BadRequest("No two-factor authentication set-up is pending: send {tfa: {mode, password}} first")
            code = str(codes[0]) if len(codes) == 1 else ""
            if not totp_matches(user.pending_secret, code, self.clock.now()):
                raise BadRequest(
                    "Invalid OTP: the code does not match the new secret",
                    reason=f"{user.name} confirmed 2FA with a bad code",
                )
            user.tfa, user.totp_secret = user.pending_mode, user.pending_secret
            user.pending_secret = user.pending_mode = None
            user.recovery_codes = new_recovery_codes()
            return user, list(user.recovery_codes)

    def _check_password(self, user: User, password: Any) -> None:
        if not isinstance(password, str) or not password_matches(user.password_hash, password):
            raise IncorrectPassword(reason=f"wrong password for {user.name}")

    @staticmethod
    def tfa_state(user: User) -> Any:
        if user.pending_secret is not None:
            return {"pending": True, "mode": (user.pending_mode or TwoFactorMode.AUTH_AND_WRITES).value}
        return {"pending": False, "mode": user.tfa.value} if user.tfa_enabled else None

    # -- tokens ------------------------------------------------------------------------------------

    def list_tokens(self, call: Call, *, page: int = 0, per_page: int = DEFAULT_PAGE_SIZE) -> TokenPage:
        with self._recording(Operation.LIST_TOKENS, call, None) as rec:
            rec.principal = principal = self._require_principal(call)
            if page < 0 or not 1 <= per_page <= 1000:
                raise BadRequest("Invalid paging: page >= 0 and 1 <= perPage <= 1000")
            # Session tokens (npm login) are not listed on today's registry.
            hidden = (TokenKind.SESSION, TokenKind.OIDC) if self.policy.session_ttl is not None else (TokenKind.OIDC,)
            mine = [
                t
                for t in self.tokens.values()
                if t.user == principal.user.name and not t.revoked and t.kind not in hidden
            ]
            mine.sort(key=lambda t: t.created)
            start = page * per_page
            more = start + per_page < len(mine)
            return TokenPage(mine[start : start + per_page], len(mine), page + 1 if more else None, per_page)

    def create_token_api(self, call: Call, body: Any) -> tuple[Token, str]:
        """``POST /-/npm/v1/tokens`` with the body ``npm token create`` (or npm-profile) sends."""
        with self._recording(Operation.CREATE_TOKEN, call, None) as rec:
            rec.principal = principal = self._require_principal(call)
            if not isinstance(body, dict):
                raise MalformedBody("Invalid token request: expected a JSON object")
            options = self._token_options(body)
            self._check_password(principal.user, body.get("password"))
            if self.policy.governance_gate(principal, "create tokens", tokens_api=True) is Gate.CHALLENGE:
                what = "create a token"
                rec.otp = self._second_factor(call, rec, what, f"{what} needs 2FA")
            return self.create_token(principal.user.name, **options)

    def _token_options(self, body: dict[str, Any]) -> dict[str, Any]:
        def strings(key: str) -> tuple[str, ...] | None:
            value = body.get(key)
            if value is None:
                return None
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise BadRequest(f"Invalid {key}: expected a list of names")
            return tuple(value)

        permission = body.get("packages_and_scopes_permission")
        readonly = body.get("readonly") is True
        if permission is not None and permission not in _PERMISSIONS:
            raise BadRequest(
                f"Invalid packages_and_scopes_permission {permission!r}: use read-only, read-write or"
                " read-write-stage-only"
            )
        orgs_permission = body.get("orgs_permission")
        if orgs_permission is not None and orgs_permission not in ("read-only", "read-write"):
            raise BadRequest(f"Invalid orgs_permission {orgs_permission!r}: use read-only or read-write")
        expires = body.get("expires", body.get("expires_in_days"))
        if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int) or expires < 1):
            raise BadRequest(f"Invalid expires {expires!r}: a whole number of days, at least 1")
        cidr = strings("cidr_whitelist") or strings("cidr")
        parse_cidr(cidr or ())  # with the other fields, before anything is made
        for scope in strings("scopes") or ():
            if not scope.startswith("@") or "/" in scope:
                raise BadRequest(f"Invalid scope {scope!r}: expected @scope")
        granular = any(
            k in body for k in ("packages", "scopes", "orgs", "packages_and_scopes_permission", "bypass_2fa")
        )
        if self.policy.legacy_tokens and not granular:
            kind = TokenKind.READ_ONLY if readonly else TokenKind.PUBLISH
        else:
            kind = TokenKind.GRANULAR
        packages = None if body.get("packages_all") else strings("packages")
        return {
            "kind": kind,
            "permission": Permission.READ_ONLY
            if readonly
            else _PERMISSIONS.get(permission or "", Permission.READ_WRITE),
            "bypass_2fa": bool(body.get("bypass_2fa")),
            "packages": packages,
            "scopes": strings("scopes"),
            "orgs": strings("orgs"),
            "orgs_permission": _PERMISSIONS.get(orgs_permission or ""),
            "cidr": cidr,
            "expires_in_days": expires,
            "name": body.get("name") if isinstance(body.get("name"), str) else None,
            "description": body.get("description", body.get("token_description")),
        }

    def revoke_token_api(self, call: Call, key: str) -> Token:
        """``DELETE /-/npm/v1/tokens/token/<key>``: by public key or by the token itself."""
        with self._recording(Operation.REVOKE_TOKEN, call, None) as rec:
            rec.principal = principal = self._require_principal(call)
            token = self.find_token(key)
            if token.user != principal.user.name or token.revoked:
                raise NotFound(f"Token not found: {key[:8]}...", reason=f"{principal.user.name} has no such token")
            if self.policy.governance_gate(principal, "revoke tokens", tokens_api=True) is Gate.CHALLENGE:
                what = "revoke a token"
                rec.otp = self._second_factor(call, rec, what, f"{what} needs 2FA")
            token.revoked = True
            return token
