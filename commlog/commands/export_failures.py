"""`export-failures`: failures as CSV (the same file as the log page's download), for one lender or
all lenders, streamed from SQL to a file or standard output, with a progress bar on stderr.

    python -m commlog export-failures --lender acme --since 2026-11-01 --until 2026-11-30 -o acme.csv
    python -m commlog export-failures --all --since 2026-11-13 --include-deferred --bom > all.csv

Dates (YYYY-MM-DD) are whole days in --tz (default UTC), both ends included, like the page's custom
range; a full ISO 8601 time (2026-11-20T08:00:00+01:00) is exact, --until exclusive.
Deferrals past the retry window are marked expired (NOT_DELIVERED) first, as the log page does.
Every export is recorded in the audit trail.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commlog import auth
from commlog.cli import CommandError
from commlog.commands import engine_from_args, utcnow
from commlog.export import FailureExport, count_failures, file_name, stream_failures
from commlog.log_queries import (
    SPAN_ALL,
    SPAN_LENDER,
    SPAN_LOG,
    get_borrower,
    lender_by_slug,
)
from commlog.log_view import SORTS, LogQuery, LogView
from commlog.principal import Principal, Role, ScopeError
from commlog.store import expire_pending
from commlog.unit_of_work import platform_reading, reading, writing


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-failures",
        help="export failed and not-delivered emails as CSV",
        description="Export failures (Status failed, or delivery NOT_DELIVERED; optionally still DEFERRED) as CSV.",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--lender", metavar="SLUG", help="one lender (all its logs, or --account's)")
    who.add_argument("--all", action="store_true", help="every lender (ops)")
    p.add_argument("--account", type=int, metavar="ID", help="only this borrower's log (with --lender)")
    p.add_argument("--since", metavar="DATE", help="from this day (YYYY-MM-DD, in --tz) or time (ISO 8601)")
    p.add_argument("--until", metavar="DATE", help="to this day, included (YYYY-MM-DD), or before this time (ISO 8601)")
    p.add_argument("--tz", default="UTC", help="time zone of --since/--until dates and of the file name (default UTC)")
    p.add_argument("--include-deferred", action="store_true", help="also emails still DEFERRED (retrying)")
    p.add_argument("--bom", action="store_true", help="start with a UTF-8 BOM, so Excel reads accents correctly")
    p.add_argument("--sort", choices=sorted(SORTS), default="newest", help="row order (default newest)")
    p.add_argument("--as-user", metavar="EMAIL", help="export with this commlog user's scope (default: ops, as the CLI user)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"unknown time zone {name!r} (use a name like UTC or Europe/Berlin)") from None


def _bound(raw: str | None, name: str, tz: ZoneInfo, now: datetime) -> datetime | date | None:
    if raw is None:
        return None
    raw = raw.strip()
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
        if "T" not in raw and " " not in raw:
            raise ValueError(raw)
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"--{name} {raw!r}: write a date as YYYY-MM-DD or a time as ISO 8601") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def bounds(since_raw: str | None, until_raw: str | None, tz: ZoneInfo, now: datetime) -> tuple[datetime | None, datetime | None]:
    """UTC [since, until). Dates follow the page's custom range exactly (commlog.log_view.LogView.bounds)."""
    since, until = _bound(since_raw, "since", tz, now), _bound(until_raw, "until", tz, now)
    day_since = since if isinstance(since, date) and not isinstance(since, datetime) else None
    day_until = until if isinstance(until, date) and not isinstance(until, datetime) else None
    by_day = LogView(range="custom", date_from=day_since, date_to=day_until).bounds(tz, now)
    since_utc = by_day[0] if day_since else (since.astimezone(UTC) if since else None)
    until_utc = by_day[1] if day_until else (until.astimezone(UTC) if until else None)
    if since_utc and until_utc and since_utc >= until_utc:
        raise CommandError("--since must be before --until")
    return since_utc, until_utc


def cli_principal(conn, as_user: str | None) -> Principal:
    """Whose scope and name the export runs under: a commlog user, or ops as the operating-system user."""
    if as_user:
        principal = auth.principal_for_email(conn, as_user)
        if principal is None:
            raise CommandError(f"no enabled commlog user {as_user!r}")
        return principal
    return Principal(user_id=0, email=f"cli:{getpass.getuser()}@{socket.gethostname()}", role=Role.OPS, lender_id=None)


def run(args) -> int:
    from tqdm import tqdm

    tz = _zone(args.tz)
    now = utcnow()
    since, until = bounds(args.since, args.until, tz, now)
    if args.all and args.account is not None:
        raise CommandError("--account needs --lender")
    engine = engine_from_args(args)
    with platform_reading(engine) as conn:
        principal = cli_principal(conn, args.as_user)
        if args.all:
            if not principal.is_ops:
                raise CommandError("--all is for platform ops; give --lender")
            lender_id, slug = 0, None  # not used by an all-lenders query
        else:
            lender = lender_by_slug(conn, args.lender)
            if lender is None:
                raise CommandError(f"no lender with slug {args.lender!r}")
            lender_id, slug = lender.id, lender.slug
            try:
                principal.require_lender(lender_id)
            except ScopeError as exc:
                raise CommandError(str(exc)) from None
            if args.account is not None and get_borrower(conn, principal, lender_id, args.account) is None:
                raise CommandError(f"no borrower account {args.account} at lender {slug!r}")
        span = SPAN_ALL if args.all else (SPAN_LOG if args.account is not None else SPAN_LENDER)
    # Deferrals past the retry window become NOT_DELIVERED (expired) first, as the log page does.
    with writing(engine, principal) as conn:
        expire_pending(conn, now, None if args.all else lender_id)
    with reading(engine, principal) as conn:
        spec = FailureExport(
            LogQuery(lender_id, LogView(account_id=args.account, sort=args.sort), since, until),
            span=span,
            include_deferred=args.include_deferred,
        )
        try:
            total = count_failures(conn, principal, spec)
        except ScopeError as exc:
            raise CommandError(str(exc)) from None
    name = file_name(slug, since, until, tz, now, account_id=args.account)
    target = args.output if args.output and args.output != "-" else None

    out = open(target + ".part", "wb") if target else sys.stdout.buffer  # noqa: SIM115 - closed below
    bar = tqdm(total=total, unit=" rows", unit_scale=True, file=sys.stderr, disable=args.quiet, desc="export-failures")
    written = 0

    def progress(n: int) -> None:
        nonlocal written
        written += n
        bar.update(n)

    try:
        for chunk in stream_failures(
            engine,
            principal,
            spec,
            source="cli",
            file_name=os.path.basename(target) if target else name,
            bom=args.bom,
            now=now,
            on_rows=progress,
            audit_extra={"tz": tz.key},
        ):
            out.write(chunk)
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except BaseException:
        if target:
            out.close()
            os.unlink(target + ".part")
        raise
    finally:
        bar.close()
    if target:
        out.close()
        os.replace(target + ".part", target)
    where = target or "standard output"
    if written == 0:
        print(f"No failures match: {where} has the header row only.", file=sys.stderr)
    elif not args.quiet:
        print(f"Wrote {written:,} failure rows to {where}.", file=sys.stderr)
    engine.dispose()
    return 0
