"""Accounts: users, tokens, passwords, and who a request is (``identify``)."""

from __future__ import annotations

import ipaddress
import secrets
import string
from collections.abc import Iterable
from typing import Any

from .errors import (
    BadRequest,
    IncorrectPassword,
    IpNotAllowed,
    LoginRequired,
    NotFound,
    TokenNotFound,
    Unauthorized,
    UsageError,
)
from .models import (
    Call,
    ChallengeStyle,
    Operation,
    Permission,
    Principal,
    Token,
    TokenKind,
    TwoFactorMode,
    User,
    hash_password,
    password_matches,
    secret_hash,
)
from .otp import new_recovery_codes, new_totp_secret, valid_totp_secret
from .policy import DAY
from .state import RegistryState
from .validation import check_package_name

#: The longest token lifetime accepted (a century): past it, expiry dates stop being dates.
MAX_TOKEN_DAYS = 36_500

_TOKEN_ALPHABET = string.ascii_letters + string.digits


def new_token_secret() -> str:
    """``npm_`` and 36 characters, the shape of a public-registry token."""
    return "npm_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))


def new_password() -> str:
    """A password for an account created without one: random, never derived from the name."""
    return secrets.token_urlsafe(12)


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


class Accounts:
    """Users and their credentials."""

    def __init__(self, state: RegistryState) -> None:
        self.state = state

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
        with self.state.lock:
            if name in self.state.users:
                raise UsageError(f"user {name!r} already exists")
            user = User(
                name=name,
                email=email or f"{name}@example.com",
                password_hash=hash_password(password),
                tfa=tfa,
                paid=paid,
                challenge=challenge,
                security_key=security_key,
                created=self.state.clock.now(),
            )
            if tfa is not TwoFactorMode.NONE:
                if totp_secret is not None and not valid_totp_secret(totp_secret):
                    # Not echoed: a refused secret is still somebody's secret (and went to the journal).
                    raise BadRequest(
                        f"Invalid totp_secret ({len(totp_secret)} characters): base32, at least 128 bits "
                        "(26 characters or more)"
                    )
                user.totp_secret = totp_secret or new_totp_secret()
                user.recovery_codes = new_recovery_codes()
            self.state.users[name] = user
            return user

    def user(self, name: str) -> User:
        try:
            return self.state.users[name]
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
        if kind.legacy and not self.state.policy.legacy_tokens:
            raise BadRequest(
                f"Legacy {kind.value} tokens cannot be created under the {self.state.policy.name!r} policy; "
                "use a granular token (kind='granular'), or the 'classic' policy"
            )
        if expires_in_days is not None and not (0 < expires_in_days <= MAX_TOKEN_DAYS):  # NaN fails too
            raise BadRequest(
                f"Token lifetime must be more than 0 and at most {MAX_TOKEN_DAYS} days, {expires_in_days} requested"
            )
        writes = not (kind is TokenKind.READ_ONLY or permission is Permission.READ_ONLY)
        limit = self.state.policy.max_write_token_days
        if kind is TokenKind.GRANULAR and writes and limit is not None:
            if expires_in_days is None:
                expires_in_days = 7  # the public registry's default for write tokens
            if expires_in_days > limit:
                raise BadRequest(f"Write tokens may live at most {limit} days, {expires_in_days} requested")
        if kind is TokenKind.GRANULAR and not writes and expires_in_days is None:
            expires_in_days = self.state.policy.read_only_token_days  # API docs: 30 days, no maximum
        networks = None if cidr is None else parse_cidr(cidr)
        for package in packages or ():
            check_package_name(package)
        secret = secret or new_token_secret()
        now = self.state.clock.now()
        expires = None if expires_in_days is None else now + expires_in_days * DAY
        if kind is TokenKind.SESSION and self.state.policy.session_ttl is not None:
            expires = now + self.state.policy.session_ttl
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
        with self.state.lock:
            self.state.tokens[token.key_hash] = token
        return token, secret

    def find_token(self, key_or_secret: str) -> Token:
        """A token by its public key (``npm token list``'s ``key``) or by the secret itself."""
        token = self.state.tokens.get(secret_hash(key_or_secret))
        if token is None:
            token = next((t for t in self.state.tokens.values() if t.id == key_or_secret), None)
        if token is None:
            raise NotFound(f"Token not found: {key_or_secret[:8]}...", reason="no such token")
        return token

    def revoke_token(self, key_or_secret: str) -> Token:
        with self.state.lock:
            token = self.find_token(key_or_secret)
            token.revoked = True
            return token

    def check_password(self, user: User, password: Any) -> None:
        if not isinstance(password, str) or not password_matches(user.password_hash, password):
            raise IncorrectPassword(reason=f"wrong password for {user.name}")

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
            token = self.state.tokens.get(secret_hash(credential.token))
            if token is None:
                raise TokenNotFound(reason=f"token {credential.token[:8]}... is unknown")
            who = f"{token.user}'s {token.kind.value} token {token.prefix}..."
            state = token.state(self.state.clock.now())
            if state != "active":
                raise TokenNotFound(reason=f"{who} {'was revoked' if state == 'revoked' else 'expired'}")
            if token.cidr is not None and not _ip_in(call.client_ip, token.cidr):
                allowed = ", ".join(str(n) for n in token.cidr)
                raise IpNotAllowed(reason=f"{who} is limited to {allowed}; the client is {call.client_ip}")
            now = self.state.clock.now()
            if token.last_used is None or now - token.last_used >= 1.0:
                # Records change only under the lock; to the second is all "accessed" shows, so
                # the hot path takes the lock at most once a second per token.
                with self.state.lock:
                    token.last_used = now
            return Principal(self.state.users[token.user], token)
        user = self.state.users.get(credential.username or "")
        if user is None or not password_matches(user.password_hash, credential.password or ""):
            raise Unauthorized("Incorrect username or password", reason=f"bad password for {credential.username!r}")
        return Principal(user, None)

    def require_principal(self, call: Call) -> Principal:
        principal = self.identify(call)
        if principal is None:
            raise LoginRequired
        return principal

    def reader(self, call: Call) -> tuple[Principal | None, bool]:
        """For reads a bad token counts as anonymous; the flag says to add the expiry notice to a 404."""
        try:
            return self.identify(call), False
        except TokenNotFound:
            return None, True

    def whoami(self, call: Call) -> str:
        with self.state.recording(Operation.WHOAMI, call, None) as rec:
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
