"""A webhook request's body, read under a size limit (every receiver's 413)."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body passed the limit; nothing more of it was read."""


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, read incrementally: a Content-Length over `limit` is refused before reading
    anything, and a body without one as soon as it passes the limit. Raises BodyTooLarge (and
    starlette's ClientDisconnect)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass  # let the server's own framing decide; we count what arrives
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
