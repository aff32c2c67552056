"""Second factors: checking an OTP (TOTP, recovery code, web one-time token, emailed code) or
raising the challenge the client understands, and the web-2FA sessions behind ``authUrl``/``doneUrl``."""

from __future__ import annotations

import secrets

from .accounts import Accounts
from .errors import (
    InvalidOtp,
    NotFound,
    OtpRequired,
    ProofRequired,
    WebAuthAnswered,
    WebAuthRequired,
)
from .models import (
    POLL_PENDING_STATUS,
    Call,
    ChallengeStyle,
    Operation,
    OtpPath,
    Principal,
    User,
    WebAuthSession,
)
from .otp import check_second_factor, new_web_otp
from .state import Record, RegistryState


class Challenges:
    """Second factors: TOTP and recovery codes, emailed codes, web 2FA sessions."""

    def __init__(self, state: RegistryState, accounts: Accounts) -> None:
        self.state = state
        self.accounts = accounts

    def second_factor(self, call: Call, rec: Record, what: str, reason: str) -> OtpPath:
        """Verify the OTP the call carries, or raise the challenge the client understands, for the
        operation ``rec`` records on behalf of its principal."""
        assert rec.principal is not None
        assert rec.operation is not None
        with self.state.lock:  # one-time codes are consumed: two requests must not both spend one
            return self._check_or_challenge(call, rec.principal, rec.operation, what, reason)

    def _check_or_challenge(
        self, call: Call, principal: Principal, operation: Operation, what: str, reason: str
    ) -> OtpPath:
        user = principal.user
        if call.otp:
            path = check_second_factor(user, call.otp, self.state.clock.now())
            if path is not None:
                return path
            raise InvalidOtp(reason=f"{reason}; the OTP sent was wrong, used or expired")
        if call.web_auth and user.challenge is ChallengeStyle.WEB and not user.security_key:
            session = self._open_web_auth(principal, operation, what)
            raise WebAuthRequired(auth_path=session.auth_path, done_path=session.done_path, reason=reason)
        if user.security_key:
            session = self._open_web_auth(principal, operation, what)
            raise OtpRequired(reason=reason, security_key_path=session.auth_path)
        if not user.tfa_enabled and self.state.policy.email_otp_without_2fa:
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
            created=self.state.clock.now(),
            credential=f"{principal.credential} {token.prefix}..." if token else principal.credential,
        )
        self.state.web_auth[session.id] = session
        if self.state.auto_approve_web_auth:
            self.approve_web_auth(session.id, by="at once (auto_approve_web_auth)")
        return session

    def approve_web_auth(self, session_id: str, *, by: str = "by the test") -> WebAuthSession:
        """What a person does on the ``authUrl`` page: the next poll of ``doneUrl`` gets a one-time
        OTP. ``by``: how, for the journal ("in the browser")."""
        return self._answer_web_auth(session_id, approve=True, by=by)

    def prove(self, user: User, password: object, otp: object) -> None:
        """What an approval page asks of a person before it acts for ``user``: the password, and
        for a 2FA account a current authenticator code or a recovery code (consumed). Raises
        :class:`IncorrectPassword` or :class:`ProofRequired`."""
        with self.state.lock:
            self.accounts.check_password(user, password)
            if not user.tfa_enabled:
                return
            code = otp if isinstance(otp, str) else ""
            path = check_second_factor(user, code, self.state.clock.now()) if code else None
            if path not in (OtpPath.TOTP, OtpPath.RECOVERY_CODE):
                why = "no one-time password" if not code else "a wrong or used one-time password"
                raise ProofRequired(user.name, reason=f"approval page for {user.name} with {why}")

    def answer_web_auth_as_person(
        self, session_id: str, *, approve: bool, password: object, otp: object, by: str = "in the browser"
    ) -> WebAuthSession:
        """``POST <authUrl>/approve`` or ``/deny`` by someone who is not the admin: they must prove
        they are the account either way (whoever triggered the challenge knows the URL, so the URL
        is no proof, and a deny by anyone would let them cancel the account's publish). A session
        answered already says so first (409, or the same answer): nothing changes then."""
        with self.state.lock:
            session = self.web_session(session_id)
            if session.denied or session.approved:
                return self._answer_web_auth(session_id, approve=approve, by=by)
            user = self.state.users.get(session.user)
            if user is None:
                raise NotFound(reason=f"web-auth session {session_id} of a deleted account")
            self.prove(user, password, otp)
            return self._answer_web_auth(session_id, approve=approve, by=by)

    def deny_web_auth(self, session_id: str, *, by: str = "by the test") -> WebAuthSession:
        """Refuse on the ``authUrl`` page: npm's next poll of ``doneUrl`` answers 404."""
        return self._answer_web_auth(session_id, approve=False, by=by)

    def _answer_web_auth(self, session_id: str, *, approve: bool, by: str) -> WebAuthSession:
        with self.state.lock:
            session = self.web_session(session_id)
            if session.denied if approve else session.approved:  # answered the other way: final
                raise WebAuthAnswered(session_id, "denied" if approve else "approved")
            if session.approved or session.denied:  # the same answer again
                return session
            if approve:
                session.approved, session.otp = True, new_web_otp()
                self.state.users[session.user].web_otps.append(session.otp)
            else:
                session.denied = True
            then = "" if approve else "; npm's poll answers 404"
            self.state.journal_event(
                Operation.WEB_AUTH_APPROVE,
                user=session.user,
                package=None,
                accepted=approve,
                reason=f"{session.user} {'approved' if approve else 'denied'} {session.description} {by}{then}",
            )
            return session

    def web_session(self, session_id: str) -> WebAuthSession:
        session = self.state.web_auth.get(session_id)
        if session is None:
            raise NotFound(reason=f"no web-auth session {session_id}")
        if session.expired(self.state.clock.now()):
            raise NotFound(reason=f"web-auth session {session_id} expired")
        return session

    def poll_web_auth(self, call: Call, session_id: str) -> str | None:
        """``GET doneUrl``: ``None`` while pending, then the one-time OTP npm sends back as ``npm-otp``."""
        with self.state.recording(Operation.WEB_AUTH_POLL, call, None) as rec:
            session = self.web_session(session_id)
            # The session id in the URL is the secret: pnpm 11 polls with no Authorization at all,
            # bun and npm with the user's bearer, and the public registry answers pnpm's polls
            # (pnpm/pnpm#11561: it refused a poll only from another source address). So whatever
            # credential a poll carries, a stranger's or a dead one included, is not consulted; the
            # journal names it. The one-time token it yields works only beside the owner's credential.
            rec.principal, _ = self.accounts.reader(call)
            if session.denied:
                raise NotFound("Web authentication was denied", reason=f"{session.user} denied {session.description}")
            rec.status = 200 if session.approved else POLL_PENDING_STATUS
            return session.otp if session.approved else None
