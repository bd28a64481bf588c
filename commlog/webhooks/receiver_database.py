"""A webhook receiver's database: the engine, made on the first post (a server that gets no posts
never connects), and the periodic pass that matches kept events to messages that now exist.

Both receivers (SendGrid's `commlog.webhooks.app`, Postmark's `commlog.webhooks.postmark_receiver`)
use one each, passing the matcher of their provider's kept events."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

Matcher = Callable[[Engine, datetime], int]


class ReceiverDatabase:
    """Thread-safe: one engine per receiver, and at most one matching pass at a time."""

    def __init__(self, engine_factory: Callable[[], Engine], matcher: Matcher, *, name: str,
                 match_interval_seconds: Callable[[], float]) -> None:
        self._engine_factory = engine_factory
        self._matcher = matcher
        self._name = name  # "sendgrid webhook", in the log lines
        self._match_interval_seconds = match_interval_seconds  # read at each post: tests change settings
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._match_lock = threading.Lock()
        self._last_match = float("-inf")

    @property
    def made(self) -> Engine | None:
        """The engine if a post has made it, else None (nothing to dispose)."""
        return self._engine

    def engine(self) -> Engine:
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = self._engine_factory()
        return self._engine

    def maybe_match(self, engine: Engine, now: datetime) -> None:
        """Every match interval (a negative one: never), match kept events; a failure is logged and
        tried again at the next interval, never the post's problem."""
        interval = self._match_interval_seconds()
        if interval < 0 or time.monotonic() - self._last_match < interval:
            return
        if not self._match_lock.acquire(blocking=False):
            return  # another request is matching right now
        try:
            self._last_match = time.monotonic()
            n = self._matcher(engine, now)
            if n:
                log.info("%s: matched %d kept events to messages that now exist", self._name, n)
        except SQLAlchemyError as exc:
            log.warning("%s: matching kept events failed (%s); will try again", self._name, type(exc).__name__)
        finally:
            self._match_lock.release()
