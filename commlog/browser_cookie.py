"""The browser's own cookie, `commlog_browser`: what binds a download token to the browser that minted it.

The launcher sets it itself (`BrowserCookieMiddleware`, plain ASGI) on any HTTP response to a
request that did not send it: `commlog_browser=<random>; HttpOnly; SameSite=Strict; Path=/`, plus
`Secure` when the request came over HTTPS (scope scheme https: uvicorn behind a TLS proxy needs
`--proxy-headers`). The page's first response sets it, so the browser sends it on the WebSocket the
script's `st.context.cookies` reads and on every `/export/<token>` fetch. HttpOnly: no script can
read it; SameSite=Strict: no other site's page can make the browser send it. It names no user and
expires with the browser session; the database only ever keeps its SHA-256.
"""

from __future__ import annotations

import secrets
from http.cookies import CookieError, SimpleCookie

COOKIE = "commlog_browser"
MIN_LENGTH = 32  # what the middleware sets is 43 characters; anything shorter is not ours


def cookie_value(cookie_header: str | None) -> str | None:
    """The browser's id from a Cookie header, or None."""
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return valid(morsel.value if morsel else None)


def valid(value: str | None) -> str | None:
    """The value if it can be a browser id the middleware set, else None."""
    if not value or len(value) < MIN_LENGTH or len(value) > 100:
        return None
    return value


def set_cookie_header(value: str, *, secure: bool) -> bytes:
    parts = [f"{COOKIE}={value}", "HttpOnly", "SameSite=Strict", "Path=/"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


class BrowserCookieMiddleware:
    """ASGI middleware: give every browser a `commlog_browser` cookie (HTTP responses only: a
    WebSocket upgrade cannot set one, and the page's own response came first)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = b"; ".join(v for k, v in scope.get("headers", ()) if k == b"cookie").decode("latin-1")
        if cookie_value(header) is not None:
            await self.app(scope, receive, send)
            return
        cookie = set_cookie_header(secrets.token_urlsafe(32), secure=scope.get("scheme") == "https")

        async def send_with_cookie(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
