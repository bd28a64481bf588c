"""Databases of a test's own: a PostgreSQL schema inside the run's database, or a SQLite file
(tests/conftest.py's pg_engine and sqlite_engine), each already at the newest migration.

Migrating each test's database takes about half a second on PostgreSQL (a third of the suite's
database time), so each backend is migrated once per run and per UTC month (monthly partitions,
commlog.partitions, are made from "now"), and every test gets a copy: on PostgreSQL the migrated
schema's `pg_dump` replayed under the test's schema name, on SQLite the migrated file copied. Where
`pg_dump` is missing or cannot read the server, each test's schema is migrated itself, as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from commlog.db import make_engine
from commlog.migrate import upgrade


def _schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def schema_engine(pg_url: str) -> tuple[Engine, str]:
    """An engine whose search path is a new, empty schema; and the schema's name."""
    schema = _schema_name()
    with create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return _engine_on(pg_url, schema), schema


def _engine_on(pg_url: str, schema: str) -> Engine:
    return make_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})


def drop_schema(pg_url: str, schema: str) -> None:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@dataclass
class MigratedSchemas:
    """Migrated schemas for the run's PostgreSQL database at `url`."""

    url: str
    _month: str | None = None
    _script: str | None = None  # the migrated template schema's DDL and rows, the name as TEMPLATE

    TEMPLATE = "commlog_migrated_template"

    def new(self) -> tuple[Engine, str]:
        """An engine on a new schema at the newest migration; and the schema's name."""
        script = self._script_for_this_month()
        if script is None:
            eng, schema = schema_engine(self.url)
            upgrade(eng)
            return eng, schema
        schema = _schema_name()
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(script.replace(self.TEMPLATE, schema))
        finally:
            admin.dispose()
        return _engine_on(self.url, schema), schema

    def _script_for_this_month(self) -> str | None:
        month = _month()
        if self._month != month:
            self._month, self._script = month, self._dump()
        return self._script

    def _dump(self) -> str | None:
        eng, schema = schema_engine(self.url)
        try:
            upgrade(eng)
            eng.dispose()
            u = make_url(self.url)
            args = ["pg_dump", "--schema", schema, "--inserts", "--no-owner", "--no-privileges",
                    "--host", u.host or "127.0.0.1", "--port", str(u.port or 5432), "--dbname", u.database or ""]
            if u.username:
                args += ["--username", u.username]
            try:
                run = subprocess.run(args, capture_output=True, text=True, timeout=60, env=_pg_env(u))
            except (OSError, subprocess.TimeoutExpired):
                return None
            if run.returncode != 0 or f"CREATE SCHEMA {schema};" not in run.stdout:
                return None
            # psql's own commands (\restrict …) are not SQL; everything else runs as one script.
            lines = (line for line in run.stdout.splitlines() if not line.startswith("\\"))
            return "\n".join(lines).replace(schema, self.TEMPLATE)
        finally:
            eng.dispose()
            drop_schema(self.url, schema)


def _pg_env(u) -> dict[str, str]:
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    return env


@dataclass
class MigratedFiles:
    """Migrated SQLite files: one migrated per UTC month in `directory`, copied for each test."""

    directory: Path
    _month: str | None = None

    def copy_to(self, path: Path) -> None:
        template = self.directory / "migrated.sqlite3"
        month = _month()
        if self._month != month:
            template.unlink(missing_ok=True)
            eng = make_engine(f"sqlite:///{template}")
            upgrade(eng)
            eng.dispose()  # the last connection's close folds the write-ahead log into the file
            self._month = month
        shutil.copyfile(template, path)
