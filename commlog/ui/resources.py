"""Process-wide resources, created once and shared by all sessions."""

from __future__ import annotations

import logging

import streamlit as st
from sqlalchemy import Engine

from commlog import config, partitions
from commlog.db import is_postgresql, make_engine
from commlog.settings import SettingsError, settings
from commlog.ui.format import plain

log = logging.getLogger("commlog.ui")

DATABASE_URL = "COMMLOG_DATABASE_URL"


def database_url() -> str:
    """COMMLOG_DATABASE_URL from the environment, else from st.secrets (what AppTest can inject),
    else from commlog.settings (the secrets file, or the embedded default). SettingsError when a
    setting cannot be used."""
    current = settings()
    if current.source(DATABASE_URL) == "environment":
        return current.database_url.reveal()
    try:
        from_secrets = st.secrets.get(DATABASE_URL)
    except Exception:  # noqa: BLE001 - no secrets file is normal
        from_secrets = None
    return from_secrets or current.database_url.reveal()


@st.cache_resource(show_spinner=False, on_release=lambda e: e.dispose())
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def engine() -> Engine:
    return _engine_for(database_url())


@st.cache_resource(show_spinner="Preparing the database (first start seeds demo data)…")
def _bootstrapped(url: str) -> str:
    """Migrate (and, for the embedded default only, seed demo data) once per process and URL."""
    from commlog.bootstrap import ensure_database

    result = ensure_database(url)
    log.info("database ready: %s", result)
    # PostgreSQL: the months ahead and retention, once a day in this process too (commlog.partitions)
    if is_postgresql(url):
        partitions.start_daily(lambda: _engine_for(url), url)
    return url


def _cause(exc: Exception, url: str) -> str:
    """The driver's first line about it, for the log; the password masked should a driver echo it."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return config.without_password(lines[0][:300] if lines else "", url)


def _settings_or_stop() -> None:
    """Every setting usable, or the page says which one is not (never a secret's value) and stops."""
    try:
        settings()
    except SettingsError as exc:
        log.error("settings cannot be used: %s", exc)
        st.error(
            "**commlog cannot start: a setting has a value it cannot use.**\n\n"
            + "\n".join(f"- {plain(problem)}" for problem in exc.problems)
            + "\n\nCorrect it where it is set (the environment, or `.streamlit/secrets.toml`), then reload this "
            "page (a change to the environment needs a restart of commlog)."
        )
        st.stop()


def ensure_ready() -> Engine:
    """The engine for a migrated database; shows a clear page and stops when a setting cannot be
    used or the database is unreachable."""
    _settings_or_stop()
    url = database_url()
    try:
        _bootstrapped(url)
        eng = _engine_for(url)
        with eng.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return eng
    except Exception as exc:  # noqa: BLE001 - the page names the database, never the password
        _engine_for.clear()
        _bootstrapped.clear()
        from commlog.bootstrap import answers

        log.warning("database unavailable: %s (%s: %s)", config.masked_url(url), type(exc).__name__, _cause(exc, url))
        if answers(url):  # it answers, so preparing it failed: most often a migration the app's login may not run
            st.error(
                f"**The database answers, but commlog could not prepare it.**\n\n`{config.masked_url(url)}` "
                f"({type(exc).__name__}). If a new commlog version was just deployed, its database update must be "
                "run by the database owner: `python -m commlog --database-url OWNER_URL init-db` (the app's own "
                "login cannot change tables). Then reload this page."
            )
        else:
            st.error(
                f"**The database is not reachable.**\n\ncommlog could not open `{config.masked_url(url)}` "
                f"({type(exc).__name__}). Check that the server is running and the URL in "
                "`COMMLOG_DATABASE_URL` is right, then reload this page."
            )
        st.stop()
