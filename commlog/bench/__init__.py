"""`python -m commlog bench`: the speed targets, one module per area.

Registry: a module in this package joins `bench` in one of two ways.

1. Register a function (preferred)::

       from commlog.bench import BenchContext, register

       @register("checks", "provider checks against the sandbox")
       def run(ctx: BenchContext) -> int:        # exit status: 0 ok, 1 target missed
           engine = ctx.seeded(100_000).engine  # a temporary demo database of that size, shared
           ...
           ctx.print_table(["query", "median ms"], rows)
           return 0

2. Or just expose ``main(argv: list[str] | None) -> int`` (and optionally
   ``add_arguments(parser)``): it is registered under the module's name and receives the
   arguments given after ``--`` (plus ``--pg-url`` when `bench` got a PostgreSQL URL and the module
   accepts it).

``bench --only log,export`` runs a selection; without ``--only`` every registered bench runs, "log"
first. Temporary databases come from commlog.tempdb (always dropped); times and percentiles from
commlog.bench.stats; every table is printed by `table` here.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from commlog.db import is_postgresql
from commlog.migrate import upgrade
from commlog.tempdb import TempDatabase

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from commlog.demo.seed import SeedResult


@dataclass(frozen=True)
class Bench:
    name: str
    summary: str
    run: Callable[[BenchContext], int]


_REGISTRY: dict[str, Bench] = {}


def register(name: str, summary: str):
    def deco(fn: Callable[[BenchContext], int]) -> Callable[[BenchContext], int]:
        _REGISTRY[name] = Bench(name, summary, fn)
        return fn

    return deco


def _main_adapter(name: str, module) -> Bench:
    def run(ctx: BenchContext) -> int:
        argv = list(ctx.extra)
        if ctx.database_url and ctx.is_postgresql and hasattr(module, "add_arguments"):
            probe = argparse.ArgumentParser(add_help=False)
            module.add_arguments(probe)
            if "--pg-url" in probe._option_string_actions and "--pg-url" not in argv:
                argv += ["--pg-url", ctx.database_url]
        return int(module.main(argv) or 0)

    doc = (module.__doc__ or name).strip().splitlines()[0]
    return Bench(name, doc, run)


def discover() -> dict[str, Bench]:
    """Every bench in this package, "log" first, then by name."""
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        registered = any(b.run.__module__ == module.__name__ for b in _REGISTRY.values())
        if not registered and callable(getattr(module, "main", None)):
            _REGISTRY.setdefault(info.name, _main_adapter(info.name, module))
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[0] != "log", kv[0])))


@dataclass
class BenchContext:
    """What every bench gets: sizes, repetitions, the database server, shared seeded databases."""

    database_url: str | None = None  # a PostgreSQL server URL; None = temporary SQLite files
    sizes: Sequence[int] = (100_000, 1_000_000)
    repeat: int = 20
    naive_repeat: int = 3
    seed: int = 1
    extra: Sequence[str] = ()
    out: TextIO = field(default_factory=lambda: sys.stdout)
    progress: bool = True
    _dbs: dict = field(default_factory=dict)

    @property
    def is_postgresql(self) -> bool:
        return bool(self.database_url) and is_postgresql(self.database_url)

    @property
    def backend_label(self) -> str:
        return "PostgreSQL (temporary database)" if self.is_postgresql else "SQLite (temporary file)"

    def seeded(self, n: int) -> Seeded:
        """A migrated temporary database holding the demo data with `n` messages (seeded once per
        size and run, shared by every bench of the run)."""
        if n not in self._dbs:
            self._dbs[n] = Seeded.create(self.database_url, n, self.seed, progress=self.progress, out=self.out)
        return self._dbs[n]

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def print_table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> None:
        self.print(table(headers, rows, align))


@dataclass
class Seeded:
    """A temporary database with demo data: the seeder's result and how long seeding took."""

    db: TempDatabase
    result: SeedResult
    seconds: float

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @classmethod
    def create(cls, server_url: str | None, n: int, seed: int, progress: bool, out: TextIO) -> Seeded:
        from commlog.demo.seed import SeedConfig, seed_demo

        db = TempDatabase.create(server_url, prefix="commlog_bench")
        try:
            upgrade(db.engine)
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


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None, markdown: bool = False) -> str:
    """Every bench's table: columns padded to their widest cell, a rule under the headers. `align`,
    one letter per column: 'l' or 'r' (default: right for a number in the first row, else left).
    ints get thousands separators; floats two decimals, one from 100 up. `markdown`: a Markdown
    table (same cells, `|` between them)."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if align is None:
        align = "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l" for i in range(len(headers)))
    lines = []
    for r in cells:
        padded = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)]
        lines.append(f"| {' | '.join(padded)} |" if markdown else "  ".join(padded).rstrip())
    if markdown:
        rule = "|" + "|".join("-" * (w + 1) + (":" if a == "r" else "-") for w, a in zip(widths, align)) + "|"
    else:
        rule = "  ".join("-" * w for w in widths)
    lines.insert(1, rule)
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
