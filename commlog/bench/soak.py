"""Soak: many concurrent sessions browsing, checking and exporting while webhooks stream in.

A temporary database (a temp SQLite file; with `bench --database-url postgresql+psycopg://...` a
temporary PostgreSQL database, dropped afterwards) is seeded with demo data (`--messages`, default
20,000, over 4 lenders) and one login per lender plus one ops login. Then, for `--duration` seconds
(default 60):

* `--sessions` processes (default 6) each run Streamlit sessions of the real app (AppTest of app.py,
  the same scripts a browser session runs; the driver is commlog.ui.soak_driver, since only
  commlog.ui imports Streamlit), as ops or as a lender admin, cycling through: open the
  log, page through it, filter (delivery status, type-ahead + pick a borrower), select a row and
  Check delivery status, bulk-check 5 rows, build the failures CSV of the export panel (the download
  button's callable, as a click runs it), open a message on its own page, open Deliverability;
  a new session every `--actions-per-session` actions. Checks go to the in-process SendGrid
  sandbox (`COMMLOG_PROVIDER=sandbox`, latency `--sandbox-latency-ms`, 429 share `--sandbox-429-rate`).
* one thread streams signed SendGrid Event Webhook batches (`--batch-size` events, unique
  `sg_event_id`s, for the seeded SendGrid messages) over loopback HTTP into the real receiver
  (Starlette app on uvicorn, a fresh P-256 key), re-posting every 5th batch (a replay).

Reported: per action the count, throughput, errors, p50/p95/max latency; then integrity: webhook
events sent vs stored (rows with the soak's event ids) vs doubled, and audit rows written by checks
and exports vs the checks and exports done. Target: no error, nothing lost, nothing doubled.
Exit status 1 if missed. Loopback only; every loop is bounded by the deadline.

    python -m commlog bench --only soak [-- --duration 60 --sessions 6]
    python -m commlog --database-url postgresql+psycopg://postgres@127.0.0.1/test bench --only soak
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import queue
import random
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import Engine, func, select

from commlog.bench import table
from commlog.bench.stats import Timing
from commlog.migrate import upgrade
from commlog.settings import reload as reload_settings
from commlog.tempdb import TempDatabase

if TYPE_CHECKING:
    import uvicorn
    from cryptography.hazmat.primitives.asymmetric import ec

SOAK_PREFIX = "soak-"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--sessions", type=int, default=6, help="concurrent app sessions (processes; default 6)")
    p.add_argument("--actions-per-session", type=int, default=12, help="actions before a session is replaced (default 12)")
    p.add_argument("--messages", type=int, default=20_000, help="demo messages to seed (default 20000)")
    p.add_argument("--batch-size", type=int, default=50, help="events per webhook post (default 50)")
    p.add_argument("--webhook-pause", type=float, default=0.05, help="seconds between webhook posts (default 0.05)")
    p.add_argument("--sandbox-latency-ms", default="5-40", help="sandbox provider latency range (default 5-40)")
    p.add_argument("--sandbox-429-rate", type=float, default=0.0, help="share of sandbox 429 answers (default 0)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--pg-url", help="PostgreSQL server URL: the temporary database is created there")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")


# --- the webhook stream ---------------------------------------------------------------------------------


@dataclass
class WebhookTally:
    posts: int = 0
    replays: int = 0
    sent_ids: set[str] = field(default_factory=set)
    stored: int = 0
    duplicates: int = 0
    unmatched: int = 0
    rejected: int = 0
    failures: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


def _serve_webhook(engine: Engine, public_b64: str) -> tuple[str, uvicorn.Server, threading.Thread, socket.socket]:
    import uvicorn

    from commlog.webhooks.app import WebhookSettings, create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(lambda: engine, WebhookSettings(public_key_b64=public_b64, match_interval_seconds=5))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="soak-webhook-server")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread, sock


def _stream_webhooks(base: str, private_key: ec.EllipticCurvePrivateKey, targets: list[tuple[str, str]], stop: threading.Event,
                     tally: WebhookTally, batch_size: int, pause: float, rnd: random.Random) -> None:
    import httpx

    from commlog.webhooks.app import SENDGRID_PATH
    from commlog.webhooks.signature import (
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        sign_for_tests,
    )

    kinds = ["processed", "delivered", "open", "deferred", "click", "bounce"]
    history: list[bytes] = []
    n = 0
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            replay = tally.posts % 5 == 4 and history
            if replay:
                body = rnd.choice(history)
            else:
                now = int(time.time())
                events = []
                for _ in range(batch_size):
                    pmid, email = rnd.choice(targets)
                    kind = rnd.choice(kinds)
                    ev = {"email": email, "timestamp": now - rnd.randint(0, 3600), "event": kind,
                          "sg_event_id": f"{SOAK_PREFIX}{n}", "sg_message_id": pmid}
                    if kind == "bounce":
                        ev |= {"type": "bounce", "reason": "550 5.1.1 user unknown (soak)", "status": "5.1.1"}
                    elif kind == "deferred":
                        ev |= {"response": "451 4.7.1 try later (soak)", "attempt": "1"}
                    events.append(ev)
                    n += 1
                body = json.dumps(events).encode()
            ts = str(int(time.time()))
            headers = {SIGNATURE_HEADER: sign_for_tests(private_key, ts, body), TIMESTAMP_HEADER: ts,
                       "Content-Type": "application/json"}
            t0 = time.perf_counter()
            try:
                r = client.post(base + SENDGRID_PATH, content=body, headers=headers)
            except httpx.HTTPError as exc:
                tally.failures[type(exc).__name__] += 1
                continue
            tally.latencies.append(time.perf_counter() - t0)
            tally.posts += 1
            if r.status_code != 200:
                tally.failures[f"HTTP {r.status_code}"] += 1
                continue
            counts = r.json()
            tally.stored += counts["stored"]
            tally.duplicates += counts["duplicates"]
            tally.unmatched += counts["unmatched"]
            tally.rejected += counts["rejected"]
            if replay:
                tally.replays += 1
            else:
                history.append(body)
                history[:] = history[-50:]
                tally.sent_ids.update(e["sg_event_id"] for e in json.loads(body))
            stop.wait(pause)


# --- the run ----------------------------------------------------------------------------------------------


def _seed(engine: Engine, messages: int, seed: int) -> dict:
    from commlog import auth
    from commlog.demo.seed import SeedConfig, seed_demo
    from commlog.models import AppUser, Lender, Message

    seed_demo(engine, SeedConfig(lenders=4, borrowers=max(500, messages // 10), messages=messages, days=30, seed=seed,
                                 users=False), progress=False)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        lenders = conn.execute(select(Lender.id, Lender.slug)).all()
        users = [auth.add_user(conn, "soak-ops@commlog.example", "ops", None, "soak-password-1", now)]
        for _lid, slug in lenders:
            users.append(auth.add_user(conn, f"soak-admin@{slug}.example", "lender_admin", slug, "soak-password-1", now))
        targets = conn.execute(
            select(Message.provider_message_id, Message.recipient_email)
            .where(Message.provider == "sendgrid", Message.provider_message_id.is_not(None), Message.send_status == "sent")
            .order_by(Message.id).limit(5000)
        ).all()
        assert conn.execute(select(func.count()).select_from(AppUser)).scalar_one() == len(users)
    return {"users": users, "targets": [(t[0], t[1]) for t in targets]}


def _counts(engine: Engine) -> dict:
    from commlog.models import AuditEntry, DeliveryEvent

    with engine.connect() as conn:
        soak_rows = conn.execute(select(func.count()).select_from(DeliveryEvent)
                                 .where(DeliveryEvent.provider_event_id.like(SOAK_PREFIX + "%"))).scalar_one()
        soak_distinct = conn.execute(select(func.count(func.distinct(DeliveryEvent.provider_event_id)))
                                     .where(DeliveryEvent.provider_event_id.like(SOAK_PREFIX + "%"))).scalar_one()
        audit = dict(conn.execute(select(AuditEntry.action, func.count()).group_by(AuditEntry.action)).all())
    return {"soak_rows": soak_rows, "soak_distinct": soak_distinct, "audit": audit}


def run_soak(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from cryptography.hazmat.primitives.asymmetric import ec

    from commlog.ui import soak_driver
    from commlog.webhooks.signature import public_key_b64

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    saved_env = {k: os.environ.get(k) for k in ("COMMLOG_DATABASE_URL", "COMMLOG_PROVIDER", "COMMLOG_SANDBOX_LATENCY_MS",
                                                 "COMMLOG_SANDBOX_429_RATE")}
    quiet = [logging.getLogger(n) for n in ("commlog", "httpx", "uvicorn", "uvicorn.error")]
    levels = [lg.level for lg in quiet]
    db = TempDatabase.create(args.pg_url, prefix="commlog_bench")
    stats = soak_driver.Stats()
    tally = WebhookTally()
    server = None
    procs: list[mp.process.BaseProcess] = []
    stop = threading.Event()
    try:
        upgrade(db.engine)
        say(f"soak: seeding {args.messages:,} demo messages into {db.label} ...")
        t0 = time.perf_counter()
        world = _seed(db.engine, args.messages, args.seed)
        say(f"  seeded in {time.perf_counter() - t0:.1f} s; {len(world['users'])} logins; {args.sessions} sessions for "
            f"{args.duration:.0f} s; webhook batches of {args.batch_size}")
        os.environ.update({"COMMLOG_DATABASE_URL": db.url, "COMMLOG_PROVIDER": "sandbox",
                           "COMMLOG_SANDBOX_LATENCY_MS": args.sandbox_latency_ms,
                           "COMMLOG_SANDBOX_429_RATE": str(args.sandbox_429_rate)})
        reload_settings()  # this process reads them from its changed environment too
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        before = _counts(db.engine)

        # Session processes start (imports, first page) before the clock runs.
        ctx = mp.get_context("spawn")
        ready = [ctx.Event() for _ in range(args.sessions)]
        go, deadline, results = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
        for i in range(args.sessions):
            user_id = world["users"][i % len(world["users"])]
            procs.append(ctx.Process(target=soak_driver.session_process, name=f"soak-session-{i}", daemon=True,
                                     args=(i, user_id, args.actions_per_session, args.seed, ready[i], go, deadline, results)))
        for proc in procs:
            proc.start()
        for ev in ready:
            ev.wait(300)

        key = ec.generate_private_key(ec.SECP256R1())
        base, server, server_thread, sock = _serve_webhook(db.engine, public_key_b64(key))
        hook = threading.Thread(target=_stream_webhooks, name="soak-webhooks",
                                args=(base, key, world["targets"], stop, tally, args.batch_size, args.webhook_pause,
                                      random.Random(args.seed)), daemon=True)
        started = time.perf_counter()
        deadline.value = time.time() + args.duration
        hook.start()
        go.set()
        for _ in procs:
            try:
                stats.merge(results.get(timeout=args.duration + 600))
            except queue.Empty:
                stats.error("session", "a session process sent no results")
        for proc in procs:
            proc.join(30)
        stop.set()
        hook.join(120)
        elapsed = time.perf_counter() - started
        threads = [p for p in procs if p.is_alive()]
        for proc in threads:
            proc.kill()
        stuck = [t.name for t in threads] + ([hook.name] if hook.is_alive() else [])
        time.sleep(0.2)
        after = _counts(db.engine)

        # --- report ---
        say()
        say(f"soak on {db.label.split('://')[0]}: {args.sessions} sessions + webhook stream, {elapsed:.1f} s")
        rows = []
        for action in (*soak_driver.ACTIONS, "session"):
            t = Timing.of_seconds(stats.latencies.get(action, []))
            n_err = stats.errors.get(action, 0)
            if not t.runs and not n_err:
                continue
            rows.append([action, t.runs, t.runs / elapsed, n_err, stats.skipped.get(action, 0), t.median_ms, t.p95_ms, t.max_ms])
        t = Timing.of_seconds(tally.latencies)
        rows.append(["webhook post", tally.posts, tally.posts / elapsed, sum(tally.failures.values()), 0, t.median_ms, t.p95_ms, t.max_ms])
        say(table(["action", "done", "per s", "errors", "skipped", "p50 ms", "p95 ms", "max ms"], rows, align="lrrrrrrr"))
        say("(skipped: nothing to do on that page, e.g. no row to select after a filter; not timed)")

        sent = len(tally.sent_ids)
        stored_rows = after["soak_rows"] - before["soak_rows"]
        distinct = after["soak_distinct"] - before["soak_distinct"]
        lost = sent - distinct
        doubled = stored_rows - distinct
        audit_rows = {a: after["audit"].get(a, 0) - before["audit"].get(a, 0) for a in ("check", "export")}
        say()
        integrity = [
            ["webhook events sent (unique ids)", sent, ""],
            ["  stored (answers' 'stored')", tally.stored, "= sent" if tally.stored == sent else "MISMATCH"],
            ["  rows in delivery_event", stored_rows, "= sent" if stored_rows == sent else "MISMATCH"],
            ["  lost / doubled", f"{lost} / {doubled}", "ok" if lost == 0 and doubled == 0 else "LOST OR DOUBLED"],
            ["  replayed posts (duplicates answered)", f"{tally.replays} ({tally.duplicates:,})", ""],
            ["  unmatched / rejected", f"{tally.unmatched} / {tally.rejected}", "ok" if not tally.unmatched + tally.rejected else "CHECK"],
        ]
        for action in ("check", "export"):
            done = stats.audited.get(action, 0)
            integrity.append([f"audit rows '{action}' (done: {done})", audit_rows[action],
                              "ok" if audit_rows[action] == done else "MISMATCH"])
        say(table(["integrity", "count", "result"], integrity, align="lrr"))
        if stats.provider_refusals:
            say(f"provider answers with an error (shown to the user, not app errors): {dict(stats.provider_refusals)}")
        app_errors = sum(stats.errors.values()) + sum(tally.failures.values())
        if stats.error_samples or tally.failures:
            say("errors:")
            for line in stats.error_samples:
                say(f"  {line[:600]}")
            for what, n in tally.failures.items():
                say(f"  webhook: {what} x{n}")
        if stuck:
            say(f"threads still running at the end: {', '.join(stuck)}")
        ok = (app_errors == 0 and lost == 0 and doubled == 0 and tally.stored == sent and stored_rows == sent and not stuck
              and all(audit_rows[a] == stats.audited.get(a, 0) for a in ("check", "export")))
        say(f"result: {'PASS' if ok else 'FAIL'} (target: no error, no event or audit row lost or doubled)")
        if args.json:
            say(json.dumps({
                "backend": db.label.split("://")[0], "seconds": round(elapsed, 1), "sessions": args.sessions,
                "actions": {r[0]: {"done": r[1], "per_s": round(r[2], 2), "errors": r[3], "p50_ms": round(r[5], 1),
                                   "p95_ms": round(r[6], 1)} for r in rows},
                "webhook": {"sent": sent, "stored": tally.stored, "rows": stored_rows, "lost": lost, "doubled": doubled,
                            "replays": tally.replays},
                "audit": {a: {"done": stats.audited.get(a, 0), "rows": audit_rows[a]} for a in ("check", "export")},
                "pass": ok,
            }))
        return 0 if ok else 1
    finally:
        # Interrupted (Ctrl-C, an error): stop the load before its database is dropped.
        stop.set()
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        if server is not None:
            server.should_exit = True
            server_thread.join(15)
            sock.close()
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reload_settings()
        db.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m commlog bench --only soak --", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    if args.duration <= 0 or args.sessions < 1 or args.batch_size < 1 or args.messages < 1_000:
        p.error("--duration > 0, --sessions >= 1, --batch-size >= 1, --messages >= 1000")
    return run_soak(args)


if __name__ == "__main__":
    sys.exit(main())
