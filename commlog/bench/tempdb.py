"""Temporary databases for benches: a temp SQLite file, or a database created (and dropped) on a
PostgreSQL server."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from commlog import config
from commlog.db import make_engine
from commlog.migrate import upgrade


@dataclass
class TempDatabase:
    url: str
    engine: Engine
    _dir: Path | None = None
    _admin_url: str | None = None
    _name: str | None = None

    @classmethod
    def create(cls, server_url: str | None = None) -> "TempDatabase":
        if not server_url:
            d = Path(tempfile.mkdtemp(prefix="commlog-bench-"))
            url = f"sqlite:///{d / 'bench.sqlite3'}"
            db = cls(url, make_engine(url), _dir=d)
        else:
            name = f"commlog_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            finally:
                admin.dispose()
            url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
            db = cls(url, make_engine(url), _admin_url=server_url, _name=name)
        upgrade(db.engine)
        return db

    @property
    def label(self) -> str:
        return config.masked_url(self.url)

    def close(self) -> None:
        self.engine.dispose()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        if self._name is not None:
            admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
            finally:
                admin.dispose()


@dataclass
class SeededDatabase:
    db: TempDatabase
    result: object  # commlog.demo.seed.SeedResult
    seconds: float

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @classmethod
    def create(cls, server_url: str | None, n: int, seed: int, progress: bool = True, out: TextIO = sys.stdout) -> "SeededDatabase":
        from commlog.demo.seed import SeedConfig, seed_demo

        db = TempDatabase.create(server_url)
        try:
            print(f"seeding {n:,} demo messages into {db.label} ...", file=out, flush=True)
            t0 = time.perf_counter()
            # Tens of thousands of borrowers for the biggest lender at 1M (the type-ahead's real load).
            cfg = SeedConfig(lenders=8, borrowers=max(20_000, n // 10), messages=n, days=60, seed=seed, users=False)
            result = seed_demo(db.engine, cfg, progress=progress)
            seconds = time.perf_counter() - t0
            print(f"  seeded in {seconds:.1f} s ({result.events:,} events)", file=out, flush=True)
        except BaseException:
            db.close()
            raise
        return cls(db, result, seconds)

    def close(self) -> None:
        self.db.close()
