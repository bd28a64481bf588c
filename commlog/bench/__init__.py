"""`python -m commlog bench`: the speed targets, one module per area.

Registry: a module in this package joins `bench` in one of two ways.

1. Register a function (preferred)::

       from commlog.bench import BenchContext, register

       @register("checks", "provider checks against the sandbox")
       def run(ctx: BenchContext) -> int:      # exit status: 0 ok, 1 target missed
           engine = ctx.seeded_engine(100_000)  # a temporary demo database of that size, shared
           ...
           ctx.print_table(["query", "median ms"], rows)
           return 0

2. Or just expose ``main(argv: list[str] | None) -> int`` (and optionally
   ``add_arguments(parser)``): it is registered under the module's name and receives the
   arguments given after ``--`` (plus ``--pg-url`` when `bench` got a PostgreSQL URL and the module
   accepts it).

``bench --only log,export`` runs a selection; without ``--only`` every registered bench runs, "log"
first. Temporary databases are created and dropped by `BenchContext` (commlog.bench.tempdb).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

_HELPERS = {"tempdb", "stats"}  # modules of this package that are not benches


@dataclass(frozen=True)
class Bench:
    name: str
    summary: str
    run: Callable[["BenchContext"], int]


_REGISTRY: dict[str, Bench] = {}


def register(name: str, summary: str):  # noqa: ANN201
    def deco(fn: Callable[[BenchContext], int]) -> Callable[[BenchContext], int]:
        _REGISTRY[name] = Bench(name, summary, fn)
        return fn

    return deco


def _main_adapter(name: str, module) -> Bench:  # noqa: ANN001
    def run(ctx: BenchContext) -> int:
        argv = list(ctx.extra)
        if ctx.database_url and ctx.is_postgresql and hasattr(module, "add_arguments"):
            probe = argparse.ArgumentParser(add_help=False)
            module.add_arguments(probe)
            if "--pg-url" in probe._option_string_actions and "--pg-url" not in argv:  # noqa: SLF001
                argv += ["--pg-url", ctx.database_url]
        return int(module.main(argv) or 0)

    doc = (module.__doc__ or name).strip().splitlines()[0]
    return Bench(name, doc, run)


def discover() -> dict[str, Bench]:
    """Every bench in this package, "log" first, then by name."""
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _HELPERS:
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
        return bool(self.database_url) and self.database_url.startswith("postgresql")

    @property
    def backend_label(self) -> str:
        return "PostgreSQL (temporary database)" if self.is_postgresql else "SQLite (temporary file)"

    def seeded_engine(self, n: int):  # noqa: ANN201 - sqlalchemy Engine
        """A migrated temporary database holding the demo data with `n` messages (seeded once per
        size and run, shared by every bench of the run)."""
        if n not in self._dbs:
            from commlog.bench.tempdb import SeededDatabase

            self._dbs[n] = SeededDatabase.create(self.database_url, n, self.seed, progress=self.progress, out=self.out)
        return self._dbs[n].engine

    def seeded(self, n: int):  # noqa: ANN201 - SeededDatabase (engine, seed result, seconds)
        self.seeded_engine(n)
        return self._dbs[n]

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def print_table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> None:
        """A plain text table; `align` per column: 'l' or 'r' (default: text left, numbers right)."""
        cells = [[str(h) for h in headers]] + [[_fmt(v) for v in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        if align is None:
            align = "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l" for i in range(len(headers)))
        for k, r in enumerate(cells):
            line = "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align))
            self.print(line.rstrip())
            if k == 0:
                self.print("  ".join("-" * w for w in widths))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
