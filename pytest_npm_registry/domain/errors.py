"""One class per distinct registry answer, and the fixture API's own misuse error.

Each :class:`RegistryError` carries the status, the exact JSON body npm will read and the protocol
headers; ``app.render_error`` is the one place that turns it into a response. Texts follow
``shared/WIRE.md``. ``reason`` is the human explanation the journal shows beside the request.

How npm prints a body after ``<status> <reason> - <METHOD> <url>``: npm 9 to 11 (npm-registry-fetch
14 to 19, also inside pnpm 11) add `` - <body.error>`` and nothing without an ``error``; npm 12
(npm-registry-fetch 20) adds `` - <body.error || body.message || JSON.stringify(body)>``, nothing
for ``{}``. So every refusal carries ``{"error"}`` (the same line in both majors); the few
``{"message"}`` bodies below say what each major shows (checked with npm 11.19.1, 11.21.2 and
12.2.2 on Node 22: docs/clients.md).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .models import Outcome

# npm-registry-fetch raises EOTP when www-authenticate, split on commas, has an item exactly "otp";
# the body text is what `npm` shows nowhere, but other clients (yarn, pnpm) print it.
OTP_MESSAGE = "You must provide a one-time pass. Upgrade your client to npm@latest in order to use 2FA."
TOKEN_EXPIRED_NOTICE = "Access token expired or revoked. Please try logging in again."


_SECRET_PATHS = re.compile(r"^(/-/user/token/|/-/npm/v1/tokens/token/)(.+)$")
_TOKEN_LIKE = re.compile(r"npm_[A-Za-z0-9]{8,}")
#: ``/-/_mock/<secret>/...``: the admin's pages live under a per-server secret path segment (the
#: dashboard cookie's Path); any segment there that is not a public page's is cut, wrong ones too.
_ADMIN_SPACE = re.compile(r"^/-/_mock/(?!(?:api|auth|login|oidc)(?:/|$))[^/]+")


#: The most characters of request content one journal field, reason or error text carries: a
#: client must not be able to put megabytes into the journal or an answer (issue 19).
MAX_TEXT = 400


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """``text``, or its first ``limit`` characters and a note that the rest was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


def redact_path(path: str) -> str:
    """A request path fit to print: token secrets in it are cut to a prefix, query values dropped
    (``?token=<admin token>`` on the dashboard's address must not reach an answer or the journal),
    the admin pages' secret segment replaced by ``...``."""
    path, mark, query = path.partition("?")
    match = _SECRET_PATHS.match(path)
    if match:
        path = f"{match.group(1)}{match.group(2)[:8]}..."
    path = _ADMIN_SPACE.sub("/-/_mock/...", path)
    if mark:
        names = (item.partition("=")[0] for item in query.split("&") if item)
        path += "?" + "&".join(f"{name}=..." for name in names)
    return cut(_TOKEN_LIKE.sub(lambda m: m.group(0)[:8] + "...", path))


class UsageError(Exception):
    """The fixture API was called in a way that cannot work; the message says how to fix the call."""


class RegistryError(Exception):
    """A registry answer other than success."""

    status: ClassVar[int] = 400
    outcome: ClassVar[Outcome] = Outcome.REJECTED

    def __init__(self, message: str, *, reason: str | None = None, notice: str | None = None) -> None:
        # Messages and reasons quote request content (a name, a field): bounded here, once, for
        # every error class.
        message = cut(message)
        super().__init__(message)
        self.message = message
        self.reason = cut(reason) if reason else message
        self.notice = cut(notice) if notice else notice
        #: Set once the refusal is in the journal, so the HTTP layer journals only what the domain
        #: never saw (an unparsable body, an unknown route).
        self.journaled = False

    def body(self, origin: str) -> dict[str, Any]:
        return {"error": self.message}

    def headers(self, origin: str) -> dict[str, str]:
        return {"npm-notice": self.notice} if self.notice else {}


# -- 400: bad input -------------------------------------------------------------------------------


class BadRequest(RegistryError):
    status = 400


class MalformedBody(BadRequest):
    """The body is not the JSON document this endpoint takes."""


class InvalidPackageName(BadRequest):
    pass


class InvalidVersion(BadRequest):
    pass


class InvalidTag(BadRequest):
    pass


class AttachmentMismatch(BadRequest):
    """Attachment bytes disagree with the declared length, integrity or shasum."""


class ProvenanceInvalid(RegistryError):
    """A publish whose ``.sigstore`` bundle fails the registry's provenance checks. The public
    registry answers 422 with ``Error verifying sigstore provenance bundle: <why>`` (quoted in
    plausible/analytics#6584, github/accessibility-scanner-alt-text-plugin#49)."""

    status = 422

    def __init__(self, why: str) -> None:
        super().__init__(f"Error verifying sigstore provenance bundle: {why}"[:600], reason=why[:300])


