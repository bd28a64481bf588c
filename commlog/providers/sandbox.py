"""The sandbox email provider (`COMMLOG_PROVIDER=sandbox`, the demo default).

It speaks the SendGrid Email Logs API's own JSON (`GET /v3/logs/{sg_message_id}`,
`POST /v3/logs`, `GET /v3/suppression/{list}/{email}`), served in-process through an
`httpx.MockTransport`, so a check in the demo runs the real SendGrid adapter, HTTP layer, retries
and rate limiter. Its answers come from the demo's ground truth (`commlog.demo.outcomes`): what the
provider knows about a message at "now" is `truth_for_message(conn, id, now)`, so a check agrees
with the seeded events and reveals the events that have "happened" since seeding.

Suppression lists (one sandbox "account" for every lender, as one SendGrid account would be): an
address is on `bounces` from its first BOUNCE on, on `spam_reports` from a COMPLAINT, and on
`blocks` while its latest message that has ended (a DELIVERED, BOUNCE, BLOCKED, DROPPED or FAILED
is known) ended BLOCKED, since that BLOCKED event, with its SMTP reply. `invalid_emails` is always
empty (every demo address is valid syntax; the typo domains bounce instead) and so is the global
unsubscribe list (the demo has no unsubscribes). Entries carry `created` in Unix seconds.

Removals, as SendGrid's `DELETE /v3/suppression/{list}/{email}`: 204 when the list holds the
address now, 404 when not. A removal hides the list's entries made up to it: an entry newer than the
removal (a bounce after it) lists the address again. The backend keeps its removals (list, address)
-> time at its "now", and also reads the `suppression_removal` rows in state `removed` (their
`removed_at`), so a restarted demo still knows what was removed.

Realism, configurable: latency `COMMLOG_SANDBOX_LATENCY_MS` (default `80-300`, `0` to disable) and
an occasional 429 with `Retry-After: 1` (`COMMLOG_SANDBOX_429_RATE`, default `0.03`), which the
HTTP layer retries and the check reports as a note. Tests pass `latency=(0, 0)`,
`rate_429=0` or a deterministic `every_429=N` (every Nth request is refused).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from commlog.providers import errors
from commlog.providers.base import FetchResult, StoredMessage
from commlog.providers.http import ProviderHttp, RetryPolicy, new_client
from commlog.providers.sendgrid import SendGridProvider
from commlog.settings import settings
from commlog.tenancy import all_lenders
from commlog.vocabulary import TERMINAL_FAILURES, EventType

SANDBOX_KEY = "SG.sandbox"

# Normalized event -> (SendGrid event, bounce type)
_SG_EVENT = {
    EventType.PROCESSED: ("processed", None),
    EventType.DEFERRED: ("deferred", None),
    EventType.DELIVERED: ("delivered", None),
    EventType.BOUNCE: ("bounce", "bounce"),
    EventType.BLOCKED: ("bounce", "blocked"),
    EventType.DROPPED: ("dropped", None),
    EventType.FAILED: ("dropped", None),
    EventType.OPEN: ("open", None),
    EventType.CLICK: ("click", None),
    EventType.COMPLAINT: ("spamreport", None),
    EventType.UNSUBSCRIBE: ("unsubscribe", None),
}
# Email Logs status rollup of the latest delivery event.
_ROLLUP = {
    EventType.PROCESSED: "processed",
    EventType.DEFERRED: "deferred",
    EventType.DELIVERED: "delivered",
    EventType.OPEN: "delivered",
    EventType.CLICK: "delivered",
    EventType.BOUNCE: "bounced",
    EventType.BLOCKED: "blocked",
    EventType.DROPPED: "dropped",
    EventType.FAILED: "dropped",
}
_FROM = "no-reply@portal.example"
# How long after its send a message's events can still come (SendGrid retries for 72 h; a
# complaint can come later, but the demo's come within days).
_EVENT_LAG = timedelta(days=4)
# Events that end a message's delivery (the status rule's terminal events).
_ENDINGS = TERMINAL_FAILURES | {EventType.DELIVERED}
_BACKEND_SERIAL = itertools.count(1)  # each SandboxBackend is its own sandbox account (its own rate budget)


def _latency_from_settings() -> tuple[float, float]:
    """COMMLOG_SANDBOX_LATENCY_MS, in seconds (low, high)."""
    low, high = settings().sandbox_latency_ms
    return low / 1000, high / 1000


def _rate_from_settings() -> float:
    return settings().sandbox_429_rate  # COMMLOG_SANDBOX_429_RATE


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(status: int, body, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})})


def _not_found(field: str = "sg_message_id") -> httpx.Response:
    return _json(404, {"errors": [{"message": "not found", "field": field}]})


def logs_event(pe) -> dict:
    """One planned event as an Email Logs / Event Webhook event object."""
    event, btype = _SG_EVENT.get(EventType(pe.event_type), ("processed", None))
    obj: dict = {"event": event, "sg_event_id": pe.provider_event_id, "timestamp": int(pe.occurred_at.timestamp())}
    if btype:
        obj["type"] = btype
    if pe.reason:
        obj["reason" if event in ("bounce", "dropped") else "response"] = pe.reason
    if pe.smtp_status:
        obj["status"] = pe.smtp_status
    if pe.attempt is not None:
        obj["attempt"] = str(pe.attempt - 1)  # zero-based on the wire
    if pe.bounce_classification:
        obj["bounce_classification"] = pe.bounce_classification
    return obj


def rollup(events) -> str:
    status = "processed"
    for pe in events:
        s = _ROLLUP.get(EventType(pe.event_type))
        if s is None:
            continue
        if s == "delivered" and status in ("bounced", "blocked", "dropped"):
            continue  # an open after a bounce does not undo it
        status = s
    return status


class SandboxBackend:
    """The in-process fake SendGrid: an httpx MockTransport handler over the demo database."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] | None = None,
        latency: tuple[float, float] | None = None,
        rate_429: float | None = None,
        every_429: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.engine = engine
        # The sandbox account's rate budget is this backend's own: a serial, never id() (a collected
        # backend's id comes back for the next one, and its budget with it).
        self.account_name = f"sandbox:{next(_BACKEND_SERIAL)}"
        self.clock = clock or (lambda: datetime.now(UTC))
        self.latency = latency if latency is not None else _latency_from_settings()
        self.rate_429 = rate_429 if rate_429 is not None else _rate_from_settings()
        self.every_429 = every_429
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._count = itertools.count(1)
        self.requests = 0
        self.refused = 0
        # (list, lower-case address) -> when it was taken off that list (the backend's "now")
        self._removals: dict[tuple[str, str], datetime] = {}

    # -- plumbing --
    def _now(self, request: httpx.Request) -> datetime:
        raw = request.headers.get("x-sandbox-now")
        if raw:
            try:
                return datetime.fromisoformat(raw)
            except ValueError:
                pass
        return self.clock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            n = next(self._count)
            self.requests = n
            delay = self._rng.uniform(*self.latency) if self.latency[1] > 0 else 0.0
            refuse = (self.every_429 is not None and n % self.every_429 == 0) or (
                self.every_429 is None and self.rate_429 > 0 and self._rng.random() < self.rate_429
            )
        if delay:
            time.sleep(delay)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _json(401, {"errors": [{"message": "authorization required"}]})
        if refuse:
            with self._lock:
                self.refused += 1
            reset = int(time.time()) + 1
            return _json(
                429,
                {"errors": [{"message": "too many requests"}]},
                {"Retry-After": "1", "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            )
        path = request.url.path
        now = self._now(request)
        if request.method == "GET" and path.startswith("/v3/logs/"):
            return self._detail(unquote(path[len("/v3/logs/") :]), now)
        if request.method == "POST" and path == "/v3/logs":
            try:
                body = json.loads(request.content or b"{}")
            except ValueError:
                return _json(400, {"errors": [{"message": "invalid JSON body"}]})
            return self._search(str(body.get("query", "")), int(body.get("limit") or 10), now)
        m = re.fullmatch(r"/v3/suppression/(bounces|blocks|invalid_emails|spam_reports)/(.+)", path)
        if request.method == "GET" and m:
            return self._suppression(m.group(1), unquote(m.group(2)), now)
        if request.method == "DELETE" and m:
            return self._remove(m.group(1), unquote(m.group(2)), now)
        if request.method == "GET" and path.startswith("/v3/asm/suppressions/global/"):
            return _json(200, {})
        return _json(404, {"errors": [{"message": "not found"}]})

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """The provider's own reads (a Session reads both Core and ORM-entity selects). One sandbox
        account serves every lender, as one SendGrid account would, and its requests arrive on the
        check's worker threads, where no scope is set: they declare every lender (row-level
        security, commlog.tenancy), or they would find nothing."""
        with all_lenders(), Session(self.engine) as conn:
            yield conn

    # -- routes --
    def _message_row(self, conn, pmid: str):
        from commlog.models import Message

        return conn.execute(
            select(Message.subject, Message.recipient_email, Message.sent_at, Message.email_type)
            .where(Message.provider_message_id == pmid)
            .order_by(Message.id)
            .limit(1)
        ).first()

    def _detail(self, pmid: str, now: datetime) -> httpx.Response:
        from commlog.demo.outcomes import truth_for_message

        with self._session() as conn:
            row = self._message_row(conn, pmid)
            truth = truth_for_message(conn, pmid, now) if row is not None else None
        if row is None or truth is None or row.sent_at > now:
            return _not_found()
        events = [logs_event(pe) for pe in truth]
        last_failure = next((pe for pe in reversed(truth) if pe.reason and pe.event_type in ("BOUNCE", "BLOCKED", "DROPPED")), None)
        return _json(
            200,
            {
                "from_email": _FROM,
                "sg_message_id": pmid,
                "subject": row.subject,
                "to_email": row.recipient_email,
                "reason": last_failure.reason if last_failure else None,
                "status": rollup(truth),
                "sg_message_id_created_at": _iso(row.sent_at),
                "events": events,
                "custom_args": {},
                "category": [row.email_type],
                "outbound_ip": "168.245.0.1",
            },
        )

    def _search(self, query: str, limit: int, now: datetime) -> httpx.Response:
        from commlog.demo.outcomes import truth_for_message
        from commlog.models import Message

        cond = [Message.send_status == "sent", Message.provider_message_id.is_not(None), Message.sent_at <= now]
        for op, ts in re.findall(r'sg_message_id_created_at\s*(>=|<=|>|<)\s*TIMESTAMP\s*"([^"]+)"', query):
            t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
            col = Message.sent_at
            cond.append({">=": col >= t, "<=": col <= t, ">": col > t, "<": col < t}[op])
        m = re.search(r'to_email\s*=\s*"((?:[^"\\]|\\.)*)"', query)
        if m:
            cond.append(Message.recipient_email == m.group(1).replace('\\"', '"').lower())
        m = re.search(r'sg_message_id\s*=\s*"((?:[^"\\]|\\.)*)"', query)
        if m:
            cond.append(Message.provider_message_id == m.group(1))
        limit = max(1, min(1000, limit))
        out = []
        with self._session() as conn:
            rows = conn.execute(
                select(Message.provider_message_id, Message.subject, Message.recipient_email, Message.sent_at)
                .where(*cond)
                .order_by(Message.sent_at.desc(), Message.id.desc())
                .limit(limit)
            ).all()
            for r in rows:
                truth = truth_for_message(conn, r.provider_message_id, now) or []
                out.append(
                    {
                        "from_email": _FROM,
                        "sg_message_id": r.provider_message_id,
                        "subject": r.subject,
                        "to_email": r.recipient_email,
                        "reason": None,
                        "status": rollup(truth),
                        "sg_message_id_created_at": _iso(r.sent_at),
                    }
                )
        return _json(200, {"messages": out})

    def _suppression(self, lst: str, email: str, now: datetime) -> httpx.Response:
        """`GET /v3/suppression/{lst}/{email}`: a one-row array when the list holds the address."""
        with self._session() as conn:
            row = self._list_row(conn, lst, email, now)
        return _json(200, [row] if row else [])

    def _remove(self, lst: str, email: str, now: datetime) -> httpx.Response:
        """`DELETE /v3/suppression/{lst}/{email}`: 204 when the list held the address (it no longer
        does from `now` on), 404 when it did not. Spam reports too: SendGrid lets the API delete
        them (commlog's adapter never asks)."""
        with self._session() as conn:
            row = self._list_row(conn, lst, email, now)
        if row is None:
            return _json(404, {"errors": [{"message": "not found"}]})
        key = (lst, email.lower())
        with self._lock:
            self._removals[key] = max(now, self._removals.get(key, now))
        return httpx.Response(204)

    def removed_at(self, conn: Session, lst: str, email: str, now: datetime) -> datetime | None:
        """When the address was last taken off `lst` by `now`: by this backend, or by a removal
        commlog recorded as done (`suppression_removal`, state removed)."""
        from commlog.models import SuppressionRemoval

        with self._lock:
            mine = self._removals.get((lst, email.lower()))
        recorded = conn.execute(
            select(func.max(SuppressionRemoval.removed_at)).where(
                SuppressionRemoval.address == email.lower(),
                SuppressionRemoval.list_key == lst,
                SuppressionRemoval.state == "removed",
                SuppressionRemoval.removed_at.is_not(None),
                SuppressionRemoval.removed_at <= now,
            )
        ).scalar_one_or_none()
        known = [t for t in (mine, recorded) if t is not None and t <= now]
        return max(known) if known else None

    def _list_row(self, conn: Session, lst: str, email: str, now: datetime) -> dict | None:
        """The list's row for the address at `now`, or None: only entries newer than its last removal."""
        after = self.removed_at(conn, lst, email, now)
        if lst == "bounces":
            return self._first_event_row(conn, email, EventType.BOUNCE, now, after)
        if lst == "spam_reports":
            return self._first_event_row(conn, email, EventType.COMPLAINT, now, after)
        if lst == "blocks":
            return self._block_row(conn, email, now, after)
        return None  # invalid_emails: no demo address is invalid syntax

    def _sent_pmids(
        self, conn: Session, email: str, now: datetime, *, newest_first: bool = False, sent_after: datetime | None = None
    ) -> list[str]:
        """Provider message ids of the (at most 20 oldest or newest) messages sent to `email` by `now`
        (and after `sent_after`, when given)."""
        from commlog.models import Message

        order = (Message.sent_at.desc(), Message.id.desc()) if newest_first else (Message.sent_at, Message.id)
        since = [] if sent_after is None else [Message.sent_at > sent_after]
        return list(
            conn.execute(
                select(Message.provider_message_id)
                .where(
                    Message.recipient_email == email.lower(),
                    Message.send_status == "sent",
                    Message.provider_message_id.is_not(None),
                    Message.sent_at <= now,
                    *since,
                )
                .order_by(*order)
                .limit(20)
            ).scalars()
        )

    def _first_event_row(
        self, conn: Session, email: str, wanted: EventType, now: datetime, after: datetime | None = None
    ) -> dict | None:
        """The list row of the address's first `wanted` event (BOUNCE: bounces, COMPLAINT: spam
        reports) that happened after `after` (its last removal from the list; None: ever)."""
        from commlog.demo.outcomes import truth_for_message

        # after a removal, only messages that can still have an event after it (a retry window back)
        sent_after = None if after is None else after - _EVENT_LAG
        for pmid in self._sent_pmids(conn, email, now, sent_after=sent_after):
            for pe in truth_for_message(conn, pmid, now) or []:
                if pe.event_type == wanted and (after is None or pe.occurred_at > after):
                    row = {"created": int(pe.occurred_at.timestamp()), "email": email.lower()}
                    if wanted == EventType.BOUNCE:
                        return row | {"reason": pe.reason, "status": pe.smtp_status}
                    return row | {"ip": "168.245.0.1"}
        return None

    def _block_row(self, conn: Session, email: str, now: datetime, after: datetime | None = None) -> dict | None:
        """The blocks row of the address when its latest ended message ended BLOCKED (after `after`,
        its last removal from blocks, when given). Messages still under way (only PROCESSED/DEFERRED
        known) neither add nor clear a block."""
        from commlog.demo.outcomes import truth_for_message

        for pmid in self._sent_pmids(conn, email, now, newest_first=True):
            known = truth_for_message(conn, pmid, now) or []
            outcome = next((pe for pe in reversed(known) if pe.event_type in _ENDINGS), None)
            if outcome is None:
                continue
            if outcome.event_type != EventType.BLOCKED or (after is not None and outcome.occurred_at <= after):
                return None
            return {
                "created": int(outcome.occurred_at.timestamp()),
                "email": email.lower(),
                "reason": outcome.reason,
                "status": outcome.smtp_status,
            }
        return None


class SandboxProvider(SendGridProvider):
    """The real SendGrid (Email Logs) adapter, talking to `SandboxBackend` in-process.

    Events are stored under the message's own provider name (demo messages are SendGrid or
    Postmark), so the sandbox's event ids line up with the seeded ones."""

    name = "sandbox"
    label = "The sandbox email provider"

    def __init__(
        self,
        engine: Engine,
        *,
        backend: SandboxBackend | None = None,
        now: datetime | None = None,
        policy: RetryPolicy | None = None,
        per_minute: float | None = None,
        **backend_kw,
    ) -> None:
        self.backend = backend or SandboxBackend(engine, **backend_kw)
        client = new_client(transport=httpx.MockTransport(self.backend.handle))
        super().__init__(
            SANDBOX_KEY,
            base_url="https://sandbox.sendgrid.invalid",
            api="logs",
            http=ProviderHttp(client, policy),
            limiter_key=self.backend.account_name,
            logs_per_minute=per_minute,
        )
        self.now = now

    def __repr__(self) -> str:
        return "SandboxProvider()"

    def _headers(self) -> dict[str, str]:
        h = super()._headers()
        if self.now is not None:
            h["X-Sandbox-Now"] = self.now.isoformat()
        return h

    def fetch_events(self, message: StoredMessage) -> FetchResult:
        if not message.provider_message_id:
            raise errors.NotFound("No message id is stored for this email.", provider=self.name)
        # Demo ids of both providers are fetched directly (Postmark-style ids have no '.').
        return self._logs_detail(message.provider_message_id.strip(), [])
