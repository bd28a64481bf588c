"""One module a CLI command; see commlog.cli."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from commlog import config
from commlog.db import make_engine
from commlog.migrate import upgrade


def utcnow() -> datetime:
    return datetime.now(UTC)


def engine_from_args(args, migrate: bool = True) -> Engine:
    """The engine for a command: --database-url, else COMMLOG_DATABASE_URL, else the embedded default."""
    from commlog.cli import CommandError

    url = getattr(args, "database_url", None) or config.database_url()
    engine = make_engine(url)
    if migrate:
        try:
            upgrade(engine)
        except Exception as exc:  # noqa: BLE001 - one line, password masked
            raise CommandError(f"cannot open database {config.masked_url(url)}: {type(exc).__name__}") from None
    return engine
