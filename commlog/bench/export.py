"""Failures CSV export at scale: commlog's streamed export beside pandas read_sql + to_csv, same run.

Each backend gets a fresh database (a temporary SQLite file; on PostgreSQL, when it answers, a
temporary database created and dropped: commlog.tempdb) holding one lender with `--rows` failure
rows (Status failed, BOUNCE, BLOCKED, DROPPED; half in borrower logs; every 100th subject starts
with '=') plus 10 % delivered rows that the export must skip. About a quarter of the rows have a comma or a double
quote in a cell (Gmail's 5.1.1 text, a block reason, some subjects), so the csv module's quoting
path is exercised as it is on real data. Both methods run the same SELECT (commlog.export's
scoped, filtered log query) and write a CSV file to a temp directory.

On PostgreSQL commlog's export runs twice: through the csv module and through COPY (the lines written
by the database: what the page and the CLI use there); the two files must be identical.

Measured: rows/s and peak RSS growth over the RSS before the method started (sampled every 5 ms
from /proc/self/statm). Targets for commlog's export: >= 100,000 rows/s (COPY: >= 250,000) and < 150 MB peak growth.
Exit status 1 if missed.

    python -m commlog bench --only export [-- --rows 1000000 --no-pandas]    # SQLite
    python -m commlog --database-url postgresql+psycopg://postgres@127.0.0.1/test bench --only export
    python -m commlog.bench.export [--rows 1000000] [--backend sqlite|postgresql|both] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

from commlog.bench import BenchContext, register, table
from commlog.bench.stats import timed
from commlog.db import is_postgresql, is_sqlite
from commlog.export import FailureExport, count_failures, export_select, stream_failures
from commlog.log_queries import SPAN_LENDER
from commlog.log_view import LogQuery
from commlog.migrate import upgrade
from commlog.models import Account, Lender
from commlog.principal import Principal, Role
from commlog.settings import settings
from commlog.tempdb import LOCAL_SERVER_URL, ServerUnreachable, TempDatabase

TARGET_ROWS_PER_S = 100_000
TARGET_COPY_ROWS_PER_S = 250_000  # PostgreSQL writes the lines, COPY sends them
CSV_MODULE = "commlog stream_failures (csv module)"
COPY = "commlog stream_failures (COPY)"
TARGET_PEAK_MB = 150.0
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BORROWERS = 1000
OPS = Principal(user_id=0, email="bench@commlog.local", role=Role.OPS, lender_id=None)

# Column list and per-row expressions shared by both backends; {i} is the row number, {ts} a time
# expression a few seconds apart per row, going back from NOW.
_COLUMNS = (
    "lender_id, log_account_id, recipient_account_id, audience, email_type, subject, recipient_email, "
    "recipient_domain, provider_family, sent_at, send_status, send_error, provider, provider_message_id, "
    "delivery_status, last_event_type, last_event_at, status_reason, event_mask, checked_at"
)


def _values(i: str, si: str, ts: str) -> str:
    """One row's values; i = the row number, si = it as text, ts = its sent time."""
    k = f"({i} % 10)"
    return f"""
        1,
        CASE WHEN {i} % 2 = 0 THEN 1 + ({i} % {BORROWERS}) END,
        1 + ({i} % {BORROWERS}),
        'borrower',
        CASE WHEN {i} % 3 = 0 THEN 'password_reset' ELSE 'account_confirmation' END,
        CASE WHEN {i} % 100 = 0 THEN '=SUM(A' || {si} || ')' WHEN {i} % 50 = 0 THEN 'Welcome, Zoë: confirm your account'
             ELSE 'Confirm your new account #' || {si} END,
        'user' || {si} || '@gmail.com',
        'gmail.com', 'google',
        {ts},
        CASE WHEN {k} BETWEEN 1 AND 3 THEN 'failed' ELSE 'sent' END,
        CASE WHEN {k} BETWEEN 1 AND 3 THEN 'SMTP relay timed out after 30 s' END,
        'sendgrid',
        CASE WHEN {k} BETWEEN 1 AND 3 THEN NULL ELSE 'SG' || {si} || '.filter-1.0' END,
        CASE WHEN {k} BETWEEN 1 AND 3 THEN NULL WHEN {k} = 0 THEN 'DELIVERED' ELSE 'NOT_DELIVERED' END,
        CASE {k} WHEN 0 THEN 'DELIVERED' WHEN 4 THEN 'BOUNCE' WHEN 5 THEN 'BOUNCE' WHEN 6 THEN 'BOUNCE'
                 WHEN 7 THEN 'BLOCKED' WHEN 8 THEN 'BLOCKED' WHEN 9 THEN 'DROPPED' END,
        CASE WHEN {k} BETWEEN 1 AND 3 THEN NULL ELSE {ts} END,
        CASE {k} WHEN 4 THEN '550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient''s email address for typos or unnecessary spaces, https://support.google.com/mail/?p=NoSuchUser'
                 WHEN 5 THEN '550 5.1.1 The email account that you tried to reach does not exist'
                 WHEN 6 THEN '550 5.2.1 mailbox disabled'
                 WHEN 7 THEN '554 5.7.1 Message rejected: content, links or reputation (""spam"")'
                 WHEN 8 THEN '421 4.7.28 rate limited, then expired'
                 WHEN 9 THEN 'Bounced Address: suppressed after an earlier bounce' END,
        0,
        CASE WHEN {k} BETWEEN 1 AND 3 THEN NULL ELSE {ts} END"""


