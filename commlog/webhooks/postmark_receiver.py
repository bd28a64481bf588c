"""The Postmark webhook receiver over HTTP (Starlette).

`POST /webhooks/postmark` takes one Postmark webhook record (Delivery, Bounce, SpamComplaint,
SubscriptionChange; read by `commlog.webhooks.postmark`). In order:
1. no user name or password configured (COMMLOG_POSTMARK_WEBHOOK_USER / _PASSWORD), or a setting it
   cannot use -> 503 and a clear log line (at most once a minute), so Postmark keeps retrying while
   someone sets them;
2. HTTP basic auth (Postmark sends the user name and password written into the webhook URL,
   `https://user:password@host/webhooks/postmark`), each part compared in constant time
   (`hmac.compare_digest`); missing or wrong -> 401 with `WWW-Authenticate: Basic`;
3. body read incrementally under COMMLOG_WEBHOOK_MAX_BODY_BYTES -> 413 (the SendGrid receiver's limit);
4. not JSON, not a JSON object, no RecordType, or a record missing a field it needs -> 400 with a
   short reason; a record type it does not read (Open, Click, …) -> 200, ignored;
5. one transaction through the webhooks' write path (`store.store_events`: the status rule and the
   rollups follow); 200 with the counts only after the commit; database unavailable -> 503 so
   Postmark retries.

Replays are harmless: storage is idempotent on each record's event id (`commlog.webhooks.postmark`).
Events for messages commlog does not know yet are kept and matched on a later post (every
COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS) or by `python -m commlog webhook --match-unmatched`.

Logging: the record type, counts and refusal reasons only; never the body, the user name or the
password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from commlog import storable_text
from commlog.providers.normalize import ParsedEvent
from commlog.settings import (
    DEFAULT_WEBHOOK_MATCH_INTERVAL_SECONDS,
    DEFAULT_WEBHOOK_MAX_BODY_BYTES,
    Secret,
    SettingsError,
    settings,
)
from commlog.webhooks import postmark
from commlog.webhooks.body import BodyTooLarge, read_body
from commlog.webhooks.ingest import IngestResult
from commlog.webhooks.receiver_database import ReceiverDatabase

log = logging.getLogger("commlog.webhooks")

POSTMARK_PATH = "/webhooks/postmark"
REALM = 'Basic realm="commlog Postmark webhook", charset="UTF-8"'
_CONFIG_LOG_EVERY_SECONDS = 60


@dataclass(frozen=True)
class PostmarkWebhookSettings:
    """Receiver settings; `from_config()` takes them from `commlog.settings`. The user name and the
    password are `Secret`s (a str given here becomes one)."""

    user: Secret = field(default_factory=Secret)  # COMMLOG_POSTMARK_WEBHOOK_USER
    password: Secret = field(default_factory=Secret)  # COMMLOG_POSTMARK_WEBHOOK_PASSWORD
    max_body_bytes: int = DEFAULT_WEBHOOK_MAX_BODY_BYTES  # COMMLOG_WEBHOOK_MAX_BODY_BYTES
    match_interval_seconds: float = DEFAULT_WEBHOOK_MATCH_INTERVAL_SECONDS  # COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        for name in ("user", "password"):
            if not isinstance(getattr(self, name), Secret):
                object.__setattr__(self, name, Secret(getattr(self, name)))

    @classmethod
    def from_config(cls) -> PostmarkWebhookSettings:
        """From the process's settings; SettingsError when one cannot be used."""
        s = settings()
        return cls(
            user=s.postmark_webhook_user,
            password=s.postmark_webhook_password,
            max_body_bytes=s.webhook_max_body_bytes,
            match_interval_seconds=s.webhook_match_interval_seconds,
        )

    def missing(self) -> str | None:
        """What keeps the receiver from checking posts, in one sentence; None when nothing does."""
        unset = [name for name, value in (("COMMLOG_POSTMARK_WEBHOOK_USER", self.user),
                                          ("COMMLOG_POSTMARK_WEBHOOK_PASSWORD", self.password)) if not value]
        if not unset:
            return None
        return (
            f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set: refusing every Postmark webhook "
            "post (503). Choose a user name and a password, set COMMLOG_POSTMARK_WEBHOOK_USER and "
            "COMMLOG_POSTMARK_WEBHOOK_PASSWORD, and write them into the webhook URL in Postmark "
            "(https://USER:PASSWORD@your-host/webhooks/postmark)"
        )


