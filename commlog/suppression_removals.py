"""Suppression removal, in two levels: a lender admin asks, platform ops approve, the provider is told.

A bounced (or blocked, or invalid) address stays on the provider's suppression list, and nothing is
sent to it. Once the borrower has fixed their mailbox, a lender admin asks for the address to be
taken off the list, with a reason from a short list (`REASONS`) and an optional note. Ops see the
request beside its evidence (`evidence`) and approve it (the provider is called: `approve`) or reject
it with a reason. Four eyes: nobody approves a request they made themselves (ops may request on a
lender's behalf; another ops user approves). A list the recipient asked for (spam reports,
unsubscribes, Postmark's SpamComplaint) is never offered: `RECIPIENT_ASKED`.

States (`SuppressionRemoval.state`):

    requested -> approved -> removed                 the provider said it is off the list (or was)
                          -> failed                  "approved, not removed": the provider's reason; retry
    requested -> rejected                            by ops, with a reason
    requested -> cancelled                           by the lender (or ops) before a decision

"removed" is written only when the provider said so. Every change is an audit entry (`ACTIONS`).
Every read and write is scoped to the principal's lender in SQL, inside a unit of work (row-level
security on PostgreSQL too): another lender's request reads as "not found", whatever its id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from commlog import audit
from commlog.deliverability.metrics import Counts
from commlog.deliverability.queries import MetricsQuery, summary
from commlog.models import RECIPIENT_EMAIL, DeliveryEvent, Lender, Message, SuppressionRemoval
from commlog.principal import Principal, ScopeError
from commlog.providers import ProviderSet, errors
from commlog.providers.base import Provider, SuppressionEntry
from commlog.troubleshoot.address import check_address
from commlog.troubleshoot.next_step import says_address_does_not_exist
from commlog.unit_of_work import reading, writing
from commlog.vocabulary import EventType

REASONS: dict[str, str] = {
    "corrected_mailbox": "The borrower corrected their mailbox",
    "temporary_problem": "It was a temporary problem at their email provider",
    "reverified": "The address was re-verified with the borrower",
    "other": "Other",
}

REQUESTED, APPROVED, REMOVED, FAILED, REJECTED, CANCELLED = (
    "requested", "approved", "removed", "failed", "rejected", "cancelled")
STATE_WORDS: dict[str, str] = {
    REQUESTED: "Requested",
    APPROVED: "Approved, being removed",
    REMOVED: "Removed",
    FAILED: "Approved, not removed",
    REJECTED: "Rejected",
    CANCELLED: "Cancelled",
}
OPEN_STATES = (REQUESTED, APPROVED, FAILED)
# An approval whose provider call never came back (the process stopped) may be tried again after this.
STALE_APPROVAL = timedelta(minutes=5)

ACTIONS = audit.SUPPRESSION_ACTIONS  # state -> its audit action

RECIPIENT_ASKED_WORDS = "cannot be removed: the recipient asked not to receive email"
MAX_NOTE = 2000
MAX_REASON_TEXT = 500
LAST_EMAILS = 5


class RemovalRefused(Exception):
    """The request or decision cannot be taken; `str()` says why in the product's words and changed
    nothing. Another lender's request, or an id that does not exist, is "not found" alike."""


NOT_FOUND = "That suppression removal request was not found."


@dataclass(frozen=True)
class RemovalRequest:
    id: int
    lender_id: int
    lender_name: str
    address: str
    provider: str
    list_key: str
    list_label: str
    listed_since: datetime | None
    message_id: int | None
    reason: str
    reason_text: str | None
    note: str | None
    requested_by_user_id: int
    requested_by: str
    requested_at: datetime
    state: str
    decided_by: str | None
    decided_at: datetime | None
    reject_reason: str | None
    provider_answer: str | None
    attempts: int
    removed_at: datetime | None

    @property
    def state_words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)

    @property
    def reason_words(self) -> str:
        if self.reason == "other" and self.reason_text:
            return f"Other: {self.reason_text}"
        return REASONS.get(self.reason, self.reason)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Outcome:
    """What one approval did: the request afterwards, and the provider's answer in words."""

    request: RemovalRequest
    removed: bool
    words: str
    stops_bulk: bool = False  # the provider refused the account as a whole or is down: stop a bulk run


@dataclass(frozen=True)
class Evidence:
    """What ops see beside a request."""

    emails: list[dict]  # the newest LAST_EMAILS emails to the address at the lender
    bounces: int  # BOUNCE events the provider reported for the address at the lender
    blocks: int  # BLOCKED events
    drops: int  # emails to it the provider dropped (not sent: the address was suppressed)
    last_bounce_reply: str | None  # the newest bounce's SMTP reply
    does_not_exist: bool  # that reply says the mailbox does not exist
    typo_suggestion: str | None  # "gmial.com looks like a typo of gmail.com. Did you mean …?"
    lender_bounce_rate: str  # the lender's bounce rate over the last 7 days, "n of N"
    lender_counts: Counts


