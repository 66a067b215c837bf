"""What the tracking function answers with: the 1x1 GIF, the unsubscribe pages and their headers (stdlib only).

The unsubscribe page is self-contained (inline style, no script, no external resource) so a strict
Content-Security-Policy holds; its form posts `List-Unsubscribe=One-Click` back to the same URL, the body
RFC 8058 mail clients send, so the page's button and a client's one-click unsubscribe are one request.
"""

from __future__ import annotations

import base64
import html
from enum import StrEnum
from typing import Final

# The smallest transparent GIF89a (1x1, one-colour palette, transparency extension): 43 bytes.
PIXEL_GIF: Final = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

# Opens and clicks must reach us every time (a cached pixel is an open we never see); nothing here is public.
NO_STORE: Final = "no-store, no-cache, must-revalidate, private, max-age=0"

ONE_CLICK_FIELD: Final = "List-Unsubscribe"
ONE_CLICK_VALUE: Final = "One-Click"


class PageState(StrEnum):
    CONFIRM = "confirm"  # GET before unsubscribing: the form, nothing recorded
    DONE = "done"  # unsubscribed (now or before): the same page every time
    UNAVAILABLE = "unavailable"  # recording failed; the visitor should try again


def pixel_headers() -> dict[str, str]:
    return {
        "content-type": "image/gif",
        "content-length": str(len(PIXEL_GIF)),
        "cache-control": NO_STORE,
        "pragma": "no-cache",
        "expires": "0",
    }


def redirect_headers(location: str) -> dict[str, str]:
    # no-referrer: the destination learns neither the webmail page nor the tracking token.
    return {"location": location, "cache-control": NO_STORE, "referrer-policy": "no-referrer"}


def page_headers() -> dict[str, str]:
    return {
        "content-type": "text/html; charset=utf-8",
        "cache-control": NO_STORE,
        "content-security-policy": (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-content-type-options": "nosniff",
        "x-robots-tag": "noindex, nofollow",
        "referrer-policy": "no-referrer",
    }


def plain_headers() -> dict[str, str]:
    return {"content-type": "text/plain; charset=utf-8", "cache-control": NO_STORE, "x-content-type-options": "nosniff"}


_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f6f7f9;color:#1f2933;"
    "margin:0;padding:48px 16px}"
    "main{max-width:480px;margin:0 auto;background:#fff;border-radius:8px;padding:32px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    "h1{font-size:20px;margin:0 0 12px}p{line-height:1.5;margin:0 0 16px}"
    "button{font:inherit;background:#1f2933;color:#fff;border:0;border-radius:6px;padding:10px 18px;cursor:pointer}"
)


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex,nofollow">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def unsubscribe_page(state: PageState, email: str | None) -> str:
    """The page for `state`; `email` is the recipient the link was sent to (escaped here)."""
    who = f"<strong>{html.escape(email)}</strong>" if email else "this address"
    if state is PageState.CONFIRM:
        return _document(
            "Unsubscribe",
            "<h1>Unsubscribe</h1>"
            f"<p>Stop receiving these emails at {who}?</p>"
            # No action attribute: the form posts to this same URL (the token is in the path).
            f'<form method="post"><input type="hidden" name="{ONE_CLICK_FIELD}" value="{ONE_CLICK_VALUE}">'
            '<button type="submit">Unsubscribe</button></form>',
        )
    if state is PageState.DONE:
        return _document(
            "Unsubscribed",
            f"<h1>You are unsubscribed</h1><p>{who} will receive no further emails from this sender.</p>",
        )
    return _document(
        "Please try again",
        "<h1>Something went wrong</h1><p>We could not record your request. Please try again in a minute.</p>",
    )
