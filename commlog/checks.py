"""Check delivery status: the service behind the button, the bulk check and `python -m commlog check`.

    check_messages(engine, principal, message_ids, *, now=None, client=None, on_progress=None,
                   on_wait=None, concurrency=None, wait_budget=PAGE_WAIT_BUDGET) -> list[CheckOutcome]
    check_message(engine, principal, message_id, *, now=None, client=None, on_wait=None) -> CheckOutcome

* Each message is loaded with a lender-scoped query: an id outside the principal's lenders gives
  the same "not found" outcome as an id that does not exist, never data.
* Failed sends (`send_status = 'failed'`) are not asked of the provider: they were never sent.
* Provider calls run on a bounded thread pool (`concurrency`, default `DEFAULT_CONCURRENCY`, or
  `COMMLOG_CHECK_CONCURRENCY`); the rate limit lives in the HTTP layer, shared by all threads.
  Results are written and `on_progress(done, total, outcome)` is called in the CALLING thread, as
  each message completes (a Streamlit script can update its progress bar from it).
* A successful answer is stored with `commlog.store.record_events(..., checked_ids=[id])` in one
  transaction per message: idempotent (events are unique per provider event id), the status is
  recomputed and `checked_at` set. A failure writes nothing; the last known status stays.
* "Not found" shortly after sending (`PROVIDER_LAG_GRACE`) is PENDING, not an error: providers
  are eventually consistent. Later it is an error, worded by age (the provider's retention).
* When the provider refuses the account (bad key, missing scope/add-on) or is down, the remaining
  messages of a bulk run are not attempted; they get the same message.
* Rate limits: the provider account's one budget (`commlog.providers.rate_limit`) paces every
  thread; after a 429 they all wait for the moment the provider named, then go on. While they wait,
  `on_wait("waiting 43 s for SendGrid's rate limit")` is called in the calling thread (about twice
  a second). A rate limit is never "could not be checked" while the run's `wait_budget` (seconds;
  a page's default `PAGE_WAIT_BUDGET`, None for the command line: wait as long as needed) allows
  waiting; past it the run stops and the emails not checked get one "try again in N s"
  (`rate_limit_summary`).
* One audit entry per call (action "check"): the ids (first 200), the count, and a summary of
  the results.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine, select

from commlog import audit
from commlog.models import Message
from commlog.principal import Principal
from commlog.providers import ProviderSet, get_providers
from commlog.providers import errors as perr
from commlog.providers.base import FetchResult, Provider, RemoteMessage, StoredMessage, Suppression
from commlog.providers.rate_limit import wait_budget as limit_waits
from commlog.providers.rate_limit import waiting_text
from commlog.settings import DEFAULT_CHECK_CONCURRENCY, MAX_CHECK_CONCURRENCY, settings
from commlog.status import StatusEvent, overall_status
from commlog.store import UnmatchedEventRow, keep_unmatched, record_events
from commlog.unit_of_work import platform_writing, reading, writing
from commlog.vocabulary import DeliveryStatus, EventType

log = logging.getLogger("commlog.checks")
T = TypeVar("T")
R = TypeVar("R")

DEFAULT_CONCURRENCY = DEFAULT_CHECK_CONCURRENCY
PROVIDER_LAG_GRACE = timedelta(hours=1)  # "not found" this soon after sending -> PENDING
PAGE_WAIT_BUDGET = 120.0  # seconds a page's check may wait for rate limits before it stops and says when to retry
WAIT_NOTICE_EVERY = 0.5  # seconds between wait notices (and the check for one)
WAIT_NOTICE_FROM = 1.0  # waits shorter than this are not worth a notice

NOT_FOUND_TEXT = "No such email in your Communication Log."
NEVER_SENT_TEXT = (
    "This email was never sent by our mail servers (the send failed), so the email provider has no "
    "delivery status for it."
)
NO_PROVIDER_ID_TEXT = (
    "No email-provider message id was stored for this email, so its delivery status cannot be looked up."
)


@dataclass
class CheckOutcome:
    """The result of checking one message. `error` is None on success; its text is user-safe."""

    message_id: int
    status: DeliveryStatus | None = None  # after this check; None when the check gave no answer
    events: int = 0  # events the provider reported for the message
    new_events: int = 0  # of which stored for the first time
    error: str | None = None
    kind: str = "ok"  # ok | pending_unknown | never_sent | not_found | no_provider_id | <ProviderError.kind>
    retry_after: float | None = None
    suppression: Suppression | None = None
    reason: str | None = None  # the status reason stored with the message
    last_known_status: str | None = None  # the stored status before this check (shown on failure)
    checked_at: datetime | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "rate limited by SendGrid, retried after 1 s"
    provider: str | None = None  # the provider whose error this is (e.g. whose rate limit)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def summary(self) -> str:
        """One line for a table cell or the CLI."""
        if self.error:
            return self.error
        text = str(self.status) if self.status else "-"
        if self.reason:
            text += f": {self.reason}"
        if self.kind == "pending_unknown":
            text += " (the provider has no record of it yet; it can take a minute after sending)"
        return text


@dataclass(frozen=True)
class _Loaded:
    msg: StoredMessage
    send_status: str
    delivery_status: str | None


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _concurrency(concurrency: int | None) -> int:
    if concurrency is None:
        concurrency = settings().check_concurrency  # COMMLOG_CHECK_CONCURRENCY, checked to be 1..64
    return max(1, min(MAX_CHECK_CONCURRENCY, concurrency))


def load_messages(engine: Engine, principal: Principal, ids: Sequence[int]) -> dict[int, _Loaded]:
    """The messages among `ids` that the principal may see (lender-scoped in SQL)."""
    scope = principal.lender_scope(None)
    out: dict[int, _Loaded] = {}
    with reading(engine, principal) as conn:
        for i in range(0, len(ids), 500):
            q = select(
                Message.id,
                Message.lender_id,
                Message.provider,
                Message.provider_message_id,
                Message.recipient_email,
                Message.sent_at,
                Message.send_status,
                Message.delivery_status,
            ).where(Message.id.in_(ids[i : i + 500]))
            if scope is not None:
                q = q.where(Message.lender_id == scope)
            for r in conn.execute(q):
                out[r.id] = _Loaded(
                    StoredMessage(r.id, r.lender_id, r.provider, r.provider_message_id, r.recipient_email, r.sent_at),
                    r.send_status,
                    r.delivery_status,
                )
    return out


# --- the provider side (worker threads) ------------------------------------------------------------


@dataclass
class _Fetched:
    loaded: _Loaded
    result: FetchResult | None = None
    error: perr.ProviderError | None = None
    suppression: Suppression | None = None


def _suppression_hint(result: FetchResult, msg: StoredMessage, now: datetime) -> str | None:
    """BOUNCE / DROPPED (+ reason) when the fetched events end in one; else None (no lookup)."""
    evs = [StatusEvent.of(e) for e in result.events]
    st = overall_status(evs, msg.sent_at, now)
    if st.status != DeliveryStatus.NOT_DELIVERED or st.last_event_type not in (EventType.BOUNCE, EventType.DROPPED):
        return None
    last = next((e for e in sorted(result.events, key=lambda e: e.occurred_at, reverse=True) if e.event_type == st.last_event_type), None)
    return f"{st.last_event_type} {last.reason if last and last.reason else ''}".strip()


def _fetch(provider: Provider, loaded: _Loaded, now: datetime) -> _Fetched:
    out = _Fetched(loaded)
    try:
        out.result = provider.fetch_events(loaded.msg)
    except perr.ProviderError as exc:
        out.error = exc
        return out
    except Exception:
        log.exception("unexpected error checking message %s", loaded.msg.id)
        out.error = perr.bad_response(provider.name, "an unexpected answer")
        return out
    hint = _suppression_hint(out.result, loaded.msg, now)
    if hint:
        try:
            out.suppression = provider.suppression(loaded.msg.recipient_email, hint)
        except Exception:  # noqa: BLE001 - a suppression lookup never spoils a check
            log.warning("suppression lookup failed for message %s", loaded.msg.id)
            out.suppression = Suppression(False, error="the lookup failed")
    return out


# --- the database side (calling thread) -------------------------------------------------------------


def _not_found_text(provider: Provider, msg: StoredMessage, now: datetime) -> str:
    label = perr.provider_label(provider.name)
    days = int(provider.retention.total_seconds() // 86400)
    if now - msg.sent_at > provider.retention:
        return f"Not found: {label} has no record of this email (older than the provider's {days}-day retention?)."
    return (
        f"Not found: {label} has no record of this email although it was sent "
        f"{_age_text(now - msg.sent_at)} ago. The stored message id may not match the provider's."
    )


def _age_text(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.0f} days"


def _store(engine: Engine, principal: Principal, f: _Fetched, provider: Provider, now: datetime) -> CheckOutcome:
    msg = f.loaded.msg
    out = CheckOutcome(msg.id, last_known_status=f.loaded.delivery_status)
    pending_unknown = False
    if f.error is not None:
        if isinstance(f.error, perr.NotFound) and now - msg.sent_at < PROVIDER_LAG_GRACE:
            pending_unknown = True
        else:
            out.kind = f.error.kind
            out.error = _not_found_text(provider, msg, now) if isinstance(f.error, perr.NotFound) else str(f.error)
            out.retry_after = f.error.retry_after
            out.provider = f.error.provider
            return out
    events = [] if pending_unknown else [pe.to_new_event(msg.id, msg.lender_id) for pe in f.result.events]
    # Stored under the message's own provider name: ids are unique per provider.
    events = [e._replace(provider=msg.provider) for e in events]
    try:
        with writing(engine, principal) as conn:
            before = _event_count(conn, msg.id)
            statuses = record_events(conn, events, now, checked_ids=[msg.id])
            row = conn.execute(select(Message.status_reason, Message.checked_at).where(Message.id == msg.id)).first()
            after = _event_count(conn, msg.id)
    except Exception:
        log.exception("storing the check of message %s failed", msg.id)
        out.kind = "store_failed"
        out.error = "The answer could not be saved (database error); nothing was changed. Try again."
        return out
    out.status = statuses.get(msg.id)
    out.events = len(events)
    out.new_events = after - before
    out.reason = row.status_reason if row else None
    out.checked_at = row.checked_at if row else now
    out.kind = "pending_unknown" if pending_unknown else "ok"
    out.suppression = f.suppression
    if f.result is not None:
        out.notes = list(f.result.notes)
    return out


def _event_count(conn, message_id: int) -> int:
    from sqlalchemy import func

    from commlog.models import DeliveryEvent

    return conn.execute(select(func.count()).select_from(DeliveryEvent).where(DeliveryEvent.message_id == message_id)).scalar_one()


def _audit(engine: Engine, principal: Principal, ids: list[int], outcomes: list[CheckOutcome], loaded: dict[int, _Loaded], now: datetime) -> None:
    lenders = {loaded[i].msg.lender_id for i in loaded}
    lender_id = principal.lender_id if not principal.is_ops else (next(iter(lenders)) if len(lenders) == 1 else None)
    counts = Counter(str(o.status) if o.ok and o.status else o.kind for o in outcomes)
    per = {str(o.message_id): (str(o.status) if o.ok else o.kind) for o in outcomes[:100]}
    detail = json.dumps({"results": dict(sorted(counts.items())), "per_message": per}, sort_keys=True)
    try:
        with writing(engine, principal) as conn:
            audit.record(
                conn,
                principal,
                "check",
                at=now,
                lender_id=lender_id,
                filters={"message_ids": ids[:200]},
                row_count=len(ids),
                detail=detail,
            )
    except Exception:
        log.exception("could not write the audit entry of a delivery check")


# --- the API -------------------------------------------------------------------------------------------


def check_messages(
    engine: Engine,
    principal: Principal,
    message_ids: Iterable[int],
    *,
    now: datetime | None = None,
    client: ProviderSet | Provider | None = None,
    on_progress: Callable[[int, int, CheckOutcome], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    concurrency: int | None = None,
    wait_budget: float | None = PAGE_WAIT_BUDGET,
) -> list[CheckOutcome]:
    """Ask the provider about each message and store the answers. Returns outcomes in input order.

    `client`: a `ProviderSet` or one `Provider` for every message (default: `get_providers`).
    `on_wait(text)`: while the provider's rate limit holds the run back. `wait_budget`: seconds
    the run may wait for rate limits (None: as long as the provider asks).
    Every read and write is the principal's own unit of work (commlog.unit_of_work), whichever
    thread calls."""
    ids: list[int] = []
    for raw in message_ids:
        i = int(raw)
        if i not in ids:
            ids.append(i)
    if not ids:
        return []
    pinned_now = now is not None
    now = _now(now)
    loaded = load_messages(engine, principal, ids)
    total = len(ids)
    results: dict[int, CheckOutcome] = {}
    done = 0

    def finish(o: CheckOutcome) -> None:
        nonlocal done
        results[o.message_id] = o
        done += 1
        if on_progress is not None:
            on_progress(done, total, o)

    todo: list[_Loaded] = []
    for i in ids:
        lm = loaded.get(i)
        if lm is None:
            finish(CheckOutcome(i, error=NOT_FOUND_TEXT, kind="not_found"))
        elif lm.send_status == "failed":
            finish(CheckOutcome(i, error=NEVER_SENT_TEXT, kind="never_sent", last_known_status=lm.delivery_status))
        elif not lm.msg.provider_message_id:
            finish(CheckOutcome(i, error=NO_PROVIDER_ID_TEXT, kind="no_provider_id", last_known_status=lm.delivery_status))
        else:
            todo.append(lm)

    if todo:
        try:
            providers = _providers(engine, client, now=now if pinned_now else None)
        except perr.ProviderError as exc:
            for lm in todo:
                finish(CheckOutcome(lm.msg.id, error=str(exc), kind=exc.kind, last_known_status=lm.delivery_status))
            todo = []
        else:
            _run(engine, principal, providers, todo, now, _concurrency(concurrency), finish,
                 _Waits(providers, on_wait, wait_budget))

    outcomes = [results[i] for i in ids]
    _audit(engine, principal, ids, outcomes, loaded, now)
    return outcomes


def _providers(engine: Engine, client: ProviderSet | Provider | None, now: datetime | None = None) -> ProviderSet:
    """The adapters to ask: the configured ones, or what a caller (a test, a bench) passes."""
    if client is None:
        return get_providers(engine, now=now)
    return client if isinstance(client, ProviderSet) else ProviderSet.single(client)


class _Waits:
    """A run's rate-limit waiting: its time budget (for the worker threads) and its notices (in the
    calling thread)."""

    def __init__(self, providers: ProviderSet, on_wait: Callable[[str], None] | None, budget: float | None) -> None:
        self.providers = providers
        self.on_wait = on_wait
        self.deadline = None if budget is None else time.monotonic() + budget

    def budgeted(self, work: Callable[[T], R]) -> Callable[[T], R]:
        """`work` bounded by the run's budget: its waits end at the run's deadline."""
        def run(item: T) -> R:
            left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            with limit_waits(left):
                return work(item)
        return run

    def notice(self) -> None:
        """Tell `on_wait` when a provider's rate limit holds the run back (in the calling thread)."""
        if self.on_wait is None:
            return
        held = self.providers.rate_wait()
        if held is not None and held[1] >= WAIT_NOTICE_FROM:
            self.on_wait(waiting_text(held[0], held[1]))


