"""First start: the embedded default database is migrated and seeded once; a database named by
COMMLOG_DATABASE_URL (or any other URL) is migrated and never seeded."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from commlog import auth, config
from commlog.bootstrap import DEFAULT_DEMO, ensure_database
from commlog.db import make_engine
from commlog.demo.personas import PERSONAS
from commlog.migrate import current_revision
from commlog.models import Account, AppUser, Lender, Message

TINY = dict(lenders=3, borrowers=120, messages=600, days=20)
WITH_PERSONAS = 600 + sum(len(p.emails) for p in PERSONAS)  # the demo personas' emails come on top


@pytest.fixture
def default_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data" / "commlog.sqlite3"
    monkeypatch.setattr(config, "DEFAULT_SQLITE_PATH", path)
    monkeypatch.delenv("COMMLOG_DATABASE_URL", raising=False)
    monkeypatch.setenv("COMMLOG_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    return path


def _counts(url: str) -> tuple[int, int, int]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (Lender, Message, AppUser))
    finally:
        eng.dispose()


def test_default_database_is_seeded_once(default_db, now):
    url = config.default_database_url()
    assert config.is_default_database(url)
    first = ensure_database(demo=TINY)
    assert first.seeded and first.is_default and first.lenders == 3 and first.messages == 600
    assert first.logins and first.logins[0][0] == "ops@commlog.example"
    assert default_db.exists()
    lenders, messages, users = _counts(url)
    assert (lenders, messages) == (3, WITH_PERSONAS) and users == 5  # two ops (four eyes) + one admin per lender

    second = ensure_database(demo=TINY)
    assert not second.seeded and second.lenders == 3
    assert _counts(url)[:2] == (3, WITH_PERSONAS)

    eng = make_engine(url)
    with eng.begin() as conn:  # the documented demo login works
        p = auth.authenticate(conn, "admin@harbor-credit.example", "demo-password-1", now)
        assert p.lender_id is not None
        # ... and sees the README's personas (its borrowers)
        planted = conn.execute(select(Account.lender_id).where(Account.email.in_([x.email for x in PERSONAS]))).scalars().all()
        assert planted == [p.lender_id] * len(PERSONAS)
    eng.dispose()


def test_two_sessions_starting_at_once_seed_once(default_db):
    results, errors = [], []

    def start():
        try:
            results.append(ensure_database(demo=TINY))
        except Exception as exc:  # noqa: BLE001 - any failure of a starting session is the finding
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sum(r.seeded for r in results) == 1
    assert _counts(config.default_database_url())[:2] == (3, WITH_PERSONAS)


def test_configured_database_is_never_seeded(default_db, tmp_path, monkeypatch):
    other = f"sqlite:///{tmp_path / 'configured.sqlite3'}"
    monkeypatch.setenv("COMMLOG_DATABASE_URL", other)
    result = ensure_database(demo=TINY)
    assert not result.seeded and not result.is_default and result.url == other
    assert current_revision(make_engine(other)) is not None  # migrated
    assert _counts(other) == (0, 0, 0)
    assert not default_db.exists()  # the default database was not touched either


def test_explicit_other_url_is_never_seeded(default_db, tmp_path):
    other = f"sqlite:///{tmp_path / 'explicit.sqlite3'}"
    assert not ensure_database(other, demo=TINY).seeded
    assert _counts(other) == (0, 0, 0)


def test_postgresql_database_is_migrated_not_seeded(pg_database_url, default_db):
    result = ensure_database(pg_database_url, demo=TINY)
    assert not result.seeded and not result.is_default
    assert _counts(pg_database_url)[0] == 0


def test_default_demo_size_is_the_documented_one():
    assert DEFAULT_DEMO["lenders"] == 5 and 60_000 <= DEFAULT_DEMO["messages"] <= 80_000 and DEFAULT_DEMO["days"] == 60
