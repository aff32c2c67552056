"""The registry dashboard at ``/-/_mock/<secret>/``: accounts, tokens, packages, what is waiting
(with the admin's approval pages for it), and the journal as a timeline, refreshed in place every
1.5 s.

It needs the admin token, as the control API does: ``Authorization: Bearer``, or once as
``/-/_mock/?token=`` / the sign-in form at ``/-/_mock/`` (with a CSRF token), which answers with a
redirect to the secret path and an HttpOnly, SameSite=Strict cookie holding an HMAC of the token
bound to this server's origin (never the token itself; its name carries the port) whose ``Path`` is
that secret path (``host.AdminToken``): a browser sends it to nothing else, another port of the
same host included, and the server accepts it nowhere else. Tokens show their prefix only; the one
secret on the page is each account's current authenticator code, on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.clock import iso
from pytest_npm_registry.domain.errors import CrossSiteRequest, NotFound
from pytest_npm_registry.domain.journal import JournalEntry
from pytest_npm_registry.domain.models import Call, Outcome, Token, TokenKind
from pytest_npm_registry.domain.otp import totp_code

from .host import CSRF_FIELD, SIGN_IN_PATH, AdminToken
from .html import admin_page, ago, card_page, clock, e, page, redirect, span, table, tag

if TYPE_CHECKING:
    from pytest_npm_registry.domain.registry import Registry

_TIMELINE_LIMIT = 200
_REFRESH_MS = 1500

_LIVE_SCRIPT = """
(function () {
  var live = document.getElementById("live"), status = document.getElementById("live-status");
  var pause = document.getElementById("pause"), paused = false, last = null;
  pause.addEventListener("click", function () { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; });
  function tick() {
    if (paused) { setTimeout(tick, %(ms)d); return; }
    fetch("%(path)s?part=main", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (text) {
        if (text !== last) { live.innerHTML = text; last = text; }
        status.textContent = "live \\u00b7 " + new Date().toLocaleTimeString();
      })
      .catch(function (err) { status.textContent = "not updating (" + err.message + ")"; })
      .then(function () { setTimeout(tick, %(ms)d); });
  }
  setTimeout(tick, %(ms)d);
})();
"""


class DashboardViews:
    """The sign-in page (``/-/_mock/``) and the dashboard under the secret path (admin only)."""

    def __init__(self, registry: Registry, admin: AdminToken) -> None:
        self.registry = registry
        self.admin = admin

    def _sign_in_page(self, request: Request, origin: str, *, failed: bool, note: str = "") -> Response:
        note = f"<p class=error id=error>{e(note or 'That is not the admin token.')}</p>" if failed else ""
        csrf = self.admin.csrf_token(request, origin, SIGN_IN_PATH)
        inner = (
            f"{note}<p>The dashboard needs the admin token the server printed at start (the control API's).</p>"
            f"<form method=post action='{SIGN_IN_PATH}'><input type=hidden name={CSRF_FIELD} value='{e(csrf)}'>"
            "<label for=token>Admin token</label>"
            "<input id=token name=token type=password autocomplete=off required>"
            "<div class=actions style='margin-top:14px'><button class=primary id=sign-in>Open the dashboard</button>"
            "</div></form>"
        )
        return card_page("Registry dashboard", "sign in", inner, status=401)

    def sign_in(self, request: Request, call: Call, origin: str) -> Response:
        """``/-/_mock/``: swap the admin token for the cookie and send the browser to the secret path.
        The cookie is no credential here (a browser would not send it: its Path is the secret one)."""
        given = request.form.get("token") if request.method == "POST" else request.args.get("token")
        if given is not None:
            if request.method == "POST" and not self.admin.csrf_ok(request, origin):
                return self._sign_in_page(request, origin, failed=True, note=CrossSiteRequest(reason="").message)
            if not self.admin.is_token(given):
                return self._sign_in_page(request, origin, failed=True)
            # The token leaves the address bar and the history; no-referrer keeps this address
            # (``?token=``) out of the next request's Referer.
            response = admin_page(redirect(self.admin.home(origin)))
            self.admin.set_cookie(response, origin)
            return response
        if self.admin.is_admin(request, origin, cookie=False):  # a script with the bearer token
            return admin_page(redirect(self.admin.home(origin)))
        if request.args.get("part"):
            return Response("sign in again", status=401, content_type="text/plain")
        return self._sign_in_page(request, origin, failed=False)

    def show(self, request: Request, call: Call, origin: str, secret: str) -> Response:
        if not self.admin.is_secret(secret, origin):
            raise NotFound(reason="the dashboard under a wrong secret path")
        home = self.admin.home(origin)
        if request.path != home:  # ``/-/_mock/<secret>`` without the slash: outside the cookie's Path
            return admin_page(redirect(home))
        if not self.admin.is_admin(request, origin):
            if request.args.get("part"):
                return Response("sign in again", status=401, content_type="text/plain")
            # To the sign-in page, not a form here: a no-referrer page posts with ``Origin: null``,
            # which the sign-in (outside the secret path) refuses; the redirect itself is
            # no-referrer, so the secret does not follow in a Referer.
            return admin_page(redirect(SIGN_IN_PATH))
        with self.registry.exclusive():  # the live dicts must not change while they are walked
            main = render_dashboard(self.registry, home)
        if request.args.get("part") == "main":
            response = Response(main, content_type="text/html; charset=utf-8")
            response.headers["Cache-Control"] = "no-store"
            return admin_page(response)
        body = (
            "<header class=bar><b>mock npm registry</b>"
            f"<span>{e(origin)}/ · policy {e(self.registry.policy.name)}</span>"
            "<span class=live id=live-status>live</span><button id=pause type=button>Pause</button></header>"
            f"<main id=live>{main}</main>"
        )
        script = _LIVE_SCRIPT % {"ms": _REFRESH_MS, "path": home}
        return admin_page(page("Registry dashboard", body, script=script))


# -- dashboard sections ---------------------------------------------------------------------------------


def render_dashboard(registry: Registry, home: str) -> str:
    """The dashboard's live part: everything a person debugging a pipeline wants on one page;
    ``home``: the secret path, where the admin's approval pages for what is waiting live."""
    now = registry.clock.now()
    entries = registry.journal.entries()
    refused = sum(1 for x in entries if x.outcome is not Outcome.ACCEPTED)
    users, tokens, packages = (
        list(registry.state.users.values()),
        list(registry.state.tokens.values()),
        registry.state.packages,
    )
    summary = "".join(
        f"<span>{e(label)}</span>"
        for label in (
            f"registry time {iso(now)}",
            f"{len(users)} accounts",
            f"{sum(1 for t in tokens if t.state(now) == 'active')} live tokens",
            f"{len(packages)} packages",
            f"{len(entries)} requests, {refused} refused or challenged",
        )
    )
    return (
        f"<div class=summary>{summary}</div>"
        f"<h2 id=accounts>Accounts</h2>{_accounts(registry, now)}"
        f"<h2 id=tokens>Tokens</h2>{_tokens(tokens, now)}"
        f"<h2 id=packages>Packages</h2>{_packages(registry, now)}"
        f"<h2 id=pending>Waiting</h2>{_pending(registry, now, home)}"
        f"<h2 id=journal>Journal</h2>{_timeline(entries)}"
    )


