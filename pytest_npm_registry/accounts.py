"""Accounts: users, tokens, who a request is, and second factors (TOTP, recovery codes, web 2FA)."""

from __future__ import annotations

import ipaddress
import secrets
import string
from collections.abc import Iterable

from .errors import (
    BadRequest,
    InvalidOtp,
    IpNotAllowed,
    LoginRequired,
    NotFound,
    OtpRequired,
    TokenNotFound,
    Unauthorized,
    UsageError,
    WebAuthAnswered,
    WebAuthRequired,
)
from .models import (
    Call,
    ChallengeStyle,
    Operation,
    OtpPath,
    Permission,
    Principal,
    Token,
    TokenKind,
    TwoFactorMode,
    User,
    WebAuthSession,
    hash_password,
    password_matches,
    secret_hash,
)
from .otp import check_second_factor, new_recovery_codes, new_totp_secret, new_web_otp, valid_totp_secret
from .policy import DAY
from .state import RegistryState, _Record
from .validation import check_package_name

#: The longest token lifetime accepted (a century): past it, expiry dates stop being dates.
MAX_TOKEN_DAYS = 36_500

_TOKEN_ALPHABET = string.ascii_letters + string.digits


def new_token_secret() -> str:
    """``npm_`` and 36 characters, the shape of a public-registry token."""
    return "npm_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))


