"""Webhook ingestion throughput: SendGrid Event Webhook batches into SQLite and PostgreSQL.

Each backend gets fresh databases (temporary SQLite files; on PostgreSQL, when it answers,
temporary databases created and dropped: commlog.tempdb), `messages = events / 4` sent messages,
and SendGrid-shaped events (processed, delivered or bounce, open, deferred) in random order. Modes:

* batched: `ingest_sendgrid_batch` per batch of `--batch-size` events, one transaction each, as the
  receiver does for one POST (PostgreSQL: ANALYZE after the first batches, as autovacuum would);
* replay: the same batches again (SendGrid's retries): nothing may be stored twice;
* one event per transaction: a sample of `--single-events` events, each on its own;
* http (SQLite): signed POSTs over loopback to the real receiver (uvicorn), `--http-clients` at once;
* cluster (PostgreSQL, issue 16): `--replicas` app servers (`launcher.py`, started by
  commlog.cluster.Cluster behind Debian's haproxy, on a temporary database) take signed POSTs sent
  round-robin through haproxy by `--http-clients` senders; then every batch is posted once more
  (SendGrid's retries); then as many new events again, each email's four in one post (less to
  write, and concurrent posts share no message, so none waits for another's locks: TOGETHER). Each
  replica's share is read from haproxy's request log, and each part's processor time per event
  (the replicas, PostgreSQL, haproxy, the senders: commlog.cpu_time) is printed under the table,
  with the cores the replicas and PostgreSQL would take at the target's rate: every part shares this
  machine's cores, so the rate alone cannot say what the target needs. The target is judged on the
  first phase.

After each mode the rows are counted: lost = expected - stored, doubled = stored - distinct ids.
Targets: batched on SQLite >= 5,000 events/s; the cluster >= 10,000 events/s combined; zero lost or
doubled everywhere. Exit status 1 if one is missed.

    python -m commlog.bench.webhooks [--events 20000] [--batch-size 500] [--pg-url URL] [--replicas 2]
    python -m commlog bench --only webhooks -- --replicas 2 --http-clients 8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from commlog.bench import table
from commlog.bench.stats import timed
from commlog.cpu_time import Meter, Spent, database_and_proxy, pid_seconds
from commlog.db import is_postgresql
from commlog.migrate import upgrade
from commlog.models import DeliveryEvent, Lender, Message
from commlog.partitions import ensure_months
from commlog.settings import settings
from commlog.tempdb import LOCAL_SERVER_URL, ServerUnreachable, TempDatabase
from commlog.webhooks.ingest import ingest_sendgrid_batch

TARGET_SQLITE_EVENTS_PER_S = 5000
TARGET_CLUSTER_EVENTS_PER_S = 10_000  # issue 16, point 6: webhooks across replicas on PostgreSQL
CLUSTER_BACKEND = "postgresql cluster"
REPLAY = "replay via haproxy (all duplicates)"
# The same number of new events for other messages, each message's four in one post. Two things
# change: an email's status is written once a post instead of up to four times, and concurrent posts
# share no message, so none waits for another's locks on it (commlog.webhooks.ingest locks a batch's
# messages until it commits; a post stores the ones no other post holds first, then waits for the rest).
TOGETHER = "each email's events in one post"
# The events happen in the hour before the run, as a live webhook's do: on PostgreSQL they land in this
# month's partition (seed_messages makes sure it exists), not in the default partition that a fixed
# date would fill once its month has passed.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Row:
    backend: str
    mode: str
    events: int
    seconds: float
    stored: int
    expected: int
    distinct: int
    share: bool = False  # one replica's part of the row above it: no rows of its own to count

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
        ensure_months(conn, NOW - timedelta(hours=1), NOW)  # PostgreSQL: the app makes them at start
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


def make_events(n_events: int, seed: int = 7, *, first_message: int = 0, together: bool = False) -> list[dict]:
    """SendGrid webhook events, 4 per message (of seed_messages' from `first_message` on), shuffled:
    webhooks arrive out of order, so each message's events are spread over many posts. `together`:
    the messages shuffled, each one's events kept next to each other (so in one post, mostly)."""
    rnd = random.Random(seed)
    base = int((NOW - timedelta(hours=1)).timestamp())
    events = []
    for k in range(n_events):
        i, step = divmod(k, 4)
        i += first_message
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
    if not together:
        rnd.shuffle(events)
        return events
    messages = [events[i : i + 4] for i in range(0, len(events), 4)]
    rnd.shuffle(messages)
    return [ev for m in messages for ev in m]


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


# -- cluster: replicas of the app server behind haproxy, on PostgreSQL ------------------------------

# haproxy's `option httplog` line for a webhook post (commlog.cluster logs every request to stdout):
#   127.0.0.1:41234 [30/Nov/2026:18:05:00.123] commlog webhooks/app1 0/0/0/12/12 200 173 - - ---- … "POST /webhooks/sendgrid HTTP/1.1"
# the date is when haproxy accepted the connection (local time); the timers are TR/Tw/Tc/Tr/Ta (ms):
# Tr is the replica's answer time.
_HAPROXY_POST = re.compile(
    r"\[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] \S+ webhooks/(\S+) -?\d+/-?\d+/-?\d+/(-?\d+)/-?\d+ (\d{3}) "
    r".*\"POST /webhooks/sendgrid "
)


@dataclass
class ReplicaShare:
    """What one replica answered in one phase, read from haproxy's request log."""

    name: str
    posts: int = 0  # answered 2xx
    refused: int = 0  # answered anything else (the sender posted those again)
    answer_ms: float = 0.0  # total of haproxy's Tr (the replica's answer time) over its 2xx posts

    @property
    def mean_ms(self) -> float:
        return self.answer_ms / self.posts if self.posts else 0.0


def replica_shares(log_text: str, accepted_from: float = 0.0) -> dict[str, ReplicaShare]:
    """Per replica (haproxy's server name), the webhook posts of this stretch of haproxy's log that
    haproxy accepted at or after `accepted_from` (a Unix time; haproxy writes a line when the request
    ends, so an earlier post's line may come after a phase began)."""
    shares: dict[str, ReplicaShare] = {}
    for m in _HAPROXY_POST.finditer(log_text):
        accepted, name, answer_ms, status = m.groups()
        if datetime.strptime(accepted, "%d/%b/%Y:%H:%M:%S.%f").timestamp() < accepted_from:  # naive: local, as haproxy
            continue
        share = shares.setdefault(name, ReplicaShare(name))
        if status.startswith("2"):
            share.posts += 1
            share.answer_ms += max(0, int(answer_ms))
        else:
            share.refused += 1
    return dict(sorted(shares.items()))


class _LogMark:
    """Where haproxy's log stood: `since()` is what it wrote after, for posts accepted after, once it
    holds `posts` answers (haproxy writes a line when a request ends, a moment after the client has
    its answer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.at = int(time.time() * 1000) / 1000  # haproxy logs milliseconds

    def since(self, posts: int, wait: float = 15.0) -> dict[str, ReplicaShare]:
        deadline = time.monotonic() + wait
        while True:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                shares = replica_shares(f.read().decode(errors="replace"), self.at)
            if sum(s.posts + s.refused for s in shares.values()) >= posts or time.monotonic() > deadline:
                return shares
            time.sleep(0.1)


def _haproxy() -> str | None:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    return found if os.access(found, os.X_OK) else None


def _post_all(url: str, key, bodies: Sequence[bytes], clients: int, attempts: int = 5) -> tuple[float, int]:
    """Post every body, signed now, `clients` at a time, each again (as SendGrid retries) until it is
    answered 2xx; returns (wall seconds, posts answered otherwise). Signing is done before the clock."""
    import httpx

    from commlog.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_for_tests

    ts = str(int(time.time()))
    signed = [(b, {SIGNATURE_HEADER: sign_for_tests(key, ts, b), TIMESTAMP_HEADER: ts,
                   "Content-Type": "application/json"}) for b in bodies]
    refused = 0
    lock = threading.Lock()
    local = threading.local()
    made: list[httpx.Client] = []  # one client (its keep-alive connection) per sender thread

    def post(item: tuple[bytes, dict]) -> None:
        nonlocal refused
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120)
            made.append(local.client)
        body, headers = item
        for attempt in range(1, attempts + 1):
            try:
                status = local.client.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            if status == 200:
                return
            with lock:
                refused += 1
            if attempt == attempts:
                raise RuntimeError(f"a batch was refused {attempts} times (last answer: {status})")
            time.sleep(0.2 * attempt)

    try:
        with ThreadPoolExecutor(clients) as pool:
            secs = timed(lambda: list(pool.map(post, signed))).seconds
    finally:
        for c in made:
            c.close()
    return secs, refused


def _cpu_meter(cluster) -> Meter:
    """The processor time of each part of the cluster run, all on this machine's cores."""

    def replicas() -> float | None:
        each = [m.cpu_seconds() for m in cluster.members]
        return None if any(s is None for s in each) else sum(each)

    return Meter({"replicas": replicas, **database_and_proxy(cluster),
                  "senders (this bench)": lambda: pid_seconds(os.getpid())})


def cpu_per_event(label: str, spent: Spent, n_events: int, seconds: float) -> str:
    """One line: each part's processor time per event, how busy the machine was, and the cores the
    replicas and PostgreSQL would need at these costs for the target."""
    parts = ", ".join(f"{name} {s / n_events * 1e6:,.0f} µs" if s is not None else f"{name} unknown"
                      for name, s in spent.seconds.items())
    line = f"cluster {label}: processor time per event: {parts}"
    if spent.busy is not None:
        line += f"; the machine was {spent.busy:.0%} busy on its {spent.cores} cores for {seconds:.1f} s"
    server = [spent.seconds.get("replicas"), spent.seconds.get("PostgreSQL")]
    if all(s is not None for s in server):
        per_event = sum(server) / n_events
        line += (f"; at these costs {TARGET_CLUSTER_EVENTS_PER_S:,} events/s take "
                 f"{per_event * TARGET_CLUSTER_EVENTS_PER_S:.1f} cores for the replicas and PostgreSQL alone")
    return line


def bench_cluster(
    pg_url: str,
    n_events: int,
    batch_size: int,
    clients: int,
    replicas: int,
    progress: Callable[[str], None] = lambda _m: None,
) -> tuple[list[Row], list[str]]:
    """Signed POSTs through haproxy to `replicas` app servers (commlog.cluster.Cluster: `launcher.py`,
    what serves /webhooks/ in production) on a temporary PostgreSQL database, then every batch again.
    Raises ServerUnreachable when no PostgreSQL answers at `pg_url`."""
    import tempfile

    from cryptography.hazmat.primitives.asymmetric import ec

    from commlog.cluster import Cluster
    from commlog.webhooks.app import SENDGRID_PATH
    from commlog.webhooks.signature import public_key_b64

    haproxy = _haproxy()
    if haproxy is None:
        return [], ["cluster: haproxy is not installed (apt-get install haproxy): skipped"]
    key = ec.generate_private_key(ec.SECP256R1())
    n_messages = (n_events + 3) // 4
    bodies = [json.dumps(b).encode() for b in batches_of(make_events(n_events), batch_size)]
    together = [json.dumps(b).encode() for b in
                batches_of(make_events(n_events, first_message=n_messages, together=True), batch_size)]
    mode = f"http, {replicas} replicas via haproxy, {clients} clients"
    rows: list[Row] = []
    notes: list[str] = []
    with TempDatabase.create(pg_url, prefix="commlog_bench") as db, \
            tempfile.TemporaryDirectory(prefix="commlog-bench-cluster-") as run_dir:
        engine = db.engine
        upgrade(engine)
        seed_messages(engine, 2 * n_messages)  # the second half for the posts of TOGETHER
        _analyze(engine)
        env = {k: v for k, v in os.environ.items() if k != "COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE"}
        env |= {"SENDGRID_WEBHOOK_PUBLIC_KEY": public_key_b64(key), "PYTHONUNBUFFERED": "1"}
        progress(f"cluster: starting {replicas} replicas of launcher.py behind haproxy")
        cluster = Cluster(db.url, Path(run_dir), replicas=replicas, env=env, haproxy=haproxy)
        cluster.start()
        try:
            url = cluster.url + SENDGRID_PATH
            log_path = Path(run_dir) / "haproxy.log"
            # Warm-up, not counted: a signed empty batch per replica and client makes each replica's
            # engine and connections and runs its first matching pass, as in a server already running.
            warm_up = [b"[]"] * (replicas * max(clients, 2))
            mark = _LogMark(log_path)
            _post_all(url, key, warm_up, clients)
            mark.since(len(warm_up))  # their log lines are written before the first phase's mark

            phases = ((mode, bodies, n_events), (REPLAY, bodies, n_events), (TOGETHER, together, 2 * n_events))
            for label, posts, expected in phases:
                expected_posts = len(posts)
                progress(f"cluster: {label}: {n_events} events in {expected_posts} signed posts")
                mark = _LogMark(log_path)
                meter = _cpu_meter(cluster).start()
                secs, refused = _post_all(url, key, posts, clients)
                spent = meter.spent()
                shares = mark.since(expected_posts)
                stored, distinct = counts(engine)
                rows.append(Row(CLUSTER_BACKEND, label, n_events, secs, stored, expected, distinct))
                answered = sum(s.posts for s in shares.values())
                for s in shares.values():
                    events = round(n_events * s.posts / answered) if answered else 0
                    rows.append(Row(CLUSTER_BACKEND, f"  {s.name}: {s.posts} posts, {s.mean_ms:.0f} ms mean answer",
                                    events, secs, 0, 0, 0, share=True))
                notes.append(cpu_per_event(label, spent, n_events, secs))
                if refused:
                    notes.append(f"cluster {label}: {refused} posts answered other than 200 and posted again")
                if answered != expected_posts:
                    notes.append(f"cluster {label}: haproxy's log shows {answered} posts answered 2xx of {expected_posts}")
        except BaseException:
            for m in cluster.members:
                tail = cluster.log_tail(m, 1500)
                if tail.strip():
                    print(f"--- {m.name} log (tail) ---\n{tail}", file=sys.stderr, flush=True)
            raise
        finally:
            cluster.stop()
    return rows, notes


# -- both backends ---------------------------------------------------------------------------------


def run_all(
    n_events: int = 20000,
    batch_size: int = 500,
    single_events: int = 2000,
    pg_url: str | None = LOCAL_SERVER_URL,
    http_clients: int = 4,
    progress: Callable[[str], None] = lambda _m: None,
    replicas: int = 2,
    cluster_events: int | None = None,
    only_cluster: bool = False,
) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    if not only_cluster:
        rows += bench_backend("sqlite", None, n_events, batch_size, single_events, progress)
        if http_clients > 0:
            progress(f"sqlite: signed HTTP posts, {http_clients} clients")
            rows.append(bench_http(n_events, batch_size, http_clients))
    if not pg_url:
        return rows, ["PostgreSQL: no server URL given, skipped" + (" (and the cluster with it)" if replicas > 0 else "")]
    notes: list[str] = []
    try:
        if not only_cluster:
            rows += bench_backend("postgresql", pg_url, n_events, batch_size, single_events, progress)
        if replicas > 0:
            cluster_rows, notes = bench_cluster(pg_url, cluster_events or n_events, batch_size, max(1, http_clients),
                                                replicas, progress)
            rows += cluster_rows
    except ServerUnreachable as exc:
        return rows, [f"{exc}: skipped"]
    return rows, notes


def format_table(rows: Sequence[Row]) -> str:
    return table(["backend", "mode", "events", "seconds", "events/s", "rows", "lost", "doubled"],
                 [[r.backend, r.mode, r.events, r.seconds, f"{r.per_second:,.0f}", *(("", "", "") if r.share else
                   (r.stored, r.lost, r.doubled))] for r in rows],
                 align="llrrrrrr")


def verdict(rows: Sequence[Row]) -> tuple[bool, list[str]]:
    lines = []
    ok = True
    for r in rows:
        if not r.share and (r.lost or r.doubled):
            ok = False
            lines.append(f"FAIL {r.backend} {r.mode}: {r.lost} lost, {r.doubled} doubled")
    clean_all = ok  # no row lost or doubled an event (what the target lines say, whatever the speed)
    sqlite_batched = next((r for r in rows if r.backend == "sqlite" and r.mode.startswith("batched")), None)
    if sqlite_batched is not None:
        met = sqlite_batched.per_second >= TARGET_SQLITE_EVENTS_PER_S
        ok &= met
        lines.append(
            f"{'PASS' if met else 'FAIL'} SQLite batched ingestion {sqlite_batched.per_second:,.0f} events/s "
            f"(target >= {TARGET_SQLITE_EVENTS_PER_S:,}), zero lost or doubled: {'yes' if clean_all else 'no'}"
        )
    cluster = [r for r in rows if r.backend == CLUSTER_BACKEND and not r.share]
    if cluster:
        first = cluster[0]
        clean = all(not (r.lost or r.doubled) for r in cluster)
        met = first.per_second >= TARGET_CLUSTER_EVENTS_PER_S and clean
        ok &= met
        lines.append(
            f"{'PASS' if met else 'FAIL'} PostgreSQL cluster ({first.mode}) {first.per_second:,.0f} events/s combined "
            f"(target >= {TARGET_CLUSTER_EVENTS_PER_S:,}), zero lost or doubled incl. the replay: {'yes' if clean else 'no'}"
        )
    together = next((r for r in cluster if r.mode == TOGETHER), None)
    if together is not None:
        lines.append(f"     cluster, {TOGETHER}: {together.per_second:,.0f} events/s (posts that share no message)")
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
    parser.add_argument("--http-clients", type=int, default=4,
                        help="concurrent HTTP senders for the loopback run (0 skips it) and the cluster (default 4)")
    parser.add_argument("--replicas", type=int, default=2,
                        help="app servers behind haproxy for the PostgreSQL cluster run (default 2; 0 skips it)")
    parser.add_argument("--cluster-events", type=int, default=0,
                        help="events for the cluster run (default: --events)")
    parser.add_argument("--only-cluster", action="store_true", help="run the cluster mode alone")
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
        replicas=max(0, args.replicas),
        cluster_events=args.cluster_events or None,
        only_cluster=args.only_cluster,
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
