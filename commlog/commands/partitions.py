"""`partitions [--retain-months N]`: PostgreSQL's monthly partitions of message and delivery_event
(commlog.partitions): create the months ahead, apply retention, and list them with their sizes.

The app does the same at start and once a day; this is for cron, or to look."""

from __future__ import annotations

from commlog import partitions
from commlog.bench import table
from commlog.cli import CommandError
from commlog.commands import engine_from_args, utcnow
from commlog.db import is_postgresql
from commlog.settings import settings
from commlog.unit_of_work import platform_reading


def register(subparsers) -> None:
    p = subparsers.add_parser("partitions", help="PostgreSQL: create the months ahead, drop months past retention, "
                                                 "list the partitions")
    p.add_argument("--retain-months", type=int, default=None,
                   help="keep this many months, this one included (default: COMMLOG_RETAIN_MONTHS; unset keeps all)")
    p.add_argument("--list", action="store_true", help="only list the partitions; change nothing")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.retain_months is not None and args.retain_months < 1:
        raise CommandError("--retain-months must be 1 or more")
    engine = engine_from_args(args)
    if not is_postgresql(engine):
        print("this database is SQLite: one table each, no partitions (they are PostgreSQL's)")
        return 0
    if not args.list:
        retain = args.retain_months if args.retain_months is not None else settings().retain_months
        done = partitions.run_maintenance(engine, utcnow(), retain)
        print(f"created {len(done.created)}: {', '.join(done.created) or 'none'}")
        if retain:
            print(f"kept {retain} month(s) from {partitions.retention_cutoff(utcnow(), retain):%Y-%m}; "
                  f"dropped {len(done.dropped)}: {', '.join(done.dropped) or 'none'}; "
                  f"{done.events_deleted} later event(s) of their messages and {done.rows_deleted} older row(s) "
                  "of the default partitions deleted")
    with platform_reading(engine) as conn:
        rows = partitions.summary(partitions.describe(conn))
    print(table(["table", "partition", "month", "rows (estimate)", "MB"], rows, align="lllrr"))
    return 0