@dataclass(frozen=True)
class Afterwards:
    """What happened to the first email to the address after its removal."""

    kind: str  # "delivered" | "bounced" | "failed" | "pending" | "none"
    at: datetime | None  # when (the email's last event, else its send time)


def removable(provider: Provider, entry: SuppressionEntry) -> str | None:
    """None when this entry may be asked for; else why not, in the product's words."""
    if entry.recipient_asked:
        return f"{entry.label[:1].upper()}{entry.label[1:]}: {RECIPIENT_ASKED_WORDS}."
    if not provider.can_remove(entry.list_key):
        return f"{entry.label[:1].upper()}{entry.label[1:]}: {provider.label} cannot remove an address from it through commlog."
    return None


# --- reads ------------------------------------------------------------------------------------------


_FIELDS = [f for f in RemovalRequest.__dataclass_fields__ if f != "lender_name"]


def _select():
    columns = [getattr(SuppressionRemoval, f) for f in _FIELDS]
    return select(*columns, Lender.name.label("lender_name")).join(Lender, Lender.id == SuppressionRemoval.lender_id)


def _of(row) -> RemovalRequest:
    return RemovalRequest(**row._mapping)


def _scoped(stmt, principal: Principal, lender_id: int | None = None):
    scope = principal.lender_scope(lender_id)
    return stmt.where(SuppressionRemoval.lender_id == scope) if scope is not None else stmt


def list_requests(conn: Connection, principal: Principal, *, lender_id: int | None = None,
                  states: Sequence[str] | None = None, address: str | None = None, limit: int = 500) -> list[RemovalRequest]:
    """Newest first. Lender admins: their lender's; ops: every lender's, or `lender_id`'s."""
    stmt = _scoped(_select(), principal, lender_id)
    if states:
        stmt = stmt.where(SuppressionRemoval.state.in_(list(states)))
    if address:
        stmt = stmt.where(SuppressionRemoval.address == address.strip().lower())
    stmt = stmt.order_by(SuppressionRemoval.requested_at.desc(), SuppressionRemoval.id.desc()).limit(limit)
    return [_of(row) for row in conn.execute(stmt)]


def get_request(conn: Connection, principal: Principal, request_id: int) -> RemovalRequest | None:
    """The request, if it is the principal's lender's (any lender's for ops); else None, alike for an
    id that does not exist."""
    if isinstance(request_id, bool) or not isinstance(request_id, int) or not 0 < request_id < 2**63:
        return None
    row = conn.execute(_scoped(_select(), principal).where(SuppressionRemoval.id == request_id)).first()
    return _of(row) if row is not None else None


def open_requests_for(conn: Connection, principal: Principal, lender_id: int, address: str) -> dict[str, RemovalRequest]:
    """The lender's open requests for the address, by list key (to say "already requested")."""
    return {r.list_key: r for r in list_requests(conn, principal, lender_id=lender_id, states=OPEN_STATES, address=address)}


def evidence(conn: Connection, principal: Principal, request: RemovalRequest, today: date) -> Evidence:
    lender_id = principal.require_lender(request.lender_id)
    to_address = and_(Message.lender_id == lender_id, request.address == RECIPIENT_EMAIL)
    emails = [dict(r._mapping) for r in conn.execute(
        select(Message.id, Message.sent_at, Message.email_type, Message.subject, Message.send_status,
               Message.delivery_status, Message.last_event_type, Message.status_reason)
        .where(to_address).order_by(Message.sent_at.desc(), Message.id.desc()).limit(LAST_EMAILS))]
    counted = dict(conn.execute(
        select(DeliveryEvent.event_type, func.count())
        .select_from(DeliveryEvent).join(Message, Message.id == DeliveryEvent.message_id)
        .where(to_address, DeliveryEvent.event_type.in_([EventType.BOUNCE.value, EventType.BLOCKED.value,
                                                         EventType.DROPPED.value]))
        .group_by(DeliveryEvent.event_type)).all())
    last_reply = conn.execute(
        select(DeliveryEvent.reason).join(Message, Message.id == DeliveryEvent.message_id)
        .where(to_address, DeliveryEvent.event_type == EventType.BOUNCE.value)
        .order_by(DeliveryEvent.occurred_at.desc(), DeliveryEvent.id.desc()).limit(1)).scalar()
    check = check_address(request.address)
    typo = f"{check.suggestion_reason}. Did you mean {check.suggestion}?" if check.suggestion else None
    counts = summary(conn, principal, MetricsQuery(start=today - timedelta(days=6), end=today, lender_id=lender_id))
    return Evidence(emails, *(int(counted.get(t.value, 0)) for t in (EventType.BOUNCE, EventType.BLOCKED, EventType.DROPPED)),
                    last_reply, says_address_does_not_exist(last_reply), typo, _rate_words(counts), counts)