def basic_credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """The (user, password) of an `Authorization: Basic …` header; None when there is none or it is
    not one."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class PostmarkReceiver:
    """The ASGI endpoint. One instance per app; thread-safe."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        settings: PostmarkWebhookSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        problem = None
        if settings is None:
            try:
                settings = PostmarkWebhookSettings.from_config()
            except SettingsError as exc:  # refuse every post (Postmark retries) and say why
                settings = PostmarkWebhookSettings()
                problem = f"{exc} Refusing every Postmark webhook post (503) until it is corrected"
        self.settings = settings
        self.clock = clock
        # Said on the first refused post, not at start: a server that gets no Postmark posts stays quiet.
        self.config_problem: str | None = problem or settings.missing()
        self._user = settings.user.reveal().encode()
        self._password = settings.password.reveal().encode()
        self.database = ReceiverDatabase(engine_factory, postmark.match_unmatched, name="postmark webhook",
                                         match_interval_seconds=lambda: self.settings.match_interval_seconds)
        self._last_config_log = float("-inf")
        self._config_log_lock = threading.Lock()

    # -- database ---------------------------------------------------------------------------------

    def engine(self) -> Engine:
        return self.database.engine()

    def _store(self, event: ParsedEvent, now: datetime) -> IngestResult:
        engine = self.engine()
        self.database.maybe_match(engine, now)
        return postmark.ingest_record(engine, event, now)

    # -- HTTP -------------------------------------------------------------------------------------

    def routes(self, path: str = POSTMARK_PATH) -> list[Route]:
        return [Route(path, self.handle, methods=["POST"], name="postmark_webhook")]

    def authorized(self, header: str | None) -> bool:
        """Both parts compared in constant time, both always compared."""
        given = basic_credentials(header)
        if given is None:
            return False
        user_ok = hmac.compare_digest(given[0], self._user)
        password_ok = hmac.compare_digest(given[1], self._password)
        return user_ok and password_ok

    def _say_config_problem(self) -> None:
        with self._config_log_lock:
            if time.monotonic() - self._last_config_log < _CONFIG_LOG_EVERY_SECONDS:
                return
            self._last_config_log = time.monotonic()
        log.error("%s", self.config_problem)

    async def handle(self, request: Request) -> JSONResponse:
        client = request.client.host if request.client else "-"
        if self.config_problem:
            self._say_config_problem()
            return _error(503, "webhook receiver is not configured")

        if not self.authorized(request.headers.get("authorization")):
            log.warning("postmark webhook from %s refused: missing or wrong user name or password", client)
            return _error(401, "authentication required", {"WWW-Authenticate": REALM})

        limit = self.settings.max_body_bytes
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            log.warning("postmark webhook from %s refused: body over %d bytes", client, limit)
            return _error(413, f"body larger than {limit} bytes")
        except ClientDisconnect:
            return _error(400, "client disconnected")

        try:
            record = storable_text.loads(body)
        except (UnicodeDecodeError, ValueError):
            log.warning("postmark webhook from %s refused: body is not JSON (%d bytes)", client, len(body))
            return _error(400, "body is not JSON")
        try:
            event = postmark.parse_record(record)
        except postmark.RecordError as exc:
            log.warning("postmark webhook from %s refused: %s", client, exc)
            return _error(400, str(exc))
        if event is None:
            log.info("postmark webhook: a record type it does not read, ignored")
            return JSONResponse({**IngestResult().as_dict(), "ignored": 1})
        record_type = record["RecordType"].strip()  # one of postmark.RECORD_TYPES: parse_record read it

        now = self.clock()
        try:
            result = await run_in_threadpool(self._store, event, now)
        except SQLAlchemyError as exc:
            orig = type(exc.orig).__name__ if isinstance(exc, DBAPIError) else type(exc).__name__
            log.error("postmark webhook: %s record not stored, database unavailable (%s); answering 503", record_type, orig)
            return _error(503, "database unavailable, retry later")
        except Exception as exc:
            log.error("postmark webhook: %s record not stored: unexpected %s", record_type, type(exc).__name__)
            log.debug("postmark webhook failure", exc_info=True)
            return _error(500, "internal error, retry later")
        log.info(
            "postmark webhook: %s record: %d stored, %d duplicates, %d unmatched kept",
            record_type,
            result.stored,
            result.duplicates,
            result.unmatched,
        )
        return JSONResponse({**result.as_dict(), "ignored": 0})


def routes(
    engine_factory: Callable[[], Engine],
    settings: PostmarkWebhookSettings | None = None,
    *,
    path: str = POSTMARK_PATH,
    clock: Callable[[], datetime] = _utcnow,
) -> list[Route]:
    """The receiver's Starlette routes, to serve beside Streamlit or the SendGrid receiver:

        st.App("app.py", routes=[*app.routes(get_engine), *postmark_receiver.routes(get_engine)])

    `engine_factory` is called once, on the first stored post.
    """
    return PostmarkReceiver(engine_factory, settings, clock).routes(path)
