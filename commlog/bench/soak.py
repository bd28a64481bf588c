"""Soak: many concurrent sessions browsing, checking and exporting while webhooks stream in.

A temporary database (a temp SQLite file; with `bench --database-url postgresql+psycopg://...` a
temporary PostgreSQL database, dropped afterwards) is seeded with demo data (`--messages`, default
20,000, over 4 lenders) and one login per lender plus one ops login. Then, for `--duration` seconds
(default 60):

* `--sessions` threads (default 6) each run Streamlit sessions of the real app (AppTest of app.py,
  the same scripts a browser session runs), as ops or as a lender admin, cycling through: open the
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
import statistics
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
SOAK_PREFIX = "soak-"
SKIP = "skip"  # an action with nothing to do on the current page (e.g. no rows to select)
APP_FAILURE_WORDS = ("database is not reachable", "Traceback", "could not be saved", "platform ops only")
ACTIONS = ("open log", "next page", "filter", "type-ahead", "check one", "bulk check", "export CSV", "message page",
           "deliverability")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--sessions", type=int, default=6, help="concurrent app sessions (threads; default 6)")
    p.add_argument("--actions-per-session", type=int, default=12, help="actions before a session is replaced (default 12)")
    p.add_argument("--messages", type=int, default=20_000, help="demo messages to seed (default 20000)")
    p.add_argument("--batch-size", type=int, default=50, help="events per webhook post (default 50)")
    p.add_argument("--webhook-pause", type=float, default=0.05, help="seconds between webhook posts (default 0.05)")
    p.add_argument("--sandbox-latency-ms", default="5-40", help="sandbox provider latency range (default 5-40)")
    p.add_argument("--sandbox-429-rate", type=float, default=0.0, help="share of sandbox 429 answers (default 0)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--pg-url", help="PostgreSQL server URL: the temporary database is created there")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")


# --- measurements -------------------------------------------------------------------------------------


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    provider_refusals: Counter = field(default_factory=Counter)  # check outcomes with a provider error (not app errors)
    audited: Counter = field(default_factory=Counter)  # audit rows the actions must have written, by action
    skipped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"latencies": dict(self.latencies), "errors": dict(self.errors), "error_samples": self.error_samples,
                "provider_refusals": dict(self.provider_refusals), "audited": dict(self.audited), "skipped": dict(self.skipped)}

    def merge(self, d: dict) -> None:
        for k, v in d["latencies"].items():
            self.latencies[k].extend(v)
        for name in ("errors", "provider_refusals", "audited", "skipped"):
            getattr(self, name).update(d[name])
        self.error_samples.extend(d["error_samples"][: max(0, 10 - len(self.error_samples))])

    def ok(self, action: str, seconds: float) -> None:
        with self.lock:
            self.latencies[action].append(seconds)

    def error(self, action: str, what: str) -> None:
        with self.lock:
            self.errors[action] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{action}: {what}")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


# --- one app session ------------------------------------------------------------------------------------


class _Deferred:
    """The download buttons' data callables by file id (what a browser click runs)."""

    def __init__(self) -> None:
        from streamlit.runtime.media_file_manager import MediaFileManager

        self.seen: dict[str, object] = {}
        self._lock = threading.Lock()
        self._cls = MediaFileManager
        self._real = MediaFileManager.add_deferred
        outer = self

        def spy(mgr, data_callable, mimetype, coordinates, file_name=None, **kw):  # noqa: ANN001, ANN202
            file_id = outer._real(mgr, data_callable, mimetype, coordinates, file_name=file_name, **kw)
            with outer._lock:
                outer.seen[file_id] = mgr
            return file_id

        MediaFileManager.add_deferred = spy

    def fetch(self, file_id: str) -> bytes:
        with self._lock:
            mgr = self.seen.pop(file_id)
        url = mgr.execute_deferred(file_id)
        return mgr._storage.get_file(Path(url).name).content  # noqa: SLF001

    def close(self) -> None:
        self._cls.add_deferred = self._real


