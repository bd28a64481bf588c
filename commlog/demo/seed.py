"""Deterministic, realistic demo data (`python -m commlog seed-demo`, and the app's first start).

Same `SeedConfig` (seed *and* `now`) -> the same rows. Delivery outcomes come from the pure
`commlog.demo.outcomes.planned_events`, so messages stored without delivery information ("not
checked yet") can be answered later, consistently, by the sandbox provider. The personas
(`commlog.demo.personas`: Harbor Credit Union borrowers with a crafted history) are written after
the generated rows, from their own RNG, so the generated rows are the same with or without them.

Speed: rows are built in Python and written with raw DB-API `executemany` (SQLite, one transaction)
or `COPY` (PostgreSQL); statuses come from `commlog.status.overall_status` (the one status rule).
Timestamps on SQLite are written exactly as `commlog.models.UTCDateTime` stores them: naive UTC
text 'YYYY-MM-DD HH:MM:SS.ffffff'.
"""

from __future__ import annotations

import base64
import bisect
import gc
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from sqlalchemy import Connection, Engine, func, select

from commlog import auth, partitions
from commlog.db import is_postgresql, is_sqlite
from commlog.demo import catalog, personas
from commlog.demo.names import local_part, person, staff_local_part
from commlog.demo.outcomes import LENDER_AGE, MessageFacts, address_fate, planned_events
from commlog.demo.subjects import (
    ACCOUNT_CONFIRMATION,
    MIME_ENCODED_TYPES,
    POSTMARK_INACTIVE,
    SEND_ERRORS,
    TYPES,
    mime_encoded,
    subject,
)
from commlog.domains import provider_family
from commlog.mime_subject import stored_subject_text
from commlog.models import Account, AppUser, DeliveryEvent, Lender, Message
from commlog.status import StatusEvent, overall_status
from commlog.tenancy import all_lenders
from commlog.vocabulary import mask_of

UTC = UTC
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEMO_PASSWORD = "demo-password-1"
OPS_LOGIN = "ops@commlog.example"
# A second ops user: a removal an ops user asked for on a lender's behalf needs another to approve it.
SECOND_OPS_LOGIN = "ops2@commlog.example"
CHUNK = 20_000


class SeedError(Exception):
    """Seeding refused (e.g. the demo lenders already exist); the message is safe to show."""


@dataclass(frozen=True)
class SeedConfig:
    lenders: int = 8
    borrowers: int = 40_000
    messages: int = 300_000
    days: int = 60
    seed: int = 1
    now: datetime | None = None  # the anchor ("now" of the demo); default: the current minute
    checked_share: float = 0.75  # sent messages with delivery information stored
    failed_share: float = 0.005  # send failures
    users: bool = True
    password: str = DEMO_PASSWORD
    personas: bool = True  # plant commlog.demo.personas (when days >= personas.MIN_DAYS)


@dataclass
class SeedResult:
    """What was written. lenders .. checked: the generated demo set (`messages` is what the
    config asked for); personas, persona_messages: the planted personas, written after it."""

    anchor: datetime
    lenders: int = 0
    staff: int = 0
    borrowers: int = 0
    messages: int = 0
    events: int = 0
    checked: int = 0
    personas: int = 0
    persona_messages: int = 0
    seconds: float = 0.0
    logins: list[tuple[str, str, str | None]] = field(default_factory=list)  # (email, role, lender slug)


def demo_logins(slugs: list[str]) -> list[tuple[str, str, str | None]]:
    return [(OPS_LOGIN, "ops", None), (SECOND_OPS_LOGIN, "ops", None)] + [(f"admin@{slug}.example", "lender_admin", slug) for slug in slugs]


