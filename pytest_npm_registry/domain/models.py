"""Registry records and the wire vocabularies they use.

Plain data: the rules that read these records live in ``policy.py`` and ``registry.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TwoFactorMode(StrEnum):
    """An account's 2FA setting, as ``npm profile enable-2fa`` names it."""

    NONE = "none"
    AUTH_ONLY = "auth-only"
    AUTH_AND_WRITES = "auth-and-writes"


class TokenKind(StrEnum):
    """What kind of credential a token is.

    ``session`` tokens come from ``npm login``; ``granular`` are today's access tokens;
    ``read-only`` / ``publish`` / ``automation`` are the legacy kinds of the ``classic`` policy;
    ``oidc`` tokens come from a trusted-publishing exchange.
    """

    SESSION = "session"
    GRANULAR = "granular"
    READ_ONLY = "read-only"
    PUBLISH = "publish"
    AUTOMATION = "automation"
    OIDC = "oidc"

    @property
    def legacy(self) -> bool:
        return self in (TokenKind.READ_ONLY, TokenKind.PUBLISH, TokenKind.AUTOMATION)


class Permission(StrEnum):
    """A granular token's package permission (``--packages-and-scopes-permission``)."""

    READ_ONLY = "read-only"
    READ_WRITE = "read-write"
    #: Stages versions for a human to approve (npm >= 11.21); never publishes directly.
    STAGE_ONLY = "read-write-stage-only"


class PublishRequirement(StrEnum):
    """A package's publishing rule, as ``npm access set mfa=<value>`` names it.

    ``none``: ``publish_requires_tfa: false``; ``automation``: 2FA or a bypass token (the default for
    new packages today); ``publish``: 2FA and no tokens.
    """

    NONE = "none"
    AUTOMATION = "automation"
    PUBLISH = "publish"


class Access(StrEnum):
    PUBLIC = "public"
    RESTRICTED = "restricted"


class OrgRole(StrEnum):
    """An org member's role, as ``npm org set`` names it."""

    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"


class ChallengeStyle(StrEnum):
    """How the registry asks a user for a second factor when the client supports both."""

    WEB = "web"
    CLASSIC = "classic"


class OtpPath(StrEnum):
    """Which second factor let a request through."""

    NONE = "none"
    TOTP = "totp"
    RECOVERY_CODE = "recovery-code"
    WEB = "web"
    #: No second factor: within the 5 minutes a person chose to skip 2FA for bulk ``npm trust``.
    SKIP_WINDOW = "skip-window"


class InvitationState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    #: Answered too late, or replaced by a new invitation after it lapsed.
    EXPIRED = "expired"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    CHALLENGED = "challenged"
    REJECTED = "rejected"


class Operation(StrEnum):
    """Registry operations, as the journal names them."""

    PING = "ping"
    WHOAMI = "whoami"
    READ_PACKAGE = "read-package"
    READ_VERSION = "read-version"
    DOWNLOAD = "download"
    PUBLISH = "publish"
    LIST_DIST_TAGS = "dist-tag-ls"
    ADD_DIST_TAG = "dist-tag-add"
    REMOVE_DIST_TAG = "dist-tag-rm"
    AUDIT = "audit"
    WEB_AUTH_POLL = "web-auth-poll"
    WEB_AUTH_APPROVE = "web-auth-approve"
    VISIBILITY = "visibility"
    LOGIN = "login"
    LOGIN_POLL = "login-poll"
    ADDUSER = "adduser"
    LOGOUT = "logout"
    READ_USER = "read-user"
    READ_PROFILE = "profile-get"
    SET_PROFILE = "profile-set"
    ENABLE_2FA = "tfa-enable"
    CONFIRM_2FA = "tfa-confirm"
    DISABLE_2FA = "tfa-disable"
    LIST_TOKENS = "token-list"
    CREATE_TOKEN = "token-create"  # noqa: S105 - an operation name, not a secret
    REVOKE_TOKEN = "token-revoke"  # noqa: S105
    CHANGE_OWNERS = "owner-change"
    ACCEPT_INVITATION = "invitation-accept"
    SET_ACCESS = "access-set"
    LIST_COLLABORATORS = "access-collaborators"
    LIST_PACKAGES = "access-packages"
    GRANT = "access-grant"
    REVOKE_GRANT = "access-revoke"
    DEPRECATE = "deprecate"
    UNPUBLISH = "unpublish"
    ORG_MEMBERS = "org-ls"
    SET_ORG_MEMBER = "org-set"
    REMOVE_ORG_MEMBER = "org-rm"
    CREATE_TEAM = "team-create"
    DESTROY_TEAM = "team-destroy"
    TEAM_MEMBERS = "team-ls"
    ADD_TEAM_MEMBER = "team-add"
    REMOVE_TEAM_MEMBER = "team-rm"
    OIDC_EXCHANGE = "oidc-exchange"
    OIDC_ID_TOKEN = "oidc-id-token"  # noqa: S105 - an operation name
    ADD_TRUST = "trust-add"
    LIST_TRUST = "trust-list"
    REVOKE_TRUST = "trust-revoke"
    STAGE = "stage-publish"
    LIST_STAGES = "stage-list"
    VIEW_STAGE = "stage-view"
    APPROVE_STAGE = "stage-approve"
    REJECT_STAGE = "stage-reject"
    UNKNOWN = "unknown"

    @property
    def accepted_status(self) -> int:
        """The status of a success (what the answer and the journal entry both say): ``201
        Created`` where the registry makes something, ``204`` where a deletion answers nothing,
        else ``200``."""
        return 201 if self in _CREATES else 204 if self in _EMPTY else 200


