"""Bulk "Check delivery status" against the loopback fake provider: concurrent vs sequential, and
under a rate limit the client does not know.

A temp SQLite database gets 2 x `--messages` + `--limited-messages` sent messages (one lender). The
fake SendGrid server (`commlog.providers.fake_server`, real HTTP on 127.0.0.1) answers
`GET /v3/logs/{id}` after `--latency` seconds (default 0.1).

1. When the limit allows: the server allows `--rate-per-min` requests a minute and the client's
   starting guess is the same number. The real SendGrid adapter, HTTP layer and rate limiter check
   the first `--messages` one at a time (`check_messages(concurrency=1)`) and the next ones at the
   default concurrency (`commlog.checks.DEFAULT_CONCURRENCY`). Reported: seconds and messages/s of
   each, the speedup (target >= 8x), the most requests the server saw in any 60 s and any 1 s window
   beside the limit, and the server's 429s (must be 0).
2. Rate-limited: the server allows `--limit` requests per `--window` seconds (fixed windows,
   X-RateLimit-* headers on every answer, 429 with `Retry-After: 2`, shorter than the reset, as
   SendGrid was seen to send); the client starts from the default guess (600 a minute, as with
   COMMLOG_SENDGRID_RATE_PER_MIN unset) and must learn the rest. `--limited-messages` are checked at
   the default concurrency, waiting as the command line does. Reported: the requests the server saw,
   the most 429s in one rate window (target <= 1), every check right, and the wall time beside the
   ideal (requests / limit x window).

Exit status 1 if a target is missed.

The client-side limit for SendGrid Email Logs defaults to 600/min (COMMLOG_SENDGRID_RATE_PER_MIN);
at that limit a 500-message bulk check is paced by the limit (about 10/s), not by latency, so the
bench states the limit it runs with (default 6000/min, an account whose X-RateLimit-Limit allows it).

    python -m commlog.bench.checks [--messages 500] [--latency 0.1] [--rate-per-min 6000] \
        [--limited-messages 200] [--limit 20] [--window 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select

from commlog import checks
from commlog.bench import table
from commlog.bench.stats import timed
from commlog.migrate import upgrade
from commlog.models import Lender, Message
from commlog.principal import Principal, Role
from commlog.providers import ProviderSet
from commlog.providers.fake_server import FakeProvider
from commlog.providers.http import ProviderHttp, RetryPolicy, new_client
from commlog.providers.sendgrid import SendGridProvider
from commlog.settings import DEFAULT_RATE_PER_MIN
from commlog.tempdb import TempDatabase

TARGET_SPEEDUP = 8.0
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BENCH_PRINCIPAL = Principal(0, "bench", Role.OPS, None)


@dataclass
class Row:
    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


def _seed(engine: Engine, *counts: int) -> list[list[int]]:
    with engine.begin() as conn:
        lid = conn.execute(insert(Lender).values(slug="bench", name="Bench", created_at=NOW).returning(Lender.id)).scalar_one()
        rows = [
            {
                "lender_id": lid, "audience": "borrower", "email_type": "account_confirmation", "subject": "Confirm your new account",
                "recipient_email": f"user{i}@example.com", "recipient_domain": "example.com", "provider_family": "other",
                "sent_at": NOW - timedelta(hours=2, seconds=i), "send_status": "sent", "provider": "sendgrid",
                "provider_message_id": f"Bench{i:06d}.recvd-bench-{i}.0", "event_mask": 0,
            }
            for i in range(sum(counts))
        ]
        conn.execute(insert(Message), rows)
    with engine.connect() as conn:
        ids = list(conn.execute(select(Message.id).order_by(Message.id)).scalars())
    out, start = [], 0
    for n in counts:
        out.append(ids[start : start + n])
        start += n
    return out


def measure(messages: int = 500, latency: float = 0.1, rate_per_min: float = 6000, concurrency: int | None = None,
            quiet: bool = False, limited_messages: int = 200, limit: int = 20, window: float = 2.0) -> list[Row]:
    workers = concurrency or checks.DEFAULT_CONCURRENCY
    with TempDatabase.create(prefix="commlog_bench") as db:
        upgrade(db.engine)
        seq_ids, conc_ids, limited_ids = _seed(db.engine, messages, messages, limited_messages)
        with FakeProvider(auto=True, latency=latency) as fake:
            fake.enforce_limit(int(rate_per_min), 60.0)

            def provider(tag: str) -> ProviderSet:
                http = ProviderHttp(new_client(), RetryPolicy(max_total_wait=300, max_wait=120))
                p = SendGridProvider(fake.api_key, base_url=fake.url, http=http, logs_per_minute=rate_per_min,
                                     limiter_key=f"bench-{tag}-{time.monotonic()}")
                return ProviderSet.single(p)

            if not quiet:
                print(f"sequential: {messages} checks, {latency * 1000:.0f} ms latency ...", file=sys.stderr, flush=True)
            seq = timed(lambda: checks.check_messages(db.engine, BENCH_PRINCIPAL, seq_ids, now=NOW, client=provider("seq"), concurrency=1))
            seq_window = fake.max_in_window(60.0)
            fake.reset_counts()
            if not quiet:
                print(f"concurrent: {messages} checks at concurrency {workers} ...", file=sys.stderr, flush=True)
            conc = timed(lambda: checks.check_messages(db.engine, BENCH_PRINCIPAL, conc_ids, now=NOW, client=provider("conc"),
                                                       concurrency=workers))
            per_min = max(seq_window, fake.max_in_window(60.0))
            per_s = fake.max_in_window(1.0)
            server_429s = fake.server_429s
        limited_rows = _rate_limited(db.engine, limited_ids, latency, limit, window, workers, quiet) if limited_ids else []
    t_seq, t_conc = seq.seconds, conc.seconds
    ok_seq = sum(o.ok and str(o.status) == "DELIVERED" for o in seq.result)
    ok_conc = sum(o.ok and str(o.status) == "DELIVERED" for o in conc.result)
    speedup = t_seq / t_conc if t_conc > 0 else float("inf")
    return [
        Row("sequential checks", round(t_seq, 2), "s", f"{messages / t_seq:.1f} msg/s"),
        Row(f"concurrent checks (concurrency {workers})", round(t_conc, 2), "s", f"{messages / t_conc:.1f} msg/s"),
        Row("speedup", round(speedup, 1), "x", f">= {TARGET_SPEEDUP:g}x", speedup >= TARGET_SPEEDUP),
        Row("max requests in any 60 s", per_min, "req", f"<= {rate_per_min:g} (client limit)", per_min <= rate_per_min),
        Row("max requests in any 1 s", per_s, "req", "burst + rate/s", None),
        Row("server 429s", server_429s, "", "0", server_429s == 0),
        Row("checks DELIVERED", ok_seq + ok_conc, "msg", f"{2 * messages}", ok_seq + ok_conc == 2 * messages),
        *limited_rows,
    ]


def _rate_limited(engine: Engine, ids: list[int], latency: float, limit: int, window: float, workers: int,
                  quiet: bool) -> list[Row]:
    """The rate-limited run: a server limit the client has to learn from the headers."""
    n = len(ids)
    with FakeProvider(auto=True, latency=latency) as fake:
        fake.enforce_limit(limit, window, retry_after=2)
        http = ProviderHttp(new_client(), RetryPolicy(max_total_wait=None, max_wait=None))  # waits as the CLI does
        p = SendGridProvider(fake.api_key, base_url=fake.url, http=http, logs_per_minute=DEFAULT_RATE_PER_MIN,
                             limiter_key=f"bench-limited-{time.monotonic()}")
        if not quiet:
            print(f"rate-limited: {n} checks, server allows {limit} per {window:g} s ...", file=sys.stderr, flush=True)
        run = timed(lambda: checks.check_messages(engine, BENCH_PRINCIPAL, ids, now=NOW, client=ProviderSet.single(p),
                                                  concurrency=workers, wait_budget=None))
        windows = fake.windows()
        requests = sum(w[1] for w in windows)
        total_429 = sum(w[2] for w in windows)
        worst = max((w[2] for w in windows), default=0)
    ideal = requests / limit * window
    right = sum(o.ok and str(o.status) == "DELIVERED" for o in run.result)
    return [
        Row(f"rate-limited checks (server {limit} per {window:g} s, client guess {DEFAULT_RATE_PER_MIN:g}/min)",
            round(run.seconds, 2), "s", f"ideal {ideal:.1f} s ({requests} requests / {limit} per {window:g} s)"),
        Row("  requests the server saw", requests, "req", f"{n} checks + the 429s"),
        Row("  rate windows used", len(windows), "", ""),
        Row("  429s in total", total_429, "", ""),
        Row("  max 429s in one rate window", worst, "", "<= 1", worst <= 1),
        Row("  checks DELIVERED (rate-limited)", right, "msg", f"{n}", right == n),
    ]


def format_table(rows: list[Row]) -> str:
    return table(["measure", "value", "unit", "target"],
                 [[r.name, r.value, r.unit, r.target + ("" if r.ok is None else ("  ok" if r.ok else "  MISSED"))] for r in rows],
                 align="lrll")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=500, help="messages per run (default 500)")
    parser.add_argument("--latency", type=float, default=0.1, help="fake provider latency in seconds (default 0.1)")
    parser.add_argument("--rate-per-min", type=float, default=6000, help="client-side limit = server limit (default 6000)")
    parser.add_argument("--concurrency", type=int, default=None, help=f"default {checks.DEFAULT_CONCURRENCY}")
    parser.add_argument("--limited-messages", type=int, default=200, help="checks in the rate-limited run (default 200; 0: skip)")
    parser.add_argument("--limit", type=int, default=20, help="the rate-limited server's requests per window (default 20)")
    parser.add_argument("--window", type=float, default=2.0, help="the rate-limited server's window, seconds (default 2)")


def run(args: argparse.Namespace) -> int:
    result = measure(args.messages, args.latency, args.rate_per_min, args.concurrency,
                     limited_messages=args.limited_messages, limit=args.limit, window=args.window)
    print(format_table(result))
    return 0 if all(r.ok is not False for r in result) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m commlog.bench.checks", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
