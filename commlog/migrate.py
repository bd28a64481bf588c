"""Apply Alembic migrations programmatically: at app start and by `python -m commlog init-db`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from commlog.tenancy import all_lenders

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to `revision`, in one transaction that declares every lender (row-level security,
    commlog.tenancy): a migration that moves data must see all of it, even as a non-superuser owner."""
    with all_lenders(), engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate back to `revision` (developers and tests), across every lender like `upgrade`."""
    with all_lenders(), engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
