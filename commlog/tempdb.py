"""Temporary databases, for the benches (commlog.bench) and the test fixtures (tests/conftest.py).

`TempDatabase.create(server_url)` makes a database of its own: on the PostgreSQL server at
`server_url` (`CREATE DATABASE <prefix>_<random>`), or, without a server, a SQLite file in a new
temporary directory. `close()` (or leaving its `with` block) drops it (`DROP DATABASE … WITH
(FORCE)`, so connections still open do not keep it alive) or removes the directory. Nothing is
left behind on an exception or Ctrl-C either: a Ctrl-C (or SIGTERM) during the drop itself waits
until the drop is done. Only a process killed outright (SIGKILL) leaves its database behind.

It lives here, not in commlog.bench, so that the tests can use it without importing bench code.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from commlog.config import masked_url
from commlog.db import make_engine
from commlog.settings import LOCAL_PG_SERVER_URL

LOCAL_SERVER_URL = LOCAL_PG_SERVER_URL  # the local test server (COMMLOG_TEST_PG_URL, COMMLOG_BENCH_PG_URL default to it)


class ServerUnreachable(RuntimeError):
    """No PostgreSQL server answers at the URL given (the message names it, password masked)."""


class TempDatabase:
    """A database of our own, dropped by `close()`. `engine` is made on first use and disposed
    before the drop."""

    def __init__(self, url: str, drop: Callable[[], None]) -> None:
        self.url = url
        self._drop: Callable[[], None] | None = drop

    @classmethod
    def create(cls, server_url: str | None = None, prefix: str = "commlog_tmp") -> TempDatabase:
        """On the PostgreSQL server at `server_url` (raises ServerUnreachable when none answers), or
        a SQLite file when `server_url` is None."""
        if server_url is None:
            directory = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
            return cls(f"sqlite:///{directory / 'db.sqlite3'}", lambda: shutil.rmtree(directory, ignore_errors=True))
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin = create_engine(server_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})

        def drop() -> None:
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            finally:
                admin.dispose()

        try:
            conn = admin.connect()
        except Exception as exc:
            admin.dispose()
            raise ServerUnreachable(f"PostgreSQL not reachable at {masked_url(server_url)}") from exc
        try:
            with conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except BaseException:
            with _signals_held():
                drop()  # interrupted while the server was creating it: it may exist
            raise
        return cls(make_url(server_url).set(database=name).render_as_string(hide_password=False), drop)

    @property
    def label(self) -> str:
        """The URL with its password masked, for a log line."""
        return masked_url(self.url)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.url)

    def close(self) -> None:
        """Dispose the engine and drop the database; a second call does nothing."""
        if self._drop is None:
            return
        drop, self._drop = self._drop, None
        with _signals_held():
            if "engine" in self.__dict__:
                self.engine.dispose()
            drop()

    def __enter__(self) -> TempDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM wait until the block is done, then take effect as they would have
    (main thread only: the only thread Python runs signal handlers in)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda s, _frame: caught.append(s)) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    for signum in dict.fromkeys(caught):
        signal.raise_signal(signum)
