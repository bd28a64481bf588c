"""Shared fixtures: a migrated database per test, on SQLite and (when it answers) PostgreSQL.

PostgreSQL: one database per test run (`commlog_test_<random>`, made and dropped by commlog.tempdb,
as the benches make theirs), one schema per test inside it. COMMLOG_TEST_PG_URL points elsewhere
(default: the local server, database `test`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from commlog.db import make_engine
from commlog.settings import reload as reload_settings
from commlog.settings import settings
from commlog.tempdb import ServerUnreachable, TempDatabase
from tests.support.databases import MigratedFiles, MigratedSchemas, drop_schema
from tests.support.factories import NOW

PG_ADMIN_URL = settings().test_pg_url.reveal()  # COMMLOG_TEST_PG_URL

# Fixtures that several kinds of tests use, from tests/support.
pytest_plugins = ["tests.support.export_world", "tests.support.tenancy_world"]



def pytest_collection_modifyitems(config, items):
    """The browser tests first. pytest-xdist hands each worker one module at a time in this order
    (pytest.ini: --dist loadscope --no-loadscope-reorder); left to itself it orders modules by how
    many tests they hold, which put most browser modules (1 to 5 tests, but 8 to 46 s each) among
    the last. Longest first, the run ends on many small modules that both workers share."""
    e2e = Path(__file__).parent / "e2e"
    items.sort(key=lambda item: e2e not in Path(str(item.path)).parents)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A database of this run's own on the PostgreSQL server, dropped after the run."""
    try:
        db = TempDatabase.create(PG_ADMIN_URL, prefix="commlog_test")
    except ServerUnreachable as exc:
        pytest.skip(str(exc))
    with db:
        # A throwaway database: a commit need not wait for the disk (what a crash could lose is
        # dropped anyway). Every later connection to it, the tests' servers' too, inherits this.
        admin = create_engine(db.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{make_url(db.url).database}" SET synchronous_commit = off'))
        admin.dispose()
        yield db.url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'commlog.sqlite3'}"


@pytest.fixture(scope="session")
def migrated_files(tmp_path_factory) -> MigratedFiles:
    return MigratedFiles(tmp_path_factory.mktemp("migrated"))


@pytest.fixture(scope="session")
def migrated_schemas(pg_database_url) -> MigratedSchemas:
    return MigratedSchemas(pg_database_url)


@pytest.fixture
def sqlite_engine(sqlite_url, migrated_files) -> Iterator[Engine]:
    """A SQLite file of the test's own at the newest migration."""
    migrated_files.copy_to(Path(make_url(sqlite_url).database))
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_database_url, migrated_schemas) -> Iterator[Engine]:
    """A PostgreSQL schema of the test's own at the newest migration."""
    eng, schema = migrated_schemas.new()
    yield eng
    eng.dispose()
    drop_schema(pg_database_url, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request) -> Engine:
    """A freshly migrated database; every test using it runs on both backends."""
    return request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_engine")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """commlog's settings are read once per process: every test reads them afresh (after its
    fixtures' monkeypatch.setenv) and leaves none behind. A test that changes the environment after
    something read them calls `commlog.settings.reload()`, or sets it through the `env` fixture."""
    reload_settings()
    yield
    reload_settings()


@pytest.fixture
def env(monkeypatch) -> Callable[..., None]:
    """`env(NAME="value", OTHER=None)`: set (None: remove) environment variables for this test and
    re-read commlog's settings."""

    def set_env(**values: str | None) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        reload_settings()

    return set_env


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """Streamlit caches are process-global: every test starts and ends with them empty."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def page_browser(monkeypatch):
    """A browser for AppTest pages (tests.support.app.PageBrowser): its `commlog_browser` cookie in
    every script run's st.context.cookies, and the page's downloads fetched with it."""
    import secrets

    from streamlit.runtime import context

    from tests.support.app import PageBrowser

    browser = PageBrowser(secrets.token_urlsafe(32))
    monkeypatch.setattr(context, "_get_client_context", browser.client_context)
    return browser


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes() -> Iterator[None]:
    """argon2 at the product's cost (RFC 9106's low-memory profile: 64 MiB, three passes) takes
    0.1-0.25 s a hash here, and the suite creates and signs in users by the thousand: it hashes at
    argon2's smallest cost instead, which a hash carries in its own text, so every check still runs
    argon2. What it costs is not under test here; tests/unit/test_password_hashing.py checks that
    the product, in an interpreter of its own, hashes at its full cost. (The browser tests' servers
    and the CLI runs in subprocesses hash at the product's cost.)"""
    from argon2 import PasswordHasher

    from commlog import auth

    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    patch = pytest.MonkeyPatch()
    patch.setattr(auth, "_hasher", quick)
    patch.setattr(auth, "_DUMMY_HASH", quick.hash("commlog-no-such-user-placeholder"))
    yield
    patch.undo()
