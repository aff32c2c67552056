"""Orgs, teams, package grants, and who may write to a package or create one in a scope.

An org owns the scope of its name. Members have a role (owner / admin / developer); teams hold
members and read-only / read-write grants on the org's packages. Every org has a ``developers``
team that all members join and that gets read-write on packages created in the org's scope.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from .accounts import Accounts
from .challenges import Challenges
from .errors import (
    TOKEN_EXPIRED_NOTICE,
    AlreadyInvited,
    BadRequest,
    MalformedBody,
    NotAnOrgAdmin,
    NotFound,
    PackageNotFound,
    ScopeNotFound,
    UsageError,
)
from .models import (
    Access,
    Call,
    Invitation,
    InvitationState,
    Operation,
    Org,
    OrgRole,
    Package,
    Permission,
    Principal,
    Team,
)
from .policy import DAY, Gate
from .state import Record, RegistryState

DEFAULT_TEAM = "developers"
INVITATION_TTL = 7 * DAY


class Orgs:
    """Orgs and teams, and the write permissions they give."""

    def __init__(self, state: RegistryState, accounts: Accounts, challenges: Challenges) -> None:
        self.state = state
        self.accounts = accounts
        self.challenges = challenges

    # -- fixture side ------------------------------------------------------------------------------

    def add_org(self, name: str, *, owner: str, paid: bool = False) -> Org:
        self.accounts.user(owner)
        with self.state.lock:
            if name in self.state.orgs or (name in self.state.users and name != owner):
                raise UsageError(f"the scope @{name} is taken (a user or an org of that name exists)")
            org = Org(name=name, members={owner: OrgRole.OWNER}, paid=paid)
            org.teams[DEFAULT_TEAM] = Team(DEFAULT_TEAM, members={owner})
            self.state.orgs[name] = org
            return org

    def org(self, name: str) -> Org:
        org = self.state.orgs.get(name)
        if org is None:
            raise NotFound("Org not found", reason=f"there is no org {name!r}")
        return org

    def team(self, org_name: str, team_name: str) -> Team:
        team = self.org(org_name).teams.get(team_name)
        if team is None:
            raise NotFound("Team not found", reason=f"org {org_name} has no team {team_name!r}")
        return team

    def join_org(self, org: Org, user: str, role: OrgRole) -> None:
        org.members[user] = role
        org.teams[DEFAULT_TEAM].members.add(user)

    # -- permissions -------------------------------------------------------------------------------

    def scope_org(self, name: str) -> Org | None:
        """The org owning ``name``'s scope (``@acme/x`` -> ``acme``), if there is one."""
        return self.state.orgs.get(name[1:].split("/", 1)[0]) if name.startswith("@") else None

    def may_write(self, user: str, package: Package) -> bool:
        """Maintainers write; so do members of a team with read-write on the package."""
        if user in package.maintainers:
            return True
        org = self.scope_org(package.name)
        if org is None or user not in org.members:
            return False
        return any(
            user in team.members and team.grants.get(package.name) is Permission.READ_WRITE
            for team in org.teams.values()
        )

    def may_read(self, user: str, package: Package) -> bool:
        """Restricted packages are visible to maintainers and to teams granted any permission."""
        if package.access is not Access.RESTRICTED or user in package.maintainers:
            return True
        org = self.scope_org(package.name)
        return org is not None and any(
            user in team.members and package.name in team.grants for team in org.teams.values()
        )

    def visible(self, name: str, principal: Principal | None, bad_token: bool, *, served: bool = False) -> Package:
        """The package if this principal may read it. ``served``: as readers of packuments and
        tarballs see it, without versions that are not visible yet (``visibility_delay``)."""
        package = self.state.served(name) if served else self.state.packages.get(name)
        if package is not None and not self.may_read(principal.user.name if principal else "", package):
            package = None
        if package is None:
            raise PackageNotFound(
                reason=f"{name} does not exist or is not visible to this credential",
                notice=TOKEN_EXPIRED_NOTICE if bad_token else None,
            )
        return package

    def check_scope(self, principal: Principal, name: str) -> None:
        """A new package ``@scope/x`` needs the scope to be the user's own name or one of their orgs."""
        if not name.startswith("@") or not self.state.policy.scopes_are_owned:
            return
        scope = name[1:].split("/", 1)[0]
        org = self.state.orgs.get(scope)
        if org is not None:
            if principal.user.name not in org.members:
                raise NotFound(reason=f"{principal.user.name} is not a member of org {scope} and cannot create {name}")
            return
        if scope == principal.user.name:
            return
        if scope in self.state.users:
            raise NotFound(reason=f"the scope @{scope} belongs to user {scope}, not {principal.user.name}")
        raise ScopeNotFound(f"@{scope}")

    def pays_for(self, name: str, user_paid: bool) -> bool:
        """Restricted packages need a paid plan: the org's for an org scope, else the user's."""
        org = self.scope_org(name)
        return org.paid if org is not None else user_paid

    def on_package_created(self, package: Package) -> None:
        """A package created in an org's scope is granted read-write to the org's developers team."""
        org = self.scope_org(package.name)
        if org is not None:
            org.teams[DEFAULT_TEAM].grants.setdefault(package.name, Permission.READ_WRITE)

    def settings_gate(
        self,
        call: Call,
        rec: Record,
        principal: Principal,
        action: str,
        *,
        package: str | None = None,
    ) -> None:
        """Gate an owner, access, org or team change: refusals, then the 2FA challenge if one is due."""
        if self.state.policy.settings_gate(principal, action, package) is Gate.CHALLENGE:
            what = f"{action} ({package})" if package else action
            rec.otp = self.challenges.second_factor(call, rec, what, self.state.policy.challenge_reason(principal))

    def _admin(self, org: Org, principal: Principal) -> None:
        if org.members.get(principal.user.name) not in (OrgRole.OWNER, OrgRole.ADMIN):
            raise NotAnOrgAdmin(org.name, reason=f"{principal.user.name} is not an owner or admin of {org.name}")

    # -- org membership ------------------------------------------------------------------------------

    def org_members(self, call: Call, org_name: str) -> dict[str, OrgRole]:
        with self.state.recording(Operation.ORG_MEMBERS, call, None) as rec:
            rec.principal = self.accounts.require_principal(call)
            return dict(self.org(org_name).members)

    def set_org_member(self, call: Call, org_name: str, user: str, role: OrgRole) -> tuple[Org, str, OrgRole, bool]:
        """``npm org set <org> <user> [role]``; returns whether an invitation was sent instead."""
        with self.state.recording(Operation.SET_ORG_MEMBER, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                org = self.org(org_name)
                self.accounts.user(user)
                self._admin(org, principal)
                if role is OrgRole.OWNER and org.members.get(principal.user.name) is not OrgRole.OWNER:
                    raise NotAnOrgAdmin(org.name, reason="only owners can make owners")
                self.settings_gate(call, rec, principal, f"change members of {org_name}")
                if user in org.members or not self.state.policy.owner_add_invites:
                    self.join_org(org, user, role)
                    return org, user, role, False
                self.invite(user, principal.user.name, org=org_name, role=role)
                return org, user, role, True

    def remove_org_member(self, call: Call, org_name: str, user: str) -> None:
        with self.state.recording(Operation.REMOVE_ORG_MEMBER, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                org = self.org(org_name)
                self._admin(org, principal)
                if user not in org.members:
                    raise NotFound(f"{user} is not a member of {org_name}", reason=f"{user} is not in {org_name}")
                owners = [u for u, r in org.members.items() if r is OrgRole.OWNER]
                if owners == [user]:
                    raise BadRequest(f"Cannot remove the last owner of {org_name}")
                self.settings_gate(call, rec, principal, f"change members of {org_name}")
                del org.members[user]
                for team in org.teams.values():
                    team.members.discard(user)

    # -- teams ---------------------------------------------------------------------------------------

    def create_team(self, call: Call, org_name: str, body: Any) -> Team:
        with self.state.recording(Operation.CREATE_TEAM, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
                raise MalformedBody('Create a team with {"name": "<team>"}')
            name = body["name"]
            with self.state.lock:
                org = self.org(org_name)
                self._admin(org, principal)
                if name in org.teams:
                    raise BadRequest(f"Team {org_name}:{name} already exists")
                self.settings_gate(call, rec, principal, f"create teams in {org_name}")
                team = Team(name, description=body.get("description"))
                org.teams[name] = team
                return team

    def destroy_team(self, call: Call, org_name: str, team_name: str) -> None:
        with self.state.recording(Operation.DESTROY_TEAM, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                org = self.org(org_name)
                self.team(org_name, team_name)
                self._admin(org, principal)
                if team_name == DEFAULT_TEAM:
                    raise BadRequest(f"The {DEFAULT_TEAM} team cannot be destroyed")
                self.settings_gate(call, rec, principal, f"destroy teams in {org_name}")
                del org.teams[team_name]

    def team_members(self, call: Call, org_name: str, team_name: str) -> list[str]:
        with self.state.recording(Operation.TEAM_MEMBERS, call, None) as rec:
            rec.principal = self.accounts.require_principal(call)
            return sorted(self.team(org_name, team_name).members)

    def teams(self, call: Call, org_name: str) -> list[str]:
        with self.state.recording(Operation.TEAM_MEMBERS, call, None) as rec:
            rec.principal = self.accounts.require_principal(call)
            return sorted(f"{org_name}:{t}" for t in self.org(org_name).teams)

    def change_team_member(self, call: Call, org_name: str, team_name: str, user: str, *, add: bool) -> None:
        operation = Operation.ADD_TEAM_MEMBER if add else Operation.REMOVE_TEAM_MEMBER
        with self.state.recording(operation, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            with self.state.lock:
                org = self.org(org_name)
                team = self.team(org_name, team_name)
                self._admin(org, principal)
                if user not in org.members:
                    raise BadRequest(f"{user} is not a member of {org_name}: `npm org set {org_name} {user}` first")
                self.settings_gate(call, rec, principal, f"change teams of {org_name}")
                (team.members.add if add else team.members.discard)(user)

    # -- grants and listings ---------------------------------------------------------------------------

    def grant(self, call: Call, org_name: str, team_name: str, body: Any, *, revoke: bool = False) -> None:
        """``npm access grant|revoke``: ``PUT|DELETE /-/team/<org>/<team>/package``."""
        with self.state.recording(Operation.REVOKE_GRANT if revoke else Operation.GRANT, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            if not isinstance(body, dict) or not isinstance(body.get("package"), str):
                raise MalformedBody('Expected {"package": "<name>", "permissions": "read-only|read-write"}')
            name = body["package"]
            permission = body.get("permissions")
            if not revoke and permission not in ("read-only", "read-write"):
                raise BadRequest(f"Invalid permissions {permission!r}: use read-only or read-write")
            with self.state.lock:
                org = self.org(org_name)
                team = self.team(org_name, team_name)
                package = self.state.package(name)
                if package.scope != f"@{org_name}":
                    raise BadRequest(
                        f"{name} is not in the @{org_name} scope: teams get grants on their org's packages"
                    )
                self._admin(org, principal)
                self.settings_gate(
                    call,
                    rec,
                    principal,
                    f"change grants of {org_name}",
                    package=name,
                )
                if revoke:
                    team.grants.pop(name, None)
                else:
                    team.grants[name] = Permission(str(permission))

    def org_packages(self, call: Call, org_name: str) -> dict[str, str]:
        with self.state.recording(Operation.LIST_PACKAGES, call, None) as rec:
            rec.principal = principal = self.accounts.require_principal(call)
            self.org(org_name)
            return {
                name: "write" if self.may_write(principal.user.name, package) else "read"
                for name, package in sorted(self.state.packages.items())
                if package.scope == f"@{org_name}"
            }

    def team_packages(self, call: Call, org_name: str, team_name: str) -> dict[str, str]:
        with self.state.recording(Operation.LIST_PACKAGES, call, None) as rec:
            rec.principal = self.accounts.require_principal(call)
            team = self.team(org_name, team_name)
            return {name: "write" if p is Permission.READ_WRITE else "read" for name, p in sorted(team.grants.items())}

    # -- invitations -----------------------------------------------------------------------------------

    def refuse_pending_invitation(self, user: str, *, package: str | None = None, org: str | None = None) -> None:
        now = self.state.clock.now()
        for existing in self.state.invitations.values():
            if (existing.user, existing.package, existing.org) == (user, package, org) and existing.live(now):
                raise AlreadyInvited(user, package or f"org {org}")

    def invite(
        self,
        user: str,
        inviter: str,
        *,
        package: str | None = None,
        org: str | None = None,
        role: OrgRole | None = None,
    ) -> Invitation:
        self.refuse_pending_invitation(user, package=package, org=org)
        now = self.state.clock.now()
        key = (user, package, org)
        for existing in self.state.invitations.values():  # a lapsed invitation is replaced by this one
            if existing.state == InvitationState.PENDING and (existing.user, existing.package, existing.org) == key:
                existing.state = InvitationState.EXPIRED
        invitation = Invitation(
            id=secrets.token_hex(8),
            user=user,
            inviter=inviter,
            created=now,
            expires=now + INVITATION_TTL,
            package=package,
            org=org,
            role=role,
        )
        self.state.invitations[invitation.id] = invitation
        return invitation

    def pending_invitations(self, user: str | None = None) -> list[Invitation]:
        now = self.state.clock.now()
        return [i for i in self.state.invitations.values() if i.live(now) and (user is None or i.user == user)]

    def find_invitation(self, user: str, *, package: str | None = None, org: str | None = None) -> Invitation:
        """The one pending invitation of ``user`` to ``package`` (or ``org``); either may be left out
        when only one invitation matches."""
        mine = self.pending_invitations(user)
        found = [i for i in mine if (package is None or i.package == package) and (org is None or i.org == org)]
        if len(found) != 1:
            raise UsageError(
                f"{len(found)} pending invitations for {user} match package={package!r} org={org!r}:"
                f" {[i.target for i in mine]}"
            )
        return found[0]

    def answer_invitation(self, invitation_id: str, *, accept: bool) -> Invitation:
        """What the invitee does from the email: accept (becomes maintainer / member) or decline."""
        with self.state.lock:
            invitation = self.state.invitations.get(invitation_id)
            if invitation is None or invitation.state != InvitationState.PENDING:
                raise NotFound(reason=f"no pending invitation {invitation_id}")
            if self.state.clock.now() >= invitation.expires:
                invitation.state = InvitationState.EXPIRED
                raise NotFound("Invitation expired", reason=f"the invitation of {invitation.user} expired")
            invitation.state = InvitationState.ACCEPTED if accept else InvitationState.DECLINED
            if accept and invitation.package is not None:
                self.add_maintainer(invitation.package, invitation.user)
            elif accept and invitation.org is not None:
                self.join_org(self.org(invitation.org), invitation.user, invitation.role or OrgRole.DEVELOPER)
            self.state.journal_event(
                Operation.ACCEPT_INVITATION,
                user=invitation.user,
                package=invitation.package,
                accepted=accept,
                reason=f"{invitation.user} {invitation.state} the invitation to {invitation.target}",
            )
            return invitation

    def add_maintainer(self, name: str, user: str) -> None:
        package = self.state.package(name)
        if user not in package.maintainers:
            self.state.packages[name] = replace(
                package, maintainers=(*package.maintainers, user), modified=self.state.clock.now(), rev=package.rev + 1
            )