def _seed(engine: Engine, n_total: int) -> None:
    with engine.begin() as c:
        c.execute(insert(Lender).values(id=1, slug="bench-lender", name="Bench Lending", created_at=NOW))
        c.execute(
            insert(Account),
            [
                dict(id=j, lender_id=1, kind="borrower", name=f"Borrower {j} Ñandú", email=f"user{j}@gmail.com",
                     search_text=f"borrower {j} user{j}@gmail.com", created_at=NOW)
                for j in range(1, BORROWERS + 1)
            ],
        )
        if is_sqlite(engine):
            ts = "strftime('%Y-%m-%d %H:%M:%S', '2026-11-20 12:00:00', '-' || (s.i * 2) || ' seconds') || '.000000'"
            c.exec_driver_sql(
                f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(n_total)}) "
                f"INSERT INTO message ({_COLUMNS}) SELECT {_values('s.i', 's.i', ts)} FROM s"
            )
        else:
            ts = "(TIMESTAMPTZ '2026-11-20 12:00:00+00' - s.i * INTERVAL '2 seconds')"
            c.execute(
                text(f"INSERT INTO message ({_COLUMNS}) SELECT {_values('s.i', 's.i::text', ts)} FROM generate_series(1, {int(n_total)}) AS s(i)")
            )
            c.exec_driver_sql("ANALYZE")  # as autovacuum would: planner statistics for every table


class RssPeak:
    """Peak resident memory while the block runs, sampled from /proc/self/statm."""

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.base = self.peak = self._rss()
        self._stop = threading.Event()

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self.PAGE

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssPeak:
        gc.collect()
        self.base = self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


@dataclass
class Result:
    backend: str
    method: str
    rows: int
    seconds: float
    cpu_seconds: float  # this process only (PostgreSQL's own work is in the server)
    peak_mb: float
    file_mb: float
    sha256: str = ""  # of the file written

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.rows / self.cpu_seconds if self.cpu_seconds else 0.0


def _measure(backend: str, method: str, fn: Callable[[Path], int], out: Path) -> Result:
    with RssPeak() as mem:
        c0 = time.process_time()
        run = timed(lambda: fn(out))
        cpu = time.process_time() - c0
    size = out.stat().st_size / 2**20
    digest = _digest(out)
    out.unlink()
    return Result(backend, method, run.result, run.seconds, cpu, mem.growth_mb, size, digest)


