"""Who may do what, and when a second factor is needed.

The registry's rules changed over time; a :class:`Policy` bundles the switches and the rules read
the switches, never dates. ``current`` (the default) is the public registry of late 2026;
``classic`` is the registry before November 2025, with legacy read-only / publish / automation
tokens; ``2027-01`` is ``current`` with the rule announced for January 2027: granular access tokens
no longer publish directly, they stage (``npm stage publish``) for a person to approve.

Each gate answers :data:`Gate.ALLOW` or :data:`Gate.CHALLENGE`, or raises the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from .errors import (
    AutomationTokenRefused,
    BypassTokenRefused,
    CredentialsNotAllowed,
    OidcPermissionDenied,
    OidcTokenInvalid,
    SessionRequired,
    StageRequired,
    TwoFactorRequiredToPublish,
    UsageError,
)
from .models import Permission, Principal, PublishRequirement, Token, TokenKind, TwoFactorMode

HOUR = 3600.0
DAY = 24 * HOUR


class Gate(Enum):
    ALLOW = "allow"
    CHALLENGE = "challenge"


class DirectPublish(StrEnum):
    """Which granular access tokens may still ``npm publish`` (rather than stage)."""

    #: Every read-write token (the registry until January 2027).
    ALLOWED = "allowed"
    #: All but bypass-2FA tokens: the narrower reading of the announcement, npm 12's own warning
    #: ("Bypass-2FA tokens with direct-publish access will stop working in January 2027").
    NOT_BYPASS = "not-bypass"
    #: None: "The ability to publish new package versions directly with a granular access token
    #: will be removed in January 2027" (npm/documentation PR #2036).
    NONE = "none"


#: Trusted-publisher permissions: a direct publish, a staged one.
CREATE_PACKAGE = "createPackage"
CREATE_STAGED_PACKAGE = "createStagedPackage"


@dataclass(frozen=True)
class Policy:
    """The registry rules in force. Build one with :meth:`preset` or change a preset with
    :func:`dataclasses.replace`."""

    name: str
    #: Legacy ``read-only`` / ``publish`` / ``automation`` tokens may be created.
    legacy_tokens: bool
    #: Since Dec 2025 an account without 2FA may publish only with a bypass-2FA token.
    publish_needs_2fa_or_bypass: bool
    #: Since Dec 2025 every publish by a non-bypass credential of a 2FA account is challenged,
    #: whatever the account's mode; before, ``auth-only`` accounts published freely.
    publish_always_challenges_2fa_accounts: bool
    #: Lifetime of ``npm login`` session tokens (2 h today; unlimited before).
    session_ttl: float | None
    #: Longest allowed lifetime of a write token, in days.
    max_write_token_days: int | None
    #: Since Aug 2026 bypass-2FA tokens may not do governance actions.
    bypass_barred_from_governance: bool
    #: Token management needs the user's own session (or password), not an access token.
    tokens_managed_by_sessions_only: bool
    #: Accounts without 2FA confirm governance actions with a code the registry emails them.
    email_otp_without_2fa: bool
    #: ``npm owner add`` and ``npm org set`` send an invitation instead of adding at once.
    owner_add_invites: bool
    #: A new scoped package needs its scope to be the publisher's user name or an org they belong to.
    scopes_are_owned: bool
    #: The publishing rule of a new package.
    default_requirement: PublishRequirement
    #: Which granular tokens may publish directly; the others get ``E_STAGE_REQUIRED`` and stage.
    #: The one switch of the ``2027-01`` preset, kept apart so it follows the registry when it ships.
    granular_direct_publish: DirectPublish = DirectPublish.ALLOWED
    #: Default lifetime of a read-only granular token, in days (API docs: 30); ``None``: no expiry.
    read_only_token_days: int | None = None

    @classmethod
    def preset(cls, name: str) -> Policy:
        try:
            return PRESETS[name]
        except KeyError:
            raise UsageError(f"unknown policy {name!r}: choose one of {', '.join(sorted(PRESETS))}") from None

    # -- gates ------------------------------------------------------------------------------------

    def publish_gate(self, principal: Principal, requirement: PublishRequirement, package: str) -> Gate:
        """``PUT /<name>``: the matrix of WIRE.md §4."""
        user = principal.user
        token = principal.token
        if principal.oidc_token is not None:
            self.check_oidc(principal, package, CREATE_PACKAGE)
            return Gate.ALLOW
        if token is not None and token.read_only:
            raise CredentialsNotAllowed(reason=f"{principal.describe()} is read-only")
        if token is not None and not token.covers(package):
            raise CredentialsNotAllowed(reason=f"{principal.describe()} does not cover {package}")
        if token is not None and token.permission is Permission.STAGE_ONLY:
            raise StageRequired(
                "This token is stage-only: it cannot publish directly.",
                reason=f"{principal.describe()} may only stage versions (npm stage publish)",
            )
        if token is not None and not self.publishes_directly(token):
            raise StageRequired(
                "Granular access tokens can no longer publish directly.",
                reason=f"{principal.describe()} may not publish directly under the {self.name} policy"
                f" (granular_direct_publish={self.granular_direct_publish.value})",
            )
        if principal.bypasses_2fa:
            if requirement is PublishRequirement.PUBLISH:
                if token is not None and token.kind is TokenKind.AUTOMATION:
                    raise AutomationTokenRefused(reason=f"{package} requires 2FA and disallows tokens (mfa=publish)")
                return Gate.CHALLENGE
            return Gate.ALLOW
        if not user.tfa_enabled:
            if self.publish_needs_2fa_or_bypass:
                raise TwoFactorRequiredToPublish(
                    reason=f"{principal.describe()} cannot publish: the account has no 2FA and the token does not"
                    " bypass 2FA"
                )
            # Before Nov 2025 an account without 2FA published with any write token, whatever the
            # package's rule (a challenge it could never answer would be no rule at all).
            return Gate.ALLOW
        if self.publish_always_challenges_2fa_accounts or token is None:
            return Gate.CHALLENGE
        if user.tfa is TwoFactorMode.AUTH_AND_WRITES or requirement is not PublishRequirement.NONE:
            return Gate.CHALLENGE
        return Gate.ALLOW

    def publishes_directly(self, token: Token) -> bool:
        """Whether a read-write token may ``npm publish`` rather than stage (:attr:`granular_direct_publish`)."""
        if token.kind is not TokenKind.GRANULAR or token.permission is not Permission.READ_WRITE:
            return token.permission is not Permission.STAGE_ONLY
        rule = self.granular_direct_publish
        return rule is DirectPublish.ALLOWED or (rule is DirectPublish.NOT_BYPASS and not token.bypass_2fa)

    def check_oidc(self, principal: Principal, package: str, permission: str) -> None:
        """An exchanged OIDC token: it covers ``package`` and its trusted publisher allows ``permission``.

        Checked when the token is used, not at the exchange: pnpm, yarn and bun exchange without
        saying which command follows (no ``npm-command``), and the public registry answers the
        exchange and refuses the PUT (kg86/visstr#40)."""
        oidc = principal.oidc_token
        assert oidc is not None
        if not oidc.covers(package):
            raise OidcTokenInvalid(reason=f"the OIDC token was exchanged for {oidc.packages}, not {package}")
        if permission not in oidc.oidc_permissions:
            raise OidcPermissionDenied(
                reason=f"the trusted publisher of {package} allows {list(oidc.oidc_permissions)}, not {permission}"
            )

    def write_gate(self, principal: Principal, package: str, *, tfa_exempt: bool = False) -> Gate:
        """Package writes other than publish (dist-tags, deprecate, unpublish).

        ``auth-and-writes`` gates every write except adding or removing a non-``latest`` dist-tag;
        ``auth-only`` gates any request authenticated with a password. Stage-only tokens may do
        these: "can stage, deprecate, move dist-tags, unpublish" (npm/documentation PR #2036).
        """
        token = principal.token
        if principal.oidc_token is not None:
            raise CredentialsNotAllowed(reason=f"{principal.describe()} may only publish")
        if token is not None and token.read_only:
            raise CredentialsNotAllowed(reason=f"{principal.describe()} is {token.permission.value}")
        if token is not None and not token.covers(package):
            raise CredentialsNotAllowed(reason=f"{principal.describe()} does not cover {package}")
        if principal.bypasses_2fa:
            return Gate.ALLOW
        if principal.user.tfa is TwoFactorMode.AUTH_AND_WRITES and not tfa_exempt:
            return Gate.CHALLENGE
        if token is None and principal.user.tfa_enabled:
            return Gate.CHALLENGE
        return Gate.ALLOW

    def refuse_non_interactive(self, principal: Principal, action: str, *, bar_bypass: bool = False) -> None:
        """What no governance action accepts: OIDC tokens, read-only and stage-only tokens and,
        since Aug 2026 (``current``), bypass-2FA tokens. ``bar_bypass``: refuse bypass tokens under
        every policy (staged-version approval and trust were 2FA-only from the start)."""
        token = principal.token
        if principal.oidc_token is not None:
            raise CredentialsNotAllowed(reason=f"{principal.describe()} is for publishing only")
        if (bar_bypass or self.bypass_barred_from_governance) and principal.bypasses_2fa:
            raise BypassTokenRefused(action, reason=f"{principal.describe()} bypasses 2FA and may not {action}")
        if token is not None and (token.read_only or token.permission is Permission.STAGE_ONLY):
            raise CredentialsNotAllowed(reason=f"{principal.describe()} may not {action}")

    def governance_gate(self, principal: Principal, action: str, *, tokens_api: bool = False) -> Gate:
        """Account governance: token create/revoke, profile and 2FA changes (and, later, owners,
        access settings, trust, org membership). Gated by 2FA in both account modes."""
        self.refuse_non_interactive(principal, action)
        token = principal.token
        managed = tokens_api and self.tokens_managed_by_sessions_only
        if managed and token is not None and token.kind is not TokenKind.SESSION:
            raise SessionRequired(action, reason=f"{principal.describe()} is not a login session")
        if principal.user.tfa_enabled:
            return Gate.CHALLENGE
        return Gate.CHALLENGE if self.email_otp_without_2fa else Gate.ALLOW

    def settings_gate(self, principal: Principal, action: str, package: str | None = None) -> Gate:
        """Owners, access settings, grants, org and team membership: writes that are also governance.

        Refused to OIDC, read-only and (under ``current``) bypass-2FA tokens; challenged like any
        other write (``auth-and-writes``, or a password under 2FA).
        """
        self.refuse_non_interactive(principal, action)
        token = principal.token
        if package is not None and token is not None and not token.covers(package):
            raise CredentialsNotAllowed(reason=f"{principal.describe()} does not cover {package}")
        if principal.bypasses_2fa:
            return Gate.ALLOW
        if principal.user.tfa is TwoFactorMode.AUTH_AND_WRITES or (token is None and principal.user.tfa_enabled):
            return Gate.CHALLENGE
        return Gate.ALLOW

    def challenge_reason(self, principal: Principal, requirement: PublishRequirement | None = None) -> str:
        """The journal's explanation of a challenge."""
        why = f"account 2FA is {principal.user.tfa.value}"
        if principal.bypasses_2fa and requirement is PublishRequirement.PUBLISH:
            why = "the package requires 2FA and disallows tokens (mfa=publish)"
        elif self.publish_always_challenges_2fa_accounts and requirement is not None:
            why = f"publishing always needs 2FA for a non-bypass credential ({why})"
        return f"{principal.describe()} needs an OTP: {why}"


CURRENT = Policy(
    name="current",
    read_only_token_days=30,
    legacy_tokens=False,
    publish_needs_2fa_or_bypass=True,
    publish_always_challenges_2fa_accounts=True,
    session_ttl=2 * HOUR,
    max_write_token_days=90,
    bypass_barred_from_governance=True,
    tokens_managed_by_sessions_only=True,
    email_otp_without_2fa=True,
    owner_add_invites=True,
    scopes_are_owned=True,
    default_requirement=PublishRequirement.AUTOMATION,
)

CLASSIC = Policy(
    name="classic",
    legacy_tokens=True,
    publish_needs_2fa_or_bypass=False,
    publish_always_challenges_2fa_accounts=False,
    session_ttl=None,
    max_write_token_days=None,
    bypass_barred_from_governance=False,
    tokens_managed_by_sessions_only=False,
    email_otp_without_2fa=False,
    owner_add_invites=False,
    scopes_are_owned=True,
    default_requirement=PublishRequirement.NONE,
)

#: The registry as announced for January 2027 (npm 12's ``npm token create`` warning; npm/documentation
#: PR #2036; GitHub changelog 2026-07-08): granular tokens stage, trusted publishing publishes.
JANUARY_2027 = replace(CURRENT, name="2027-01", granular_direct_publish=DirectPublish.NONE)

PRESETS: dict[str, Policy] = {p.name: p for p in (CURRENT, CLASSIC, JANUARY_2027)}
