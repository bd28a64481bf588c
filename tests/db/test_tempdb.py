"""commlog.tempdb: a temporary database is dropped when its block ends, also on an error or Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from commlog.tempdb import ServerUnreachable, TempDatabase


def _databases(server_url: str) -> set[str]:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    finally:
        admin.dispose()


def _name(db: TempDatabase) -> str:
    return make_url(db.url).database


def test_sqlite_file_and_its_directory_are_removed():
    with TempDatabase.create() as db:
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))
        directory = Path(_name(db)).parent
        assert directory.is_dir()
    assert not directory.exists()
    db.close()  # a second close does nothing


def test_postgresql_database_is_dropped_with_a_connection_still_open(pg_database_url):
    db = TempDatabase.create(pg_database_url, prefix="commlog_test_tmp")
    other = create_engine(db.url)  # a connection close() knows nothing of
    try:
        held = other.connect()
        held.execute(text("SELECT 1"))
        assert _name(db).startswith("commlog_test_tmp_") and _name(db) in _databases(pg_database_url)
        db.close()
        held.invalidate()  # its server process was ended by the drop
    finally:
        db.close()
        other.dispose()
    assert _name(db) not in _databases(pg_database_url)


@pytest.mark.parametrize("error", [RuntimeError("the bench failed"), KeyboardInterrupt()])
def test_postgresql_database_is_dropped_on_an_error_or_ctrl_c(pg_database_url, error):
    with pytest.raises(type(error)):
        with TempDatabase.create(pg_database_url, prefix="commlog_test_tmp") as db:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            raise error
    assert _name(db) not in _databases(pg_database_url)


def _exit(signum, _frame):
    raise SystemExit(128 + signum)  # as `python -m commlog bench` answers SIGTERM


# Each case installs its handler itself: a process started in the background by a shell without job
# control (`cmd &` in a script, nohup, cron) begins with SIGINT ignored, and the test must not depend
# on how pytest was started.
@pytest.mark.parametrize(
    ("signum", "handler", "raised"),
    [
        (signal.SIGINT, signal.default_int_handler, KeyboardInterrupt),
        (signal.SIGTERM, _exit, SystemExit),
        (signal.SIGINT, signal.SIG_IGN, None),
    ],
    ids=["ctrl-c", "sigterm", "ctrl-c-ignored"],
)
def test_a_signal_during_the_drop_waits_until_it_is_done(monkeypatch, signum, handler, raised):
    """Ctrl-C pressed again (or a SIGTERM) while the drop runs: the drop finishes, then it counts;
    a Ctrl-C the process ignores stays ignored."""
    previous = signal.signal(signum, handler)
    try:
        db = TempDatabase.create()
        directory = Path(_name(db)).parent
        real_rmtree = shutil.rmtree

        def interrupted_rmtree(path, **kw):
            os.kill(os.getpid(), signum)
            real_rmtree(path, **kw)

        monkeypatch.setattr(shutil, "rmtree", interrupted_rmtree)
        if raised is None:
            db.close()
        else:
            with pytest.raises(raised):
                db.close()
        assert not directory.exists()
        assert signal.getsignal(signum) is handler
    finally:
        signal.signal(signum, previous)


def test_no_server_is_a_clear_error_without_the_password():
    with pytest.raises(ServerUnreachable) as caught:
        TempDatabase.create("postgresql+psycopg://bench:s3cret@127.0.0.1:1/postgres")
    assert "PostgreSQL not reachable at" in str(caught.value)
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)