def _stops_run(error: perr.ProviderError | None) -> bool:
    """The provider refused the account, is down, or its rate limit outlasts the run's budget:
    the same answer awaits every message not started yet."""
    return error is not None and (error.stops_bulk or isinstance(error, perr.RateLimited))


def _in_parallel(items: list[T], work: Callable[[T], R], workers: int, name: str,
                 on_result: Callable[[T, R], perr.ProviderError | None], on_idle: Callable[[], None] | None = None) -> list[T]:
    """Run `work(item)` on at most `workers` threads and hand each result to `on_result` in the
    calling thread, as it completes (a Streamlit script can update its progress bar there);
    `on_idle()` there too, about every `WAIT_NOTICE_EVERY` seconds. When `on_result` returns an
    error that stops a run (`_stops_run`), no more items start; returns the items never started,
    in their order."""
    stop: perr.ProviderError | None = None
    queue = list(reversed(items))
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))), thread_name_prefix=name) as pool:
        running: dict[Future, T] = {}

        def submit_more() -> None:
            while queue and len(running) < workers * 2 and stop is None:
                item = queue.pop()
                running[pool.submit(work, item)] = item

        submit_more()
        while running:
            finished, _ = wait(running, timeout=WAIT_NOTICE_EVERY if on_idle else None, return_when=FIRST_COMPLETED)
            for fut in finished:
                error = on_result(running.pop(fut), fut.result())
                if _stops_run(error) and stop is None:
                    stop = error
            submit_more()
            if on_idle is not None and running:
                on_idle()
    return list(reversed(queue))