class Session:
    """One user's Streamlit session of the real app, driven like a browser would."""

    def __init__(self, user_id: int, is_ops: bool, rnd: random.Random, deferred: _Deferred, stats: Stats) -> None:
        self.user_id, self.is_ops, self.rnd, self.deferred, self.stats = user_id, is_ops, rnd, deferred, stats
        self.at = None

    def _new(self, path: str = "app.py", params: dict | None = None):  # noqa: ANN202
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(ROOT / path), default_timeout=120)
        at.session_state["commlog_user_id"] = self.user_id
        for k, v in (params or {}).items():
            at.query_params[k] = v
        return at

    def _problems(self, at) -> str | None:  # noqa: ANN001
        if at.exception:
            return "exception: " + "; ".join(str(e.value)[:200] for e in at.exception)
        # st.error also draws NOT_DELIVERED status boxes and provider refusals (by design): only the
        # app's own failure pages count.
        errors = [str(e.value) for e in at.error if any(w in str(e.value) for w in APP_FAILURE_WORDS)]
        if errors:
            return "error element: " + "; ".join(e[:200] for e in errors)
        return None

    def _grid(self) -> str:
        try:
            return f"log_table_{self.at.session_state['log_table_gen']}"
        except KeyError:
            return "log_table_0"

    def _rows(self) -> int:
        for df in self.at.dataframe:
            if "Sent" in df.value.columns:
                return len(df.value)
        return 0

    def run(self, action: str) -> None:
        t0 = time.perf_counter()
        try:
            problem = getattr(self, "_" + action.lower().replace(" ", "_").replace("-", "_"))()
        except Exception as exc:  # noqa: BLE001 - counted, the soak goes on
            self.stats.error(action, f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-400:]}")
            self.at = None
            return
        if problem == SKIP:
            with self.stats.lock:
                self.stats.skipped[action] += 1
            return
        if problem:
            self.stats.error(action, problem)
            return
        self.stats.ok(action, time.perf_counter() - t0)

    # -- actions (each returns a problem, or None) --

    def _open_log(self) -> str | None:
        self.at = self._new(params={"account": "all"} if self.rnd.random() < 0.5 else None).run()
        return self._problems(self.at)

    def _ensure(self) -> None:
        if self.at is None:
            self._open_log()

    def _next_page(self) -> str | None:
        self._ensure()
        self.at.session_state["log_page"] = self.rnd.randint(1, 5)
        return self._problems(self.at.run())

    def _filter(self) -> str | None:
        self._ensure()
        self.at.session_state["log_delivery"] = self.rnd.choice(["Any", "NOT_DELIVERED", "DELIVERED", "PENDING", "NOT_CHECKED"])
        self.at.session_state["log_range"] = self.rnd.choice(["7d", "30d"])
        return self._problems(self.at.run())

    def _type_ahead(self) -> str | None:
        """Type part of a name, then pick one of the borrowers offered (as the page's own query finds them)."""
        from commlog import auth
        from commlog.log_queries import search_borrowers
        from commlog.ui.resources import engine

        self._ensure()
        text = self.rnd.choice(["an", "ma", "jo", "li", "el", "sa"])
        self.at.text_input(key="log_borrower_search").input(text).run()
        problem = self._problems(self.at)
        if problem:
            return problem
        eng = engine()
        with eng.connect() as conn:
            principal = auth.load_principal(conn, self.user_id)
            found = search_borrowers(conn, principal, int(self.at.session_state["log_lender"]), text)
        if found:
            self.at.selectbox(key="log_account").set_value(self.rnd.choice(found).id).run()
            return self._problems(self.at)
        return None

    def _check_one(self) -> str | None:
        self._ensure()
        n = self._rows()
        if not n:
            return SKIP
        self.at.session_state[self._grid()] = {"selection": {"rows": [self.rnd.randrange(n)], "columns": [], "cells": []}}
        self.at.run()
        problem = self._problems(self.at)
        if problem:
            return problem
        buttons = [b for b in self.at.button if b.key and "_check_" in b.key]
        if not buttons:
            return SKIP  # a failed send: nothing to check
        mid = int(buttons[0].key.rsplit("_", 1)[1])
        buttons[0].click().run()
        self.stats.audited["check"] += 1
        outcome = self.at.session_state[f"check_outcome_{mid}"] if f"check_outcome_{mid}" in self.at.session_state else None
        if outcome is not None and outcome.error:
            with self.stats.lock:
                self.stats.provider_refusals[outcome.kind] += 1
        return self._problems_except_check(self.at)

    def _problems_except_check(self, at) -> str | None:  # noqa: ANN001
        """A provider's refusal is shown as an error element by design; count only the rest."""
        if at.exception:
            return "exception: " + "; ".join(str(e.value)[:200] for e in at.exception)
        return None

    def _bulk_check(self) -> str | None:
        self._ensure()
        n = self._rows()
        if n < 2:
            return SKIP
        rows = sorted(self.rnd.sample(range(n), min(5, n)))
        self.at.session_state[self._grid()] = {"selection": {"rows": rows, "columns": [], "cells": []}}
        self.at.run()
        problem = self._problems(self.at)
        if problem:
            return problem
        self.at.button(key="bulk_check").click().run()
        self.stats.audited["check"] += 1
        outcomes = self.at.session_state["bulk_outcomes"] if "bulk_outcomes" in self.at.session_state else []
        with self.stats.lock:
            for o in outcomes or []:
                if o.error and o.kind not in ("never_sent", "no_provider_id"):
                    self.stats.provider_refusals[o.kind] += 1
        return self._problems_except_check(self.at)

    def _export_csv(self) -> str | None:
        self._ensure()
        buttons = self.at.get("download_button")
        if not buttons:
            return SKIP  # over the page's limit: the panel says so
        data = self.deferred.fetch(buttons[0].proto.deferred_file_id)
        self.stats.audited["export"] += 1
        if not data.startswith(b"Lender,Log,"):
            return f"unexpected CSV start {data[:40]!r}"
        self.at.run()  # the next rerun offers a new file
        return self._problems(self.at)

    def _message_page(self) -> str | None:
        self._ensure()
        ids = self._visible_ids()
        at = self._new("app.py").run()
        at.switch_page("pages/message.py")
        at.query_params["id"] = str(self.rnd.choice(ids)) if ids else "1"
        at.run()
        return self._problems(at)

    def _visible_ids(self) -> list[int]:
        try:
            return [int(i) for i in self.at.session_state["log_selected_ids"]]
        except KeyError:
            return []

    def _deliverability(self) -> str | None:
        at = self._new("app.py").run()
        at.switch_page("pages/deliverability.py").run()
        return self._problems(at)


