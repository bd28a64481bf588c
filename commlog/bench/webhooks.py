"""Webhook ingestion throughput: SendGrid Event Webhook batches into SQLite and PostgreSQL.

Each backend gets fresh databases (temporary SQLite files; on PostgreSQL, when it answers,
temporary databases created and dropped: commlog.tempdb), `messages = events / 4` sent messages,
and SendGrid-shaped events (processed, delivered or bounce, open, deferred) in random order. Modes:

* batched: `ingest_sendgrid_batch` per batch of `--batch-size` events, one transaction each, as the
  receiver does for one POST (PostgreSQL: ANALYZE after the first batches, as autovacuum would);
* replay: the same batches again (SendGrid's retries): nothing may be stored twice;
* one event per transaction: a sample of `--single-events` events, each on its own;
* http (SQLite): signed POSTs over loopback to the real receiver (uvicorn), `--http-clients` at once.

After each mode the rows are counted: lost = expected - stored, doubled = stored - distinct ids.
Target: batched on SQLite >= 5,000 events/s with zero lost or doubled. Exit status 1 if missed.

    python -m commlog.bench.webhooks [--events 20000] [--batch-size 500] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select

from commlog.bench import table
from commlog.bench.stats import timed
from commlog.db import is_postgresql
from commlog.migrate import upgrade
from commlog.models import DeliveryEvent, Lender, Message
from commlog.settings import settings
from commlog.tempdb import LOCAL_SERVER_URL, ServerUnreachable, TempDatabase
from commlog.webhooks.ingest import ingest_sendgrid_batch

TARGET_SQLITE_EVENTS_PER_S = 5000
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class Row:
    backend: str
    mode: str
    events: int
    seconds: float
    stored: int
    expected: int
    distinct: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.distinct)

    @property
    def doubled(self) -> int:
        return self.stored - self.distinct


# -- data ------------------------------------------------------------------------------------------


def seed_messages(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        lender_id = conn.execute(
            insert(Lender).values(slug="bench-lender", name="Bench Lender", created_at=NOW).returning(Lender.id)
        ).scalar_one()
        rows = [
            {
                "lender_id": lender_id,
                "audience": "borrower",
                "email_type": "payment_reminder",
                "subject": "Your payment is due",
                "recipient_email": f"borrower{i}@example.com",
                "recipient_domain": "example.com",
                "provider_family": "other",
                "sent_at": NOW - timedelta(hours=1),
                "send_status": "sent",
                "provider": "sendgrid",
                "provider_message_id": f"BenchXMsg{i:08d}",
                "event_mask": 0,
            }
            for i in range(n)
        ]
        for i in range(0, n, 5000):
            conn.execute(insert(Message), rows[i : i + 5000])


def make_events(n_events: int, seed: int = 7) -> list[dict]:
    """SendGrid webhook events, 4 per message, shuffled (webhooks arrive out of order)."""
    rnd = random.Random(seed)
    base = int((NOW - timedelta(hours=1)).timestamp())
    events = []
    for k in range(n_events):
        i, step = divmod(k, 4)
        sg = f"BenchXMsg{i:08d}.filterdrecv-bench-{i % 7}.0"
        email = f"borrower{i}@example.com"
        ev = {"email": email, "timestamp": base + step * 60, "sg_event_id": f"bench-{i}-{step}", "sg_message_id": sg,
              "smtp-id": f"<{sg}@ismtpd>", "category": ["bench"]}
        if step == 0:
            ev["event"] = "processed"
        elif step == 1:
            ev |= {"event": "deferred", "response": "451 4.7.1 greylisted, try again later", "attempt": "1"}
        elif step == 2 and i % 10 == 0:
            ev |= {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 user unknown",
                   "bounce_classification": "Invalid Address"}
        elif step == 2:
            ev |= {"event": "delivered", "response": "250 2.0.0 OK"}
        else:
            ev |= {"event": "open", "useragent": "Mozilla/5.0", "ip": "203.0.113.7"}
        events.append(ev)
    rnd.shuffle(events)
    return events


def batches_of(events: Sequence[dict], size: int) -> list[list[dict]]:
    return [list(events[i : i + size]) for i in range(0, len(events), size)]


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(DeliveryEvent)).scalar_one()
        distinct = conn.execute(select(func.count(func.distinct(DeliveryEvent.provider_event_id)))).scalar_one()
    return total, distinct


# -- modes -----------------------------------------------------------------------------------------


def _analyze(engine: Engine) -> None:
    """PostgreSQL: fresh planner statistics. Autovacuum does this within a minute of a table's first
    rows; without it a brand-new delivery_event table gets sequential-filter plans."""
    if is_postgresql(engine):
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def _ingest_all(engine: Engine, batches: Sequence[list[dict]]) -> None:
    for i, b in enumerate(batches):
        ingest_sendgrid_batch(engine, b, NOW)
        if i == min(3, len(batches) - 1):
            _analyze(engine)  # timed: part of the cost


def bench_backend(
    backend: str,
    server_url: str | None,
    n_events: int,
    batch_size: int,
    single_events: int,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Row]:
    """The batched, replay and one-event-per-transaction modes on SQLite (`server_url` None) or on
    the PostgreSQL server at `server_url` (raises ServerUnreachable when none answers)."""
    rows: list[Row] = []
    events = make_events(n_events)
    n_messages = (n_events + 3) // 4

    with TempDatabase.create(server_url, prefix="commlog_bench") as db:
        engine = db.engine
        upgrade(engine)
        seed_messages(engine, n_messages)
        _analyze(engine)
        batches = batches_of(events, batch_size)
        progress(f"{backend}: batched, {n_events} events in {len(batches)} batches")
        secs = timed(lambda: _ingest_all(engine, batches)).seconds
        stored, distinct = counts(engine)
        rows.append(Row(backend, f"batched ({batch_size}/tx)", n_events, secs, stored, n_events, distinct))

        progress(f"{backend}: replay of every batch")
        secs = timed(lambda: [ingest_sendgrid_batch(engine, b, NOW) for b in batches]).seconds
        stored, distinct = counts(engine)
        rows.append(Row(backend, "replay (all duplicates)", n_events, secs, stored, n_events, distinct))

    if single_events > 0:
        with TempDatabase.create(server_url, prefix="commlog_bench") as db:
            engine = db.engine
            upgrade(engine)
            seed_messages(engine, n_messages)
            _analyze(engine)
            sample = events[:single_events]
            progress(f"{backend}: one event per transaction, {len(sample)} events")
            secs = timed(lambda: [ingest_sendgrid_batch(engine, [ev], NOW) for ev in sample]).seconds
            stored, distinct = counts(engine)
            rows.append(Row(backend, "1 event/tx", len(sample), secs, stored, len(sample), distinct))
    return rows


def bench_http(n_events: int, batch_size: int, clients: int) -> Row:
    """Signed POSTs over loopback to the real receiver (uvicorn in a thread), into SQLite."""
    import httpx
    import uvicorn
    from cryptography.hazmat.primitives.asymmetric import ec

    from commlog.webhooks.app import SENDGRID_PATH, WebhookSettings, create_app
    from commlog.webhooks.signature import (
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        public_key_b64,
        sign_for_tests,
    )

    key = ec.generate_private_key(ec.SECP256R1())
    with TempDatabase.create(prefix="commlog_bench") as db:
        engine = db.engine
        upgrade(engine)
        seed_messages(engine, (n_events + 3) // 4)
        settings = WebhookSettings(public_key_b64=public_key_b64(key), max_age_seconds=0, match_interval_seconds=-1)
        app = create_app(lambda: engine, settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}{SENDGRID_PATH}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.01)
            ts = str(int(time.time()))
            bodies = [json.dumps(b).encode() for b in batches_of(make_events(n_events), batch_size)]
            signed = [(b, sign_for_tests(key, ts, b)) for b in bodies]

            def post(item: tuple[bytes, str]) -> None:
                body, sig = item
                r = client.post(url, content=body, headers={SIGNATURE_HEADER: sig, TIMESTAMP_HEADER: ts})
                if r.status_code != 200:
                    raise RuntimeError(f"receiver answered {r.status_code}")

            with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients)) as client:
                with ThreadPoolExecutor(clients) as pool:
                    secs = timed(lambda: list(pool.map(post, signed))).seconds
            stored, distinct = counts(engine)
            return Row("sqlite", f"http, {clients} clients", n_events, secs, stored, n_events, distinct)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()


# -- both backends ---------------------------------------------------------------------------------


def run_all(
    n_events: int = 20000,
    batch_size: int = 500,
    single_events: int = 2000,
    pg_url: str | None = LOCAL_SERVER_URL,
    http_clients: int = 4,
    progress: Callable[[str], None] = lambda _m: None,
) -> tuple[list[Row], list[str]]:
    rows = bench_backend("sqlite", None, n_events, batch_size, single_events, progress)
    if http_clients > 0:
        progress(f"sqlite: signed HTTP posts, {http_clients} clients")
        rows.append(bench_http(n_events, batch_size, http_clients))
    if not pg_url:
        return rows, ["PostgreSQL: no server URL given, skipped"]
    try:
        rows += bench_backend("postgresql", pg_url, n_events, batch_size, single_events, progress)
    except ServerUnreachable as exc:
        return rows, [f"{exc}: skipped"]
    return rows, []


def format_table(rows: Sequence[Row]) -> str:
    return table(["backend", "mode", "events", "seconds", "events/s", "rows", "lost", "doubled"],
                 [[r.backend, r.mode, r.events, r.seconds, f"{r.per_second:,.0f}", r.stored, r.lost, r.doubled] for r in rows],
                 align="llrrrrrr")


def verdict(rows: Sequence[Row]) -> tuple[bool, list[str]]:
    lines = []
    ok = True
    for r in rows:
        if r.lost or r.doubled:
            ok = False
            lines.append(f"FAIL {r.backend} {r.mode}: {r.lost} lost, {r.doubled} doubled")
    sqlite_batched = next((r for r in rows if r.backend == "sqlite" and r.mode.startswith("batched")), None)
    if sqlite_batched is not None:
        met = sqlite_batched.per_second >= TARGET_SQLITE_EVENTS_PER_S
        ok &= met
        lines.append(
            f"{'PASS' if met else 'FAIL'} SQLite batched ingestion {sqlite_batched.per_second:,.0f} events/s "
            f"(target >= {TARGET_SQLITE_EVENTS_PER_S:,}), zero lost or doubled: {'yes' if ok else 'no'}"
        )
    singles = {r.backend: r for r in rows if r.mode == "1 event/tx"}
    for r in rows:
        if r.mode.startswith("batched") and r.backend in singles:
            lines.append(f"     {r.backend}: batched is {r.per_second / singles[r.backend].per_second:.1f}x one-event-per-transaction")
    return ok, lines


# -- command line ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=20000, help="events per backend (default 20000)")
    parser.add_argument("--batch-size", type=int, default=500, help="events per POST / transaction (default 500)")
    parser.add_argument("--single-events", type=int, default=2000,
                        help="sample size for one-event-per-transaction (default 2000; 0 skips)")
    parser.add_argument("--http-clients", type=int, default=4, help="concurrent HTTP clients for the loopback run (0 skips)")
    parser.add_argument("--pg-url", default=settings().bench_pg_url.reveal(),
                        help="PostgreSQL server to create a temporary database on (empty: skip)")


def run(args: argparse.Namespace) -> int:
    rows, notes = run_all(
        n_events=args.events,
        batch_size=args.batch_size,
        single_events=args.single_events,
        pg_url=args.pg_url or None,
        http_clients=args.http_clients,
        progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True),
    )
    print("Webhook ingestion (SendGrid Event Webhook batches)")
    print(format_table(rows))
    ok, lines = verdict(rows)
    for line in [*lines, *notes]:
        print(line)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m commlog.bench.webhooks", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
