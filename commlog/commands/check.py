"""`check`: Check delivery status from the command line, the same check as the page's button.

    python -m commlog check --message-id 12 --message-id 15
    python -m commlog check --lender acme-lending --since 2026-11-01 --until 2026-11-08 \\
        --delivery-status NOT_CHECKED --limit 200

Runs as platform ops (a system principal, email "cli", role ops: every lender). Shows a progress
bar, one line per message (up to --show), and a summary. The provider's rate limit is waited for
as long as it asks ("waiting 43 s for SendGrid's rate limit" on the progress line, or on stderr
when there is no terminal): it never fails an email. Exit status 1 with a one-line reason when the
provider refuses (bad key, missing scope or add-on) or is down.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from tqdm import tqdm

from commlog import checks
from commlog.cli import CommandError
from commlog.commands import engine_from_args
from commlog.log_queries import lender_by_slug
from commlog.models import Message
from commlog.principal import Principal, Role
from commlog.providers import errors as perr
from commlog.providers import get_providers
from commlog.providers.http import RetryPolicy
from commlog.settings import settings
from commlog.unit_of_work import platform_reading
from commlog.vocabulary import NOT_CHECKED, DeliveryStatus, SendStatus

CLI_PRINCIPAL = Principal(user_id=0, email="cli", role=Role.OPS, lender_id=None)

# The command line waits for the provider's rate limit as long as it asks; a page may not.
def cli_policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=settings().provider_attempts, max_total_wait=None, max_wait=None)


class WaitNotice:
    """Shows rate-limit waits on a tqdm progress line; without a terminal (tqdm disabled), prints
    each wait once to stderr."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar
        self.waiting = False

    def __call__(self, text: str) -> None:
        if self.bar.disable:
            if not self.waiting:
                print(text, file=sys.stderr, flush=True)
        else:
            self.bar.set_postfix_str(text)
        self.waiting = True

    def progressed(self) -> None:
        """A request went through: the wait, if any, is over."""
        if self.waiting and not self.bar.disable:
            self.bar.set_postfix_str("")
        self.waiting = False


REFUSALS = frozenset({"key_not_accepted", "not_entitled", "not_configured", "unavailable", "rate_limited", "bad_response"})
STATUS_CHOICES = [s.value for s in DeliveryStatus] + [NOT_CHECKED]


def parse_when(value: str) -> datetime:
    """ISO 8601 date or time; naive values are UTC."""
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"not an ISO date or time: {value!r} (e.g. 2026-11-01 or 2026-11-01T09:00Z)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def register(subparsers) -> None:
    p = subparsers.add_parser("check", help="check delivery status with the email provider (as ops)")
    p.add_argument("--message-id", type=int, action="append", default=[], metavar="ID", help="a message id (repeatable)")
    p.add_argument("--lender", metavar="SLUG", help="messages of this lender")
    p.add_argument("--since", help="sent at or after (ISO date/time, UTC unless it says)")
    p.add_argument("--until", help="sent before (ISO date/time)")
    p.add_argument("--delivery-status", choices=STATUS_CHOICES, action="append", help="current status (repeatable)")
    p.add_argument("--limit", type=int, default=500, help="at most this many messages by filters, newest first (default 500)")
    p.add_argument("--concurrency", type=int, default=None, help=f"parallel provider calls (default {checks.DEFAULT_CONCURRENCY})")
    p.add_argument("--show", type=int, default=50, help="print a line per message for up to this many (default 50)")
    p.set_defaults(func=run)


def _lender_id(conn, slug: str) -> int:
    lender = lender_by_slug(conn, slug)
    if lender is None:
        raise CommandError(f"no lender with slug {slug!r}")
    return lender.id


def select_ids(engine, args) -> list[int]:
    if args.message_id:
        return list(dict.fromkeys(args.message_id))
    if not (args.lender or args.since or args.until or args.delivery_status):
        raise CommandError("give --message-id ID, or filters (--lender, --since, --until, --delivery-status)")
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    q = select(Message.id).where(Message.send_status == "sent")
    with platform_reading(engine) as conn:
        if args.lender:
            q = q.where(Message.lender_id == _lender_id(conn, args.lender))
        if args.since:
            q = q.where(Message.sent_at >= parse_when(args.since))
        if args.until:
            q = q.where(Message.sent_at < parse_when(args.until))
        if args.delivery_status:
            wanted = [s for s in args.delivery_status if s != NOT_CHECKED]
            cond = Message.delivery_status.in_(wanted) if wanted else None
            if NOT_CHECKED in args.delivery_status:
                nc = Message.delivery_status.is_(None) & (Message.send_status == SendStatus.SENT.value)  # a failed send has nothing to check
                cond = nc if cond is None else (cond | nc)
            q = q.where(cond)
        q = q.order_by(Message.sent_at.desc(), Message.id.desc()).limit(args.limit)
        return list(conn.execute(q).scalars())


def run(args) -> int:
    engine = engine_from_args(args)
    ids = select_ids(engine, args)
    if not ids:
        print("no messages match")
        return 0
    try:
        providers = get_providers(engine, policy=cli_policy())
    except perr.ProviderError as exc:
        raise CommandError(str(exc)) from None
    bar = tqdm(total=len(ids), unit="msg", desc="checking", file=sys.stderr, disable=None)

    notice = WaitNotice(bar)

    def progress(done: int, total: int, outcome: checks.CheckOutcome) -> None:
        notice.progressed()
        bar.update(1)

    try:
        outcomes = checks.check_messages(
            engine, CLI_PRINCIPAL, ids, now=None, client=providers, on_progress=progress, on_wait=notice,
            concurrency=args.concurrency, wait_budget=None,
        )
    finally:
        bar.close()
    for o in outcomes[: max(0, args.show)]:
        sup = f" [{o.suppression.describe()}]" if o.suppression and (o.suppression.suppressed or o.suppression.error) else ""
        print(f"{o.message_id}\t{o.summary}{sup}")
    counts = Counter(str(o.status) if o.ok and o.status else o.kind for o in outcomes)
    print("checked " + str(len(outcomes)) + ": " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    refused = next((o for o in outcomes if o.kind in REFUSALS), None)
    if refused is not None:
        raise CommandError(refused.error)
    return 0