# --- a session process ------------------------------------------------------------------------------------

CYCLE = ["open log", "next page", "filter", "check one", "type-ahead", "bulk check", "export CSV", "message page",
         "next page", "check one", "filter", "deliverability"]


def _quiet_streamlit() -> None:
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("streamlit", "commlog", "httpx", "httpcore")):
            logging.getLogger(name).setLevel(logging.ERROR)


def session_process(i: int, user_id: int, is_ops: bool, actions_per_session: int, seed: int, ready, go, deadline, results) -> None:  # noqa: ANN001
    """One worker process: app sessions one after another until the deadline (AppTest keeps its
    script-runner state per process, so concurrent sessions are separate processes, like replicas)."""
    stats = Stats()
    deferred = _Deferred()
    try:
        rnd = random.Random(seed * 1000 + i)
        Session(user_id, is_ops, rnd, deferred, Stats())._open_log()  # warm: imports, engine, caches
        _quiet_streamlit()
        ready.set()
        go.wait(600)
        k = 0
        while time.time() < deadline.value:
            s = Session(user_id, is_ops, rnd, deferred, stats)
            for _ in range(max(1, actions_per_session)):
                if time.time() >= deadline.value:
                    break
                s.run(CYCLE[k % len(CYCLE)])
                k += 1
    except BaseException as exc:  # noqa: BLE001 - reported, never a hang
        stats.error("session", f"{type(exc).__name__}: {exc}")
        ready.set()
    finally:
        deferred.close()
        results.put(stats.as_dict())


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


def _serve_webhook(engine, public_b64: str):  # noqa: ANN001, ANN202
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


def _stream_webhooks(base: str, private_key, targets: list[tuple[str, str]], stop: threading.Event, tally: WebhookTally,  # noqa: ANN001
                     batch_size: int, pause: float, rnd: random.Random) -> None:
    import httpx

    from commlog.webhooks.app import SENDGRID_PATH
    from commlog.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_for_tests

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


