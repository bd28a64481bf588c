"""Database bootstrap at app start: migrate, keep the monthly partitions (PostgreSQL,
commlog.partitions: months ahead created, COMMLOG_RETAIN_MONTHS applied), and fill the *embedded default* database with a demo
set the first time (when it has no lenders). A database named by COMMLOG_DATABASE_URL (or passed
explicitly and different from the default) is migrated but never seeded: seeding it is an explicit
`python -m commlog seed-demo`.

Two app sessions starting at once: an exclusive file lock next to the SQLite file serializes
migrate + seed, and the "no lenders yet" test is repeated under the lock, so seeding happens once.
"""

from __future__ import annotations

import fcntl
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from commlog import config
from commlog.db import make_engine
from commlog.migrate import upgrade
from commlog.partitions import Maintenance, run_maintenance
from commlog.unit_of_work import platform_reading

log = logging.getLogger(__name__)

# The default demo set: five lenders of very different sizes, ~60 days. Seeds in a few seconds.
DEFAULT_DEMO = dict(lenders=5, borrowers=8_000, messages=70_000, days=60, seed=1)


@dataclass
class BootstrapResult:
    url: str  # password masked
    migrated: bool = True
    seeded: bool = False
    is_default: bool = False
    lenders: int = 0
    messages: int = 0
    events: int = 0
    seconds: float = 0.0
    logins: list[tuple[str, str, str | None]] = field(default_factory=list)
    note: str = ""
    partitions: Maintenance | None = None  # PostgreSQL: the months created ahead, those retention dropped


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _lender_count(engine) -> int:
    from commlog.models import Lender

    with platform_reading(engine) as conn:
        return conn.execute(select(func.count()).select_from(Lender)).scalar_one()


def _keep_partitions(engine) -> Maintenance | None:
    """The months ahead and retention (PostgreSQL). A role that may not create tables (the app's
    own role, README "Row-level security") cannot make a new month: that is logged, never a reason
    not to start (rows of a month without its partition go to the default one until the owner runs
    `python -m commlog partitions`)."""
    try:
        return run_maintenance(engine)
    except Exception as exc:  # noqa: BLE001 - logged; the app starts, the default partition takes the rows
        log.warning("partition maintenance failed (run `python -m commlog partitions` as the tables' owner, "
                    "e.g. daily from cron): %s", str(getattr(exc, "orig", None) or exc).splitlines()[0][:300])
        return None


def ensure_database(url: str | None = None, *, demo: dict | None = None, progress: bool = False) -> BootstrapResult:
    """Migrate the database; seed the demo set if it is the embedded default and has no lenders.

    `demo` overrides DEFAULT_DEMO's sizes (tests). Raises whatever the driver raises when the
    database cannot be reached; the caller shows it (password masked via config.masked_url).
    """
    from commlog.demo.seed import SeedConfig, seed_demo

    t0 = time.perf_counter()
    url = url or config.database_url()
    is_default = config.is_default_database(url)
    result = BootstrapResult(url=config.masked_url(url), is_default=is_default)
    engine = make_engine(url)
    try:
        if not is_default:
            upgrade(engine)
            result.partitions = _keep_partitions(engine)
            result.note = "configured database: migrated, never seeded automatically"
            return result
        db_path = make_url(url).database or str(config.DEFAULT_SQLITE_PATH)
        with _file_lock(Path(db_path).with_name(Path(db_path).name + ".bootstrap.lock")):
            upgrade(engine)
            result.partitions = _keep_partitions(engine)
            result.lenders = _lender_count(engine)
            if result.lenders:
                result.note = "embedded default database already has data"
                return result
            cfg = SeedConfig(**{**DEFAULT_DEMO, **(demo or {})})
            seeded = seed_demo(engine, cfg, progress=progress)
            result.seeded = True
            result.lenders = seeded.lenders
            result.messages = seeded.messages
            result.events = seeded.events
            result.logins = seeded.logins
            result.note = "embedded default database was empty: seeded the demo set"
        return result
    finally:
        engine.dispose()
        result.seconds = time.perf_counter() - t0


def answers(url: str) -> bool:
    """Does the database accept a connection and a SELECT 1 (whatever else fails)?"""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means: it does not answer
        return False
    finally:
        engine.dispose()
