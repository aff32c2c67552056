"""Reading the journal back to a test: assertion helpers and the failure report's exchange list.

The helpers follow ``responses``: when nothing matches, say what was expected in one line, then
list what the registry did see, each with the reason it does not match. pytest's ``-v`` adds the
whole journal. Secrets never appear: the journal shows token prefixes only, and request paths
that embed a token (``npm logout``, ``npm token revoke``) are shortened here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.clock import iso
from pytest_npm_registry.domain.errors import UsageError, redact_path
from pytest_npm_registry.domain.journal import JournalEntry
from pytest_npm_registry.domain.models import Operation, OtpPath, Outcome
from pytest_npm_registry.domain.provenance import Provenance, UnreadableProvenance, provenance_of
from pytest_npm_registry.domain.registry import Registry
from pytest_npm_registry.wire.faults import FAULT_KEY
from pytest_npm_registry.wire.server import JOURNAL_SPAN_KEY, JournalSpan, RegistryServer

#: Accepted reads that crowd out what matters in a compact report (npm install makes dozens).
QUIET_OPERATIONS = frozenset(
    {
        Operation.READ_PACKAGE,
        Operation.READ_VERSION,
        Operation.DOWNLOAD,
        Operation.VISIBILITY,
        Operation.AUDIT,
        Operation.WEB_AUTH_POLL,
        Operation.LOGIN_POLL,
    }
)
#: Lines a compact report keeps (the newest); ``-v`` shows every line.
COMPACT_LINES = 30


@dataclass(frozen=True)
class Exchange:
    """One line of the report: an HTTP request with what the registry journaled for it, or a
    journal entry whose request is not known (trimmed from the bounded log, or concurrent)."""

    order: tuple[int, int, int]
    method: str | None = None
    path: str | None = None
    status: int | None = None
    entry: JournalEntry | None = None
    fault: str | None = None
    otp_sent: bool = False
    command: str | None = None
    auth_type: str | None = None

    @property
    def quiet(self) -> bool:
        """Routine: an accepted read, or the "does it exist yet?" 404 npm publish asks first."""
        entry = self.entry
        if self.fault is not None or entry is None or entry.operation not in QUIET_OPERATIONS:
            return False
        return entry.outcome is Outcome.ACCEPTED or (entry.status == 404 and self.command == "publish")

    def format(self, *, verbose: bool = False) -> str:
        http = f"{self.method} {self.path}" if self.method else "(request not logged)"
        if verbose and self.method:
            details = (
                f"npm {self.command}" if self.command else "",
                f"auth-type {self.auth_type}" if self.auth_type else "",
                "otp sent" if self.otp_sent else "",
            )
            shown = ", ".join(d for d in details if d)
            http += f" [{shown}]" if shown else ""
        line = f"{http}: {self.entry}" if self.entry else f"{http} -> {self.status}"
        if self.entry is None and self.method:
            line += " (not journaled by the registry)" if self.fault is None else ""
        if self.fault:
            line += f"  [fault: {self.fault}]"
        if verbose and self.entry is not None:
            line = f"{_clock(self.entry.time)} {line}"
        return line

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "path": self.path, "status": self.status}
        if self.entry is not None:
            data.update(self.entry.as_dict())
        if self.fault:
            data["fault"] = self.fault
        return data


def _clock(at: float) -> str:
    return iso(at)[11:23]  # HH:MM:SS.mmm: a failing test's requests all happen within minutes


def exchanges(server: RegistryServer, registry: Registry) -> list[Exchange]:
    """The server's request log joined with the journal, oldest first."""
    journal = registry.journal
    entries = journal.entries()
    first = journal.total - len(entries)  # the cursor of entries[0]: old entries drop out
    claimed: set[int] = set()
    rows: list[Exchange] = []
    for position, (request, response) in enumerate(list(server.log)):
        span = request.environ.get(JOURNAL_SPAN_KEY)
        own = isinstance(span, JournalSpan) and span.journal is journal
        start = span.start - first if own and isinstance(span, JournalSpan) else len(entries)
        mine: list[int] = []
        if own and isinstance(span, JournalSpan) and span.exact:
            mine = list(range(max(span.start - first, 0), min(span.end - first, len(entries))))
        claimed.update(mine)
        base = _request_fields(request, response)
        if not mine:
            rows.append(Exchange((start, 0, position), **base))
        for offset, index in enumerate(mine):
            rows.append(Exchange((start, offset, position), entry=entries[index], **base))
    for index, entry in enumerate(entries):
        if index not in claimed:
            rows.append(Exchange((index, 1, -1), entry=entry))
    return sorted(rows, key=lambda row: row.order)


def _request_fields(request: Request, response: Response) -> dict[str, Any]:
    faults = request.environ.get(FAULT_KEY)
    return {
        "method": request.method,
        "path": redact_path(request.path),
        "status": response.status_code,
        "fault": ", ".join(faults) if faults else None,
        "otp_sent": "npm-otp" in request.headers,
        "command": request.headers.get("npm-command"),
        "auth_type": request.headers.get("npm-auth-type"),
    }


