"""`bench`: the speed targets (issue 2, Deliver 7, and the benches other areas add).

    python -m commlog bench [--sizes 100000,1000000] [--repeat 20] [--only log,export] [-- ARGS]
    python -m commlog --database-url postgresql+psycopg://user@host/db bench   # PostgreSQL

Benches run against temporary databases (a temp SQLite file; with a PostgreSQL URL a temporary
database created on that server: commlog.tempdb), dropped afterwards, also after a failure, Ctrl-C
or SIGTERM; nothing else is touched. See commlog.bench for how a bench registers itself.
"""

from __future__ import annotations

import signal
import sys

from commlog.cli import CommandError
from commlog.db import is_postgresql
from commlog.tenancy import all_lenders


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run the benchmarks on temporary databases and print tables")
    p.add_argument("--sizes", default="100000,1000000", help="message counts to seed, comma-separated (default 100000,1000000)")
    p.add_argument("--repeat", type=int, default=20, help="timed runs per query (default 20)")
    p.add_argument("--naive-repeat", type=int, default=3, help="timed runs of each naive pandas query (default 3)")
    p.add_argument("--seed", type=int, default=1, help="demo data seed (default 1)")
    p.add_argument("--only", help="comma-separated benches to run (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the benches and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars while seeding")
    p.add_argument("--pg", dest="bench_database_url", metavar="URL",
                   help="PostgreSQL server URL (same as the global --database-url)")  # fmt: skip
    p.add_argument("extra", nargs="*", help="after --: arguments for main()-style benches")
    p.set_defaults(func=run)


def _sizes(raw: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "").strip()) for s in raw.split(",") if s.strip()]
    except ValueError:
        raise CommandError(f"--sizes {raw!r}: give message counts such as 100000,1000000") from None
    if not sizes or any(n < 1_000 or n > 20_000_000 for n in sizes):
        raise CommandError("--sizes: each size must be between 1,000 and 20,000,000")
    return sizes


def run(args) -> int:
    from commlog import config
    from commlog.bench import BenchContext, discover

    benches = discover()
    if args.list:
        for b in benches.values():
            print(f"{b.name:14} {b.summary}")
        return 0
    names = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else list(benches)
    unknown = [n for n in names if n not in benches]
    if unknown:
        raise CommandError(f"unknown bench {', '.join(unknown)}; choose from {', '.join(benches)}")
    url = args.bench_database_url or getattr(args, "database_url", None)
    if url and not is_postgresql(url):
        raise CommandError("bench makes its own temporary SQLite file; --database-url is for a PostgreSQL server")
    if args.repeat < 1 or args.naive_repeat < 1:
        raise CommandError("--repeat and --naive-repeat must be at least 1")
    ctx = BenchContext(
        database_url=url,
        sizes=_sizes(args.sizes),
        repeat=args.repeat,
        naive_repeat=args.naive_repeat,
        seed=args.seed,
        extra=args.extra,
        progress=not args.no_progress,
    )
    print(f"bench: {', '.join(names)} on {ctx.backend_label}" + (f" at {config.masked_url(url)}" if url else ""), flush=True)
    status = 0
    # SIGTERM (a timeout, `kill`) unwinds like Ctrl-C, so every temporary database is dropped.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        for name in names:
            try:
                with all_lenders():  # benches build and read their own data directly: the platform's work
                    status = max(status, benches[name].run(ctx))
            except Exception as exc:  # noqa: BLE001 - one bench failing must not hide the others
                print(f"bench {name} failed: {type(exc).__name__}: {exc}", flush=True)
                status = max(status, 2)
    finally:
        try:
            ctx.close()
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return status


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)
