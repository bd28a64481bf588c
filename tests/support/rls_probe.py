"""A pytest plugin for developers: which code begins a transaction without a lender scope?

Row-level security fails closed (migration 0010), but the test suite's PostgreSQL role is a
superuser, which row-level security never applies to; so a code path that forgot its scope passes
every test except tests/db/test_rls.py. Run the suites with this plugin to list them:

    python -m pytest -p tests.support.rls_probe tests/db tests/pages -p no:cacheprovider

At the end it prints every place that opened a connection whose transaction began with no scope
(on SQLite too, where it changes nothing but would on PostgreSQL), innermost frame first, with a
count. Lines starting in tests/ are tests' own connections (fixtures building worlds: fine); a line
starting in commlog/, pages/, app.py or launcher.py is an app path to fix (read lender data only in
a unit of work, `commlog.unit_of_work`), unless it reads no lender-owned table (`SELECT 1`,
alembic_version).
"""

from __future__ import annotations

import collections
import traceback
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from commlog import tenancy
from commlog.db import backend

ROOT = Path(__file__).resolve().parents[2]
FOUND: collections.Counter[str] = collections.Counter()


def _where(stack: list[traceback.FrameSummary]) -> str:
    ours = [f"{Path(fr.filename).relative_to(ROOT)}:{fr.lineno} {fr.name}" for fr in stack
            if fr.filename.startswith(str(ROOT)) and "/.venv/" not in fr.filename
            and not fr.filename.endswith(("commlog/db.py", "rls_probe.py"))]
    return " <- ".join(reversed(ours[-4:])) if ours else "(a script outside the repository, e.g. AppTest.from_function)"


@event.listens_for(Engine, "engine_connect")
def _opened(conn, *_args) -> None:
    conn.info["rls_probe_opened_at"] = traceback.extract_stack()


@event.listens_for(Engine, "begin")
def _began(conn) -> None:
    if tenancy.current_lender() is None:
        FOUND[f"{backend(conn)}: {_where(conn.info.get('rls_probe_opened_at') or traceback.extract_stack())}"] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    app = {k: n for k, n in FOUND.items() if not k.split(": ", 1)[1].startswith("tests/")}
    terminalreporter.section("transactions begun without a lender scope (tests.support.rls_probe)")
    terminalreporter.write_line(f"{sum(FOUND.values())} in all, at {len(FOUND)} places; outside tests/: {len(app)}")
    for where, n in sorted(app.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{n:6}  {where}")