def format_report(rows: list[Exchange], *, verbose: bool) -> str:
    """The failure report: every line under ``-v``; otherwise the newest lines that matter."""
    if verbose:
        return "\n".join(row.format(verbose=True) for row in rows)
    shown = [row for row in rows if not row.quiet]
    quiet = len(rows) - len(shown)
    dropped = max(0, len(shown) - COMPACT_LINES)
    lines = [row.format() for row in shown[dropped:]]
    notes = []
    if dropped:
        notes.append(_count(dropped, "earlier request"))
    if quiet:
        notes.append(_count(quiet, "routine read"))
    if notes:
        lines.append(f"({' and '.join(notes)} not shown; -v shows every request)")
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# -- assertions ------------------------------------------------------------------------------------


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"name@1.2.3"`` / ``"@scope/name@1.2.3"`` -> (name, version); ``"name"`` -> (name, None)."""
    name, at, version = spec.rpartition("@")
    if not at or not name:  # no "@", or only the scope's leading "@"
        return spec, None
    if not version:
        raise UsageError(f"{spec!r}: write name@version, or just the name for any version")
    return name, version


@dataclass(frozen=True)
class _Expectation:
    name: str | None
    version: str | None
    tag: str | None
    by: str | None
    credential: str | None
    otp: OtpPath | None
    #: True: with a provenance attestation; False: without; a mapping: with one whose
    #: :class:`Provenance` fields have these values.
    provenance: bool | Mapping[str, Any] | None = None
    #: The stored provenance of ``(package, version)`` (looked up only when ``provenance`` is asked).
    lookup: Callable[[str, str], Provenance | None] | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        what = (self.name or "any package") + (f"@{self.version}" if self.version else "")
        parts = [what]
        if self.tag:
            parts.append(f"tag={self.tag}")
        if self.by:
            parts.append(f"by {self.by}")
        if self.credential:
            parts.append(f"with a {self.credential} credential")
        if self.otp is not None:
            parts.append(f"otp={self.otp.value}")
        if self.provenance is True:
            parts.append("with provenance")
        elif self.provenance is False:
            parts.append("without provenance")
        elif self.provenance is not None:
            parts.append("with provenance " + ", ".join(f"{k}={v!r}" for k, v in self.provenance.items()))
        return " ".join(parts)

    def distance(self, entry: JournalEntry) -> tuple[bool, bool, int]:
        """How far a publish is from this: another version is further than another tag or user."""
        return (
            self.name is not None and entry.package != self.name,
            self.version is not None and entry.version != self.version,
            len(self.mismatches(entry)),
        )

    def mismatches(self, entry: JournalEntry) -> list[str]:
        """Why ``entry`` (a publish) is not what was expected; empty when it is."""
        found = []
        if self.name is not None and entry.package != self.name:
            found.append(f"package is {entry.package}")
        if self.version is not None and entry.version != self.version:
            found.append(f"version is {entry.version}, not {self.version}")
        if entry.outcome is not Outcome.ACCEPTED:
            found.append(f"it was {entry.outcome.value} ({entry.status})")
        if self.tag is not None and entry.tag != self.tag:
            found.append(f"tag is {entry.tag}, not {self.tag}")
        if self.by is not None and entry.user != self.by:
            found.append(f"by {entry.user or 'anonymous'}, not {self.by}")
        if self.credential is not None and entry.credential != self.credential:
            found.append(f"credential is {entry.credential}, not {self.credential}")
        if self.otp is not None and entry.otp is not self.otp:
            found.append(f"otp is {entry.otp.value}, not {self.otp.value}")
        if self.provenance is not None and self.lookup is not None:
            found += self._provenance_mismatches(entry)
        return found

    def _provenance_mismatches(self, entry: JournalEntry) -> list[str]:
        wanted = self.provenance
        try:
            stored = self.lookup(entry.package or "", entry.version or "") if self.lookup else None
        except UnreadableProvenance as exc:
            return [f"its provenance bundle cannot be read: {exc}"]
        if stored is None:
            return [] if wanted is False else ["it has no provenance"]
        if wanted is False:
            return [f"it has provenance ({stored})"]
        if wanted is True or wanted is None:
            return []
        return [f"provenance {d}" for d in stored.differences(dict(wanted))]


class AssertionsMixin:
    """Journal assertions on :class:`~pytest_npm_registry.NpmRegistry`."""

    registry: Registry
    server: RegistryServer
    #: 0: short failure messages; 1 or more (pytest ``-v``) adds the journal. The plugin sets it.
    assertion_verbosity: int = 0

    def _expect(
        self,
        spec: str | None,
        tag: str | None,
        by: object,
        credential: str | None,
        otp: OtpPath | str | None,
        *,
        provenance: bool | Mapping[str, Any] | None = None,
    ) -> _Expectation:
        name, version = parse_spec(spec) if spec else (None, None)
        try:
            otp_path = OtpPath(otp) if otp is not None else None
        except ValueError:
            raise UsageError(f"otp={otp!r}: one of {', '.join(p.value for p in OtpPath)}") from None
        if isinstance(provenance, Mapping):
            unknown = sorted(set(provenance) - set(Provenance.field_names()))
            if unknown:
                known = ", ".join(Provenance.field_names())
                raise UsageError(f"provenance={{{unknown[0]!r}: ...}}: not a Provenance field (fields: {known})")
        by_name = None if by is None else str(by)
        return _Expectation(name, version, tag, by_name, credential, otp_path, provenance, self._stored_provenance)

    def _stored_provenance(self, name: str, version: str) -> Provenance | None:
        package = self.registry.state.packages.get(name)
        record = package.versions.get(version) if package is not None else None
        return None if record is None else provenance_of(dict(record.attachments))

    def _publishes(self) -> list[JournalEntry]:
        return self.registry.journal.entries(operation=Operation.PUBLISH)

    def _details(self, heading: str, lines: Iterable[str]) -> str:
        listed = "\n".join(f"  - {line}" for line in lines) or "  (none)"
        text = f"\n{heading}:\n{listed}"
        if self.assertion_verbosity > 0:
            rows = exchanges(self.server, self.registry)
            text += "\nregistry journal:\n" + _indent(format_report(rows, verbose=True) or "(empty)")
        else:
            # Not "-v adds the journal": the report's journal section follows right below this.
            text += "\n(-v lists every request here, with its headers)"
        return text

    def assert_published(
        self,
        spec: str,
        *,
        tag: str | None = None,
        by: object = None,
        credential: str | None = None,
        otp: OtpPath | str | None = None,
        provenance: bool | Mapping[str, Any] | None = None,
    ) -> JournalEntry:
        """Assert the registry accepted a publish of ``spec`` (``"name@1.2.3"`` or ``"name"``) over
        HTTP, with the dist-tag, user, credential kind (``granular``, ``session``, ``automation``
        ...) and OTP path (``none``, ``totp``, ``recovery-code``, ``web``) given. Returns the entry.

        ``provenance=True``: the version carries a provenance attestation (``npm publish
        --provenance``); ``False``: it carries none; a mapping of :class:`Provenance` fields,
        ``provenance={"repository": "https://github.com/acme/demo"}``: one that says so."""
        __tracebackhide__ = True
        expected = self._expect(spec, tag, by, credential, otp, provenance=provenance)
        publishes = self._publishes()
        for entry in publishes:
            if not expected.mismatches(entry):
                return entry
        same_package = [e for e in publishes if e.package == expected.name]
        candidates = sorted(same_package or publishes, key=expected.distance)
        seen = [f"{e}\n      differs: {'; '.join(expected.mismatches(e))}" for e in candidates]
        heading = f"publishes of {expected.name}" if same_package else "publishes seen (none of that package)"
        raise AssertionError(f"no accepted publish of {expected.describe()}" + self._details(heading, seen))

    def assert_not_published(
        self,
        spec: str | None = None,
        *,
        tag: str | None = None,
        by: object = None,
        credential: str | None = None,
        otp: OtpPath | str | None = None,
    ) -> None:
        """Assert no accepted publish matches: ``reg.assert_not_published("my-lib@2.0.0")``,
        ``reg.assert_not_published(credential="session")``, or anything at all with no arguments."""
        __tracebackhide__ = True
        expected = self._expect(spec, tag, by, credential, otp)
        matching = [e for e in self._publishes() if not expected.mismatches(e)]
        if matching:
            raise AssertionError(
                f"expected no publish of {expected.describe()}, the registry accepted {len(matching)}"
                + self._details("matching publishes", (str(e) for e in matching))
            )

    def assert_otp_challenged(
        self,
        times: int | None = None,
        *,
        user: object = None,
        package: str | None = None,
        operation: Operation | str | None = None,
    ) -> list[JournalEntry]:
        """Assert the registry asked for a second factor (classic OTP or web 2FA) ``times`` times,
        or at least once when ``times`` is ``None``; narrow with ``user``, ``package`` and
        ``operation`` (``publish``, ``dist-tag-add`` ...). Returns the challenges."""
        __tracebackhide__ = True
        entries = self.registry.journal.entries(outcome=Outcome.CHALLENGED, operation=operation, package=package)
        challenges = [e for e in entries if user is None or e.user == str(user)]
        if (times is None and challenges) or (times is not None and len(challenges) == times):
            return challenges
        scope = " ".join(
            part
            for part in (
                f"of {user}" if user is not None else "",
                f"on {package}" if package else "",
                f"for {Operation(operation).value}" if operation else "",
            )
            if part
        )
        wanted = "at least 1 OTP challenge" if times is None else f"{times} OTP challenge{'s' * (times != 1)}"
        writes = [e for e in self.registry.journal if e.operation not in QUIET_OPERATIONS]
        raise AssertionError(
            f"expected {wanted}{' ' + scope if scope else ''}, saw {len(challenges)}"
            + self._details(
                "challenges" if challenges else "requests (no challenge among them)",
                (str(e) for e in (challenges or writes)),
            )
        )


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
