"""Process-wide resources, created once and shared by all sessions."""

from __future__ import annotations

import logging
import os

import streamlit as st
from sqlalchemy import Engine

from commlog import config
from commlog.db import make_engine

log = logging.getLogger("commlog.ui")


def database_url() -> str:
    # st.secrets is what AppTest can inject; the environment and secrets file come through config.
    try:
        from_secrets = st.secrets.get("COMMLOG_DATABASE_URL")
    except Exception:  # noqa: BLE001 - no secrets file is normal
        from_secrets = None
    return os.environ.get("COMMLOG_DATABASE_URL") or from_secrets or config.database_url()


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
    return url


def _cause(exc: Exception, url: str) -> str:
    """The driver's first line about it, for the log; the password masked should a driver echo it."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return config.without_password(lines[0][:300] if lines else "", url)


def ensure_ready() -> Engine:
    """The engine for a migrated database; shows a clear page and stops when it is unreachable."""
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
