"""`seed-demo`: fill the database with deterministic, realistic demo data."""

from __future__ import annotations

from datetime import UTC, datetime

from commlog import config
from commlog.cli import CommandError
from commlog.commands import engine_from_args


def register(subparsers) -> None:
    from commlog.demo.seed import SeedConfig

    d = SeedConfig()
    p = subparsers.add_parser(
        "seed-demo",
        help="fill the database with demo data (same --seed and --now: same rows)",
        description="Seed demo lenders, staff, borrowers, messages and delivery events. "
        "Rows are identical for the same options, --seed and --now.",
    )
    p.add_argument("--lenders", type=int, default=d.lenders, help=f"number of lenders (default {d.lenders})")
    p.add_argument("--borrowers", type=int, default=d.borrowers, help=f"borrowers across all lenders (default {d.borrowers})")
    p.add_argument("--messages", type=int, default=d.messages, help=f"messages in total (default {d.messages})")
    p.add_argument("--days", type=int, default=d.days, help=f"days of history up to now (default {d.days})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--now", help="the demo's 'now', ISO 8601 UTC, e.g. 2026-11-20T12:00:00Z (default: the current minute)")
    p.add_argument("--unchecked-share", type=float, default=1 - d.checked_share,
                   help="share of sent messages stored without delivery information (default 0.25)")  # fmt: skip
    p.add_argument("--no-users", action="store_true", help="do not create the demo logins")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _parse_now(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--now {raw!r} is not an ISO 8601 time such as 2026-11-20T12:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run(args) -> int:
    from commlog.demo.seed import DEMO_PASSWORD, SeedConfig, SeedError, seed_demo

    for name in ("lenders", "days"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name} must be at least 1")
    for name in ("borrowers", "messages"):
        if getattr(args, name) < 0:
            raise CommandError(f"--{name} must not be negative")
    if args.lenders > 200:
        raise CommandError("--lenders must be at most 200")
    if not 0 <= args.unchecked_share <= 1:
        raise CommandError("--unchecked-share must be between 0 and 1")
    cfg = SeedConfig(
        lenders=args.lenders,
        borrowers=args.borrowers,
        messages=args.messages,
        days=args.days,
        seed=args.seed,
        now=_parse_now(args.now),
        checked_share=1 - args.unchecked_share,
        users=not args.no_users,
    )
    engine = engine_from_args(args)
    url = engine.url.render_as_string(hide_password=False)
    try:
        result = seed_demo(engine, cfg, progress=not args.no_progress)
    except SeedError as exc:
        raise CommandError(str(exc)) from None
    finally:
        engine.dispose()
    print(
        f"seeded {config.masked_url(url)}: {result.lenders} lenders, {result.staff} staff, {result.borrowers} borrowers, "
        f"{result.messages} messages ({result.checked} with delivery information), {result.events} events "
        f"in {result.seconds:.1f} s; demo now = {result.anchor:%Y-%m-%d %H:%M} UTC"
    )
    if result.personas:
        from commlog.demo.personas import LENDER

        print(f"planted {result.personas} demo personas at {LENDER.name} ({result.persona_messages} messages; "
              "commlog/demo/personas.py tells their stories)")  # fmt: skip
    if result.logins:
        print(f"demo logins (password {DEMO_PASSWORD!r}, demo only):")
        for email, role, slug in result.logins:
            print(f"  {email:45} {role:13} {slug or 'all lenders'}")
    return 0