def parse_cidr(entries: Iterable[str]) -> tuple[ipaddress.IPv4Network, ...]:
    """A token's allow-list. IPv4 only, as on the public registry: npm itself refuses others ("CIDR
    whitelist can only contain IPv4 addresses")."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.IPv4Network(entry, strict=False))
        except ValueError:
            raise BadRequest(f"Invalid CIDR entry {entry!r}: expected IPv4 like 10.0.0.0/8") from None
    return tuple(networks)


class Accounts(RegistryState):
    """Users and their credentials."""

    # -- accounts and tokens (fixture side) ---------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        password: str,
        email: str | None = None,
        tfa: TwoFactorMode = TwoFactorMode.NONE,
        totp_secret: str | None = None,
        paid: bool = False,
        challenge: ChallengeStyle = ChallengeStyle.WEB,
        security_key: bool = False,
    ) -> User:
        with self._lock:
            if name in self.users:
                raise UsageError(f"user {name!r} already exists")
            user = User(
                name=name,
                email=email or f"{name}@example.com",
                password_hash=hash_password(password),
                tfa=tfa,
                paid=paid,
                challenge=challenge,
                security_key=security_key,
                created=self.clock.now(),
            )
            if tfa is not TwoFactorMode.NONE:
                if totp_secret is not None and not valid_totp_secret(totp_secret):
                    raise BadRequest(
                        f"Invalid totp_secret {totp_secret!r}: base32, at least 128 bits (26 characters or more)"
                    )
                user.totp_secret = totp_secret or new_totp_secret()
                user.recovery_codes = new_recovery_codes()
            self.users[name] = user
            return user

    def user(self, name: str) -> User:
        try:
            return self.users[name]
        except KeyError:
            raise NotFound(f"User not found: {name}", reason=f"there is no user {name!r}") from None

    def create_token(
        self,
        user: str,
        *,
        kind: TokenKind = TokenKind.GRANULAR,
        permission: Permission = Permission.READ_WRITE,
        bypass_2fa: bool = False,
        packages: tuple[str, ...] | None = None,
        scopes: tuple[str, ...] | None = None,
        cidr: tuple[str, ...] | None = None,
        expires_in_days: float | None = None,
        name: str | None = None,
        description: str | None = None,
        orgs: tuple[str, ...] | None = None,
        orgs_permission: Permission | None = None,
        secret: str | None = None,
    ) -> tuple[Token, str]:
        """Mint a token for ``user``; returns the record and the secret (shown once, like npm)."""
        owner = self.user(user)
        if kind.legacy and not self.policy.legacy_tokens:
            raise BadRequest(
                f"Legacy {kind.value} tokens cannot be created under the {self.policy.name!r} policy; "
                "use a granular token (kind='granular'), or the 'classic' policy"
            )
        if expires_in_days is not None and not (0 < expires_in_days <= MAX_TOKEN_DAYS):  # NaN fails too
            raise BadRequest(
                f"Token lifetime must be more than 0 and at most {MAX_TOKEN_DAYS} days, {expires_in_days} requested"
            )
        writes = not (kind is TokenKind.READ_ONLY or permission is Permission.READ_ONLY)
        limit = self.policy.max_write_token_days
        if kind is TokenKind.GRANULAR and writes and limit is not None:
            if expires_in_days is None:
                expires_in_days = 7  # the public registry's default for write tokens
            if expires_in_days > limit:
                raise BadRequest(f"Write tokens may live at most {limit} days, {expires_in_days} requested")
        networks = None if cidr is None else parse_cidr(cidr)
        for package in packages or ():
            check_package_name(package)
        secret = secret or new_token_secret()
        now = self.clock.now()
        expires = None if expires_in_days is None else now + expires_in_days * DAY
        if kind is TokenKind.SESSION and self.policy.session_ttl is not None:
            expires = now + self.policy.session_ttl
        token = Token(
            # The public "key" npm lists tokens by and revokes them with: 64 hex digits.
            id=secrets.token_hex(32),
            key_hash=secret_hash(secret),
            prefix=secret[:8],
            user=owner.name,
            kind=kind,
            permission=Permission.READ_ONLY if kind is TokenKind.READ_ONLY else permission,
            bypass_2fa=bypass_2fa,
            packages=packages,
            scopes=scopes,
            cidr=networks,
            expires=expires,
            created=now,
            name=name,
            description=description,
            orgs=orgs,
            orgs_permission=orgs_permission,
            # Minted directly (by a test), an OIDC token may publish; the exchange sets the real list.
            oidc_permissions=("createPackage",) if kind is TokenKind.OIDC else (),
        )
        with self._lock:
            self.tokens[token.key_hash] = token
        return token, secret

    def find_token(self, key_or_secret: str) -> Token:
        """A token by its public key (``npm token list``'s ``key``) or by the secret itself."""
        token = self.tokens.get(secret_hash(key_or_secret))
        if token is None:
            token = next((t for t in self.tokens.values() if t.id == key_or_secret), None)
        if token is None:
            raise NotFound(f"Token not found: {key_or_secret[:8]}...", reason="no such token")
        return token

    def revoke_token(self, key_or_secret: str) -> Token:
        with self._lock:
            token = self.find_token(key_or_secret)
            token.revoked = True
            return token

    # -- authentication ----------------------------------------------------------------------------

    def identify(self, call: Call) -> Principal | None:
        """The principal behind ``call``; ``None`` when it carries no credential.

        Raises :class:`TokenNotFound` for an unknown, expired or revoked token, :class:`IpNotAllowed`
        when the token's CIDR allow-list excludes the client, :class:`Unauthorized` for a bad password.
        """
        credential = call.credential
        if credential is None:
            return None
        if credential.token is not None:
            token = self.tokens.get(secret_hash(credential.token))
            if token is None:
                raise TokenNotFound(reason=f"token {credential.token[:8]}... is unknown")
            who = f"{token.user}'s {token.kind.value} token {token.prefix}..."
            state = token.state(self.clock.now())
            if state != "active":
                raise TokenNotFound(reason=f"{who} {'was revoked' if state == 'revoked' else 'expired'}")
            if token.cidr is not None and not _ip_in(call.client_ip, token.cidr):
                allowed = ", ".join(str(n) for n in token.cidr)
                raise IpNotAllowed(reason=f"{who} is limited to {allowed}; the client is {call.client_ip}")
            token.last_used = self.clock.now()
            return Principal(self.users[token.user], token)
        user = self.users.get(credential.username or "")
        if user is None or not password_matches(user.password_hash, credential.password or ""):
            raise Unauthorized("Incorrect username or password", reason=f"bad password for {credential.username!r}")
        return Principal(user, None)

    def _require_principal(self, call: Call) -> Principal:
        principal = self.identify(call)
        if principal is None:
            raise LoginRequired
        return principal

    def _reader(self, call: Call) -> tuple[Principal | None, bool]:
        """For reads a bad token counts as anonymous; the flag says to add the expiry notice to a 404."""
        try:
            return self.identify(call), False
        except TokenNotFound:
            return None, True

    # -- second factors ----------------------------------------------------------------------------

    def _second_factor(self, call: Call, rec: _Record, what: str, reason: str) -> OtpPath:
        """Verify the OTP the call carries, or raise the challenge the client understands, for the
        operation ``rec`` records on behalf of its principal."""
        assert rec.principal is not None
        assert rec.operation is not None
        with self._lock:  # one-time codes are consumed: two requests must not both spend one
            return self._check_or_challenge(call, rec.principal, rec.operation, what, reason)

    def _check_or_challenge(
        self, call: Call, principal: Principal, operation: Operation, what: str, reason: str
    ) -> OtpPath:
        user = principal.user
        if call.otp:
            path = check_second_factor(user, call.otp, self.clock.now())
            if path is not None:
                return path
            raise InvalidOtp(reason=f"{reason}; the OTP sent was wrong, used or expired")
        if call.web_auth and user.challenge is ChallengeStyle.WEB and not user.security_key:
            session = self._open_web_auth(principal, operation, what)
            raise WebAuthRequired(auth_path=session.auth_path, done_path=session.done_path, reason=reason)
        if user.security_key:
            session = self._open_web_auth(principal, operation, what)
            raise OtpRequired(reason=reason, security_key_path=session.auth_path)
        if not user.tfa_enabled and self.policy.email_otp_without_2fa:
            # An account without 2FA gets its one-time code by email (8 digits, public registry).
            code = "".join(secrets.choice("0123456789") for _ in range(8))
            user.web_otps.append(code)
            user.outbox.append(code)
            raise OtpRequired(reason=f"{reason}; a one-time code was emailed to {user.email}")
        raise OtpRequired(reason=reason)

    def _open_web_auth(self, principal: Principal, operation: Operation, what: str) -> WebAuthSession:
        token = principal.token
        # Not a UUID: npm redacts UUIDs in what it prints, and the URLs must stay readable.
        session = WebAuthSession(
            id=secrets.token_hex(8),
            user=principal.user.name,
            operation=operation,
            description=what,
            created=self.clock.now(),
            credential=f"{principal.credential} {token.prefix}..." if token else principal.credential,
        )
        self.web_auth[session.id] = session
        if self.auto_approve_web_auth:
            self.approve_web_auth(session.id, by="at once (auto_approve_web_auth)")
        return session

    def approve_web_auth(self, session_id: str, *, by: str = "by the test") -> WebAuthSession:
        """What a person does on the ``authUrl`` page: the next poll of ``doneUrl`` gets a one-time
        OTP. ``by``: how, for the journal ("in the browser")."""
        return self._answer_web_auth(session_id, approve=True, by=by)

    def deny_web_auth(self, session_id: str, *, by: str = "by the test") -> WebAuthSession:
        """Refuse on the ``authUrl`` page: npm's next poll of ``doneUrl`` answers 404."""
        return self._answer_web_auth(session_id, approve=False, by=by)

    def _answer_web_auth(self, session_id: str, *, approve: bool, by: str) -> WebAuthSession:
        with self._lock:
            session = self.web_session(session_id)
            if session.denied if approve else session.approved:  # answered the other way: final
                raise WebAuthAnswered(session_id, "denied" if approve else "approved")
            if session.approved or session.denied:  # the same answer again
                return session
            if approve:
                session.approved, session.otp = True, new_web_otp()
                self.users[session.user].web_otps.append(session.otp)
            else:
                session.denied = True
            then = "" if approve else "; npm's poll answers 404"
            self.journal_event(
                Operation.WEB_AUTH_APPROVE,
                user=session.user,
                package=None,
                accepted=approve,
                reason=f"{session.user} {'approved' if approve else 'denied'} {session.description} {by}{then}",
            )
            return session

    def web_session(self, session_id: str) -> WebAuthSession:
        session = self.web_auth.get(session_id)
        if session is None:
            raise NotFound(reason=f"no web-auth session {session_id}")
        if self.clock.now() > session.expires:
            raise NotFound(reason=f"web-auth session {session_id} expired")
        return session

    def poll_web_auth(self, call: Call, session_id: str) -> str | None:
        """``GET doneUrl``: ``None`` while pending, then the one-time OTP npm sends back as ``npm-otp``."""
        with self._recording(Operation.WEB_AUTH_POLL, call, None) as rec:
            session = self.web_session(session_id)
            principal = self.identify(call)
            rec.principal = principal
            # The poll carries the user's own bearer token; anyone else is told nothing.
            if principal is None or principal.user.name != session.user:
                raise NotFound(reason=f"web-auth poll for {session.user}'s session without their credential")
            if session.denied:
                raise NotFound("Web authentication was denied", reason=f"{session.user} denied {session.description}")
            rec.status = 200 if session.approved else 202
            return session.otp if session.approved else None

    def whoami(self, call: Call) -> str:
        with self._recording(Operation.WHOAMI, call, None) as rec:
            try:
                rec.principal = self.identify(call)
            except TokenNotFound as exc:
                # The public registry answers a dead token on /-/whoami with a bare 401.
                raise Unauthorized("Unauthorized", reason=exc.reason) from None
            if rec.principal is None:
                raise Unauthorized("Unauthorized", reason="no credential was sent")
            return rec.principal.user.name


def _ip_in(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
