"""`init-db`: create or upgrade the schema (Alembic migrations)."""

from __future__ import annotations

from commlog import config
from commlog.commands import engine_from_args
from commlog.migrate import current_revision


def register(subparsers) -> None:
    p = subparsers.add_parser("init-db", help="create or upgrade the database schema")
    p.set_defaults(func=run)


def run(args) -> int:
    engine = engine_from_args(args)
    print(f"database {config.masked_url(str(engine.url.render_as_string(hide_password=False)))} at revision {current_revision(engine)}")
    return 0