def _run(engine: Engine, principal: Principal, providers: ProviderSet, todo: list[_Loaded], now: datetime, workers: int,
         finish: Callable[[CheckOutcome], None], waits: _Waits) -> None:
    stopped_by: list[perr.ProviderError] = []

    def fetch(lm: _Loaded) -> _Fetched:
        return _fetch(providers.for_message(lm.msg), lm, now)

    def stored(lm: _Loaded, fetched: _Fetched) -> perr.ProviderError | None:
        if _stops_run(fetched.error):
            stopped_by.append(fetched.error)
        finish(_store(engine, principal, fetched, providers.for_message(lm.msg), now))
        return fetched.error

    not_started = _in_parallel(todo, waits.budgeted(fetch), workers, "commlog-check", stored, waits.notice)
    # Not attempted after the provider refused the account, went down or rate limited past the
    # run's budget: same message, nothing written.
    stop = stopped_by[0] if stopped_by else None
    for lm in not_started:
        finish(
            CheckOutcome(
                lm.msg.id, error=str(stop), kind=stop.kind if stop else "error", retry_after=stop.retry_after if stop else None,
                last_known_status=lm.delivery_status, provider=stop.provider if stop else None,
            )
        )


def rate_limit_summary(outcomes: Sequence[CheckOutcome]) -> str | None:
    """One line for every email a rate limit left unchecked, e.g. "SendGrid's rate limit: 12 emails
    not checked, try again in 43 s."; None when there are none."""
    limited = [o for o in outcomes if o.kind == "rate_limited"]
    if not limited:
        return None
    label = perr.provider_label(limited[0].provider)
    label = "the " + label[4:] if label.startswith("The ") else label
    seconds = max((o.retry_after or 1.0) for o in limited)
    n = len(limited)
    return (f"{label[0].upper() + label[1:]}'s rate limit: {n} email{'s' if n != 1 else ''} not checked, "
            f"try again in {perr.seconds_text(seconds)}.")


