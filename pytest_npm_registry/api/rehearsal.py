"""Running one suite under several policy presets, and what each preset refused.

``--npm-registry-policy=current,2027-01`` runs every test that uses ``npm_registry`` once per
preset (a test whose marker names a policy runs once, under it). At the end of the session the
terminal gets one section: per preset, each test whose publishes (or stages) the registry refused,
and why, read from that test's journal — the answer to "what breaks for us in January?".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pytest_npm_registry.domain.journal import JournalEntry
from pytest_npm_registry.domain.models import Operation, Outcome

#: The user property a test's teardown report carries its refusals in (xdist ships it to the controller).
PROPERTY = "npm_registry_refusals"
#: The operations whose refusals the report lists: what a release pipeline does.
RELEASES = frozenset({Operation.PUBLISH, Operation.STAGE, Operation.APPROVE_STAGE})


@dataclass(frozen=True)
class Refusal:
    test: str
    policy: str
    operation: str
    package: str | None
    version: str | None
    status: int
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def refusals(test: str, policy: str, entries: Iterable[JournalEntry]) -> list[Refusal]:
    """The release operations a test's registry refused (a challenge answered later is no refusal:
    only the last answer per package version counts)."""
    last: dict[tuple[str, str | None, str | None], JournalEntry] = {}
    for entry in entries:
        if entry.operation in RELEASES:
            last[(entry.operation.value, entry.package, entry.version)] = entry
    return [
        Refusal(test, policy, e.operation.value, e.package, e.version, e.status, e.reason)
        for e in last.values()
        if e.outcome is not Outcome.ACCEPTED
    ]


def format_report(policies: Iterable[str], found: Iterable[dict[str, Any]]) -> list[str]:
    """The terminal section: one block per preset, refused tests first by name."""
    by_policy: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
    for row in found:
        by_policy.setdefault(row["policy"], []).append(row)
    lines = []
    for policy, rows in by_policy.items():
        tests = sorted({row["test"] for row in rows})
        lines.append(f"{policy}: {len(tests)} test(s) with refused publishes" if tests else f"{policy}: none refused")
        for row in sorted(rows, key=lambda r: (r["test"], r["package"] or "", r["version"] or "")):
            what = f"{row['operation']} {row['package']}@{row['version']}"
            why = row["reason"] or ""
            lines.append(f"  {row['test']}: {what} -> {row['status']} {why}".rstrip())
    return lines
