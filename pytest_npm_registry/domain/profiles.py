"""What ``npm profile`` and ``npm token`` drive: the profile, 2FA set-up and changes, tokens.

Token management, profile and 2FA changes are governance actions: 2FA-gated in both account modes,
refused to bypass-2FA tokens under the ``current`` policy (``Policy.governance_gate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .accounts import Accounts, parse_cidr
from .challenges import Challenges
from .errors import (
    BadRequest,
    MalformedBody,
    NotFound,
)
from .models import (
    Call,
    Operation,
    Permission,
    Token,
    TokenKind,
    TokenRequest,
    TwoFactorMode,
    User,
    hash_password,
)
from .otp import new_recovery_codes, new_totp_secret, totp_matches
from .policy import Gate
from .state import RegistryState

PROFILE_FIELDS = ("fullname", "homepage", "freenode", "twitter", "github")
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class TokenPage:
    tokens: list[Token]
    total: int
    next_page: int | None
    per_page: int


class Profiles:
    """What ``npm login``, ``npm logout``, ``npm profile`` and ``npm token`` do."""

    def __init__(self, state: RegistryState, accounts: Accounts, challenges: Challenges) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges

    # -- profile and 2FA ---------------------------------------------------------------------------

    def profile(self, call: Call) -> User:
        with self.state.recording(Operation.READ_PROFILE, call, None) as rec:
            rec.principal = self.accounts.require_principal(call)
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
        with self.state.recording(Operation.SET_PROFILE, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
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
            if self.state.policy.governance_gate(principal, "change the profile") is Gate.CHALLENGE:
                rec.otp = self.challenges.second_factor(call, rec, "change the profile", "profile")
            with self.state.lock:
                if password is not None:
                    self.accounts.check_password(user, password["old"])
                    user.password_hash = hash_password(password["new"])
                if body.get("email") and body["email"] != user.email:
                    user.email = str(body["email"])
                    self.state.people_rev += 1
                for key in PROFILE_FIELDS:
                    if key in body:
                        user.profile[key] = "" if body[key] is None else str(body[key])
                user.updated = self.state.clock.now()
                return user, self.tfa_state(user)

    def _change_2fa(self, call: Call, tfa: dict[str, Any]) -> tuple[User, Any]:
        mode = tfa.get("mode")
        operation = Operation.DISABLE_2FA if mode == "disable" else Operation.ENABLE_2FA
        with self.state.recording(operation, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            user = principal.user
            if mode not in ("disable", TwoFactorMode.AUTH_ONLY, TwoFactorMode.AUTH_AND_WRITES):
                raise BadRequest(f"Invalid 2FA mode {mode!r}: use auth-only, auth-and-writes or disable")
            self.accounts.check_password(user, tfa.get("password"))
            action = "disable two-factor authentication" if mode == "disable" else "change two-factor authentication"
            if mode == "disable" and not user.tfa_enabled:
                user.pending_secret = user.pending_mode = None  # npm clears a pending set-up this way
                return user, None
            if user.tfa_enabled:
                # Switching or disabling an active 2FA needs that 2FA.
                if self.state.policy.governance_gate(principal, action) is Gate.CHALLENGE:
                    rec.otp = self.challenges.second_factor(call, rec, action, f"{action} needs 2FA")
                if mode == "disable":
                    user.tfa, user.totp_secret, user.recovery_codes = TwoFactorMode.NONE, None, []
                    return user, None
                user.tfa = TwoFactorMode(mode)
                return user, self.tfa_state(user)
            self.state.policy.governance_gate(principal, action)  # refusals only: this step is password-checked
            user.pending_secret = new_totp_secret()
            user.pending_mode = TwoFactorMode(mode)
            # The shape the public registry sends: otpauth://totp/npm:<name>?secret=...&issuer=npm
            return user, f"otpauth://totp/npm:{quote(user.name)}?secret={user.pending_secret}&issuer=npm"

    def _confirm_2fa(self, call: Call, codes: list[Any]) -> tuple[User, Any]:
        with self.state.recording(Operation.CONFIRM_2FA, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            user = principal.user
            if user.pending_secret is None or user.pending_mode is None:
                raise BadRequest("No two-factor authentication set-up is pending: send {tfa: {mode, password}} first")
            code = str(codes[0]) if len(codes) == 1 else ""
            if not totp_matches(user.pending_secret, code, self.state.clock.now()):
                raise BadRequest(
                    "Invalid OTP: the code does not match the new secret",
                    reason=f"{user.name} confirmed 2FA with a bad code",
                )
            user.tfa, user.totp_secret = user.pending_mode, user.pending_secret
            user.pending_secret = user.pending_mode = None
            user.recovery_codes = new_recovery_codes()
            return user, list(user.recovery_codes)

    @staticmethod
    def tfa_state(user: User) -> Any:
        if user.pending_secret is not None:
            return {"pending": True, "mode": (user.pending_mode or TwoFactorMode.AUTH_AND_WRITES).value}
        return {"pending": False, "mode": user.tfa.value} if user.tfa_enabled else None

    # -- tokens ------------------------------------------------------------------------------------

    def list_tokens(self, call: Call, *, page: int = 0, per_page: int = DEFAULT_PAGE_SIZE) -> TokenPage:
        with self.state.recording(Operation.LIST_TOKENS, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            if page < 0 or not 1 <= per_page <= 1000:
                raise BadRequest("Invalid paging: page >= 0 and 1 <= perPage <= 1000")
            # Session tokens (npm login) are not listed on today's registry.
            hidden = (
                (TokenKind.SESSION, TokenKind.OIDC) if self.state.policy.session_ttl is not None else (TokenKind.OIDC,)
            )
            mine = [
                t
                for t in self.state.tokens.values()
                if t.user == principal.user.name and not t.revoked and t.kind not in hidden
            ]
            mine.sort(key=lambda t: t.created)
            start = page * per_page
            more = start + per_page < len(mine)
            return TokenPage(mine[start : start + per_page], len(mine), page + 1 if more else None, per_page)

    def create_token_api(self, call: Call, request: TokenRequest) -> tuple[Token, str]:
        """``POST /-/npm/v1/tokens`` with what ``npm token create`` (or npm-profile) sends."""
        with self.state.recording(Operation.CREATE_TOKEN, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            parse_cidr(request.cidr or ())  # with the other fields, before anything is made
            self.accounts.check_password(principal.user, request.password)
            if self.state.policy.governance_gate(principal, "create tokens", tokens_api=True) is Gate.CHALLENGE:
                what = "create a token"
                rec.otp = self.challenges.second_factor(call, rec, what, f"{what} needs 2FA")
            # Under the classic policy a request without granular fields asks for a legacy token.
            if self.state.policy.legacy_tokens and not request.granular:
                kind = TokenKind.READ_ONLY if request.readonly else TokenKind.PUBLISH
            else:
                kind = TokenKind.GRANULAR
            return self.accounts.create_token(
                principal.user.name,
                kind=kind,
                permission=Permission.READ_ONLY if request.readonly else request.permission or Permission.READ_WRITE,
                bypass_2fa=request.bypass_2fa,
                packages=request.packages,
                scopes=request.scopes,
                orgs=request.orgs,
                orgs_permission=request.orgs_permission,
                cidr=request.cidr,
                expires_in_days=request.expires_in_days,
                name=request.name,
                description=request.description,
            )

    def revoke_token_api(self, call: Call, key: str) -> Token:
        """``DELETE /-/npm/v1/tokens/token/<key>``: by public key or by the token itself."""
        with self.state.recording(Operation.REVOKE_TOKEN, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            token = self.accounts.find_token(key)
            if token.user != principal.user.name or token.revoked:
                raise NotFound(f"Token not found: {key[:8]}...", reason=f"{principal.user.name} has no such token")
            if self.state.policy.governance_gate(principal, "revoke tokens", tokens_api=True) is Gate.CHALLENGE:
                what = "revoke a token"
                rec.otp = self.challenges.second_factor(call, rec, what, f"{what} needs 2FA")
            token.revoked = True
            return token
