"""A PostgreSQL schema of a test's own inside the run's database (tests/conftest.py's pg_engine)."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, create_engine, text

from commlog.db import make_engine


def schema_engine(pg_url: str) -> tuple[Engine, str]:
    """An engine whose search path is a new, empty schema; and the schema's name."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
    return eng, schema


def drop_schema(pg_url: str, schema: str) -> None:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()
