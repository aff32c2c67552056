"""The registry's account of every request: who asked for what, and what came of it.

Entries are domain events, not HTTP lines: they name the credential kind and the second factor
used, and a human reason for every refusal. Secrets never appear: a token shows its prefix only
(``"npm_MaFc..."``, the first 8 characters of the key and ``...``); :meth:`Journal.by_token` finds the
entries of one token from that prefix.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from .clock import iso
from .models import Operation, OtpPath, Outcome

DEFAULT_JOURNAL_LIMIT = 20_000
#: How much of a key the journal shows: ``key[:TOKEN_PREFIX_LENGTH] + "..."``.
TOKEN_PREFIX_LENGTH = 8


class HasPrefix(Protocol):
    """A token as the API hands it out (``Token``) or its record: anything with the key's prefix."""

    @property
    def prefix(self) -> str: ...


@dataclass(frozen=True)
class JournalEntry:
    """One request as the registry saw it: ``user`` and ``credential`` (how it authenticated), ``token``
    the key's prefix and ``...`` (a ``Token``'s ``prefix + "..."``; see :meth:`Journal.by_token`),
    ``otp`` the second factor that let it through (``none``, ``totp``, ``recovery-code``, ``web``),
    ``reason`` why it was refused or challenged."""

    time: float
    operation: Operation
    outcome: Outcome
    status: int
    package: str | None = None
    version: str | None = None
    tag: str | None = None
    user: str | None = None
    credential: str | None = None
    token: str | None = None
    otp: OtpPath = OtpPath.NONE
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = iso(self.time)
        return {k: (v.value if hasattr(v, "value") else v) for k, v in data.items()}

    def __str__(self) -> str:
        target = self.package or ""
        if self.version:
            target += f"@{self.version}"
        if self.tag:
            target += f" tag={self.tag}"
        who = f"{self.user or 'anonymous'}"
        if self.credential:
            who += f" ({self.credential}{' ' + self.token if self.token else ''})"
        otp = f" otp={self.otp.value}" if self.otp is not OtpPath.NONE else ""
        what = f"{self.operation.value} {target}".rstrip()
        line = f"{what} by {who}{otp} -> {self.status} {self.outcome.value}"
        return line + (f": {self.reason}" if self.reason else "")

    def __repr__(self) -> str:
        return f"<JournalEntry {self}>"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JournalEntry:
        """An entry from :meth:`as_dict` (the control API's ``GET journal``); ``time`` stays as 0."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "time"}
        return cls(
            time=0.0,
            **{
                **fields,
                "operation": Operation(data["operation"]),
                "outcome": Outcome(data["outcome"]),
                "otp": OtpPath(data.get("otp") or OtpPath.NONE.value),
            },
        )


class Journal:
    """A bounded, thread-safe list of :class:`JournalEntry`, oldest first."""

    def __init__(self, limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._total = 0

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            self._total += 1

    @property
    def total(self) -> int:
        """How many entries were ever recorded: a cursor that keeps growing when old entries drop out."""
        return self._total

    def since(
        self,
        cursor: int,
        *,
        operation: Operation | str | None = None,
        outcome: Outcome | str | None = None,
        package: str | None = None,
    ) -> tuple[list[JournalEntry], int]:
        """Entries recorded at or after ``cursor`` (a past :attr:`total`) that are still kept and
        match every filter given, and the cursor to ask with next time."""
        with self._lock:
            first = self._total - len(self._entries)
            items, total = list(self._entries)[max(0, cursor - first) :], self._total
        return [e for e in items if _matches(e, operation, outcome, package)], total

    def entries(
        self,
        *,
        operation: Operation | str | None = None,
        outcome: Outcome | str | None = None,
        package: str | None = None,
    ) -> list[JournalEntry]:
        """Entries matching every filter given."""
        with self._lock:
            items = list(self._entries)
        return [e for e in items if _matches(e, operation, outcome, package)]

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> JournalEntry:
        return self.entries()[index]

    def by_token(self, token: HasPrefix | str) -> list[JournalEntry]:
        """The entries made with ``token``: a ``Token`` (or its record), or a key. The journal keeps
        only the first 8 characters of a key, so two tokens that share them cannot be told apart."""
        prefix = token if isinstance(token, str) else token.prefix
        shown = prefix[:TOKEN_PREFIX_LENGTH] + "..."
        return [e for e in self.entries() if e.token == shown]

    def format(self) -> str:
        return "\n".join(str(e) for e in self.entries())

    def __str__(self) -> str:
        return self.format() or "(no requests)"

    def __repr__(self) -> str:
        with self._lock:
            count, last = len(self._entries), self._entries[-1] if self._entries else None
        kept = f" (of {self._total} recorded)" if self._total != count else ""
        tail = f", last: {last}" if last is not None else ""
        return f"<Journal of {count} entr{'y' if count == 1 else 'ies'}{kept}{tail}>"


def _matches(
    entry: JournalEntry, operation: Operation | str | None, outcome: Outcome | str | None, package: str | None
) -> bool:
    return (
        (operation is None or entry.operation == operation)
        and (outcome is None or entry.outcome == outcome)
        and (package is None or entry.package == package)
    )