def _accounts(registry: Registry, now: float) -> str:
    rows = []
    for user in sorted(registry.state.users.values(), key=lambda u: u.name):
        if user.totp_secret:
            otp = (
                f"<span class='mono otp'>{e(totp_code(user.totp_secret, now))}</span> "
                f"<span class=hint>{30 - now % 30:.0f} s left</span>"
            )
        else:
            otp = "—"
        extras = [tag("paid")] if user.paid else []
        if user.security_key:
            extras.append(tag("security key"))
        if user.pending_mode is not None:
            extras.append(tag(f"2FA set-up pending ({user.pending_mode.value})", "warn"))
        rows.append(
            (
                f"<b>{e(user.name)}</b><br><span class=hint>{e(user.email)}</span>",
                tag(user.tfa.value, "ok" if user.tfa_enabled else "warn") + " ".join(extras),
                e(user.challenge.value),
                otp,
                e(f"{len(user.recovery_codes)} left") if user.tfa_enabled else "—",
                e(f"{len(user.outbox)} sent") if user.outbox else "—",
            )
        )
    return table(
        ("Account", "2FA", "Challenge", "Current OTP", "Recovery codes", "Emailed codes"), rows, "No accounts yet."
    )


def _tokens(tokens: list[Token], now: float) -> str:
    rows = []
    for token in sorted(tokens, key=lambda t: t.created):
        state = token.state(now)
        kind = token.kind.value
        if token.kind is TokenKind.GRANULAR or token.kind is TokenKind.OIDC:
            kind += f" · {token.permission.value}"
        bypass = tag("bypasses 2FA", "warn") if token.bypasses_2fa else "—"
        scope = [f"packages: {', '.join(token.packages)}"] if token.packages else []
        scope += [f"scopes: {', '.join(token.scopes)}"] if token.scopes else []
        scope += [f"orgs: {', '.join(token.orgs)}"] if token.orgs else []
        if token.expires is None:
            expiry = "never"
        elif now < token.expires:
            expiry = f"in {span(token.expires - now)}"
        else:
            expiry = f"expired {ago(token.expires, now)}"
        last = token.last_used
        rows.append(
            (
                f"<span class=mono>{e(token.prefix)}…</span>" + (f"<br>{e(token.name)}" if token.name else ""),
                e(token.user),
                e(kind),
                bypass,
                e("; ".join(scope) or "all the user's packages"),
                e(expiry),
                e(", ".join(str(n) for n in token.cidr)) if token.cidr else "any address",
                e(ago(last, now)),
                tag(state, "ok" if state == "active" else "bad"),
            )
        )
    headers = ("Key", "Owner", "Kind", "Bypass", "Scope", "Expires", "CIDR", "Last used", "State")
    return table(headers, rows, "No tokens yet.")


