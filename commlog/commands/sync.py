"""`sync`: pull recent events through the provider API, for accounts without the Event Webhook.

    python -m commlog sync --since 24h
    python -m commlog sync --since 2026-11-19T00:00Z --until 2026-11-20T00:00Z --lender acme-lending

SendGrid (Email Logs): `POST /v3/logs` with an `sg_message_id_created_at` window (split while a
window returns the 1,000-row limit), then each message's events. Messages matched to stored ones
are updated like a check; events of unknown messages are kept in `unmatched_event` for later
matching (not with --lender: their lender is unknown). Runs as ops ("cli"). Exit status 1 with a
one-line reason when the provider refuses or is down.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta

from tqdm import tqdm

from commlog import checks
from commlog.cli import CommandError
from commlog.commands import engine_from_args, utcnow
from commlog.commands.check import CLI_PRINCIPAL, WaitNotice, cli_policy, parse_when
from commlog.log_queries import lender_by_slug
from commlog.providers import errors as perr
from commlog.providers import get_providers
from commlog.unit_of_work import platform_reading

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime) -> datetime:
    """`24h`, `90m`, `7d`, `2w` before now, or an ISO date/time."""
    m = _DURATION.match(value)
    if m:
        return now - timedelta(**{_UNIT[m.group(2)]: float(m.group(1))})
    return parse_when(value)


def register(subparsers) -> None:
    p = subparsers.add_parser("sync", help="pull recent delivery events from the email provider (as ops)")
    p.add_argument("--since", required=True, help="a duration back from now (24h, 7d) or an ISO date/time")
    p.add_argument("--until", help="ISO date/time (default now)")
    p.add_argument("--lender", metavar="SLUG", help="only this lender's messages")
    p.add_argument("--provider", choices=["sendgrid", "postmark"], help="which configured provider (default COMMLOG_PROVIDER)")
    p.add_argument("--concurrency", type=int, default=None)
    p.set_defaults(func=run)


def run(args) -> int:
    engine = engine_from_args(args)
    now = utcnow()
    since = parse_since(args.since, now)
    until = parse_when(args.until) if args.until else now
    if since >= until:
        raise CommandError("--since must be before --until")
    lender_id = None
    if args.lender:
        with platform_reading(engine) as conn:
            lender = lender_by_slug(conn, args.lender)
        if lender is None:
            raise CommandError(f"no lender with slug {args.lender!r}")
        lender_id = lender.id
    try:
        providers = get_providers(engine, policy=cli_policy())
    except perr.ProviderError as exc:
        raise CommandError(str(exc)) from None
    print(f"listing messages created {since:%Y-%m-%d %H:%M} .. {until:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    bar: list[tqdm] = []
    notices: list[WaitNotice] = []

    def listed(n: int) -> None:
        bar.append(tqdm(total=n, unit="msg", desc="syncing", file=sys.stderr, disable=None))
        notices.append(WaitNotice(bar[0]))

    def progress(done: int, total: int) -> None:
        if bar:
            notices[0].progressed()
            bar[0].update(1)

    def waiting(text: str) -> None:
        if notices:
            notices[0](text)

    try:
        report = checks.sync_recent(
            engine, CLI_PRINCIPAL, since, until, lender_id=lender_id, provider_name=args.provider, client=providers,
            on_listed=listed, on_progress=progress, on_wait=waiting, concurrency=args.concurrency,
        )
    finally:
        if bar:
            bar[0].close()
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.statuses.items())) or "-"
    print(
        f"listed {report.listed}, matched {report.matched}, updated {report.updated} ({statuses}), "
        f"new events {report.new_events}, kept unmatched {report.unmatched_events}"
        + (f", skipped (other lenders / unknown) {report.skipped_out_of_scope}" if args.lender else "")
    )
    for text, n in report.errors.most_common(5):
        print(f"  {n} x {text}")
    if report.stopped:
        raise CommandError(report.stopped)
    return 0