def _seed(engine, messages: int, seed: int) -> dict:  # noqa: ANN001
    from commlog import auth
    from commlog.demo.seed import SeedConfig, seed_demo
    from commlog.models import AppUser, Lender, Message

    seed_demo(engine, SeedConfig(lenders=4, borrowers=max(500, messages // 10), messages=messages, days=30, seed=seed,
                                 users=False), progress=False)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        lenders = conn.execute(select(Lender.id, Lender.slug)).all()
        users = [(auth.add_user(conn, "soak-ops@commlog.example", "ops", None, "soak-password-1", now), True)]
        for lid, slug in lenders:
            users.append((auth.add_user(conn, f"soak-admin@{slug}.example", "lender_admin", slug, "soak-password-1", now), False))
        targets = conn.execute(
            select(Message.provider_message_id, Message.recipient_email)
            .where(Message.provider == "sendgrid", Message.provider_message_id.is_not(None), Message.send_status == "sent")
            .order_by(Message.id).limit(5000)
        ).all()
        assert conn.execute(select(func.count()).select_from(AppUser)).scalar_one() == len(users)
    return {"users": users, "targets": [(t[0], t[1]) for t in targets]}


def _counts(engine) -> dict:  # noqa: ANN001
    from commlog.models import AuditEntry, DeliveryEvent

    with engine.connect() as conn:
        soak_rows = conn.execute(select(func.count()).select_from(DeliveryEvent)
                                 .where(DeliveryEvent.provider_event_id.like(SOAK_PREFIX + "%"))).scalar_one()
        soak_distinct = conn.execute(select(func.count(func.distinct(DeliveryEvent.provider_event_id)))
                                     .where(DeliveryEvent.provider_event_id.like(SOAK_PREFIX + "%"))).scalar_one()
        audit = dict(conn.execute(select(AuditEntry.action, func.count()).group_by(AuditEntry.action)).all())
    return {"soak_rows": soak_rows, "soak_distinct": soak_distinct, "audit": audit}


def run_soak(args: argparse.Namespace, out=sys.stdout) -> int:  # noqa: ANN001, C901, PLR0915
    from cryptography.hazmat.primitives.asymmetric import ec

    from commlog.bench.tempdb import TempDatabase
    from commlog.webhooks.signature import public_key_b64

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    saved_env = {k: os.environ.get(k) for k in ("COMMLOG_DATABASE_URL", "COMMLOG_PROVIDER", "COMMLOG_SANDBOX_LATENCY_MS",
                                                 "COMMLOG_SANDBOX_429_RATE")}
    quiet = [logging.getLogger(n) for n in ("streamlit", "commlog", "httpx", "uvicorn", "uvicorn.error")]
    levels = [lg.level for lg in quiet]
    db = TempDatabase.create(args.pg_url)
    stats = Stats()
    tally = WebhookTally()
    server = None
    try:
        say(f"soak: seeding {args.messages:,} demo messages into {db.label} ...")
        t0 = time.perf_counter()
        world = _seed(db.engine, args.messages, args.seed)
        say(f"  seeded in {time.perf_counter() - t0:.1f} s; {len(world['users'])} logins; {args.sessions} sessions for "
            f"{args.duration:.0f} s; webhook batches of {args.batch_size}")
        os.environ.update({"COMMLOG_DATABASE_URL": db.url, "COMMLOG_PROVIDER": "sandbox",
                           "COMMLOG_SANDBOX_LATENCY_MS": args.sandbox_latency_ms,
                           "COMMLOG_SANDBOX_429_RATE": str(args.sandbox_429_rate)})
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        before = _counts(db.engine)

        # Session processes start (imports, first page) before the clock runs.
        ctx = mp.get_context("spawn")
        ready = [ctx.Event() for _ in range(args.sessions)]
        go, deadline, results = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
        procs = []
        for i in range(args.sessions):
            user_id, is_ops = world["users"][i % len(world["users"])]
            procs.append(ctx.Process(target=session_process, name=f"soak-session-{i}", daemon=True,
                                     args=(i, user_id, is_ops, args.actions_per_session, args.seed, ready[i], go, deadline, results)))
        for proc in procs:
            proc.start()
        for ev in ready:
            ev.wait(300)

        key = ec.generate_private_key(ec.SECP256R1())
        base, server, server_thread, sock = _serve_webhook(db.engine, public_key_b64(key))
        stop = threading.Event()
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
        for action in (*ACTIONS, "session"):
            lat = stats.latencies.get(action, [])
            n_err = stats.errors.get(action, 0)
            if not lat and not n_err:
                continue
            rows.append([action, len(lat), len(lat) / elapsed, n_err, stats.skipped.get(action, 0),
                         1000 * statistics.median(lat) if lat else 0.0, 1000 * _pct(lat, 0.95), 1000 * max(lat) if lat else 0.0])
        wl = tally.latencies
        rows.append(["webhook post", tally.posts, tally.posts / elapsed, sum(tally.failures.values()), 0,
                     1000 * statistics.median(wl) if wl else 0.0, 1000 * _pct(wl, 0.95), 1000 * max(wl) if wl else 0.0])
        _table(say, ["action", "done", "per s", "errors", "skipped", "p50 ms", "p95 ms", "max ms"], rows)
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
        _table(say, ["integrity", "count", "result"], integrity)
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
        try:
            import streamlit as st

            st.cache_resource.clear()  # the temporary database's engine
            st.cache_data.clear()
        except Exception:  # noqa: BLE001, S110 - best effort
            pass
        db.close()


def _table(say: Callable[[str], None], headers: list[str], rows: list[list]) -> None:
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    cells = [headers] + [[fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for k, r in enumerate(cells):
        say("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            say("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m commlog bench --only soak --", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    if args.duration <= 0 or args.sessions < 1 or args.batch_size < 1 or args.messages < 1_000:
        p.error("--duration > 0, --sessions >= 1, --batch-size >= 1, --messages >= 1000")
    return run_soak(args)


if __name__ == "__main__":
    sys.exit(main())