_RULES = {
    "none": "none: tokens publish without 2FA",
    "automation": "automation: 2FA or a bypass token",
    "publish": "publish: 2FA, no tokens",
}


def _claims(claims: Mapping[str, object], prefix: str = "") -> list[str]:
    """``repository=acme/lib, workflow_ref.file=release.yml``: nested claims flattened with dots."""
    out: list[str] = []
    for key, value in claims.items():
        if isinstance(value, Mapping):
            out += _claims(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={value}")
    return out


def _packages(registry: Registry, now: float) -> str:
    rows = []
    for package in sorted(registry.state.packages.values(), key=lambda p: p.name):
        versions = " ".join(tag(v) for v in package.versions)
        tags = "<br>".join(f"{e(t)} → {e(v)}" for t, v in package.dist_tags.items())
        trust = "<br>".join(
            e(f"{c.type}: {', '.join(_claims(c.claims))} ({', '.join(c.permissions)})")
            for c in registry.state.trust.get(package.name, [])
        )
        rows.append(
            (
                f"<b>{e(package.name)}</b><br><span class=hint>{e(package.access.value)} · modified "
                f"{ago(package.modified, now)}</span>",
                versions,
                tags or "—",
                e(", ".join(package.maintainers)),
                e(_RULES.get(package.requirement.value, package.requirement.value)),
                trust or "—",
            )
        )
    headers = ("Package", "Versions", "Dist-tags", "Maintainers", "Publishing rule", "Trusted publishers")
    shown = table(headers, rows, "No packages yet.")
    orgs = [
        (
            f"<b>{e(org.name)}</b>" + (" " + tag("paid") if org.paid else ""),
            e(", ".join(f"{u} ({r.value})" for u, r in sorted(org.members.items()))),
            e(", ".join(sorted(org.teams))),
        )
        for org in sorted(registry.state.orgs.values(), key=lambda o: o.name)
    ]
    if orgs:
        shown += "<h2 id=orgs>Orgs</h2>" + table(("Org", "Members", "Teams"), orgs, "")
    return shown


def _pending(registry: Registry, now: float, home: str) -> str:
    rows = []
    for session in sorted(registry.state.web_auth.values(), key=lambda s: s.created, reverse=True):
        if session.expired(now):
            state = tag("expired", "bad")
        elif session.approved or session.denied:
            state = tag("approved" if session.approved else "denied", "ok" if session.approved else "bad")
        else:
            state = f"<a href='{e(_admin_path(home, session.auth_path))}'>{tag('waiting: answer', 'warn')}</a>"
        rows.append(("web 2FA", e(session.user), e(session.description), e(ago(session.created, now)), state))
    for login in sorted(registry.state.web_logins.values(), key=lambda w: w.created, reverse=True):
        what = "npm adduser" if login.create else "npm login"
        if login.user is not None:
            state = tag(f"logged in as {login.user}", "ok")
        elif login.expired(now):
            state = tag("expired", "bad")
        else:
            state = f"<a href='{e(_admin_path(home, login.login_path))}'>{tag('waiting: answer', 'warn')}</a>"
        rows.append(("web login", "—", e(what), e(ago(login.created, now)), state))
    for invitation in registry.orgs.pending_invitations():
        role = f" as {invitation.role.value}" if invitation.role else ""
        rows.append(
            (
                "invitation",
                e(invitation.user),
                e(f"maintain {invitation.target}{role} (invited by {invitation.inviter})"),
                e(ago(invitation.created, now)),
                tag(f"expires in {span(invitation.expires - now)}", "warn"),
            )
        )
    for stage in registry.state.stages.values():
        rows.append(
            (
                "staged version",
                e(stage.actor),
                e(f"{stage.package}@{stage.version.version} tag={stage.tag}"),
                e(ago(stage.created, now)),
                tag("awaiting approval", "warn"),
            )
        )
    return table(("Kind", "Account", "What", "Started", "State"), rows, "Nothing is waiting for a person.")


def _admin_path(home: str, public: str) -> str:
    """``/-/_mock/auth/<id>`` → ``/-/_mock/<secret>/auth/<id>``: the admin's variant, where the
    cookie is sent (the public page never sees it, so it asks the admin for a password)."""
    return home + public[len(SIGN_IN_PATH) :]


def _timeline(entries: list[JournalEntry]) -> str:
    if not entries:
        return "<p class=empty>No requests yet.</p>"
    items = []
    for entry in reversed(entries[-_TIMELINE_LIMIT:]):
        target = (entry.package or "") + (f"@{entry.version}" if entry.version else "")
        target += f" tag={entry.tag}" if entry.tag else ""
        who = entry.user or "anonymous"
        if entry.credential:
            who += f" ({entry.credential}{' ' + entry.token if entry.token else ''})"
        otp = f" · otp {entry.otp.value}" if entry.otp.value != "none" else ""
        reason = f"<p class=reason>{e(entry.reason)}</p>" if entry.reason else ""
        items.append(
            f"<li class={e(entry.outcome.value)}><time>{clock(entry.time)}</time><b>{e(entry.operation.value)}</b> "
            f"{e(target)} <span class=hint>by {e(who)}{e(otp)}</span> "
            f"{tag(f'{entry.status} {entry.outcome.value}')}{reason}</li>"
        )
    more = (
        f"<p class=hint>The newest {_TIMELINE_LIMIT} of {len(entries)}.</p>" if len(entries) > _TIMELINE_LIMIT else ""
    )
    return f"<ol class=timeline>{''.join(items)}</ol>{more}"
