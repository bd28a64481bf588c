"""The SendGrid Event Webhook receiver over HTTP (Starlette).

`POST /webhooks/sendgrid` takes SendGrid's JSON array. In order:
1. no verification key configured -> 503 and a clear log line (SendGrid keeps retrying for 24 h
   while someone sets SENDGRID_WEBHOOK_PUBLIC_KEY); COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE=1 skips
   verification, for local testing only;
2. signature headers missing -> 401;
3. body read incrementally, refused with 413 as soon as it passes the limit (a Content-Length over
   the limit is refused before reading anything);
4. ECDSA signature over `timestamp + raw body`, then timestamp freshness -> 401 (before any parsing);
5. JSON that is not an array -> 400;
6. stored in at most two transactions (commlog.webhooks.ingest: the emails no other post is
   writing first, then the ones it held); 200 with the counts only after the commits; database
   unavailable -> 503 so SendGrid retries (what a first transaction stored is then a duplicate).

Replays: a replayed signed body inside the freshness window is accepted and harmless, because storage
is idempotent on `sg_event_id` (SendGrid itself re-sends batches and duplicates are normal). Outside
the window it is refused as stale.

Serve it with `python -m commlog webhook --port N` (uvicorn; `create_app` serves Postmark's webhook
too, `commlog.webhooks.postmark_receiver`), or mount `routes(engine_factory)` in another Starlette
app, e.g. Streamlit's `st.App(..., routes=...)`.

Logging: counts and refusal reasons only; never the body, the signature or the key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from commlog import storable_text
from commlog.settings import (
    DEFAULT_WEBHOOK_MATCH_INTERVAL_SECONDS,
    DEFAULT_WEBHOOK_MAX_BODY_BYTES,
    Secret,
    SettingsError,
    settings,
)
from commlog.webhooks import ingest
from commlog.webhooks.body import BodyTooLarge, read_body
from commlog.webhooks.postmark_receiver import PostmarkReceiver, PostmarkWebhookSettings
from commlog.webhooks.receiver_database import ReceiverDatabase
from commlog.webhooks.signature import (
    DEFAULT_MAX_AGE_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PublicKeyError,
    SignatureError,
    StaleTimestamp,
    load_public_key,
    verify_signature,
)

log = logging.getLogger("commlog.webhooks")

SENDGRID_PATH = "/webhooks/sendgrid"
DEFAULT_MAX_BODY_BYTES = DEFAULT_WEBHOOK_MAX_BODY_BYTES
DEFAULT_MATCH_INTERVAL_SECONDS = DEFAULT_WEBHOOK_MATCH_INTERVAL_SECONDS


@dataclass(frozen=True)
class WebhookSettings:
    """Receiver settings; `from_config()` takes them from `commlog.settings` like every other
    commlog setting. The verification key is a `Secret` (a str given here becomes one)."""

    public_key_b64: Secret = field(default_factory=Secret)  # SENDGRID_WEBHOOK_PUBLIC_KEY
    insecure_no_signature: bool = False  # COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE=1 (local testing only)
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS  # COMMLOG_WEBHOOK_MAX_AGE_SECONDS (0 = no freshness check)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # COMMLOG_WEBHOOK_MAX_BODY_BYTES
    match_interval_seconds: float = DEFAULT_MATCH_INTERVAL_SECONDS  # COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        if not isinstance(self.public_key_b64, Secret):
            object.__setattr__(self, "public_key_b64", Secret(self.public_key_b64))

    @classmethod
    def from_config(cls) -> WebhookSettings:
        """From the process's settings; SettingsError when one cannot be used."""
        s = settings()
        return cls(
            public_key_b64=s.webhook_public_key,
            insecure_no_signature=s.webhook_insecure_no_signature,
            max_age_seconds=s.webhook_max_age_seconds,
            max_body_bytes=s.webhook_max_body_bytes,
            match_interval_seconds=s.webhook_match_interval_seconds,
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class SendGridReceiver:
    """The ASGI endpoint. One instance per app; thread-safe."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        settings: WebhookSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        problem = None
        if settings is None:
            try:
                settings = WebhookSettings.from_config()
            except SettingsError as exc:  # refuse every post (SendGrid retries) and say why, as for a missing key
                settings = WebhookSettings()
                problem = f"{exc} Refusing every SendGrid webhook post (503) until it is corrected"
        self.settings = settings
        self.clock = clock
        self.database = ReceiverDatabase(engine_factory, ingest.match_unmatched, name="sendgrid webhook",
                                         match_interval_seconds=lambda: self.settings.match_interval_seconds)
        self._last_config_log = float("-inf")
        self.key = None
        self.config_problem: str | None = problem or self._load_key()
        if self.config_problem:
            log.error("%s", self.config_problem)
            self._last_config_log = time.monotonic()

    def _load_key(self) -> str | None:
        """Load the verification key; what keeps the receiver from verifying posts, if anything."""
        if self.settings.insecure_no_signature:
            log.warning(
                "COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE=1: SendGrid webhook signatures are NOT verified "
                "(local testing only; anyone who can reach the URL can write delivery events)"
            )
            return None
        if not self.settings.public_key_b64:
            return (
                "SENDGRID_WEBHOOK_PUBLIC_KEY is not set: refusing every SendGrid webhook post (503). Enable the "
                "Signed Event Webhook in SendGrid and copy its verification key into SENDGRID_WEBHOOK_PUBLIC_KEY"
            )
        try:
            self.key = load_public_key(self.settings.public_key_b64.reveal())
        except PublicKeyError as exc:
            return f"SENDGRID_WEBHOOK_PUBLIC_KEY cannot be used ({exc}): refusing every SendGrid webhook post (503)"
        return None

    # -- database ---------------------------------------------------------------------------------

    def engine(self) -> Engine:
        return self.database.engine()

    def _store(self, events: list, now: datetime) -> ingest.IngestResult:
        engine = self.engine()
        self.database.maybe_match(engine, now)
        return ingest.ingest_sendgrid_batch(engine, events, now)

    # -- HTTP -------------------------------------------------------------------------------------

    def routes(self, path: str = SENDGRID_PATH) -> list[Route]:
        return [Route(path, self.handle, methods=["POST"], name="sendgrid_webhook")]

    async def handle(self, request: Request) -> JSONResponse:
        client = request.client.host if request.client else "-"
        if self.config_problem:
            if time.monotonic() - self._last_config_log > 60:
                log.error("%s", self.config_problem)
                self._last_config_log = time.monotonic()
            return _error(503, "webhook receiver is not configured")

        signature = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not self.settings.insecure_no_signature and (not signature or not timestamp):
            log.warning("sendgrid webhook from %s refused: signature headers missing", client)
            return _error(401, "missing signature")

        try:
            body = await read_body(request, self.settings.max_body_bytes)
        except BodyTooLarge:
            log.warning("sendgrid webhook from %s refused: body over %d bytes", client, self.settings.max_body_bytes)
            return _error(413, f"body larger than {self.settings.max_body_bytes} bytes")
        except ClientDisconnect:
            return _error(400, "client disconnected")

        now = self.clock()
        if not self.settings.insecure_no_signature:
            try:
                verify_signature(self.key, signature, timestamp, body, now, self.settings.max_age_seconds)
            except StaleTimestamp as exc:  # signed by SendGrid, but too old (or our clock is off): say which
                log.warning("sendgrid webhook from %s refused: %s", client, exc)
                return _error(401, "stale timestamp")
            except SignatureError as exc:
                log.warning("sendgrid webhook from %s refused: %s", client, exc)
                return _error(401, "invalid signature")

        try:
            events = storable_text.loads(body)
        except (UnicodeDecodeError, ValueError):
            log.warning("sendgrid webhook from %s refused: body is not JSON (%d bytes)", client, len(body))
            return _error(400, "body is not JSON")
        if not isinstance(events, list):
            log.warning("sendgrid webhook from %s refused: body is not a JSON array", client)
            return _error(400, "body is not a JSON array")

        try:
            result = await run_in_threadpool(self._store, events, now)
        except SQLAlchemyError as exc:
            orig = type(exc.orig).__name__ if isinstance(exc, DBAPIError) else type(exc).__name__
            log.error("sendgrid webhook: %d events not stored, database unavailable (%s); answering 503", len(events), orig)
            return _error(503, "database unavailable, retry later")
        except Exception as exc:
            log.error("sendgrid webhook: %d events not stored: unexpected %s", len(events), type(exc).__name__)
            log.debug("sendgrid webhook failure", exc_info=True)
            return _error(500, "internal error, retry later")
        log.info(
            "sendgrid webhook: %d events: %d stored, %d duplicates, %d unmatched kept, %d rejected",
            len(events),
            result.stored,
            result.duplicates,
            result.unmatched,
            result.rejected,
        )
        return JSONResponse(result.as_dict())


def routes(
    engine_factory: Callable[[], Engine],
    settings: WebhookSettings | None = None,
    *,
    path: str = SENDGRID_PATH,
    clock: Callable[[], datetime] = _utcnow,
) -> list[Route]:
    """The webhook's Starlette routes, to serve standalone (`create_app`) or beside Streamlit:

        st.App("app.py", routes=commlog.webhooks.app.routes(get_engine))

    `engine_factory` is called once, on the first post (so a cached engine can be passed lazily).
    """
    return SendGridReceiver(engine_factory, settings, clock).routes(path)


def _made_once(engine_factory: Callable[[], Engine]) -> Callable[[], Engine]:
    """The factory, called at most once (on first use) however many receivers share it."""
    made: list[Engine] = []
    lock = threading.Lock()

    def engine() -> Engine:
        if not made:
            with lock:
                if not made:
                    made.append(engine_factory())
        return made[0]

    return engine


def create_app(
    engine_factory: Callable[[], Engine],
    settings: WebhookSettings | None = None,
    *,
    clock: Callable[[], datetime] = _utcnow,
    dispose_engine: bool = False,
    postmark_settings: PostmarkWebhookSettings | None = None,
) -> Starlette:
    """A standalone ASGI app serving only the webhooks: SendGrid's, Postmark's
    (`commlog.webhooks.postmark_receiver`), plus GET /healthz. Both share one engine."""
    engine_factory = _made_once(engine_factory)
    receiver = SendGridReceiver(engine_factory, settings, clock)
    postmark_receiver = PostmarkReceiver(engine_factory, postmark_settings, clock)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(_app: Starlette):
        yield
        engine = receiver.database.made or postmark_receiver.database.made
        if dispose_engine and engine is not None:
            engine.dispose()

    app = Starlette(
        routes=[*receiver.routes(), *postmark_receiver.routes(), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )
    app.state.receiver = receiver
    app.state.postmark_receiver = postmark_receiver
    return app