def _rate_words(counts: Counts) -> str:
    value = counts.percent("bounce")
    if value is None:
        return "no emails attempted in the last 7 days"
    return f"{value:.1f} % ({counts.bounced:,} of {counts.attempted:,} attempted, last 7 days)"


def afterwards(conn: Connection, principal: Principal, request: RemovalRequest) -> Afterwards | None:
    """For a removed request: the first email to the address sent after the removal, as it stands."""
    if request.state != REMOVED or request.removed_at is None:
        return None
    lender_id = principal.require_lender(request.lender_id)
    row = conn.execute(
        select(Message.send_status, Message.delivery_status, Message.last_event_type, Message.last_event_at, Message.sent_at)
        .where(Message.lender_id == lender_id, request.address == RECIPIENT_EMAIL, Message.sent_at > request.removed_at)
        .order_by(Message.sent_at, Message.id).limit(1)).first()
    if row is None:
        return Afterwards("none", None)
    at = row.last_event_at or row.sent_at
    if row.send_status != "sent":
        return Afterwards("failed", row.sent_at)
    if row.delivery_status == "DELIVERED":
        return Afterwards("delivered", at)
    if row.last_event_type == EventType.BOUNCE.value:
        return Afterwards("bounced", at)
    return Afterwards("pending", row.sent_at)


# --- writes -----------------------------------------------------------------------------------------


def _audit(conn: Connection, principal: Principal, state: str, req_id: int, lender_id: int, address: str,
           list_label: str, now: datetime, words: str = "") -> None:
    detail = f"#{req_id} {address}, {list_label}" + (f": {words}" if words else "")
    audit.record(conn, principal, ACTIONS[state], at=now, lender_id=lender_id, detail=detail, row_count=1)


def request_removal(
    engine: Engine,
    principal: Principal,
    *,
    lender_id: int | None,
    address: str,
    provider: Provider,
    entry: SuppressionEntry,
    reason: str,
    reason_text: str | None = None,
    note: str | None = None,
    message_id: int | None = None,
    now: datetime,
) -> RemovalRequest:
    """A lender admin (or ops, on the lender's behalf) asks for `address` to come off `entry`'s list
    (as the provider's lookup just reported it). Raises RemovalRefused, changing nothing."""
    try:
        lender = principal.require_lender(lender_id)
    except ScopeError:
        raise RemovalRefused(NOT_FOUND) from None
    address = (address or "").strip().lower()
    refused = removable(provider, entry)
    if refused:
        raise RemovalRefused(refused)
    if reason not in REASONS:
        raise RemovalRefused("Choose why the address can be sent to again.")
    reason_text = (reason_text or "").strip()[:MAX_REASON_TEXT] or None
    if reason == "other" and not reason_text:
        raise RemovalRefused("Say in a few words why the address can be sent to again (reason: Other).")
    note = (note or "").strip()[:MAX_NOTE] or None
    with writing(engine, principal) as conn:
        emailed = conn.execute(select(Message.id).where(Message.lender_id == lender, address == RECIPIENT_EMAIL).limit(1)).first()
        if emailed is None:
            raise RemovalRefused("This lender never emailed that address, so there is nothing to remove for it.")
        if message_id is not None:
            ok = conn.execute(select(Message.id).where(Message.id == message_id, Message.lender_id == lender,
                                                       address == RECIPIENT_EMAIL)).first()
            message_id = message_id if ok is not None else None
        try:
            with conn.begin_nested():
                new_id = conn.execute(insert(SuppressionRemoval).values(
                    lender_id=lender, address=address, provider=provider.name, list_key=entry.list_key,
                    list_label=entry.label[:120], listed_since=entry.since, message_id=message_id, reason=reason,
                    reason_text=reason_text, note=note, requested_by_user_id=principal.user_id,
                    requested_by=principal.email, requested_at=now, state=REQUESTED, attempts=0,
                ).returning(SuppressionRemoval.id)).scalar_one()
        except IntegrityError:
            raise RemovalRefused(f"Removal of {address} from the {entry.label} list is already requested.") from None
        _audit(conn, principal, REQUESTED, new_id, lender, address, entry.label, now, REASONS[reason])
        return _of(conn.execute(_select().where(SuppressionRemoval.id == new_id)).one())


