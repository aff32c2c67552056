"""The HTML both kinds of page share: the style sheet, escaping, the page frame and its security
headers, and small formatters (``span``, ``ago``, ``table``). Every value is escaped by ``e``."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from html import escape

from werkzeug.wrappers import Request, Response

from pytest_npm_registry.domain.clock import iso

FORMS_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f3f4f7}
main{max-width:1180px;margin:0 auto;padding:16px}
main.narrow{max-width:560px}
header.bar{background:#cb3837;color:#fff;padding:10px 16px;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
header.bar b{font-size:17px}
header.bar .live{margin-left:auto;font-size:13px;opacity:.9}
header.bar button{font-size:13px;padding:3px 10px;width:auto}
h1{font-size:22px;margin:4px 0 14px;overflow-wrap:anywhere}
h2{font-size:17px;margin:22px 0 8px}
.card{background:#fff;border:1px solid #dde0e6;border-radius:8px;padding:18px;margin:12px 0}
.eyebrow{margin:0;color:#6a7180;font-size:13px;text-transform:uppercase;letter-spacing:.04em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 14px;margin:0 0 16px}
dt{color:#6a7180}dd{margin:0;overflow-wrap:anywhere}
.actions{display:flex;gap:10px;flex-wrap:wrap}
.actions form{flex:1 1 140px}
button{font:inherit;border:1px solid #b9bec8;background:#fff;border-radius:6px;padding:9px 16px;width:100%}
button{cursor:pointer}
button.primary{background:#1f7a3f;border-color:#1f7a3f;color:#fff}
button.danger{color:#a4161a;border-color:#d9a0a2}
label{display:block;margin:10px 0 4px;color:#3b4252}
input{font:inherit;width:100%;padding:9px;border:1px solid #b9bec8;border-radius:6px}
.hint{color:#6a7180;font-size:13px}
.state{padding:12px 14px;border-radius:6px;margin:0 0 14px}
.ok{background:#e4f4e9;color:#14532d}.bad{background:#fbe6e6;color:#7f1d1d}.info{background:#eef1f6}
.error{background:#fbe6e6;color:#7f1d1d;padding:8px 10px;border-radius:6px}
.summary{display:flex;gap:10px;flex-wrap:wrap}
.summary span{background:#fff;border:1px solid #dde0e6;border-radius:6px;padding:6px 10px}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde0e6;border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f7f8fa;font-weight:600;white-space:nowrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.otp{font-size:17px;letter-spacing:.08em;font-weight:600}
.tag{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;background:#eef1f6;margin:1px 2px 1px 0}
.tag.warn{background:#fff1d6}.tag.bad{background:#fbe6e6}.tag.ok{background:#e4f4e9}
.empty{color:#6a7180;margin:4px 0}
ol.timeline{list-style:none;margin:0;padding:0;background:#fff;border:1px solid #dde0e6;border-radius:8px}
ol.timeline li{padding:7px 12px;border-bottom:1px solid #eceef2;border-left:4px solid #9aa3b2}
ol.timeline li.accepted{border-left-color:#2f9e57}
ol.timeline li.challenged{border-left-color:#e0a100}
ol.timeline li.rejected{border-left-color:#cb3837;background:#fff8f8}
ol.timeline time{color:#6a7180;font-size:13px;margin-right:6px}
.reason{margin:2px 0 0;color:#7f1d1d;overflow-wrap:anywhere}
ol.timeline li.challenged .reason{color:#6b4e00}
@media (max-width:640px){
 main{padding:10px}
 .scroll{background:none;border:0}
 table,thead,tbody,tr,td{display:block}
 thead{display:none}
 tr{background:#fff;border:1px solid #dde0e6;border-radius:8px;margin:0 0 8px;padding:6px 0}
 td{border:0;padding:3px 12px;overflow-wrap:anywhere}
 td::before{content:attr(data-label);display:block;color:#6a7180;font-size:12px}
 dl{grid-template-columns:1fr}dd{margin-bottom:6px}
}
"""


def e(value: object) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape(str(value), quote=True)


def span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def ago(at: float | None, now: float) -> str:
    return "—" if at is None else f"{span(now - at)} ago"


def clock(at: float) -> str:
    return iso(at)[11:19] + " UTC"


def tag(text: str, kind: str = "") -> str:
    return f'<span class="tag {kind}">{e(text)}</span>'


def page(title: str, body: str, *, status: int = 200, script: str = "") -> Response:
    nonce = secrets.token_urlsafe(12)
    scripts = f'<script nonce="{nonce}">{script}</script>' if script else ""
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · mock npm registry</title>"
        f"<style>{CSS}</style></head><body>{body}{scripts}</body></html>"
    )
    response = Response(document, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    # A header, not <meta name=referrer>: ``admin_page`` must be able to replace it. same-origin
    # sends our address to no other site (another port included) and keeps ``Origin`` on our
    # own form posts, which the Origin check (``host.foreign_origin``) reads.
    response.headers["Referrer-Policy"] = "same-origin"
    # The approve buttons must not be framed by another page (clickjacking).
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def admin_page(response: Response) -> Response:
    """A page (or redirect) under the admin's secret path: its address must not travel in a
    ``Referer``, not even to our own server's request log, so ``no-referrer``. Browsers then post
    its forms with ``Origin: null``, which ``host.foreign_origin(null_ok=True)`` accepts there."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def card_page(title: str, eyebrow: str, inner: str, *, status: int = 200) -> Response:
    body = (
        "<header class=bar><b>mock npm registry</b></header><main class=narrow><div class=card>"
        f"<p class=eyebrow>{e(eyebrow)}</p><h1>{e(title)}</h1>{inner}</div></main>"
    )
    return page(title, body, status=status)


def redirect(location: str) -> Response:
    return Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def is_form(request: Request) -> bool:
    return request.mimetype in FORMS_MIMETYPES


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """Cells are HTML already escaped by the caller; ``data-label`` feeds the phone layout."""
    body = "".join(
        "<tr>" + "".join(f'<td data-label="{e(h)}">{cell}</td>' for h, cell in zip(headers, row, strict=True)) + "</tr>"
        for row in rows
    )
    if not body:
        return f"<p class=empty>{e(empty)}</p>"
    head = "".join(f"<th scope=col>{e(h)}</th>" for h in headers)
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