#: Operations whose success is ``204 No Content``: deleting a token (tokens API), a trust
#: configuration, a staged version.
_EMPTY = frozenset({Operation.REVOKE_TOKEN, Operation.REVOKE_TRUST, Operation.REJECT_STAGE})

#: Operations whose success is ``201`` on the public registry (dist-tag add, team create/add,
#: grant, the OIDC exchange, stage publish/approve). Login and adduser answer 200 on the web
#: path and 201 on the couch path: ``Logins.couch_login`` says so itself.
_CREATES = frozenset(
    {
        Operation.ADD_DIST_TAG,
        Operation.CREATE_TEAM,
        Operation.ADD_TEAM_MEMBER,
        Operation.GRANT,
        Operation.OIDC_EXCHANGE,
        Operation.STAGE,
        Operation.APPROVE_STAGE,
    }
)


def secret_hash(secret: str) -> str:
    """Tokens are stored by hash: the registry only needs to recognise them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """``<salt>$<sha256(salt + password)>``: salted, so equal passwords do not look equal. (One
    round is enough for a test double; a real registry would use a slow hash.)"""
    salt = secrets.token_hex(8)
    return f"{salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def password_matches(stored: str, password: str) -> bool:
    salt, _, digest = stored.partition("$")
    return hmac.compare_digest(digest, hashlib.sha256((salt + password).encode()).hexdigest())


#: How long a web-2FA session or a web login waits for its answer.
WEB_AUTH_TTL = 300.0
#: A poll of ``doneUrl`` before the person answered: ``202 Accepted``, ask again (answer and journal).
POLL_PENDING_STATUS = 202


@dataclass
class User:
    name: str
    email: str
    # Secrets (and their hashes) stay out of repr: a record printed in a failing test's output
    # or a log must not hand out what logs in as the user.
    password_hash: str = field(repr=False)
    tfa: TwoFactorMode = TwoFactorMode.NONE
    totp_secret: str | None = field(default=None, repr=False)
    recovery_codes: list[str] = field(default_factory=list, repr=False)
    web_otps: list[str] = field(default_factory=list, repr=False)
    paid: bool = False
    challenge: ChallengeStyle = ChallengeStyle.WEB
    security_key: bool = False
    created: float = 0.0
    updated: float = 0.0
    #: Writable profile fields (``npm profile set``): fullname, homepage, freenode, twitter, github.
    profile: dict[str, str] = field(default_factory=dict)
    #: A TOTP secret handed out by ``npm profile enable-2fa`` and not yet confirmed with a code.
    pending_secret: str | None = field(default=None, repr=False)
    pending_mode: TwoFactorMode | None = None
    #: Messages the registry "sent" this user: one-time codes for accounts without 2FA.
    outbox: list[str] = field(default_factory=list, repr=False)

    @property
    def tfa_enabled(self) -> bool:
        return self.tfa is not TwoFactorMode.NONE


@dataclass
class Token:
    """A bearer credential. Only the hash of the secret is kept."""

    id: str
    key_hash: str = field(repr=False)
    prefix: str
    user: str
    kind: TokenKind
    permission: Permission = Permission.READ_WRITE
    bypass_2fa: bool = False
    packages: tuple[str, ...] | None = None
    scopes: tuple[str, ...] | None = None
    cidr: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None
    expires: float | None = None
    created: float = 0.0
    revoked: bool = False
    name: str | None = None
    description: str | None = None
    orgs: tuple[str, ...] | None = None
    orgs_permission: Permission | None = None
    last_used: float | None = None
    #: For an OIDC token: what the matching trust configuration allows (createPackage, createStagedPackage).
    oidc_permissions: tuple[str, ...] = ()

    @property
    def read_only(self) -> bool:
        return self.kind is TokenKind.READ_ONLY or self.permission is Permission.READ_ONLY

    def state(self, now: float) -> str:
        """``revoked``, ``expired`` (at its expiry time or later) or ``active``."""
        if self.revoked:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"

    @property
    def bypasses_2fa(self) -> bool:
        """Legacy automation tokens and bypass-2FA granular tokens skip account 2FA."""
        return self.kind is TokenKind.AUTOMATION or (self.kind is TokenKind.GRANULAR and self.bypass_2fa)

    def covers(self, package: str) -> bool:
        """Whether the token's package and scope allow-lists include ``package``."""
        if self.packages is None and self.scopes is None:
            return True
        if self.packages and package in self.packages:
            return True
        if self.scopes and package.startswith("@"):
            scope = package.split("/", 1)[0]
            return scope in self.scopes or scope[1:] in self.scopes
        return False


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the user, and the token it came with (``None`` for Basic auth)."""

    user: User
    token: Token | None

    @property
    def credential(self) -> str:
        """The credential kind as the journal and the policy name it."""
        return "basic" if self.token is None else self.token.kind.value

    @property
    def bypasses_2fa(self) -> bool:
        return self.token is not None and self.token.bypasses_2fa

    @property
    def oidc_token(self) -> Token | None:
        """The token, when it is a trusted-publishing (OIDC) one: it may publish, and do nothing else."""
        return self.token if self.token is not None and self.token.kind is TokenKind.OIDC else None

    def describe(self) -> str:
        if self.token is None:
            return f"{self.user.name}'s password (Basic auth)"
        kind = self.token.kind.value
        if self.token.kind is TokenKind.GRANULAR:
            kind = f"{self.token.permission.value} granular" + (" bypass-2FA" if self.token.bypass_2fa else "")
        return f"{self.user.name}'s {kind} token"


@dataclass(frozen=True)
class Credential:
    """What a request authenticated with: a bearer token, or a username and password (Basic)."""

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Call:
    """What the registry needs to know about the request behind an operation."""

    credential: Credential | None = None
    otp: str | None = None
    #: ``npm-auth-type``: ``web`` means the client can follow authUrl/doneUrl challenges.
    auth_type: str | None = None
    client_ip: str = "127.0.0.1"
    command: str | None = None
    #: The registry's host name as the client addressed it (an OIDC audience is ``npm:<host>``).
    host: str = "127.0.0.1"
    #: The port the client addressed, if its Host header named one (yarn 4 puts it in the audience).
    port: int | None = None

    @property
    def web_auth(self) -> bool:
        return self.auth_type == "web"


@dataclass(frozen=True)
class Version:
    version: str
    manifest: dict[str, Any]
    tarball: bytes
    integrity: str
    shasum: str
    published: float
    publisher: str
    attachments: dict[str, bytes] = field(default_factory=dict)
    #: The registry's own publish attestation (a Sigstore bundle, JSON), made when the version
    #: came with provenance (domain/attestations.py).
    publish_attestation: bytes | None = None


@dataclass(frozen=True)
class Package:
    """One package. Replaced, never mutated, so a reader always sees a whole revision."""

    name: str
    versions: dict[str, Version]
    dist_tags: dict[str, str]
    maintainers: tuple[str, ...]
    access: Access
    requirement: PublishRequirement
    created: float
    modified: float
    rev: int = 1

    @property
    def scope(self) -> str | None:
        return self.name.split("/", 1)[0] if self.name.startswith("@") else None

    @property
    def rev_id(self) -> str:
        return f"{self.rev}-{hashlib.md5(f'{self.name}:{self.rev}'.encode()).hexdigest()}"  # noqa: S324


@dataclass
class Invitation:
    """An invitation to maintain a package (``npm owner add``) or to join an org (``npm org set``)."""

    id: str
    user: str
    inviter: str
    created: float
    expires: float
    package: str | None = None
    org: str | None = None
    role: OrgRole | None = None
    state: InvitationState = InvitationState.PENDING

    @property
    def target(self) -> str:
        return self.package or f"org {self.org}"

    def live(self, now: float) -> bool:
        """Pending and not expired: the invitee can still answer it."""
        # ==, not is: a storage file from before the enum holds the plain string.
        return self.state == InvitationState.PENDING and now < self.expires


@dataclass
class Team:
    name: str
    description: str | None = None
    members: set[str] = field(default_factory=set)
    #: package name -> permission
    grants: dict[str, Permission] = field(default_factory=dict)


@dataclass
class Org:
    name: str
    members: dict[str, OrgRole] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    paid: bool = False


@dataclass(frozen=True)
class StagedVersion:
    """A version sent with ``npm stage publish``, waiting for a maintainer to approve it."""

    id: str
    package: str
    version: Version
    tag: str
    access: str | None
    created: float
    actor: str
    actor_type: str  # "user" or "trusted publisher"


@dataclass(frozen=True)
class TrustConfig:
    """A package's trusted publisher: which CI identity may exchange its id token for a token."""

    id: str
    type: str  # github | gitlab | circleci
    claims: dict[str, Any]
    permissions: tuple[str, ...]
    created: float

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "claims": self.claims, "permissions": list(self.permissions)}