def bench_engine(engine: Engine, backend: str, failures: int, workdir: Path, with_pandas: bool = True) -> list[Result]:
    n_total = -(-failures * 10 // 9)  # 10 % delivered rows, which the export skips
    t0 = time.perf_counter()
    _seed(engine, n_total)
    spec = FailureExport(LogQuery(lender_id=1), span=SPAN_LENDER)
    with engine.connect() as c:
        expected = count_failures(c, OPS, spec)
    print(f"[{backend}] seeded {n_total:,} messages ({expected:,} failures) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    def ours(via_copy: bool) -> Callable[[Path], int]:
        def write(path: Path) -> int:
            rows = 0

            def count(n: int) -> None:
                nonlocal rows
                rows += n

            with path.open("wb") as fh:
                for chunk in stream_failures(engine, OPS, spec, source="bench", file_name=path.name, on_rows=count,
                                             via_copy=via_copy):
                    fh.write(chunk)
            return rows

        return write

    def pandas_way(path: Path) -> int:
        import pandas as pd

        with engine.connect() as c:
            df = pd.read_sql(export_select(OPS, spec), c)
        df.to_csv(path, index=False)
        rows = len(df)
        del df
        return rows

    results = [_measure(backend, CSV_MODULE, ours(False), workdir / "ours.csv")]
    if is_postgresql(engine):  # the lines written by PostgreSQL, sent by COPY: the page's and the CLI's way there
        results.append(_measure(backend, COPY, ours(True), workdir / "copy.csv"))
        if results[1].sha256 != results[0].sha256:
            raise AssertionError("the COPY file differs from the csv module's")
    for r in results:
        if r.rows != expected:
            raise AssertionError(f"{r.method}: exported {r.rows} rows, expected {expected}")
    if with_pandas:
        gc.collect()
        results.append(_measure(backend, "pandas read_sql + to_csv", pandas_way, workdir / "pandas.csv"))
    return results


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _backend(server_url: str | None, failures: int, workdir: Path, with_pandas: bool) -> list[Result]:
    """SQLite (`server_url` None) or a temporary database on the PostgreSQL server at `server_url`."""
    with TempDatabase.create(server_url, prefix="commlog_bench") as db:
        upgrade(db.engine)
        return bench_engine(db.engine, "postgresql" if server_url else "sqlite", failures, workdir, with_pandas)


def report(results: list[Result]) -> bool:
    ok = True
    rows = []
    for r in results:
        mark = ""
        if r.method.startswith("commlog"):
            fast = r.per_second >= (TARGET_COPY_ROWS_PER_S if r.method == COPY else TARGET_ROWS_PER_S)
            small = r.peak_mb < TARGET_PEAK_MB
            ok = ok and fast and small
            mark = "ok" if fast and small else "MISSED"
        rows.append([r.backend, r.method, r.rows, r.seconds, round(r.per_second), round(r.per_cpu_second), r.peak_mb, r.file_mb, mark])
    print(table(["backend", "method", "rows", "seconds", "rows/s", "rows/cpu-s", "peak RSS +MB", "file MB", "target"], rows,
                align="llrrrrrrl"))
    print(f"targets (commlog): >= {TARGET_ROWS_PER_S:,} rows/s through the csv module, >= {TARGET_COPY_ROWS_PER_S:,} "
          f"through COPY (wall clock), peak RSS growth < {TARGET_PEAK_MB:.0f} MB; the COPY file is byte for byte the other")
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (rows/cpu-s is this process's CPU time)")
    return ok


def run(rows: int = 1_000_000, backend: str = "both", pg_url: str = LOCAL_SERVER_URL, with_pandas: bool = True) -> int:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="commlog-bench-export-") as tmp:
        workdir = Path(tmp)
        if backend in ("sqlite", "both"):
            results += _backend(None, rows, workdir, with_pandas)
        if backend in ("postgresql", "both"):
            try:
                results += _backend(pg_url, rows, workdir, with_pandas)
            except ServerUnreachable as exc:
                print(f"[postgresql] {exc}: skipped", file=sys.stderr)
    return 0 if report(results) else 1


@register("export", "failures CSV export: 1M rows streamed by commlog beside pandas read_sql + to_csv")
def bench(ctx: BenchContext) -> int:
    """`python -m commlog bench --only export`: SQLite, or the PostgreSQL server `bench` was given.
    Arguments after `--` (--rows N, --no-pandas) apply; others are left to the other benches."""
    p = argparse.ArgumentParser(add_help=False)
    add_arguments(p)
    a, _ = p.parse_known_args(list(ctx.extra))
    if ctx.is_postgresql:
        return run(a.rows, "postgresql", ctx.database_url, not a.no_pandas)
    return run(a.rows, "sqlite", a.pg_url, not a.no_pandas)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=1_000_000, help="failure rows to export (default 1,000,000)")
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--pg-url", default=settings().bench_pg_url.reveal())
    p.add_argument("--no-pandas", action="store_true", help="skip the pandas comparison")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m commlog.bench.export", description=__doc__.splitlines()[0])
    add_arguments(p)
    a = p.parse_args(argv)
    return run(a.rows, a.backend, a.pg_url, not a.no_pandas)


if __name__ == "__main__":
    sys.exit(main())