# -- 401: authentication and second factors ----------------------------------------------------


class OtpRequired(RegistryError):
    """Classic 2FA challenge (also the answer to a wrong or expired OTP).

    For an account with a security key the answer carries the notice the public registry sends,
    pointing at a page (``security_key_path``) that hands out a one-time code.
    """

    status = 401
    outcome = Outcome.CHALLENGED

    def __init__(self, *, reason: str, security_key_path: str | None = None) -> None:
        super().__init__(OTP_MESSAGE, reason=reason)
        self.security_key_path = security_key_path

    def headers(self, origin: str) -> dict[str, str]:
        headers = {"WWW-Authenticate": "OTP"}
        if self.security_key_path:
            headers["npm-notice"] = (
                f"Open {origin}{self.security_key_path} to use your security key for authentication "
                "or enter OTP from your authenticator app"
            )
        return headers


class InvalidOtp(OtpRequired):
    pass


class WebAuthRequired(RegistryError):
    """Web 2FA challenge: npm prints (or opens) ``authUrl`` and polls ``doneUrl``."""

    status = 401
    outcome = Outcome.CHALLENGED

    def __init__(self, *, auth_path: str, done_path: str, reason: str) -> None:
        super().__init__(OTP_MESSAGE, reason=reason)
        self.auth_path = auth_path
        self.done_path = done_path

    def body(self, origin: str) -> dict[str, Any]:
        return {"authUrl": origin + self.auth_path, "doneUrl": origin + self.done_path}

    def headers(self, origin: str) -> dict[str, str]:
        return {"WWW-Authenticate": "OTP"}


class IpNotAllowed(RegistryError):
    """npm turns ``www-authenticate: ipaddress`` into ``EAUTHIP``."""

    status = 401

    def __init__(self, *, reason: str) -> None:
        super().__init__("Login is not allowed from your IP address", reason=reason)

    def headers(self, origin: str) -> dict[str, str]:
        return {"WWW-Authenticate": "ipaddress"}


class LoginRequired(RegistryError):
    """A write without any credential (npm itself refuses before sending with ENEEDAUTH)."""

    status = 401

    def __init__(self) -> None:
        super().__init__("You must be logged in to publish packages.", reason="no credential was sent")


class IncorrectPassword(RegistryError):
    """A password in a body (token create, 2FA changes, couch login) that does not match."""

    status = 401

    def __init__(self, *, reason: str) -> None:
        super().__init__("incorrect username or password", reason=reason)


class ProofRequired(RegistryError):
    """An approval page acts only for the account (its password, and for a 2FA account a code
    from its authenticator app or a recovery code, as the public website asks) or the admin."""

    status = 401

    def __init__(self, user: str, *, reason: str) -> None:
        super().__init__(
            f"Prove you are {user}: enter the account's password and the code from its authenticator app",
            reason=reason,
        )


class NoSuchUser(BadRequest):
    """npm shows a 400 on couch login as ``There is no user with the username "<name>".``"""

    def __init__(self, name: str) -> None:
        super().__init__(f"There is no user with the username {name!r}", reason=f"there is no user {name!r}")


class UserExists(RegistryError):
    """``npm adduser`` of a taken name: npm then logs in with Basic auth through ``/-rev/``."""

    status = 409

    def __init__(self, name: str) -> None:
        super().__init__(f"User {name} already exists", reason=f"{name} already exists: npm retries as a login")


class Unauthorized(RegistryError):
    """A plain 401 with no ``www-authenticate`` and no ``error``: what ``/-/whoami`` answers a bad
    token (and Basic auth a wrong password). npm 9 to 11 print ``401 Unauthorized - GET
    .../-/whoami`` with nothing after it, as the public registry's answer shows in field logs; npm 12
    prints the ``message``: ``401 Unauthorized - GET .../-/whoami - Unauthorized``."""

    status = 401

    def body(self, origin: str) -> dict[str, Any]:
        return {"message": self.message}


# -- 402 / 403 / 404 / 409 ---------------------------------------------------------------------------


class PaymentRequired(RegistryError):
    status = 402

    def __init__(self, name: str, *, reason: str) -> None:
        super().__init__("You must sign up for private packages", reason=reason)
        self.name = name


class Forbidden(RegistryError):
    status = 403


class CrossSiteRequest(Forbidden):
    """A page form posted from another site, or without this page's CSRF token (Django's model)."""

    def __init__(self, *, reason: str) -> None:
        super().__init__(
            "This form is stale or was sent from another site: reload the page and try again", reason=reason
        )


