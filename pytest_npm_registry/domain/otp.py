"""Second factors: TOTP codes, recovery codes and the one-time tokens of web 2FA."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

import pyotp

from .models import OtpPath, User

TOTP_STEP = 30
# The registry accepts the previous and next 30-second code as well: phones drift.
TOTP_WINDOW = 1
RECOVERY_CODE_COUNT = 5


def new_totp_secret() -> str:
    return pyotp.random_base32()


def valid_totp_secret(secret: str) -> bool:
    """Base32 and at least 128 bits (pyotp itself refuses fewer than 112)."""
    try:
        return len(base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))) >= 16
    except (binascii.Error, ValueError):
        return False


def totp_code(secret: str, at: float) -> str:
    return pyotp.TOTP(secret, interval=TOTP_STEP).at(int(at))


def new_recovery_codes() -> list[str]:
    # npm's otplease accepts an answer matching /^[\d ]+$|^[A-Fa-f0-9]{64}$/: recovery codes are
    # the 64-hex-digit form, so a code pasted at npm's prompt is sent as-is.
    return [secrets.token_hex(32) for _ in range(RECOVERY_CODE_COUNT)]


def new_web_otp() -> str:
    # The doneUrl hands npm a one-time value it sends back as `npm-otp`; the public registry's
    # are 16 digits (API docs on WebAuthn users).
    return "".join(secrets.choice("0123456789") for _ in range(16))


def totp_matches(secret: str, code: str, at: float) -> bool:
    """Whether ``code`` is the authenticator code of ``secret`` at ``at``, one step either side."""
    return pyotp.TOTP(secret, interval=TOTP_STEP).verify(code, for_time=int(at), valid_window=TOTP_WINDOW)


#: A one-time code kept as its SHA-256 (the storage file's form): ``sha256:<hex>``.
STORED_HASH = "sha256:"


def stored_form(code: str) -> str:
    """``code`` as a storage file keeps it; already hashed codes stay as they are."""
    return code if code.startswith(STORED_HASH) else STORED_HASH + hashlib.sha256(code.encode()).hexdigest()


def _is(stored: str, code: str) -> bool:
    """Whether ``code`` is the one-time code ``stored`` (in clear, or hashed after a restart)."""
    if stored.startswith(STORED_HASH):
        # Always hash what was sent: the stored hash itself must not work as a code.
        return hmac.compare_digest(stored, STORED_HASH + hashlib.sha256(code.encode()).hexdigest())
    return hmac.compare_digest(stored, code)


def check_second_factor(user: User, code: str, at: float) -> OtpPath | None:
    """Which second factor ``code`` is for ``user`` at time ``at``, consuming one-time codes.

    Returns ``None`` when the code is not valid.
    """
    code = code.strip().replace(" ", "")
    if not code.isascii():
        return None  # compare_digest refuses non-ASCII text; no valid code has any
    if user.totp_secret and code.isdigit() and len(code) == 6 and totp_matches(user.totp_secret, code, at):
        return OtpPath.TOTP
    for stored in user.recovery_codes:
        if _is(stored, code.lower()):
            user.recovery_codes.remove(stored)
            return OtpPath.RECOVERY_CODE
    for token in user.web_otps:
        if _is(token, code):
            user.web_otps.remove(token)
            return OtpPath.WEB
    return None