@dataclass
class WebLogin:
    """A pending ``npm login`` / ``npm adduser`` in the browser: ``loginUrl`` and its ``doneUrl``."""

    id: str
    create: bool
    created: float
    user: str | None = None
    #: The session token, kept only until npm's poll collects it.
    token: str | None = field(default=None, repr=False)
    done: bool = False

    @property
    def expires(self) -> float:
        """When its links stop working (and npm's polls get 404)."""
        return self.created + WEB_AUTH_TTL

    def expired(self, now: float) -> bool:
        return now > self.expires

    def pending(self, now: float) -> bool:
        """Waiting for someone to approve it in the browser: no user yet, links still alive."""
        return self.user is None and not self.expired(now)

    @property
    def login_path(self) -> str:
        return f"/-/_mock/login/{self.id}"

    @property
    def done_path(self) -> str:
        return f"/-/v1/login/done/{self.id}"


@dataclass
class WebAuthSession:
    """A pending web 2FA approval: the ``authUrl`` a person opens and the ``doneUrl`` npm polls."""

    id: str
    user: str
    operation: Operation
    description: str
    created: float
    approved: bool = False
    denied: bool = False
    otp: str | None = field(default=None, repr=False)
    #: The credential of the request that asked (``session npm_abcd...``), for the approval page.
    credential: str | None = None

    @property
    def expires(self) -> float:
        """When its links stop working (and npm's polls get 404)."""
        return self.created + WEB_AUTH_TTL

    def expired(self, now: float) -> bool:
        return now > self.expires

    def pending(self, now: float) -> bool:
        """Waiting for an answer on the ``authUrl`` page: neither approved nor denied, not expired."""
        return not (self.approved or self.denied) and not self.expired(now)

    @property
    def auth_path(self) -> str:
        return f"/-/_mock/auth/{self.id}"

    @property
    def done_path(self) -> str:
        return f"/-/v1/done/{self.id}"


@dataclass(frozen=True)
class TokenRequest:
    """What ``npm token create`` asks for, parsed; the registry decides the token kind."""

    password: str | None = None
    readonly: bool = False
    permission: Permission | None = None
    #: Any granular field was sent (under the classic policy, none asks for a legacy token).
    granular: bool = False
    bypass_2fa: bool = False
    packages: tuple[str, ...] | None = None
    scopes: tuple[str, ...] | None = None
    orgs: tuple[str, ...] | None = None
    orgs_permission: Permission | None = None
    cidr: tuple[str, ...] | None = None
    expires_in_days: float | None = None
    name: str | None = None
    description: Any = None
