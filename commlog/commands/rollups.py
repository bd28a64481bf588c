"""`rebuild-rollups`: recompute the deliverability rollups from the message table.

Run after loading messages in bulk (the demo seeder does it itself), or as a periodic reconcile
(`--days 7` rebuilds only the last week of send days).
"""

from __future__ import annotations

import time
from datetime import timedelta

from commlog import config
from commlog.cli import CommandError
from commlog.commands import engine_from_args, utcnow
from commlog.unit_of_work import platform_writing


def register(subparsers) -> None:
    p = subparsers.add_parser("rebuild-rollups", help="recompute the deliverability rollups from the messages")
    p.add_argument("--days", type=int, default=None, help="only the last N UTC send days (default: everything)")
    p.set_defaults(func=run)


def run(args) -> int:
    from commlog.rollups import rebuild_rollups

    if args.days is not None and not (1 <= args.days <= 100_000):
        raise CommandError("--days must be a positive number of days")
    engine = engine_from_args(args)
    since = (utcnow() - timedelta(days=args.days - 1)).date() if args.days else None
    started = time.perf_counter()
    with platform_writing(engine) as conn:
        result = rebuild_rollups(conn, since=since)
    scope = f"send days from {since.isoformat()}" if since else "all send days"
    print(
        f"rebuilt rollups for {scope} in {time.perf_counter() - started:.1f} s: {result.messages:,} messages, "
        f"{result.daily_rows:,} daily rows, {result.domain_rows:,} domain rows "
        f"({config.masked_url(engine.url.render_as_string(hide_password=False))})"
    )
    return 0
