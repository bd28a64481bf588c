"""The security headers on every HTTP response of the launcher (pure ASGI middleware for `st.App`).

* `Content-Security-Policy`: what Streamlit's page needs and nothing more (tests/e2e: no violation
  on any page). Scripts only from this server, plus the one inline script of Streamlit's
  index.html by its hash (computed from the installed file, so an upgrade keeps working), and
  WebAssembly compilation (`'wasm-unsafe-eval'`, not JavaScript's eval: Streamlit's protobuf.js
  compiles a tiny module for 64-bit integers); the Vega-Lite charts need no eval; styles
  from this server and inline (Emotion writes `<style>` elements and `style=` attributes); images
  and fonts from this server, `data:` and `blob:`; connections (the WebSocket too) to this server
  only; no plugins; nothing may frame the app (`frame-ancestors 'none'`, and the older
  `X-Frame-Options: DENY`).
* `Referrer-Policy: no-referrer`: the log's URLs carry filters with borrowers' addresses.
* `X-Content-Type-Options: nosniff`.
* `Strict-Transport-Security` only on a request that came over HTTPS: the ASGI scope's scheme.
  Behind a TLS-terminating proxy, uvicorn (what `streamlit run` and `uvicorn launcher:app` serve
  with) sets that scheme from the proxy's `X-Forwarded-Proto` only when the proxy's address is in
  `FORWARDED_ALLOW_IPS` (uvicorn's setting; default 127.0.0.1, a proxy on the same host).

No Streamlit import: it reads Streamlit's index.html as a file.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

HSTS = "max-age=31536000; includeSubDomains"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _streamlit_index_html() -> Path | None:
    spec = importlib.util.find_spec("streamlit")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "static" / "index.html"


@lru_cache(maxsize=1)
def inline_script_hashes() -> tuple[str, ...]:
    """CSP sources (`'sha256-…'`) of the inline scripts in Streamlit's index.html."""
    path = _streamlit_index_html()
    if path is None or not path.exists():
        return ()
    html = path.read_text(encoding="utf-8")
    digests = (hashlib.sha256(body.encode("utf-8")).digest() for body in _INLINE_SCRIPT.findall(html))
    return tuple(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests)


@lru_cache(maxsize=1)
def content_security_policy() -> str:
    directives = {
        "default-src": ["'self'"],
        # 'wasm-unsafe-eval': WebAssembly only (protobuf.js's 64-bit integers), never JavaScript eval.
        "script-src": ["'self'", "'wasm-unsafe-eval'", *inline_script_hashes()],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def came_over_https(scope: dict) -> bool:
    """The server's word on the scheme (uvicorn has applied a trusted proxy's X-Forwarded-Proto)."""
    return scope.get("scheme") == "https"


def response_headers(scope: dict) -> list[tuple[bytes, bytes]]:
    headers = [
        ("Content-Security-Policy", content_security_policy()),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
    ]
    if came_over_https(scope):
        headers.append(("Strict-Transport-Security", HSTS))
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


class SecurityHeaders:
    """ASGI middleware: adds (replacing any of the same name) the headers above to every HTTP response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ours = response_headers(scope)
        names = {name for name, _ in ours}

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
                message = {**message, "headers": kept + ours}
            await send(message)

        await self.app(scope, receive, send_with_headers)
