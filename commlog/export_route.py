"""`GET /export/<token>`: the page's downloads, served by commlog itself (the launcher's Starlette routes).

In order, each refusal the same short 404 (the body never says whether the token existed) and one
log line naming the token by a prefix of its hash only (commlog.export_tokens.log_name):

1. claim the token for this browser's `commlog_browser` cookie (commlog.export_tokens.claim: one
   atomic UPDATE; unknown, used, expired, minted for another browser or no cookie: refused);
2. re-load the user (app_user): gone or disabled, or no longer the role and lender they had when
   minting: refused;
3. re-check the lender scope: the export's query for that principal (ScopeError) and, for one
   lender, that the lender is still theirs to read: refused;
4. stream the CSV (commlog.export.stream_failures: rows from SQL in chunks, in the principal's unit
   of work) as `text/csv` with `Content-Disposition: attachment`, `Cache-Control: no-store`.

The audit row (action `export`, the existing entry) is written by stream_failures when the stream
ends: "complete" with the rows written, or "stopped" if the browser went away, or "failed". At the
end rather than at the start because only then is the row count known and a download the browser
abandoned recorded as such; never at mint, since a minted token may never be fetched. A token is
spent at step 1 even if step 2 or 3 refuses it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import anyio
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from commlog import auth, export_tokens
from commlog.browser_cookie import COOKIE, valid
from commlog.export import SPAN_ALL, export_select, stream_failures
from commlog.log_queries import get_lender
from commlog.principal import Principal, ScopeError
from commlog.unit_of_work import platform_reading, platform_writing, reading

log = logging.getLogger("commlog.export")

PATH = "/export/{token}"
NOT_FOUND = "Not found. A download link works once, for a minute, in the browser that asked for it.\n"
# No caching anywhere; and nothing may frame a refusal page (a download still starts in the page's iframe:
# Chromium hands an attachment to its download manager before frame-ancestors applies).
RESPONSE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
_DONE = object()


def export_url(token: str) -> str:
    """Where the page sends the browser for a token."""
    return f"/export/{token}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _not_found() -> Response:
    return PlainTextResponse(NOT_FOUND, status_code=404, headers=RESPONSE_HEADERS)


def content_disposition(file_name: str) -> str:
    """attachment; filename="…" (the names commlog.export.file_name makes are ASCII letters, digits, - _ .)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in file_name) or "export.csv"
    return f'attachment; filename="{safe}"'


class ExportRoute:
    """The endpoint. `clock` is injectable (tests); thread-safe."""

    def __init__(self, engine_factory: Callable[[], Engine], clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine_factory = engine_factory
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        token = request.path_params.get("token", "")
        if request.method != "GET":  # Starlette adds HEAD to a GET route: a HEAD must not spend the token
            return _not_found()
        browser = valid(request.cookies.get(COOKIE))
        try:
            prepared = await run_in_threadpool(self._prepare, token, browser)
        except Exception:  # the database, most likely: the same calm 404, the cause in the log
            log.exception("export %s: could not be prepared", export_tokens.log_name(token))
            return _not_found()
        if prepared is None:
            return _not_found()
        principal, spec, started = prepared
        chunks = stream_failures(
            self._engine_factory(), principal, spec.export, source="page", file_name=spec.file_name, bom=spec.bom,
            now=started, audit_extra=spec.audit_extra,
        )
        log.info("export %s: serving %s to user %s", export_tokens.log_name(token), spec.file_name, principal.user_id)
        return StreamingResponse(
            stream_in_threads(chunks),
            media_type="text/csv; charset=utf-8",
            headers={**RESPONSE_HEADERS, "Content-Disposition": content_disposition(spec.file_name)},
        )

    def _prepare(self, token: str, browser: str | None) -> tuple[Principal, export_tokens.DownloadSpec, datetime] | None:
        engine = self._engine_factory()
        now = self._clock()
        name = export_tokens.log_name(token)
        with platform_writing(engine) as conn:  # nobody is known yet: the token says who
            claimed = export_tokens.claim(conn, token, browser, now)
        if claimed is None:
            with platform_reading(engine) as conn:
                why = export_tokens.why_refused(conn, token, browser, now)
            log.warning("export %s refused: %s", name, why)
            return None
        with platform_reading(engine) as conn:  # who is asking: read before any scope (as the pages do)
            principal = auth.load_principal(conn, claimed.user_id)
        if principal is None:
            log.warning("export %s refused: user %s is disabled or gone", name, claimed.user_id)
            return None
        if not claimed.still_matches(principal):
            log.warning("export %s refused: user %s changed role or lender since minting", name, claimed.user_id)
            return None
        spec = claimed.spec
        try:
            export_select(principal, spec.export)  # raises ScopeError before anything is read
            if spec.export.span != SPAN_ALL:
                with reading(engine, principal) as conn:
                    if get_lender(conn, principal, spec.export.query.lender_id) is None:
                        raise ScopeError("the lender is not readable")
        except ScopeError:
            log.warning("export %s refused: outside user %s's lender scope", name, claimed.user_id)
            return None
        return principal, spec, now


async def stream_in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The blocking generator's chunks, each fetched on a worker thread; closed (so its audit row
    says "stopped") when the response ends early, e.g. the browser went away."""
    finished = False
    try:
        while True:
            chunk = await run_in_threadpool(next, chunks, _DONE)
            if chunk is _DONE:
                finished = True
                return
            yield chunk
    finally:
        if not finished:
            with anyio.CancelScope(shield=True):  # even when the response was cancelled
                await run_in_threadpool(chunks.close)


def routes(engine_factory: Callable[[], Engine], clock: Callable[[], datetime] = _utcnow) -> list[Route]:
    """The download route, to mount in the launcher's `st.App(routes=...)` (or any Starlette app)."""
    return [Route(PATH, ExportRoute(engine_factory, clock).handle, methods=["GET"])]