def _anchor(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("the seeding 'now' must be timezone-aware")
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def _us(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# Relative sending volume by local (US Eastern-ish, UTC-5) hour: business hours are busiest.
_DIURNAL = [0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.7, 0.9, 1.0, 1.0, 0.95, 0.9, 0.95, 1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.35, 0.25]
_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US
_ENCODED_FROM, _ENCODED_UNTIL = timedelta(days=6), timedelta(days=2)  # the MIME-encoded subjects episode


@dataclass
class _Acct:
    id: int
    lender: int
    kind: str
    name: str
    email: str
    domain: str
    family: str
    created_us: int
    dead: bool


class _Builder:
    def __init__(self, cfg: SeedConfig, anchor: datetime, bases: dict[str, int]):
        self.cfg = cfg
        self.anchor = anchor
        self.anchor_us = _us(anchor)
        self.start_us = self.anchor_us - cfg.days * _DAY_US
        self.rng = random.Random(f"commlog-demo-{cfg.seed}")
        self.lenders = catalog.lender_catalog(cfg.lenders)
        self.lender_ids = [bases["lender"] + i for i in range(len(self.lenders))]
        self.next_account = bases["account"]
        self.accounts: list[_Acct] = []
        self.staff: list[list[int]] = [[] for _ in self.lenders]  # indexes into self.accounts
        self.borrowers: list[list[int]] = [[] for _ in self.lenders]
        self.window_borrowers: list[list[int]] = [[] for _ in self.lenders]
        self.imported: list[tuple[int, int]] = []  # (account index, confirmation time) of the bad import
        self.used_emails: list[set[str]] = [set() for _ in self.lenders]
        w = [1.0 / (i + 1) ** 1.25 for i in range(len(self.lenders))]
        total = sum(w)
        self.weights = [x / total for x in w]
        self.bounce_lender = min(catalog.BOUNCE_PROBLEM_INDEX, len(self.lenders) - 1)
        self.postmark_lender = catalog.POSTMARK_INDEX if len(self.lenders) > catalog.POSTMARK_INDEX else -1
        dom, wts = zip(*catalog.BORROWER_DOMAINS)
        self.domains = dom
        self.domain_cum = list(accumulate(wts))

    # --- accounts --------------------------------------------------------------------------

    def _add_account(self, lender: int, kind: str, name: str, email: str, created_us: int) -> int:
        domain = email.rpartition("@")[2]
        family = provider_family(domain)
        acct = _Acct(self.next_account, lender, kind, name, email, domain, family, created_us, address_fate(email, family) is not None)
        self.next_account += 1
        self.accounts.append(acct)
        self.used_emails[lender].add(email)
        return len(self.accounts) - 1

    def _unique(self, lender: int, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        n = 2
        while email in self.used_emails[lender]:
            email = f"{local}{n}@{domain}"
            n += 1
        return email

    def _borrower_email(self, first: str, last: str, lender: int, typo: bool | None = None) -> str:
        rng = self.rng
        if typo is None:
            typo = rng.random() < catalog.TYPO_SHARE
        domain = catalog.TYPOS[rng.randrange(len(catalog.TYPOS))] if typo else self.domains[
            bisect.bisect(self.domain_cum, rng.random() * self.domain_cum[-1])
        ]
        return self._unique(lender, local_part(rng, first, last), domain)

    def build_accounts(self) -> None:
        rng, cfg = self.rng, self.cfg
        for li, lender in enumerate(self.lenders):
            w = self.weights[li]
            n_staff = max(3, min(80, round(4 + 160 * w)))
            for _ in range(n_staff):
                display, first, last = person(rng)
                email = self._unique(li, staff_local_part(first, last, li), lender.staff_domain)
                created = self.start_us - rng.randrange(30, 900) * _DAY_US - rng.randrange(_DAY_US)
                self.staff[li].append(self._add_account(li, "staff", display, email, created))
            n_borrowers = max(20, round(cfg.borrowers * w))
            for _ in range(n_borrowers):
                display, first, last = person(rng)
                email = self._borrower_email(first, last, li)
                if rng.random() < 0.25:
                    created = self.start_us + rng.randrange(self.anchor_us - self.start_us)
                    idx = self._add_account(li, "borrower", display, email, created)
                    self.window_borrowers[li].append(idx)
                else:
                    created = self.start_us - rng.randrange(1, 1000) * _DAY_US - rng.randrange(_DAY_US)
                    idx = self._add_account(li, "borrower", display, email, created)
                self.borrowers[li].append(idx)

    def import_period(self) -> tuple[int, int]:
        """[start, end) of the bounce-problem lender's bad import, in microseconds."""
        days = self.cfg.days
        start = self.anchor_us - min(24, int(days * 0.6)) * _DAY_US + 9 * _HOUR_US
        end = min(start + 12 * _DAY_US, self.anchor_us - 4 * _DAY_US)
        return max(start, self.start_us), max(end, start + _HOUR_US)

    def build_bad_import(self, lender_messages: int) -> int:
        """A bad borrower-list import: many dead addresses invited over ~12 days. Returns how many
        confirmation messages it adds (taken from the lender's message budget)."""
        li = self.bounce_lender
        start, end = self.import_period()
        in_period = lender_messages * (end - start) / (self.anchor_us - self.start_us)
        n_bad = round(0.12 * in_period)
        n_good = n_bad
        rng = self.rng
        for i in range(n_bad + n_good):
            display, first, last = person(rng)
            bad = i < n_bad
            if bad and rng.random() < 0.4:
                email = self._borrower_email(first, last, li, typo=True)
            elif bad:
                for _ in range(2000):  # a nonexistent mailbox at a real provider (rejection sampling)
                    email = self._borrower_email(first, last, li, typo=False)
                    if address_fate(email) is not None:
                        break
            else:
                email = self._borrower_email(first, last, li, typo=False)
            sent = start + rng.randrange(end - start)
            idx = self._add_account(li, "borrower", display, email, sent - rng.randrange(5_000_000, 60_000_000))
            self.borrowers[li].append(idx)
            self.imported.append((idx, sent))
        return n_bad + n_good

    # --- messages --------------------------------------------------------------------------

    def _time(self, lo: int) -> int:
        rng = self.rng
        span = self.anchor_us - lo
        while True:
            t = lo + rng.randrange(span)
            if rng.random() < _DIURNAL[((t // _HOUR_US) - 5) % 24]:
                return t

    def build_messages(self) -> list[tuple]:
        """(sent_us, lender, type index (-1 = confirmation), account index) for every message."""
        cfg, rng = self.cfg, self.rng
        counts = [int(cfg.messages * w) for w in self.weights]
        counts[0] += cfg.messages - sum(counts)
        type_cum = list(accumulate(t.weight for t in TYPES))
        out: list[tuple] = []
        for li in range(len(self.lenders)):
            budget = counts[li]
            msgs: list[tuple] = []
            if li == self.bounce_lender and budget > 50:
                self.build_bad_import(budget)
                for idx, sent in self.imported:
                    msgs.append((sent, li, -1, idx))
            for idx in self.window_borrowers[li]:
                created = self.accounts[idx].created_us
                msgs.append((created + rng.randrange(1_000_000, 20_000_000), li, -1, idx))
                if rng.random() < 0.08:  # "I never got it": a resend
                    resend = created + rng.randrange(3_600_000_000, 3 * _DAY_US)
                    if resend < self.anchor_us:
                        msgs.append((resend, li, -1, idx))
            msgs = [m for m in msgs if m[0] < self.anchor_us][:budget]
            staff, borrowers = self.staff[li], self.borrowers[li]
            nb = len(borrowers)
            for _ in range(budget - len(msgs)):
                ti = bisect.bisect(type_cum, rng.random() * type_cum[-1])
                ti = min(ti, len(TYPES) - 1)
                if TYPES[ti].audience == "staff":
                    msgs.append((self._time(self.start_us), li, ti, staff[rng.randrange(len(staff))]))
                    continue
                idx = borrowers[int(nb * rng.random() ** 1.25)]  # some borrowers are more active
                if self.accounts[idx].dead and rng.random() < 0.75:  # bad addresses never engage much
                    idx = borrowers[int(nb * rng.random() ** 1.25)]
                lo = max(self.start_us, self.accounts[idx].created_us + 60_000_000)
                if lo >= self.anchor_us:
                    idx = borrowers[rng.randrange(nb)]
                    lo = max(self.start_us, self.accounts[idx].created_us + 60_000_000)
                    if lo >= self.anchor_us:
                        lo = self.start_us
                msgs.append((self._time(lo), li, ti, idx))
            out.extend(msgs)
        out.sort()
        return out


def _deferrable_indexes(conn: Connection) -> list:
    """The non-unique indexes of the big tables that this database has (unique constraints always
    stay; a database at an earlier migration lacks the indexes later ones add)."""
    return [ix for table in (Message.__table__, DeliveryEvent.__table__) for ix in sorted(table.indexes, key=lambda i: i.name)
            if not ix.unique and conn.dialect.has_index(conn, table.name, ix.name)]


def _ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "lender": (conn.execute(select(func.max(Lender.id))).scalar() or 0) + 1,
            "account": (conn.execute(select(func.max(Account.id))).scalar() or 0) + 1,
            "message": (conn.execute(select(func.max(Message.id))).scalar() or 0) + 1,
            "event": (conn.execute(select(func.max(DeliveryEvent.id))).scalar() or 0) + 1,
        }


MESSAGE_COLS = (
    "id", "lender_id", "log_account_id", "recipient_account_id", "audience", "email_type", "subject",
    "recipient_email", "recipient_domain", "provider_family", "sent_at", "send_status", "send_error",
    "provider", "provider_message_id", "delivery_status", "last_event_type", "last_event_at",
    "status_reason", "event_mask", "checked_at", "subject_text",
)  # fmt: skip
EVENT_COLS = (
    "id", "lender_id", "message_id", "event_type", "raw_type", "occurred_at", "reason", "smtp_status",
    "attempt", "bounce_classification", "provider", "provider_event_id", "ingested_at",
)  # fmt: skip
ACCOUNT_COLS = ("id", "lender_id", "kind", "name", "email", "search_text", "created_at")
LENDER_COLS = ("id", "slug", "name", "created_at")
def sqlite_ts(v: datetime) -> str:
    """An aware UTC datetime as commlog.models.UTCDateTime stores it on SQLite (naive UTC text)."""
    return v.isoformat(" ", "microseconds")[:26] if v.tzinfo is UTC else v.astimezone(UTC).isoformat(" ", "microseconds")[:26]


_TS = {"sent_at", "last_event_at", "checked_at", "occurred_at", "ingested_at", "created_at"}


class _Writer:
    """Bulk writes inside the caller's transaction: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, conn):
        self.pg = is_postgresql(conn)
        self.dbapi = conn.connection.driver_connection
        self.cur = self.dbapi.cursor()
        self.unforced: list[str] = []
        if self.pg:
            # COPY refuses tables under row-level security (migration 0003), and FORCE puts the
            # owner under it too: lift FORCE for this transaction only (the owner's right; restored
            # in finish(), before anyone else can see it). Superusers are not under it at all.
            for table in ("lender", "account", "message", "delivery_event"):
                self.cur.execute("SELECT row_security_active(%s)", (table,))
                if self.cur.fetchone()[0]:
                    self.cur.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
                    self.unforced.append(table)

    def write(self, table: str, cols: tuple[str, ...], rows: list[tuple], preformat: bool = False) -> None:
        """`preformat`: rows hold datetimes to convert for SQLite (message and event rows come
        already converted from `_compute`)."""
        if not rows:
            return
        if self.pg:
            with self.cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        else:
            fixed = rows
            if preformat:
                ts = [i for i, c in enumerate(cols) if c in _TS]
                fixed = []
                for r in rows:
                    r = list(r)
                    for i in ts:
                        if r[i] is not None:
                            r[i] = sqlite_ts(r[i])
                    fixed.append(r)
            self.cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", fixed)

    def finish(self) -> None:
        if self.pg:
            for table in ("lender", "account", "message", "delivery_event"):
                self.cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            for table in self.unforced:
                self.cur.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        self.cur.close()


_B36 = "abcdefghijklmnopqrstuvwxyz0123456789"


def _provider_message_id(rng: random.Random, provider: str, sent_us: int) -> str:
    if provider == "postmark":
        h = rng.getrandbits(128).to_bytes(16, "big").hex()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"
    xid = base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode()[:22]
    pod = rng.getrandbits(40).to_bytes(5, "big").hex()
    n = rng.getrandbits(26)
    tail = "".join(_B36[(n >> (5 * k)) % 36] for k in range(5))
    return f"{xid}.recvd-{pod}-{tail}-1-{sent_us // 1_000_000:X}-{rng.randrange(1, 40)}.0"


@all_lenders()  # the platform's own work: every transaction it begins declares every lender (tenancy)
def seed_demo(engine: Engine, cfg: SeedConfig = SeedConfig(), progress: bool = True) -> SeedResult:
    """Fill a migrated database with demo data; returns what was written."""
    if cfg.lenders < 1 or cfg.borrowers < 0 or cfg.messages < 0 or cfg.days < 1:
        raise SeedError("lenders and days must be at least 1; borrowers and messages not negative")
    t0 = time.perf_counter()
    anchor = _anchor(cfg.now)
    slugs = [lender.slug for lender in catalog.lender_catalog(cfg.lenders)]
    with engine.connect() as conn:
        taken = conn.execute(select(Lender.slug).where(Lender.slug.in_(slugs))).scalars().all()
    if taken:
        raise SeedError(f"demo lenders already exist in this database ({', '.join(sorted(taken))}); use an empty database")

    bases = _ids(engine)
    b = _Builder(cfg, anchor, bases)
    b.build_accounts()
    messages = b.build_messages()
    planted = _plant_personas(b) if cfg.personas and cfg.days >= personas.MIN_DAYS else []
    result = SeedResult(anchor=anchor, lenders=len(b.lenders))
    result.staff = sum(len(s) for s in b.staff)
    result.borrowers = sum(len(x) for x in b.borrowers)

    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small tuples: the cycle collector only costs time here
    pool = _pool(len(messages))
    try:
        with engine.begin() as conn:
            if is_sqlite(conn):
                conn.exec_driver_sql("PRAGMA cache_size=-400000")
                conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
            # PostgreSQL: the months this history covers, before it is copied in (commlog.partitions)
            partitions.ensure_months(conn, _dt(b.start_us), partitions.add_months(partitions.month_of(anchor), partitions.MONTHS_AHEAD))
            w = _Writer(conn)
            # On an empty log, build the secondary indexes once at the end (a sort) instead of
            # maintaining them row by row: several times faster. Same transaction, same indexes.
            rebuild = [] if bases["message"] > 1 or bases["event"] > 1 else _deferrable_indexes(conn)
            for ix in rebuild:
                ix.drop(conn)
            lender_created = anchor - LENDER_AGE  # outcomes.anchor_from_lender_created_at reads it back
            w.write("lender", LENDER_COLS, [(b.lender_ids[i], lender.slug, lender.name, lender_created) for i, lender in enumerate(b.lenders)], True)
            acct_rows = [
                (a.id, b.lender_ids[a.lender], a.kind, a.name, a.email, f"{a.name} {a.email}".lower(), _dt(a.created_us))
                for a in b.accounts
            ]
            for i in range(0, len(acct_rows), 50_000):
                w.write("account", ACCOUNT_COLS, acct_rows[i : i + 50_000], True)
            del acct_rows
            _write_messages(w, b, messages, bases, anchor, result, progress, pool)
            _write_personas(w, b, planted, bases["message"] + len(messages), result)
            if rebuild and progress:
                print("building indexes ...", file=sys.stderr, flush=True)
            for ix in rebuild:
                ix.create(conn)
            w.finish()
            from commlog.rollups import rebuild_rollups

            rebuild_rollups(conn)  # deliverability rollups, same transaction
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if gc_was_enabled:
            gc.enable()

    if is_postgresql(engine):
        # After a bulk load: statistics for the planner and a visibility map so counts can use
        # index-only scans (autovacuum does the same later; VACUUM cannot run in a transaction).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("message", "delivery_event", "account"):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")

    if cfg.users:
        now = datetime.now(UTC)
        with engine.begin() as conn:
            for email, role, slug in demo_logins(slugs):
                if conn.execute(select(AppUser.id).where(AppUser.email == email)).first() is None:
                    auth.add_user(conn, email, role, slug, cfg.password, now)
                    result.logins.append((email, role, slug))
    result.seconds = time.perf_counter() - t0
    return result


def _basics(b: _Builder, messages: list[tuple], first_id: int):
    """Sequential pass (one RNG stream): ids, send status, suppression state, and which messages
    have delivery information stored. Yields chunks of CHUNK messages."""
    cfg = b.cfg
    rng = random.Random(f"commlog-demo-send-{cfg.seed}")
    msg_id = first_id
    sent_dead: set[tuple[int, str]] = set()
    postmark = b.postmark_lender
    accounts = b.accounts
    failed_share, checked_share = cfg.failed_share, cfg.checked_share
    n_errors = len(SEND_ERRORS)
    for c in range(0, len(messages), CHUNK):
        out = []
        for sent_us, li, ti, ai in messages[c : c + CHUNK]:
            a = accounts[ai]
            send_error = None
            if rng.random() < failed_share:
                send_error = SEND_ERRORS[rng.randrange(n_errors)]
            earlier = False
            if a.dead:
                key = (li, a.email)
                earlier = key in sent_dead
                if send_error is None and earlier and li == postmark:
                    send_error = POSTMARK_INACTIVE.format(email=a.email)  # Postmark refuses inactive recipients
                if send_error is None:
                    sent_dead.add(key)
            checked = send_error is None and rng.random() < checked_share
            out.append((msg_id, li, ti, a.id, a.email, a.domain, a.family, sent_us, send_error, earlier, checked))
            msg_id += 1
        yield c // CHUNK, out


def _compute(chunk_no: int, chunk: list[tuple], ctx: dict, rng: random.Random | None = None) -> tuple[list[tuple], list[tuple]]:
    """Message and event rows for one chunk. Depends only on its arguments (its own RNG stream for
    subjects and provider message ids, or `rng`), so it can run in a worker process."""
    rng = rng if rng is not None else random.Random(f"commlog-demo-{ctx['seed']}-chunk-{chunk_no}")
    anchor = ctx["anchor"]
    slugs, providers, lender_ids, brands = ctx["slugs"], ctx["providers"], ctx["lender_ids"], ctx["brands"]
    fmt = sqlite_ts if ctx["sqlite"] else (lambda v: v)
    anchor_v = fmt(anchor)
    mrows: list[tuple] = []
    erows: list[tuple] = []
    for msg_id, li, ti, acct_id, email, domain, family, sent_us, send_error, earlier, checked in chunk:
        etype = ACCOUNT_CONFIRMATION if ti < 0 else TYPES[ti]
        sent_at = _dt(sent_us)
        provider = providers[li]
        lender_id = lender_ids[li]
        subj = subject(etype.name, etype.audience, brands[li], rng, sent_at)
        if etype.name in MIME_ENCODED_TYPES and anchor - _ENCODED_FROM <= sent_at < anchor - _ENCODED_UNTIL:
            subj = mime_encoded(subj)
        if send_error is None:
            send_status, pmid = "sent", _provider_message_id(rng, provider, sent_us)
        else:
            send_status, pmid = "failed", None
        status = last_type = last_at = reason = checked_at = None
        mask = 0
        if checked:
            facts = MessageFacts(slugs[li], provider, pmid, email, domain, family, etype.name, etype.audience,
                                 sent_at, send_status, anchor, earlier)  # fmt: skip
            known = [e for e in planned_events(facts) if e.occurred_at <= anchor]
            res = overall_status(
                [StatusEvent.of(e) for e in known], sent_at, anchor
            )
            status, reason = str(res.status), res.reason
            if res.last_event_type is not None:
                last_type, last_at = str(res.last_event_type), fmt(res.last_event_at)
            mask = mask_of(e.event_type for e in known)
            checked_at = anchor_v
            for e in known:
                erows.append((lender_id, msg_id, str(e.event_type), e.raw_type, fmt(e.occurred_at), e.reason,
                              e.smtp_status, e.attempt, e.bounce_classification, provider, e.provider_event_id,
                              anchor_v))  # fmt: skip
        mrows.append((
            msg_id, lender_id, acct_id if etype.borrower_log else None, acct_id, etype.audience, etype.name, subj,
            email, domain, family, fmt(sent_at), send_status, send_error, provider, pmid, status, last_type,
            last_at, reason, mask, checked_at, stored_subject_text(subj),
        ))  # fmt: skip
    return mrows, erows


def _pool(n_messages: int):
    """Worker processes for `_compute` on big runs (fork: the workers never touch the database)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    if n_messages < 50_000 or (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1), mp_context=multiprocessing.get_context("fork"))


def _context(w: _Writer, b: _Builder, anchor: datetime) -> dict:
    """What `_compute` needs besides its chunk (picklable, for worker processes)."""
    return {
        "anchor": anchor,
        "slugs": [lender.slug for lender in b.lenders],
        "providers": ["postmark" if i == b.postmark_lender else "sendgrid" for i in range(len(b.lenders))],
        "lender_ids": b.lender_ids,
        "sqlite": not w.pg,
        "brands": [lender.brand for lender in b.lenders],
        "seed": b.cfg.seed,
    }


def _write_messages(w: _Writer, b: _Builder, messages: list[tuple], bases: dict[str, int], anchor: datetime,
                    result: SeedResult, progress: bool, pool) -> None:  # fmt: skip
    from collections import deque

    from tqdm import tqdm

    ctx = _context(w, b, anchor)
    bar = tqdm(total=len(messages), unit="msg", unit_scale=True, desc="seeding demo", file=sys.stderr,
               disable=not progress, mininterval=0.5)  # fmt: skip
    n_events = n_checked = 0

    def write(mrows: list[tuple], erows: list[tuple]) -> None:
        nonlocal n_events, n_checked
        w.write("message", MESSAGE_COLS, mrows)
        w.write("delivery_event", EVENT_COLS[1:], erows)  # ids: assigned by the database, in order
        n_events += len(erows)
        n_checked += sum(1 for r in mrows if r[15] is not None)
        bar.update(len(mrows))

    pending: deque = deque()
    for chunk_no, chunk in _basics(b, messages, bases["message"]):
        if pool is None:
            write(*_compute(chunk_no, chunk, ctx))
            continue
        pending.append(pool.submit(_compute, chunk_no, chunk, ctx))
        while len(pending) > 6 or (pending and pending[0].done()):
            write(*pending.popleft().result())
    while pending:
        write(*pending.popleft().result())
    bar.close()
    result.messages = len(messages)
    result.events = n_events
    result.checked = n_checked


# --- the personas ----------------------------------------------------------------------------------


def _plant_personas(b: _Builder) -> list[tuple[int, int, int, str | None, bool]]:
    """Add the personas' accounts (commlog.demo.personas) after every generated account, so their
    ids come after; return their emails in send order as (sent_us, type index (-1 =
    confirmation), account index, send error, checked). Draws nothing from the generated streams."""
    li = personas.LENDER_INDEX
    accounts = {p.email: b._add_account(li, "borrower", p.name, p.email, _us(p.joined_at(b.anchor))) for p in personas.PERSONAS}
    return [
        (_us(sent_at), -1 if e.email_type == ACCOUNT_CONFIRMATION else TYPES.index(e.email_type), accounts[p.email], e.send_error, e.checked)
        for p, e, sent_at in personas.schedule(b.anchor)
    ]


def _write_personas(w: _Writer, b: _Builder, planted: list[tuple[int, int, int, str | None, bool]], first_id: int,
                    result: SeedResult) -> None:  # fmt: skip
    """The personas' messages and events, after the generated ones (ids after theirs), built by
    `_compute` like every other message but with their own RNG ("commlog-persona-<seed>")."""
    if not planted:
        return
    li = personas.LENDER_INDEX
    chunk = []
    sent_dead: set[str] = set()  # as `_basics`: a dead address's later sends are "earlier_send"
    for n, (sent_us, ti, ai, send_error, checked) in enumerate(planted):
        a = b.accounts[ai]
        earlier = a.dead and a.email in sent_dead
        if a.dead and send_error is None:
            sent_dead.add(a.email)
        chunk.append((first_id + n, li, ti, a.id, a.email, a.domain, a.family, sent_us, send_error, earlier,
                      checked and send_error is None))  # fmt: skip
    mrows, erows = _compute(0, chunk, _context(w, b, b.anchor), random.Random(f"commlog-persona-{b.cfg.seed}"))
    w.write("message", MESSAGE_COLS, mrows)
    w.write("delivery_event", EVENT_COLS[1:], erows)
    result.personas = len(personas.PERSONAS)
    result.persona_messages = len(mrows)