class CredentialsNotAllowed(Forbidden):
    def __init__(self, *, reason: str) -> None:
        super().__init__("You may not perform that action with these credentials.", reason=reason)


class TwoFactorRequiredToPublish(Forbidden):
    def __init__(self, *, reason: str) -> None:
        super().__init__(
            "Two-factor authentication or granular access token with bypass 2fa enabled is required "
            "to publish packages.",
            reason=reason,
        )


class AutomationTokenRefused(Forbidden):
    def __init__(self, *, reason: str) -> None:
        super().__init__(
            "Two-factor authentication is required to publish this package but an automation token was specified",
            reason=reason,
        )


class NotAMaintainer(Forbidden):
    def __init__(self, name: str, *, reason: str, verb: str = "publish") -> None:
        super().__init__(
            f'You do not have permission to {verb} "{name}". Are you logged in as the correct user?',
            reason=reason,
        )


class NotAnOrgAdmin(Forbidden):
    def __init__(self, org: str, *, reason: str) -> None:
        super().__init__(f"You must be an owner or admin of the {org} org to do that.", reason=reason)


class UnpublishRefused(Forbidden):
    """The unpublish policy: free for 72 hours, later only without dependents, with fewer than 300
    downloads in the last week and a single maintainer."""

    def __init__(self, failed: list[str], *, reason: str) -> None:
        super().__init__(
            f"You can no longer unpublish this package. Failed criteria: {'; '.join(failed)}.", reason=reason
        )


class RecentlyUnpublished(Forbidden):
    def __init__(self, name: str, until: str) -> None:
        super().__init__(
            f"{name} was unpublished less than 24 hours ago and cannot be published again until {until}.",
            reason=f"{name} was fully unpublished; blocked until {until}",
        )


class CannotPublishOver(Forbidden):
    def __init__(self, version: str, *, reason: str | None = None) -> None:
        super().__init__(f"You cannot publish over the previously published versions: {version}.", reason=reason)


class BypassTokenRefused(Forbidden):
    """Since Aug 2026 bypass-2FA tokens may not do governance actions."""

    def __init__(self, action: str, *, reason: str) -> None:
        super().__init__(
            f"Granular access tokens with bypass 2FA enabled cannot be used to {action}. "
            "Use an interactive session (npm login) instead.",
            reason=reason,
        )


class SessionRequired(Forbidden):
    """Token management is for the account holder's own session, not for access tokens."""

    def __init__(self, action: str, *, reason: str) -> None:
        super().__init__(f"Only a logged-in session (npm login) can {action}.", reason=reason)


class NotFound(RegistryError):
    status = 404

    def __init__(self, message: str = "Not found", *, reason: str | None = None, notice: str | None = None):
        super().__init__(message, reason=reason, notice=notice)


class ScopeNotFound(NotFound):
    """A new scoped package whose scope is neither a user nor an org."""

    def __init__(self, scope: str) -> None:
        super().__init__("Scope not found", reason=f"{scope} is neither a user nor an org")


class TokenNotFound(NotFound):
    """Expired, revoked or unknown token: 404 with a notice npm prints as ``npm notice ...``."""

    def __init__(self, *, reason: str) -> None:
        super().__init__(reason=reason, notice=TOKEN_EXPIRED_NOTICE)


class PackageNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    def __init__(self, name: str, spec: str) -> None:
        super().__init__(f"version not found: {spec}", reason=f"{name} has no version or tag {spec!r}")


class WebAuthAnswered(RegistryError):
    """A web-2FA session answered once cannot be answered the other way."""

    status = 409

    def __init__(self, session_id: str, answer: str) -> None:
        super().__init__(f"This request was already {answer}.", reason=f"web-auth session {session_id} was {answer}")


class TooManyPending(RegistryError):
    """Too many sessions anyone may open are waiting (web logins): the client may retry later."""

    status = 429

    def __init__(self, reason: str) -> None:
        super().__init__("Too many logins are waiting: try again later", reason=reason)

    def headers(self, origin: str) -> dict[str, str]:
        return {"Retry-After": "60"}


class RevisionConflict(RegistryError):
    """A write based on an old ``_rev`` (CouchDB's optimistic locking, which npm still follows)."""

    status = 409

    def __init__(self, name: str, sent: str, current: str) -> None:
        super().__init__("Document update conflict.", reason=f"{name}: _rev {sent} is stale, current is {current}")


class WebLoginAnswered(RegistryError):
    """A web login completed as a user cannot be denied any more."""

    status = 409

    def __init__(self, login_id: str, user: str) -> None:
        super().__init__("This login was already approved.", reason=f"web login {login_id} was approved as {user}")


