"""The registry's only source of time.

TOTP windows, token expiry and web-auth sessions all read this clock, so a test can step over a
30-second OTP window or a 90-day token lifetime without sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

from .errors import UsageError


class Clock:
    """Wall-clock time plus an offset the test controls; optionally frozen."""

    def __init__(self, *, frozen_at: float | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at = frozen_at

    def now(self) -> float:
        """Seconds since the epoch, as the registry sees them."""
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move time forward (or back, with a negative value); returns the new time."""
        with self._lock:
            _check_time(self.now() + seconds, f"advancing the clock by {seconds!r} s")
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
        return self.now()

    def freeze(self, at: float | None = None) -> float:
        """Stop the clock at ``at`` (default: now) until :meth:`unfreeze`."""
        with self._lock:
            if at is not None:
                _check_time(at, f"freezing the clock at {at!r}")
            self._frozen_at = self.now() if at is None else at
        return self._frozen_at

    def unfreeze(self) -> None:
        """Let time run again from where it stands."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def snapshot(self) -> tuple[float, float | None]:
        """What :meth:`restore` needs to bring this clock back (the standalone server's storage)."""
        return self._offset, self._frozen_at

    def restore(self, snapshot: tuple[float, float | None]) -> None:
        with self._lock:
            self._offset, self._frozen_at = snapshot

    def isoformat(self, at: float | None = None) -> str:
        """The registry's timestamp format: ISO 8601, UTC, milliseconds, ``Z``."""
        return iso(self.now() if at is None else at)


#: Timestamps are written as ISO 8601 dates (``iso``): years 1970 to 9999.
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def _check_time(at: float, doing: str) -> None:
    # The clock itself stays where dates can be written, so "now" and the times the registry
    # derives from it (expiries, deadlines) stay comparable and printable.
    if not (math.isfinite(at) and 0 <= at <= LATEST):
        raise UsageError(f"{doing} would leave the years 1970 to 9999, which the registry's dates cannot show")


def check_span(seconds: float, doing: str) -> float:
    """``seconds`` if it is a span the clock could move by (finite, under 8,000 years), else a
    ``UsageError``: for values kept to apply later (a fault that advances the clock per publish)."""
    if not (math.isfinite(seconds) and abs(seconds) <= LATEST):
        raise UsageError(f"{doing}: {seconds!r} s is not a span of time the registry's clock can move by")
    return seconds


def iso(at: float) -> str:
    # A time derived from the clock (an expiry 90 days after a clock frozen in 9999) may still
    # fall past what a date can show: it is written as the last (or first) date there is.
    at = LATEST if math.isnan(at) else min(max(at, 0.0), LATEST)
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(at * 1000) % 1000:03d}Z"