def _load_for_change(conn: Connection, principal: Principal, request_id: int) -> RemovalRequest:
    found = get_request(conn, principal, request_id)
    if found is None:
        raise RemovalRefused(NOT_FOUND)
    return found


def _set_state(conn: Connection, request_id: int, expected: Iterable[str], **values) -> bool:
    """Compare-and-set: the change happens only if the request is still in one of `expected`."""
    done = conn.execute(update(SuppressionRemoval)
                        .where(SuppressionRemoval.id == request_id, SuppressionRemoval.state.in_(list(expected)))
                        .values(**values))
    return done.rowcount == 1


def cancel(engine: Engine, principal: Principal, request_id: int, now: datetime) -> RemovalRequest:
    """The lender (or ops) takes back a request nobody has decided yet."""
    with writing(engine, principal) as conn:
        req = _load_for_change(conn, principal, request_id)
        if not _set_state(conn, req.id, (REQUESTED,), state=CANCELLED, decided_by_user_id=principal.user_id,
                          decided_by=principal.email, decided_at=now):
            raise RemovalRefused(f"This request is {req.state_words.lower()}: it can no longer be cancelled.")
        _audit(conn, principal, CANCELLED, req.id, req.lender_id, req.address, req.list_label, now)
        return _load_for_change(conn, principal, req.id)


def reject(engine: Engine, principal: Principal, request_id: int, reason: str, now: datetime) -> RemovalRequest:
    """Ops turn a request down, saying why (the lender admin reads it)."""
    if not principal.is_ops:
        raise RemovalRefused("Only platform ops decide on suppression removals.")
    reason = (reason or "").strip()[:MAX_REASON_TEXT]
    if not reason:
        raise RemovalRefused("Say why the request is rejected: the lender admin will read it.")
    with writing(engine, principal) as conn:
        req = _load_for_change(conn, principal, request_id)
        if not _set_state(conn, req.id, (REQUESTED, FAILED), state=REJECTED, decided_by_user_id=principal.user_id,
                          decided_by=principal.email, decided_at=now, reject_reason=reason):
            raise RemovalRefused(f"This request is {req.state_words.lower()}: it can no longer be rejected.")
        _audit(conn, principal, REJECTED, req.id, req.lender_id, req.address, req.list_label, now, reason)
        return _load_for_change(conn, principal, req.id)


def approve(engine: Engine, principal: Principal, request_id: int, providers: ProviderSet, now: datetime,
            clock: Callable[[], datetime] | None = None) -> Outcome:
    """Ops approve: the request is marked approved (committed), the provider is asked to remove the
    address, and the answer is stored: removed only when the provider said so, else "approved, not
    removed" with its reason (approve again to retry). Raises RemovalRefused before any provider call
    (not ops, four eyes, already decided, not found)."""
    if not principal.is_ops:
        raise RemovalRefused("Only platform ops approve suppression removals.")
    with writing(engine, principal) as conn:
        req = _load_for_change(conn, principal, request_id)
        if req.requested_by_user_id == principal.user_id:
            raise RemovalRefused("You asked for this removal yourself: another ops user must approve it (four eyes).")
        retry_from = [REQUESTED, FAILED]
        if req.state == APPROVED and req.decided_at is not None and now - req.decided_at >= STALE_APPROVAL:
            retry_from.append(APPROVED)  # a call that never came back
        if not _set_state(conn, req.id, retry_from, state=APPROVED, decided_by_user_id=principal.user_id,
                          decided_by=principal.email, decided_at=now, reject_reason=None):
            raise RemovalRefused(f"This request is {req.state_words.lower()}: there is nothing to approve.")
        _audit(conn, principal, APPROVED, req.id, req.lender_id, req.address, req.list_label, now,
               "again" if req.state != REQUESTED else "")
    adapter = providers.for_name(req.provider)
    stops = False
    try:
        answer = adapter.remove_suppression(req.address, req.list_key)
        removed, words = answer.removed, answer.words
    except errors.ProviderError as exc:
        removed, words, stops = False, str(exc), exc.stops_bulk
    at = clock() if clock else now
    with writing(engine, principal) as conn:
        values = {"provider_answer": words[:1000], "attempts": SuppressionRemoval.attempts + 1}
        if removed:
            _set_state(conn, req.id, (APPROVED,), state=REMOVED, removed_at=at, **values)
        else:
            _set_state(conn, req.id, (APPROVED,), state=FAILED, **values)
        _audit(conn, principal, REMOVED if removed else FAILED, req.id, req.lender_id, req.address, req.list_label, at, words)
        after = _load_for_change(conn, principal, req.id)
    return Outcome(after, removed, words, stops)


