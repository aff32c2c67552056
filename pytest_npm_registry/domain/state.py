"""The registry's state: its data, its one lock, and the journal bookkeeping every operation uses.

The components (``registry.py`` builds them) hold this one object and keep no state of their own,
so ``reset()`` re-runs ``__init__`` here and everything is new. A record is replaced or changed
only under ``lock``; ``recording(...)`` gives an operation its journal entry, accepted or refused.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .errors import PackageNotFound, RegistryError, cut
from .journal import DEFAULT_JOURNAL_LIMIT, Journal, JournalEntry
from .models import (
    Call,
    Invitation,
    Operation,
    Org,
    OtpPath,
    Outcome,
    Package,
    Principal,
    StagedVersion,
    Token,
    TrustConfig,
    User,
    WebAuthSession,
    WebLogin,
)
from .policy import Policy


@dataclass(frozen=True)
class Hidden:
    """A version accepted but not served yet, and the package as it was served before it."""

    visible_at: float
    before: Package | None
    version: str


@dataclass
class Record:
    """What an operation learns as it goes, for its journal entry."""

    #: The operation being recorded (a web-2FA session says which one it confirms).
    operation: Operation | None = None
    principal: Principal | None = None
    version: str | None = None
    tag: str | None = None
    otp: OtpPath = OtpPath.NONE
    #: Set only where the answer differs from ``operation.accepted_status`` (a 202 poll, say).
    status: int | None = None
    #: Why an accepted request was accepted, when that is worth saying (which trust config matched).
    reason: str | None = None
    #: The credential, when it is not a registry token (a CI id token, say).
    credential: str | None = None


#: Attributes of a running registry that are not its data (``RegistryState.state``).
_RUNTIME = frozenset({"clock", "journal", "lock", "_journal_limit"})


class RegistryState:
    """All registry state. ``reset()`` rebuilds it from scratch."""

    def __init__(self, policy: Policy | str = "current", *, journal_limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
        self.policy = Policy.preset(policy) if isinstance(policy, str) else policy
        self.clock = Clock()
        self.journal = Journal(journal_limit)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}  # by hash of the secret
        self.packages: dict[str, Package] = {}
        self.web_auth: dict[str, WebAuthSession] = {}
        self.web_logins: dict[str, WebLogin] = {}
        self.orgs: dict[str, Org] = {}
        self.invitations: dict[str, Invitation] = {}
        #: Fully unpublished package names, and when: a name is blocked from new publishes for 24 h.
        self.unpublished: dict[str, float] = {}
        #: Versions ever published per package: a name@version is never reusable, even after unpublish.
        self.retired_versions: dict[str, set[str]] = {}
        #: Trusted publishers per package (one config each, as on the public registry).
        self.trust: dict[str, list[TrustConfig]] = {}
        #: GitHub Actions jobs a test started: request token -> the job's identity.
        self.ci_jobs: dict[str, dict[str, Any]] = {}
        #: Versions waiting for approval (``npm stage publish``), by stage id.
        self.stages: dict[str, StagedVersion] = {}
        #: Recent tarball download times per package: the unpublish policy asks whether the last
        #: week had 300 or more, so the newest 300 are all it needs.
        self.downloads: dict[str, deque[float]] = {}
        self.auto_approve_web_auth = False
        #: Whether ``GET /-/package/<name>/visibility`` tells a trusted publish the truth: a public
        #: package from a public repository then signs provenance (with the mock Sigstore behind
        #: the egress proxy), as on the public registry. False is the opt-out: "not public".
        self.advertise_public_visibility = True
        #: Bumped when a user's e-mail changes: served documents that name people are then stale.
        self.people_rev = 0
        #: Complete every web login as this user as soon as it starts.
        self.auto_approve_web_login: str | None = None
        #: Users who chose, on a trust change's 2FA page, to skip 2FA for further trust changes: until when.
        self.trust_2fa_skips: dict[str, float] = {}
        #: Seconds of registry time between accepting a version and serving it (npm/cli#9889:
        #: replays get 409 while the version is not visible yet). 0: at once.
        self.visibility_delay = 0.0
        #: Packages with versions not served yet: (when the newest of them shows, the package as
        #: readers still see it). ``None``: a new package, not served at all yet.
        self.hidden: dict[str, list[Hidden]] = {}
        self._journal_limit = journal_limit
        self.lock = threading.RLock()

    def reset(self, policy: Policy | str | None = None) -> None:
        """Forget everything: users, tokens, packages, journal, clock offset."""
        lock = self.lock  # the same lock throughout: a thread may be waiting on it
        clock = self.clock  # the same clock too, set back: the registry's Sigstore keeps it
        with lock:
            self.__init__(policy or self.policy, journal_limit=self._journal_limit)  # type: ignore[misc]
            clock.restore(self.clock.snapshot())
            self.lock, self.clock = lock, clock

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """No other thread changes the registry until the block ends (it may itself)."""
        with self.lock:
            yield

    def state(self) -> dict[str, Any]:
        """The registry's data by attribute name: what a copy or a storage file carries. Not the
        clock (see ``Clock.snapshot``), the journal or the lock, which belong to the running object."""
        return {key: value for key, value in vars(self).items() if key not in _RUNTIME}

    def copy_from(self, other: RegistryState) -> None:
        """Become a deep copy of ``other`` at its current time (a place to try changes first);
        the journal stays this registry's own."""
        with other.lock:
            for key, value in other.state().items():
                setattr(self, key, copy.deepcopy(value))
            self.clock.restore(other.clock.snapshot())

    # -- journal -----------------------------------------------------------------------------------

    @contextmanager
    def recording(self, operation: Operation, call: Call, package: str | None) -> Iterator[Record]:
        rec = Record(operation=operation)
        try:
            yield rec
        except RegistryError as exc:
            exc.journaled = True
            self._record(operation, call=call, package=package, rec=rec, error=exc)
            raise
        self._record(operation, call=call, package=package, rec=rec)

    def hide(self, name: str, before: Package | None, version: str) -> None:
        """A version just accepted: readers keep seeing ``before`` for ``visibility_delay`` seconds."""
        if self.visibility_delay > 0:
            hidden = Hidden(self.clock.now() + self.visibility_delay, before, version)
            self.hidden.setdefault(name, []).append(hidden)

    def served(self, name: str) -> Package | None:
        """The package as readers see it: before the oldest version that is not visible yet."""
        hidden = self.hidden.get(name)
        if hidden:
            now = self.clock.now()
            waiting = [h for h in hidden if now < h.visible_at]
            if waiting:
                return waiting[0].before
            self.hidden.pop(name, None)
        return self.packages.get(name)

    def invisible(self, name: str, version: str) -> bool:
        """Whether ``name@version`` was accepted but is not served yet."""
        now = self.clock.now()
        return any(h.version == version and now < h.visible_at for h in self.hidden.get(name, ()))

    def staged(self, name: str, version: str) -> StagedVersion | None:
        """The staged version ``name@version``, if one waits for approval."""
        return next((s for s in self.stages.values() if s.package == name and s.version.version == version), None)

    def package(self, name: str) -> Package:
        """A package record; raises :class:`PackageNotFound`."""
        package = self.packages.get(name)
        if package is None:
            raise PackageNotFound(reason=f"{name} does not exist")
        return package

    def journal_event(
        self, operation: Operation, *, user: str, package: str | None, accepted: bool, reason: str
    ) -> None:
        """Journal something a person did outside any request (accepting an invitation, say)."""
        self.journal.record(
            JournalEntry(
                time=self.clock.now(),
                operation=operation,
                outcome=Outcome.ACCEPTED if accepted else Outcome.REJECTED,
                status=200,
                package=_cut(package),
                user=cut(user),
                reason=cut(reason),
            )
        )

    def refuse(self, operation: Operation, call: Call, package: str | None, error: RegistryError) -> None:
        """Journal a refusal decided before any operation ran (a body that is not JSON, say)."""
        if not error.journaled:
            error.journaled = True
            self._record(operation, call=call, package=package, rec=Record(), error=error)

    def _record(
        self,
        operation: Operation,
        *,
        call: Call,
        package: str | None,
        rec: Record,
        error: RegistryError | None = None,
    ) -> None:
        """One journal entry: accepted, unless the operation ended with ``error``."""
        outcome = Outcome.ACCEPTED if error is None else error.outcome
        accepted = rec.status if rec.status is not None else operation.accepted_status
        status = accepted if error is None else error.status
        reason = rec.reason if error is None else error.reason
        principal = rec.principal
        token = principal.token if principal else None
        credential = principal.credential if principal else None
        if rec.credential is not None:
            credential = rec.credential
        elif principal is None and call.credential is not None:
            credential = "invalid"
        self.journal.record(
            JournalEntry(
                time=self.clock.now(),
                operation=operation,
                outcome=outcome,
                status=status,
                # Every field a request can fill is bounded: the journal keeps 20,000 entries, and a
                # 4 MiB package name must not become 4 MiB of memory each (issue 19).
                package=_cut(package),
                version=_cut(rec.version),
                tag=_cut(rec.tag),
                user=_cut(principal.user.name if principal else None),
                credential=_cut(credential),
                token=f"{token.prefix}..." if token else None,
                otp=rec.otp,
                reason=_cut(reason),
            )
        )


def _cut(text: str | None) -> str | None:
    return None if text is None else cut(text)