class AlreadyInvited(RegistryError):
    status = 409

    def __init__(self, user: str, target: str) -> None:
        super().__init__(
            "User already has a pending invite", reason=f"{user} already has a pending invitation to {target}"
        )


class StageRequired(Forbidden):
    """The credential may only stage: ``npm stage publish``, then a person approves with 2FA.

    The public registry names this ``E_STAGE_REQUIRED`` (npm/documentation PR #2036) without
    quoting its body; npm never reads a ``code`` field (npm-registry-fetch prints ``body.error``,
    npm 12 ``body.error || body.message``), so the name leads the ``error`` text, where both majors
    show it: ``npm error 403 403 Forbidden - PUT <url> - E_STAGE_REQUIRED: ...``."""

    code = "E_STAGE_REQUIRED"

    def __init__(self, why: str, *, reason: str) -> None:
        super().__init__(
            f"{self.code}: {why} Stage the version with `npm stage publish`; a maintainer then approves it"
            " with `npm stage approve <stage-id>` and a second factor.",
            reason=reason,
        )

    def body(self, origin: str) -> dict[str, Any]:
        return {"error": self.message, "code": self.code}


class OidcPermissionDenied(Forbidden):
    """An exchanged OIDC token used for an action its trusted publisher does not allow (a direct
    publish through a stage-only publisher): the exchange succeeded, the PUT is refused
    (kg86/visstr#40, gtrabanco/agentic-workflow#39)."""

    def __init__(self, *, reason: str) -> None:
        super().__init__("OIDC permission denied for this action", reason=reason)


class CannotStage(RegistryError):
    """A version that is staged or was published cannot be staged (npm/cli#9519: intended)."""

    status = 409

    def __init__(self, version: str, *, reason: str) -> None:
        super().__init__(f'Cannot stage previously published version "{version}"', reason=reason)


class TrustConflict(RegistryError):
    """The registry keeps one trusted publisher per package ("it will result in an error", npm-trust
    docs; 409 in the API docs). The text is ours: no source quotes it."""

    status = 409

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} already has a trusted publisher: the registry supports one configuration per package;"
            " revoke it first (npm trust revoke)",
            reason=f"{name} already has a trusted publisher",
        )


class AlreadyStaged(RegistryError):
    """The same publish arrived again right after it was accepted (npm retries PUTs on 5xx)."""

    status = 409

    def __init__(self, version: str, *, reason: str) -> None:
        super().__init__(f'Cannot publish over previously staged version "{version}".', reason=reason)


class OidcExchangeError(RegistryError):
    """Exchange failures carry ``{"message"}`` (API docs), not ``{"error"}``. npm 11 and 12 log
    them only at verbose level and carry on with another credential (``ENEEDAUTH`` if none); pnpm
    11 reads ``body.body.message`` and so prints ``Failed token exchange request with body
    message: Unknown error (status code 404)``; yarn 4 swallows them."""

    def body(self, origin: str) -> dict[str, Any]:
        return {"message": self.message}


class OidcBadRequest(OidcExchangeError):
    status = 400

    def __init__(self, *, reason: str) -> None:
        super().__init__("OIDC token exchange error - bad request", reason=reason)


class OidcUnauthorized(OidcExchangeError):
    status = 401

    def __init__(self, *, reason: str) -> None:
        super().__init__("OIDC token exchange error - unauthorized", reason=reason)


class OidcPackageNotFound(OidcExchangeError):
    """Also what a claim mismatch gets: the public registry answers 404 then too."""

    status = 404

    def __init__(self, *, reason: str) -> None:
        super().__init__("OIDC token exchange error - package not found", reason=reason)


class OidcTokenInvalid(RegistryError):
    """An exchanged token used for another package: a plain 401, as the field reports show."""

    status = 401

    def __init__(self, *, reason: str) -> None:
        super().__init__(
            "Failed to generate Web Auth URLs due to error: BadRequestError: token is invalid", reason=reason
        )


class NotImplementedByMock(RegistryError):
    """Loud, so no client mistakes a gap in the mock for "not found"."""

    status = 501

    def __init__(self, method: str, path: str, *, allow: tuple[str, ...] = ()) -> None:
        # A path can carry a token (GET instead of DELETE /-/user/token/<token>): never echo it.
        super().__init__(f"not implemented by the mock registry: {method} {redact_path(path)}")
        self.allow = allow

    def headers(self, origin: str) -> dict[str, str]:
        return {"Allow": ", ".join(self.allow)} if self.allow else {}


class ControlRefused(Unauthorized):
    """No or wrong admin token on the control API. (An ``error`` field, unlike whoami's bare 401:
    people read this, with any npm major.)"""

    def body(self, origin: str) -> dict[str, Any]:
        return {"error": self.message}
