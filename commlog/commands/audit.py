"""`audit prune [--days N]`: remove audit entries past the retention (commlog.audit_retention)."""

from __future__ import annotations

from datetime import timedelta

from commlog import audit_retention
from commlog.cli import CommandError
from commlog.commands import engine_from_args, utcnow
from commlog.unit_of_work import platform_writing


def register(subparsers) -> None:
    p = subparsers.add_parser("audit", help="the audit trail's upkeep")
    sub = p.add_subparsers(dest="audit_command", required=True)
    prune = sub.add_parser("prune", help=f"remove audit entries older than the retention "
                                         f"({audit_retention.RETENTION.days} days; run it daily, e.g. from cron)")
    prune.add_argument("--days", type=int, default=audit_retention.RETENTION.days,
                       help=f"keep this many days (at least 1; default {audit_retention.RETENTION.days})")
    prune.set_defaults(func=run_prune)


def run_prune(args) -> int:
    if args.days < 1:
        raise CommandError("--days must be 1 or more")
    now = utcnow()
    keep = timedelta(days=args.days)
    engine = engine_from_args(args)
    with platform_writing(engine) as conn:
        removed = audit_retention.prune(conn, now, keep)
    print(f"removed {removed} audit entr{'ies' if removed != 1 else 'y'} from before "
          f"{(now - keep):%Y-%m-%d %H:%M} UTC (kept {args.days} days)")
    return 0