def check_message(
    engine: Engine,
    principal: Principal,
    message_id: int,
    *,
    now: datetime | None = None,
    client: ProviderSet | Provider | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> CheckOutcome:
    """Check one message (the detail view's button)."""
    return check_messages(engine, principal, [message_id], now=now, client=client, on_wait=on_wait, concurrency=1)[0]


# --- sync: pull recent events for accounts without webhooks -------------------------------------------


@dataclass
class SyncReport:
    listed: int = 0  # messages the provider listed in the window
    matched: int = 0  # of which stored messages (in scope)
    updated: int = 0  # matched messages whose events were fetched and stored
    new_events: int = 0
    unmatched_events: int = 0  # events of unknown messages kept in unmatched_event (newly)
    skipped_out_of_scope: int = 0  # unknown messages not fetched because a lender was given
    errors: Counter = field(default_factory=Counter)  # user-safe error text -> count
    statuses: Counter = field(default_factory=Counter)
    stopped: str | None = None  # the provider refused or went down: the run stopped here

    def as_dict(self) -> dict:
        return {
            "listed": self.listed,
            "matched": self.matched,
            "updated": self.updated,
            "new_events": self.new_events,
            "unmatched_events": self.unmatched_events,
            "skipped_out_of_scope": self.skipped_out_of_scope,
            "errors": dict(self.errors),
            "statuses": dict(self.statuses),
            "stopped": self.stopped,
        }


def _match_remote(conn, remotes, lender_scope: int | None) -> dict[str, _Loaded]:
    """Stored messages for listed remote ids: equal id, or a stored X-Message-Id prefix of it with
    the same recipient (SendGrid)."""
    from commlog.providers.normalize import sendgrid_message_prefix

    wanted: set[str] = set()
    for r in remotes:
        wanted.add(r.provider_message_id)
        pre = sendgrid_message_prefix(r.provider_message_id)
        if pre:
            wanted.add(pre)
    ids = sorted(wanted)
    found: dict[str, list[_Loaded]] = {}
    for i in range(0, len(ids), 500):
        q = select(
            Message.id, Message.lender_id, Message.provider, Message.provider_message_id, Message.recipient_email,
            Message.sent_at, Message.send_status, Message.delivery_status,
        ).where(Message.provider_message_id.in_(ids[i : i + 500]))
        if lender_scope is not None:
            q = q.where(Message.lender_id == lender_scope)
        for r in conn.execute(q):
            stored = StoredMessage(r.id, r.lender_id, r.provider, r.provider_message_id, r.recipient_email, r.sent_at)
            lm = _Loaded(stored, r.send_status, r.delivery_status)
            found.setdefault(r.provider_message_id, []).append(lm)
    out: dict[str, _Loaded] = {}
    for r in remotes:
        exact = found.get(r.provider_message_id)
        if exact:
            out[r.provider_message_id] = exact[0]
            continue
        email = (r.recipient_email or "").lower()
        for lm in found.get(sendgrid_message_prefix(r.provider_message_id) or "", []):
            if lm.msg.recipient_email.lower() == email:
                out[r.provider_message_id] = lm
                break
    return out


def _keep_unmatched(engine: Engine, provider_name: str, events, now: datetime) -> int:
    rows = [
        UnmatchedEventRow(provider_name, e.provider_event_id, e.provider_message_id, e.recipient_email, e.payload)
        for e in events
    ]
    with platform_writing(engine) as conn:  # an unknown message's events belong to no lender yet
        return keep_unmatched(conn, rows, now)


def sync_recent(
    engine: Engine,
    principal: Principal,
    since: datetime,
    until: datetime | None = None,
    *,
    lender_id: int | None = None,
    provider_name: str | None = None,
    now: datetime | None = None,
    client: ProviderSet | Provider | None = None,
    on_listed: Callable[[int], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    concurrency: int | None = None,
    wait_budget: float | None = None,
) -> SyncReport:
    """Pull the events of every message the provider created in [since, until) and store them like
    a check (matched messages) or keep them in `unmatched_event` (unknown messages; only when no
    lender is given, since an unknown message's lender cannot be known). `on_listed(n)` once the
    listing is done; `on_progress(done, total)` and `on_wait(text)` (a rate limit holds it back)
    in the calling thread; `wait_budget` as for `check_messages` (default None: wait as needed)."""
    now = _now(now)
    until = until or now
    scope = principal.lender_scope(lender_id)
    provider = _providers(engine, client).for_name(provider_name)
    report = SyncReport()
    try:
        remotes = list(provider.list_messages(since, until))
    except perr.ProviderError as exc:
        report.stopped = str(exc)
        _audit_sync(engine, principal, scope, since, until, report, now)
        return report
    report.listed = len(remotes)
    with reading(engine, principal) as conn:
        matched = _match_remote(conn, remotes, scope)
    report.matched = len(matched)
    work = []
    for r in remotes:
        if r.provider_message_id in matched:
            work.append((r, matched[r.provider_message_id]))
        elif scope is None:
            work.append((r, None))
        else:
            report.skipped_out_of_scope += 1
    if on_listed:
        on_listed(len(work))

    def fetch(item: tuple[RemoteMessage, _Loaded | None]) -> tuple[FetchResult | None, perr.ProviderError | None]:
        try:
            return provider.fetch_remote(item[0]), None
        except perr.ProviderError as exc:
            return None, exc

    done = 0
    stops: list[perr.ProviderError] = []

    def stored(item: tuple[RemoteMessage, _Loaded | None], answer: tuple) -> perr.ProviderError | None:
        nonlocal done
        (_, lm), (result, err) = item, answer
        if err is not None:
            report.errors[str(err)] += 1
            if _stops_run(err):
                stops.append(err)
        elif lm is None:
            kept_as = provider.name if provider.name != "sandbox" else "sendgrid"
            report.unmatched_events += _keep_unmatched(engine, kept_as, result.events, now)
        else:
            o = _store(engine, principal, _Fetched(lm, result=result), provider, now)
            if o.ok:
                report.updated += 1
                report.new_events += o.new_events
                report.statuses[str(o.status)] += 1
            else:
                report.errors[o.error] += 1
        done += 1
        if on_progress:
            on_progress(done, len(work))
        return err

    waits = _Waits(ProviderSet.single(provider), on_wait, wait_budget)
    _in_parallel(work, waits.budgeted(fetch), _concurrency(concurrency), "commlog-sync", stored, waits.notice)
    stop = stops[0] if stops else None
    if stop is not None:
        report.stopped = str(stop)
    _audit_sync(engine, principal, scope, since, until, report, now)
    return report


def _audit_sync(engine: Engine, principal: Principal, scope, since, until, report: SyncReport, now: datetime) -> None:
    try:
        with writing(engine, principal) as conn:
            audit.record(
                conn, principal, "sync", at=now, lender_id=scope,
                filters={"since": since.isoformat(), "until": until.isoformat()},
                row_count=report.updated, detail=json.dumps(report.as_dict(), sort_keys=True, default=str),
            )
    except Exception:
        log.exception("could not write the audit entry of a sync")
