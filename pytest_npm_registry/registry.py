"""The registry: all state, and one method per registry operation.

Nothing here knows HTTP. Each operation takes a :class:`Call` (credential, OTP, client address),
raises the registry's real error when it refuses, and leaves a journal entry either way. Writes
happen under one lock and replace whole :class:`Package` records, so a reader never sees a version
without its tarball and a refused publish leaves nothing behind.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import string
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from .clock import Clock
from .errors import (
    AlreadyStaged,
    BadRequest,
    CannotPublishOver,
    InvalidOtp,
    IpNotAllowed,
    LoginRequired,
    NotAMaintainer,
    NotFound,
    OtpRequired,
    PackageNotFound,
    PaymentRequired,
    RegistryError,
    TokenNotFound,
    Unauthorized,
    UsageError,
    VersionNotFound,
    WebAuthRequired,
)
from .journal import Journal, JournalEntry
from .models import (
    Access,
    Call,
    ChallengeStyle,
    Operation,
    OtpPath,
    Outcome,
    Package,
    Permission,
    Principal,
    PublishRequirement,
    Token,
    TokenKind,
    TwoFactorMode,
    User,
    Version,
    WebAuthSession,
    secret_hash,
)
from .otp import check_second_factor, new_recovery_codes, new_totp_secret, new_web_otp
from .policy import DAY, Gate, Policy
from .validation import check_package_name, check_tag, check_version, parse_publish, version_key

#: A publish of the very bytes just accepted, within this many seconds, is a client retry (npm
#: retries PUTs after a 5xx or a timeout) and gets the public registry's 409; later it is a 403.
REPLAY_WINDOW = 120.0
#: How long a web-2FA session can wait for approval.
WEB_AUTH_TTL = 300.0

_TOKEN_ALPHABET = string.ascii_letters + string.digits


def new_token_secret() -> str:
    """``npm_`` and 36 characters, the shape of a public-registry token."""
    return "npm_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))


@dataclass
class _Record:
    """What an operation learns as it goes, for its journal entry."""

    principal: Principal | None = None
    version: str | None = None
    tag: str | None = None
    otp: OtpPath = OtpPath.NONE
    status: int = 200


class Registry:
    """All registry state. ``reset()`` rebuilds it from scratch."""

    def __init__(self, policy: Policy | str = "current", *, journal_limit: int = 20_000) -> None:
        self.policy = Policy.preset(policy) if isinstance(policy, str) else policy
        self.clock = Clock()
        self.journal = Journal(journal_limit)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}  # by hash of the secret
        self.packages: dict[str, Package] = {}
        self.web_auth: dict[str, WebAuthSession] = {}
        self.auto_approve_web_auth = False
        self._journal_limit = journal_limit
        self._lock = threading.RLock()

    def reset(self, policy: Policy | str | None = None) -> None:
        """Forget everything: users, tokens, packages, journal, clock offset."""
        self.__init__(policy or self.policy, journal_limit=self._journal_limit)  # type: ignore[misc]

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
                password_hash=secret_hash(password),
                tfa=tfa,
                paid=paid,
                challenge=challenge,
                security_key=security_key,
                created=self.clock.now(),
            )
            if tfa is not TwoFactorMode.NONE:
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
        secret: str | None = None,
    ) -> tuple[Token, str]:
        """Mint a token for ``user``; returns the record and the secret (shown once, like npm)."""
        owner = self.user(user)
        if kind.legacy and not self.policy.legacy_tokens:
            raise BadRequest(
                f"Legacy {kind.value} tokens cannot be created under the {self.policy.name!r} policy; "
                "use a granular token (kind='granular'), or the 'classic' policy"
            )
        writes = not (kind is TokenKind.READ_ONLY or permission is Permission.READ_ONLY)
        limit = self.policy.max_write_token_days
        if kind is TokenKind.GRANULAR and writes and limit is not None:
            if expires_in_days is None:
                expires_in_days = 7  # the public registry's default for write tokens
            if expires_in_days > limit:
                raise BadRequest(f"Write tokens may live at most {limit} days, {expires_in_days} requested")
        networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None
        if cidr is not None:
            try:
                networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidr)
            except ValueError as exc:
                raise BadRequest(f"Invalid CIDR allow-list: {exc}") from None
        for package in packages or ():
            check_package_name(package)
        secret = secret or new_token_secret()
        now = self.clock.now()
        expires = None if expires_in_days is None else now + expires_in_days * DAY
        if kind is TokenKind.SESSION and self.policy.session_ttl is not None:
            expires = now + self.policy.session_ttl
        token = Token(
            id=str(uuid.uuid4()),
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
        )
        with self._lock:
            self.tokens[token.key_hash] = token
        return token, secret

    def revoke_token(self, token_id: str) -> None:
        with self._lock:
            for token in self.tokens.values():
                if token.id == token_id:
                    token.revoked = True
                    return
        raise NotFound(f"Token not found: {token_id}")

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
            if token.revoked:
                raise TokenNotFound(reason=f"{who} was revoked")
            if token.expires is not None and self.clock.now() >= token.expires:
                raise TokenNotFound(reason=f"{who} expired")
            if token.cidr is not None and not _ip_in(call.client_ip, token.cidr):
                allowed = ", ".join(str(n) for n in token.cidr)
                raise IpNotAllowed(reason=f"{who} is limited to {allowed}; the client is {call.client_ip}")
            return Principal(self.users[token.user], token)
        user = self.users.get(credential.username or "")
        if user is None or not hmac.compare_digest(user.password_hash, secret_hash(credential.password or "")):
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

    def _second_factor(self, call: Call, principal: Principal, operation: Operation, what: str, reason: str) -> OtpPath:
        """Verify the OTP the call carries, or raise the challenge the client understands."""
        user = principal.user
        if call.otp:
            path = check_second_factor(user, call.otp, self.clock.now())
            if path is not None:
                return path
            raise InvalidOtp(reason=f"{reason}; the OTP sent was wrong, used or expired")
        if call.web_auth and user.challenge is ChallengeStyle.WEB and not user.security_key:
            session = self._open_web_auth(user, operation, what)
            raise WebAuthRequired(auth_path=session.auth_path, done_path=session.done_path, reason=reason)
        if user.security_key:
            session = self._open_web_auth(user, operation, what)
            raise OtpRequired(reason=reason, security_key_path=session.auth_path)
        raise OtpRequired(reason=reason)

    def _open_web_auth(self, user: User, operation: Operation, what: str) -> WebAuthSession:
        # Not a UUID: npm redacts UUIDs in what it prints, and the URLs must stay readable.
        session = WebAuthSession(
            id=secrets.token_hex(8), user=user.name, operation=operation, description=what, created=self.clock.now()
        )
        self.web_auth[session.id] = session
        if self.auto_approve_web_auth:
            self.approve_web_auth(session.id)
        return session

    def approve_web_auth(self, session_id: str) -> WebAuthSession:
        """What a person does on the ``authUrl`` page: the next poll of ``doneUrl`` gets a one-time OTP."""
        with self._lock:
            session = self.web_session(session_id)
            if not session.approved:
                session.approved = True
                session.otp = new_web_otp()
                self.users[session.user].web_otps.append(session.otp)
            return session

    def deny_web_auth(self, session_id: str) -> WebAuthSession:
        with self._lock:
            session = self.web_session(session_id)
            session.denied = True
            return session

    def web_session(self, session_id: str) -> WebAuthSession:
        session = self.web_auth.get(session_id)
        if session is None:
            raise NotFound(reason=f"no web-auth session {session_id}")
        if self.clock.now() > session.created + WEB_AUTH_TTL:
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

    # -- reads -------------------------------------------------------------------------------------

    def package(self, name: str) -> Package:
        """A package record, for the fixture API; raises :class:`PackageNotFound`."""
        package = self.packages.get(name)
        if package is None:
            raise PackageNotFound(reason=f"{name} does not exist")
        return package

    def _visible(self, name: str, principal: Principal | None, bad_token: bool) -> Package:
        package = self.packages.get(name)
        if package is not None and package.access is Access.RESTRICTED:
            if principal is None or principal.user.name not in package.maintainers:
                package = None
        if package is None:
            raise PackageNotFound(
                reason=f"{name} does not exist or is not visible to this credential",
                notice=TokenNotFound(reason="").notice if bad_token else None,
            )
        return package

    def read_package(self, call: Call, name: str) -> Package:
        with self._recording(Operation.READ_PACKAGE, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            return self._visible(name, rec.principal, bad_token)

    def read_version(self, call: Call, name: str, spec: str) -> tuple[Package, Version]:
        with self._recording(Operation.READ_VERSION, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            package = self._visible(name, rec.principal, bad_token)
            version = package.dist_tags.get(spec, spec)
            rec.version = version
            if version not in package.versions:
                raise VersionNotFound(name, spec)
            return package, package.versions[version]

    def download(self, call: Call, name: str, filename: str) -> Version:
        """A tarball by file name: ``<name>-<v>.tgz``, with or without the scope."""
        with self._recording(Operation.DOWNLOAD, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            package = self._visible(name, rec.principal, bad_token)
            basename = name.rsplit("/", 1)[-1]
            for prefix in (f"{name}-", f"{basename}-"):
                if filename.startswith(prefix) and filename.endswith(".tgz"):
                    rec.version = filename[len(prefix) : -len(".tgz")]
                    if rec.version in package.versions:
                        return package.versions[rec.version]
            raise NotFound(reason=f"{name} has no tarball {filename!r}")

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

    def ping(self, call: Call) -> None:
        with self._recording(Operation.PING, call, None) as rec:
            rec.principal, _ = self._reader(call)

    def note(self, call: Call, operation: Operation, *, status: int = 200) -> None:
        """Journal a request that has no registry logic (audit, visibility)."""
        with self._recording(operation, call, None) as rec:
            rec.principal, _ = self._reader(call)
            rec.status = status

    # -- publish -----------------------------------------------------------------------------------

    def publish(self, call: Call, name: str, document: Any) -> Package:
        """``PUT /<name>``: validate, authorise, challenge, then commit the one version atomically."""
        with self._recording(Operation.PUBLISH, call, name) as rec:
            rec.principal = principal = self._require_principal(call)
            request = parse_publish(name, document)
            rec.version, rec.tag = request.version, request.tag
            with self._lock:
                existing = self.packages.get(name)
                if existing is not None and principal.user.name not in existing.maintainers:
                    raise NotAMaintainer(
                        name, reason=f"{principal.user.name} is not a maintainer of {name} ({', '.join(existing.maintainers)})"
                    )
                requirement = existing.requirement if existing else self.policy.default_requirement
                gate = self.policy.publish_gate(principal, requirement, name)
                if existing is not None and request.version in existing.versions:
                    self._refuse_republish(existing, request.version, request.shasum)
                access = Access(request.access) if request.access else None
                if existing is None and name.startswith("@") and access is not Access.PUBLIC and not principal.user.paid:
                    raise PaymentRequired(
                        name, reason=f"new scoped package {name} would be restricted and {principal.user.name} has no paid plan"
                    )
                if gate is Gate.CHALLENGE:
                    reason = self.policy.challenge_reason(principal, requirement)
                    rec.otp = self._second_factor(call, principal, Operation.PUBLISH, f"publish {name}@{request.version}", reason)
                self._commit_version(
                    existing,
                    name,
                    Version(
                        version=request.version,
                        manifest=request.manifest,
                        tarball=request.tarball,
                        integrity=request.integrity,
                        shasum=request.shasum,
                        published=self.clock.now(),
                        publisher=principal.user.name,
                        attachments=request.extra_attachments,
                    ),
                    tag=request.tag,
                    maintainer=principal.user.name,
                    access=access,
                )
            return self.packages[name]

    def _refuse_republish(self, package: Package, version: str, shasum: str) -> None:
        existing = package.versions[version]
        if existing.shasum == shasum and self.clock.now() - existing.published <= REPLAY_WINDOW:
            raise AlreadyStaged(version, reason=f"{package.name}@{version} was accepted moments ago (a retried PUT?)")
        raise CannotPublishOver(version, reason=f"{package.name}@{version} already exists")

    def _commit_version(
        self,
        existing: Package | None,
        name: str,
        version: Version,
        *,
        tag: str,
        maintainer: str,
        access: Access | None,
        requirement: PublishRequirement | None = None,
    ) -> Package:
        now = version.published
        if existing is None:
            existing = Package(
                name=name,
                versions={},
                dist_tags={},
                maintainers=(maintainer,),
                access=access or (Access.RESTRICTED if name.startswith("@") else Access.PUBLIC),
                requirement=requirement or self.policy.default_requirement,
                created=now,
                modified=now,
                rev=0,
            )
        package = replace(
            existing,
            versions={**existing.versions, version.version: version},
            dist_tags={**existing.dist_tags, tag: version.version},
            access=access or existing.access,
            modified=now,
            rev=existing.rev + 1,
        )
        self.packages[name] = package
        return package

    def seed(
        self,
        name: str,
        document: dict[str, Any],
        *,
        maintainer: str,
        requirement: PublishRequirement | None = None,
    ) -> Package:
        """Publish without HTTP or authorisation (the fixture's ``publish``); validation still applies."""
        self.user(maintainer)
        request = parse_publish(name, document)
        with self._lock:
            existing = self.packages.get(name)
            if existing is not None and request.version in existing.versions:
                raise CannotPublishOver(request.version)
            version = Version(
                version=request.version,
                manifest=request.manifest,
                tarball=request.tarball,
                integrity=request.integrity,
                shasum=request.shasum,
                published=self.clock.now(),
                publisher=maintainer,
            )
            access = Access(request.access) if request.access else None
            return self._commit_version(
                existing, name, version, tag=request.tag, maintainer=maintainer, access=access, requirement=requirement
            )

    def set_publish_requirement(self, name: str, requirement: PublishRequirement) -> Package:
        with self._lock:
            package = replace(self.package(name), requirement=requirement, rev=self.package(name).rev + 1)
            self.packages[name] = package
            return package

    # -- dist-tags ---------------------------------------------------------------------------------

    def dist_tags(self, call: Call, name: str) -> dict[str, str]:
        with self._recording(Operation.LIST_DIST_TAGS, call, name) as rec:
            rec.principal, bad_token = self._reader(call)
            return dict(self._visible(name, rec.principal, bad_token).dist_tags)

    def add_dist_tag(self, call: Call, name: str, tag: str, version: Any) -> Package:
        with self._recording(Operation.ADD_DIST_TAG, call, name) as rec:
            rec.tag = tag
            rec.principal = self._require_principal(call)
            check_tag(tag)
            if not isinstance(version, str):
                raise BadRequest("Invalid dist-tag body: expected a JSON string holding a version, like \"1.0.0\"")
            check_version(version)
            rec.version = version
            return self._change_dist_tag(call, rec, name, tag, version)

    def remove_dist_tag(self, call: Call, name: str, tag: str) -> Package:
        with self._recording(Operation.REMOVE_DIST_TAG, call, name) as rec:
            rec.tag = tag
            rec.principal = self._require_principal(call)
            if tag == "latest":
                raise BadRequest("The latest dist-tag cannot be removed; point it at another version instead")
            return self._change_dist_tag(call, rec, name, tag, None)

    def _change_dist_tag(self, call: Call, rec: _Record, name: str, tag: str, version: str | None) -> Package:
        principal = rec.principal
        assert principal is not None
        with self._lock:
            package = self._visible(name, principal, bad_token=False)
            if principal.user.name not in package.maintainers:
                raise NotAMaintainer(name, reason=f"{principal.user.name} is not a maintainer of {name}")
            # Adding or removing a non-latest tag is exempt from auth-and-writes 2FA (npm docs).
            gate = self.policy.write_gate(principal, name, tfa_exempt=tag != "latest")
            if version is not None and version not in package.versions:
                raise NotFound(f"version not found: {version}", reason=f"{name} has no version {version}")
            if version is None and tag not in package.dist_tags:
                raise NotFound(f"dist-tag not found: {tag}", reason=f"{name} has no dist-tag {tag!r}")
            if gate is Gate.CHALLENGE:
                what = f"dist-tag {'add' if version else 'rm'} {name} {tag}"
                rec.otp = self._second_factor(call, principal, rec_operation(version), what, self.policy.challenge_reason(principal))
            tags = dict(package.dist_tags)
            if version is None:
                rec.version = tags.pop(tag)
            else:
                tags[tag] = version
            package = replace(package, dist_tags=tags, modified=self.clock.now(), rev=package.rev + 1)
            self.packages[name] = package
            return package

    # -- journal -----------------------------------------------------------------------------------

    @contextmanager
    def _recording(self, operation: Operation, call: Call, package: str | None) -> Iterator[_Record]:
        rec = _Record()
        try:
            yield rec
        except RegistryError as exc:
            self._record(operation, call, package, rec, exc.outcome, exc.status, exc.reason)
            raise
        else:
            self._record(operation, call, package, rec, Outcome.ACCEPTED, rec.status, None)

    def _record(
        self, operation: Operation, call: Call, package: str | None, rec: _Record, outcome: Outcome, status: int, reason: str | None
    ) -> None:
        principal = rec.principal
        token = principal.token if principal else None
        credential = principal.credential if principal else None
        if principal is None and call.credential is not None:
            credential = "invalid"
        self.journal.record(
            JournalEntry(
                time=self.clock.now(),
                operation=operation,
                outcome=outcome,
                status=status,
                package=package,
                version=rec.version,
                tag=rec.tag,
                user=principal.user.name if principal else None,
                credential=credential,
                token=f"{token.prefix}..." if token else None,
                otp=rec.otp,
                reason=reason,
            )
        )


def rec_operation(version: str | None) -> Operation:
    return Operation.ADD_DIST_TAG if version is not None else Operation.REMOVE_DIST_TAG


def _ip_in(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
