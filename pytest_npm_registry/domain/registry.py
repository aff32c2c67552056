"""The registry: one state, and the components built around it.

Nothing here knows HTTP. Each component owns one area of the registry's rules and takes the
components it uses in its constructor, so the imports at the top of a file say what it needs:

- ``accounts``: users, tokens, who a request is (``accounts.py``)
- ``challenges``: second factors and web 2FA (``challenges.py``)
- ``logins``: ``npm login`` / ``adduser`` / ``logout`` (``logins.py``)
- ``profiles``: ``npm profile`` and ``npm token`` (``profiles.py``)
- ``orgs``: orgs, teams, invitations and who may read or write a package (``orgs.py``)
- ``governance``: owners, access, deprecate, unpublish (``governance.py``)
- ``publishing``: new versions (``publishing.py``)
- ``trust``: trusted publishers and the OIDC exchange (``trust.py``)
- ``stages``: the staging queue (``stages.py``)
- ``reads``: packuments, tarballs, dist-tags (``reads.py``)

Every operation takes a :class:`~.models.Call`, raises the registry's real error when it refuses,
and leaves a journal entry either way (``RegistryState.recording``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .accounts import Accounts
from .attestations import PublishAttester
from .challenges import Challenges
from .clock import Clock
from .governance import Governance
from .journal import DEFAULT_JOURNAL_LIMIT, Journal
from .logins import Logins
from .orgs import Orgs
from .policy import Policy
from .profiles import Profiles
from .publishing import Publishing
from .reads import Reads
from .signatures import RegistrySigner
from .sigstore import Sigstore
from .stages import Stages
from .state import RegistryState
from .trust import Trust
from .tuf import TufRepository


class Registry:
    """The mock registry: its state and the components that change it."""

    def __init__(self, policy: Policy | str = "current", *, journal_limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
        self.state = state = RegistryState(policy, journal_limit=journal_limit)
        self.accounts = accounts = Accounts(state)
        self.challenges = challenges = Challenges(state, accounts)
        self.logins = Logins(state, accounts, challenges)
        self.profiles = Profiles(state, accounts, challenges)
        self.orgs = orgs = Orgs(state, accounts, challenges)
        self.governance = governance = Governance(state, accounts, challenges, orgs)
        #: The mock Fulcio and Rekor (``npm publish --provenance`` reaches them via the egress proxy).
        self.sigstore = sigstore = Sigstore(state.clock)
        #: The key of ``dist.signatures`` and ``/-/npm/v1/keys``, and the TUF repository that
        #: hands npm that key and Sigstore's trust root (``npm audit signatures``).
        self.signatures = signatures = RegistrySigner()
        self.tuf = TufRepository()
        attester = PublishAttester(sigstore, signatures)
        self.publishing = publishing = Publishing(
            state, accounts, challenges, orgs, governance, sigstore=sigstore, attester=attester
        )
        self.trust = Trust(state, accounts, challenges, governance)
        self.stages = Stages(state, accounts, challenges, orgs, publishing)
        self.reads = Reads(state, accounts, challenges, orgs, governance)

    # The state's own verbs, for callers that hold the registry.

    @property
    def policy(self) -> Policy:
        return self.state.policy

    @property
    def clock(self) -> Clock:
        return self.state.clock

    @property
    def journal(self) -> Journal:
        return self.state.journal

    def reset(self, policy: Policy | str | None = None) -> None:
        """Forget everything: users, tokens, packages, journal, clock offset, the log's entries."""
        self.state.reset(policy)
        self.sigstore.reset()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """No other thread changes the registry until the block ends (it may itself)."""
        with self.state.lock:
            yield

    def data(self) -> dict[str, Any]:
        """The registry's data by attribute name (what a copy or a storage file carries)."""
        return self.state.state()

    def copy_from(self, other: Registry) -> None:
        """Become a deep copy of ``other`` at its current time; the journal stays this one's own."""
        self.state.copy_from(other.state)
