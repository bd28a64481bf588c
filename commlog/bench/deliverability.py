"""Deliverability page queries at scale: rollups (what the page runs) beside the same aggregates
computed from the message table (the naive way), in one run.

Data: a fresh database per size, filled with synthetic messages by one INSERT … SELECT (SQLite: a
recursive CTE; PostgreSQL: generate_series) with demo-like shape (8 lenders of very different sizes,
90 days, 8 email types, 20 recipient domains over the 5 provider families, a realistic outcome mix
with ~23 % not checked), then `rollups.rebuild_rollups` (timed: that is what the seeder runs).
Seeding 10M through the demo seeder would take too long here; the synthetic rows have the same
columns and the rollups are computed from them exactly as in production.

    python -m commlog.bench.deliverability [--sqlite 1000000] [--pg 10000000] [--pg-url URL] [--repeat 7]

Target: every page query median < 100 ms, flat in message count. Exit 1 if missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, and_, func, select, text

from commlog import deliverability as D
from commlog import rollups
from commlog.bench import table
from commlog.bench.stats import Timing, timed
from commlog.db import is_postgresql, is_sqlite
from commlog.migrate import upgrade
from commlog.models import Message
from commlog.principal import Principal, Role
from commlog.settings import settings
from commlog.tempdb import ServerUnreachable, TempDatabase

TARGET_MS = 100.0
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAYS = 90

DOMAINS = [  # (domain, family, weight)
    ("gmail.com", "google", 38), ("googlemail.com", "google", 1), ("outlook.com", "microsoft", 9), ("hotmail.com", "microsoft", 9),
    ("live.com", "microsoft", 3), ("msn.com", "microsoft", 1), ("yahoo.com", "yahoo", 9), ("aol.com", "yahoo", 3),
    ("ymail.com", "yahoo", 1), ("icloud.com", "apple", 8), ("me.com", "apple", 2), ("comcast.net", "other", 3),
    ("northwindlending.com", "other", 2), ("harborcu.org", "other", 2), ("acme-corp.example", "other", 2),
    ("gmial.com", "other", 1), ("hotmial.com", "other", 1), ("yaho.com", "other", 1), ("btinternet.com", "other", 2),
    ("verizon.net", "other", 2),
]
TYPES = [  # (email type, audience, weight)
    ("account_confirmation", "borrower", 30), ("password_reset", "borrower", 20), ("payment_reminder", "borrower", 20),
    ("statement_ready", "borrower", 12), ("loan_status_update", "borrower", 8), ("document_request", "borrower", 4),
    ("staff_password_reset", "staff", 3), ("staff_invitation", "staff", 3),
]
LENDER_SHARES = [35, 20, 13, 10, 8, 6, 5, 3]  # percent of messages


def _weighted_case(expr: str, items: list, value) -> str:
    """CASE over cumulative weights (out of the weights' total) on `expr` in [0, total)."""
    parts, acc = [], 0
    for item in items:
        acc += item[-1]
        parts.append(f"WHEN {expr} < {acc} THEN {value(item)}")
    return "CASE " + " ".join(parts) + f" ELSE {value(items[-1])} END"


def fill(engine: Engine, n: int) -> dict:
    """n synthetic messages, then the rollups rebuilt. Returns timings in seconds."""
    pg = is_postgresql(engine)
    rnd = (lambda m: f"floor(random() * {m})::int") if pg else (lambda m: f"(abs(random()) % {m})")
    dom_total = sum(d[-1] for d in DOMAINS)
    type_total = sum(t[-1] for t in TYPES)
    out = {}
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO lender (id, slug, name, created_at) VALUES " + ", ".join(
            f"({i + 1}, 'bench-{i + 1}', 'Bench Lender {i + 1}', :c)" for i in range(len(LENDER_SHARES)))), {"c": ANCHOR - timedelta(days=400)} if pg else {"c": "2025-10-16 12:00:00.000000"})
        if pg:
            seq = f"SELECT i FROM generate_series(0, {n - 1}) AS i"
            conn.execute(text(f"CREATE TEMP TABLE r AS SELECT i, {rnd(100)} AS lk, {rnd(DAYS * 86400)} AS sec, {rnd(dom_total)} AS dk, "
                              f"{rnd(type_total)} AS tk, {rnd(1000)} AS ok, {rnd(100)} AS fk FROM ({seq}) s"))
        else:
            conn.execute(text(f"CREATE TEMP TABLE r AS WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {n - 1}) "
                              f"SELECT i, {rnd(100)} AS lk, {rnd(DAYS * 86400)} AS sec, {rnd(dom_total)} AS dk, {rnd(type_total)} AS tk, "
                              f"{rnd(1000)} AS ok, {rnd(100)} AS fk FROM seq"))
        acc, lender_case = 0, []
        for i, share in enumerate(LENDER_SHARES):
            acc += share
            lender_case.append(f"WHEN lk < {acc} THEN {i + 1}")
        lender = "CASE " + " ".join(lender_case) + f" ELSE {len(LENDER_SHARES)} END"
        domain = _weighted_case("dk", DOMAINS, lambda d: f"'{d[0]}'")
        family = _weighted_case("dk", DOMAINS, lambda d: f"'{d[1]}'")
        etype = _weighted_case("tk", TYPES, lambda t: f"'{t[0]}'")
        audience = _weighted_case("tk", TYPES, lambda t: f"'{t[1]}'")
        # ok: outcome; fk: deferred at least once (4 %).
        send_status = "CASE WHEN ok < 5 THEN 'failed' ELSE 'sent' END"
        status = ("CASE WHEN ok < 230 THEN NULL WHEN ok < 240 THEN 'PENDING' WHEN ok < 265 THEN 'NOT_DELIVERED' ELSE 'DELIVERED' END")
        last = ("CASE WHEN ok < 230 THEN NULL WHEN ok < 240 THEN 'PROCESSED' WHEN ok < 246 THEN 'BOUNCE' WHEN ok < 252 THEN 'BLOCKED' "
                "WHEN ok < 255 THEN 'DEFERRED' WHEN ok < 264 THEN 'DROPPED' WHEN ok < 265 THEN 'FAILED' ELSE 'DELIVERED' END")
        reason = ("CASE WHEN ok < 240 THEN NULL WHEN ok < 244 THEN '550 5.1.1 The email account that you tried to reach does not exist' "
                  "WHEN ok < 246 THEN '550 5.1.10 RecipientNotFound' WHEN ok < 250 THEN '550 5.7.1 Service unavailable, client host blocked' "
                  "WHEN ok < 252 THEN '550 5.7.26 unauthenticated sender' WHEN ok < 255 THEN 'expired: not delivered within 72 h of retries (last deferral: 421 4.7.28 rate limited)' "
                  "WHEN ok < 264 THEN 'Bounced Address' WHEN ok < 265 THEN 'Template render error' ELSE '250 2.0.0 OK' END")
        bits = {k.value: v for k, v in rollups.EVENT_BIT.items()}
        mask = (f"(CASE WHEN ok < 230 THEN 0 WHEN ok < 240 THEN {bits['PROCESSED']} WHEN ok < 246 THEN {bits['BOUNCE']} WHEN ok < 252 THEN {bits['BLOCKED']} "
                f"WHEN ok < 255 THEN {bits['DEFERRED']} WHEN ok < 264 THEN {bits['DROPPED']} WHEN ok < 265 THEN {bits['FAILED']} ELSE {bits['DELIVERED']} END)"
                f" + (CASE WHEN ok >= 230 AND fk < 4 AND ok NOT BETWEEN 252 AND 254 THEN {bits['DEFERRED']} ELSE 0 END)")
        if pg:
            sent_at = f"(TIMESTAMPTZ '{ANCHOR.isoformat()}' - make_interval(secs => sec))"
            status = f"CASE WHEN ok < 5 THEN NULL ELSE {status} END"
        else:
            sent_at = f"(datetime('{ANCHOR:%Y-%m-%d %H:%M:%S}', '-' || sec || ' seconds') || '.000000')"
            status = f"CASE WHEN ok < 5 THEN NULL ELSE {status} END"
        last = f"CASE WHEN ok < 5 THEN NULL ELSE {last} END"
        mask = f"CASE WHEN ok < 5 THEN 0 ELSE {mask} END"
        message_indexes = sorted(Message.__table__.indexes, key=lambda i: i.name)
        if pg:  # build indexes after the load (the model's own, so they never drift from the schema)
            for ix in message_indexes:
                ix.drop(conn, checkfirst=True)
        conn.execute(text(
            "INSERT INTO message (id, lender_id, audience, email_type, subject, recipient_email, recipient_domain, provider_family, sent_at, "
            "send_status, provider, delivery_status, last_event_type, status_reason, event_mask) "
            f"SELECT i + 1, {lender}, {audience}, {etype}, 'Subject', 'u' || i || '@' || {domain}, {domain}, {family}, {sent_at}, "
            f"{send_status}, 'sendgrid', {status}, {last}, {reason}, {mask} FROM r"
        ))
        if pg:
            for ix in message_indexes:
                ix.create(conn)
        conn.execute(text("DROP TABLE r"))
    out["insert_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.begin() as conn:
        res = rollups.rebuild_rollups(conn)
    out["rebuild_s"] = time.perf_counter() - t0
    out["daily_rows"], out["domain_rows"] = res.daily_rows, res.domain_rows
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return out


# --- the naive way: the same aggregates straight from the message table --------------------------


def _naive_where(q: D.MetricsQuery, lender: int | None) -> list:
    since = datetime.combine(q.start, datetime.min.time(), UTC)
    until = datetime.combine(q.end + timedelta(days=1), datetime.min.time(), UTC)
    cond = [Message.sent_at >= since, Message.sent_at < until]
    if lender is not None:
        cond.append(Message.lender_id == lender)
    return cond


def _naive_counts(conn, q: D.MetricsQuery, lender: int | None, *group) -> list:
    outcome = rollups.outcome_sql().label("outcome")
    deferred = rollups.deferred_sql().label("deferred")
    return conn.execute(
        select(*group, outcome, deferred, func.count())
        .where(and_(*_naive_where(q, lender)))
        .group_by(*group, outcome, deferred)
    ).all()


def naive_queries(conn, q: D.MetricsQuery, lender: int | None) -> dict[str, Callable]:
    week_of = func.date(Message.sent_at) if is_sqlite(conn) else func.date_trunc("week", Message.sent_at)
    return {
        "summary": lambda: _naive_counts(conn, q, lender),
        "series (week)": lambda: _naive_counts(conn, q, lender, week_of),
        "family matrix": lambda: _naive_counts(conn, q, lender, Message.lender_id, Message.provider_family),
        "top domains": lambda: _naive_counts(conn, q, lender, Message.recipient_domain),
    }


def page_queries(conn, who: Principal, q: D.MetricsQuery, today: date) -> dict[str, Callable]:
    lender = q.lender_id
    return {
        "summary": lambda: D.summary(conn, who, q),
        "series (week)": lambda: D.series(conn, who, q, as_of=today),
        "platform median": lambda: D.platform_median(conn, who, q, "bounce"),
        "window median": lambda: D.window_median(conn, who, q, "bounce"),
        "family matrix": lambda: D.family_matrix(conn, who, q),
        "breakdown by lender": lambda: D.breakdown(conn, who, q, "lender"),
        "breakdown by type": lambda: D.breakdown(conn, who, q, "email_type"),
        "top domains": lambda: D.top_bouncing_domains(conn, who, q),
        "reason classes": lambda: D.reason_classes(conn, who, q),
        "health (7 vs 28 d)": lambda: D.health(conn, who, q.end, D.AssessmentOptions(lender, today=today)),
        "findings (60 d scan)": lambda: D.findings_in_range(conn, who, q.start, q.end, D.AssessmentOptions(lender, today=today)),
        "lender series": lambda: D.lender_series(conn, who, q, as_of=today),
    }


Result = tuple[str, str, str, Timing]  # scope, query, source (rollup | messages), its timing


def time_all(scope: str, queries: dict[str, Callable], kind: str, repeat: int) -> list[Result]:
    # One untimed run first: the page is read over and over, so its caches are warm.
    return [(scope, name, kind, timed(fn, repeat, warmup=1)) for name, fn in queries.items()]


def bench_engine(engine: Engine, n: int, repeat: int, label: str) -> tuple[dict, list[Result]]:
    info = fill(engine, n)
    today = ANCHOR.date()
    q_all = D.MetricsQuery(start=today - timedelta(days=59), end=today, granularity="week")
    q_one = D.MetricsQuery(start=today - timedelta(days=59), end=today, granularity="week", lender_id=1)
    ops = Principal(0, "bench@ops", Role.OPS, None)
    admin = Principal(0, "bench@lender", Role.LENDER_ADMIN, 1)
    results: list[Result] = []
    with engine.connect() as conn:
        for scope, who, q, lender in (("ops, all lenders", ops, q_all, None), ("lender admin, largest lender", admin, q_one, 1)):
            results += time_all(scope, page_queries(conn, who, q, today), "rollup", repeat)
            results += time_all(scope, naive_queries(conn, q, lender), "messages", max(1, min(repeat, 3)))
    info["label"], info["n"] = label, n
    return info, results


def report(runs: list[tuple[dict, list[Result]]]) -> bool:
    ok = True
    for info, results in runs:
        print(f"\n## {info['label']}: {info['n']:,} messages · load {info['insert_s']:.1f} s · rebuild_rollups {info['rebuild_s']:.1f} s · "
              f"daily_rollup {info['daily_rows']:,} rows · domain_rollup {info['domain_rows']:,} rows")
        rows = []
        for scope, name, kind, t in results:
            verdict = ("ok" if t.median_ms < TARGET_MS else "MISSED") if kind == "rollup" else "(naive)"
            ok &= verdict != "MISSED"
            rows.append([scope, name, kind, t.median_ms, t.p95_ms, verdict])
        print(table(["scope", "query", "source", "median ms", "p95 ms", "target"], rows, align="lllrrl", markdown=True))
    return ok


def _run(server_url: str | None, n: int, repeat: int, label: str) -> tuple[dict, list[Result]]:
    with TempDatabase.create(server_url, prefix="commlog_bench") as db:
        upgrade(db.engine)
        return bench_engine(db.engine, n, repeat, label)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m commlog.bench.deliverability", description=__doc__.split("\n\n")[0])
    p.add_argument("--sqlite", type=int, nargs="*", default=[1_000_000], help="message counts on SQLite (default 1000000)")
    p.add_argument("--pg", type=int, nargs="*", default=[10_000_000], help="message counts on PostgreSQL (default 10000000)")
    p.add_argument("--pg-url", default=settings().test_pg_url.reveal(),
                   help="a PostgreSQL server where a temporary database may be created (default: COMMLOG_TEST_PG_URL)")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args(argv)
    runs = []
    for n in args.sqlite:
        runs.append(_run(None, n, args.repeat, "SQLite"))
        report(runs[-1:])
        sys.stdout.flush()
    for n in args.pg:
        try:
            runs.append(_run(args.pg_url, n, args.repeat, "PostgreSQL"))
        except ServerUnreachable as exc:
            print(f"{exc}: skipped", file=sys.stderr)
            break
        report(runs[-1:])
        sys.stdout.flush()
    print("\n# summary")
    ok = report(runs)
    print(f"\ntarget: every page query (rollup) median < {TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