def approve_many(engine: Engine, principal: Principal, request_ids: Sequence[int], providers: ProviderSet,
                 clock: Callable[[], datetime], on_progress: Callable[[int, int, Outcome | None], None] | None = None,
                 ) -> tuple[list[Outcome], list[str]]:
    """Approve several requests one after another through the provider's one rate budget (its
    limiter waits; a rate limit never turns into a storm). Stops when the provider refuses the
    account or is down (the rest stay as they were). Returns the outcomes and the refusals' words."""
    outcomes: list[Outcome] = []
    refusals: list[str] = []
    for i, request_id in enumerate(request_ids, 1):
        try:
            outcome = approve(engine, principal, request_id, providers, clock())
        except RemovalRefused as exc:
            refusals.append(f"#{request_id}: {exc}")
            if on_progress:
                on_progress(i, len(request_ids), None)
            continue
        outcomes.append(outcome)
        if on_progress:
            on_progress(i, len(request_ids), outcome)
        if outcome.stops_bulk:
            left = len(request_ids) - i
            if left:
                refusals.append(f"Stopped: {outcome.words} {left} request{'s' if left != 1 else ''} left as they were.")
            break
    return outcomes, refusals


# --- a block episode's addresses (ops) ------------------------------------------------------------------

BLOCKS = "blocks"
EPISODE_MAX = 1000  # addresses one episode request takes


@dataclass(frozen=True)
class EpisodeAddress:
    """An address whose email the mailbox provider blocked during an episode."""

    address: str
    message_id: int  # its newest email blocked then
    blocked_at: datetime
    reply: str | None
    provider: str  # the provider that sent it (whom removal would tell)


def episode_addresses(conn: Connection, principal: Principal, lender_id: int, family: str, start: date, end: date,
                      limit: int = EPISODE_MAX) -> list[EpisodeAddress]:
    """The lender's addresses at `family` whose email ended BLOCKED on the episode's UTC days
    [start, end], newest first, without those already asked for (an open request for the blocks list)."""
    lender = principal.require_lender(lender_id)
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    newest = (select(func.max(Message.id).label("id"))
              .where(Message.lender_id == lender, Message.provider_family == family,
                     Message.last_event_type == EventType.BLOCKED.value,
                     Message.last_event_at >= since, Message.last_event_at < until)
              .group_by(RECIPIENT_EMAIL).subquery())
    asked = select(SuppressionRemoval.address).where(SuppressionRemoval.lender_id == lender,
                                                     SuppressionRemoval.list_key == BLOCKS,
                                                     SuppressionRemoval.state.in_(OPEN_STATES))
    rows = conn.execute(
        select(RECIPIENT_EMAIL.label("address"), Message.id, Message.last_event_at, Message.status_reason, Message.provider)
        .join(newest, newest.c.id == Message.id)
        .where(RECIPIENT_EMAIL.not_in(asked))
        .order_by(Message.last_event_at.desc(), Message.id.desc()).limit(limit)).all()
    return [EpisodeAddress(r.address, r.id, r.last_event_at, r.status_reason, r.provider) for r in rows]


def request_for_episode(engine: Engine, principal: Principal, *, lender_id: int, providers: ProviderSet,
                        addresses: Sequence[EpisodeAddress], note: str, now: datetime) -> tuple[list[RemovalRequest], list[str]]:
    """Ops ask, on the lender's behalf, for every address of a block episode to come off the blocks
    list (reason: a temporary problem at their provider). Another ops user approves them (four eyes),
    several at once. Whether the provider still lists an address is its answer at approval (a 404
    there is "already gone"). Returns the requests made and, for the others, why not."""
    made: list[RemovalRequest] = []
    refused: list[str] = []
    for a in addresses:
        entry = SuppressionEntry(BLOCKS, "blocks", a.blocked_at, a.reply, stops_sending=False, recipient_asked=False)
        try:
            made.append(request_removal(engine, principal, lender_id=lender_id, address=a.address,
                                        provider=providers.for_name(a.provider), entry=entry, reason="temporary_problem",
                                        note=note, message_id=a.message_id, now=now))
        except RemovalRefused as exc:
            refused.append(f"{a.address}: {exc}")
    return made, refused


def read_requests(engine: Engine, principal: Principal, **filters) -> list[RemovalRequest]:
    """`list_requests` in a unit of work of its own (for the command line and simple callers)."""
    with reading(engine, principal) as conn:
        return list_requests(conn, principal, **filters)
