"""What a server's start leaves on the heap is set aside from Python's garbage collector.

Python's cyclic collector runs now and then as objects pile up, and its full collection walks every
object the process holds: on an app server, about 190,000 made by the imports alone (Streamlit,
pandas, pyarrow, SQLAlchemy, Altair and its Vega-Lite schema). Each full collection held the GIL for
136–383 ms in a probe replica walked by four sessions (2026-12-04), and every session on that server
waited for it: a click that landed on one took that much longer. Those objects live as long as the
server, so walking them finds nothing to free.

`settle()`, called once when the server starts (launcher.py), imports what the pages will import on
their first run, collects once, and freezes what is left (`gc.freeze()`): the collector then walks
only what the server makes afterwards (sessions, caches, each run's objects: about 29,000 objects
after four sessions' walk; its full collections took 22–181 ms in the same walks, four of five under
65 ms). Objects made at start that become garbage later are still freed by their reference counts;
only a cycle among them would stay.
"""

from __future__ import annotations

import ast
import gc
import importlib
import logging
import pkgutil
from pathlib import Path

from commlog.settings import PROJECT_ROOT

# The entry point and the pages: what they import is imported at start (read from their source).
PAGE_SOURCES = (PROJECT_ROOT / "app.py", *sorted((PROJECT_ROOT / "pages").glob("*.py")))
# Besides, every component under commlog.ui (a page's first run imports those its sections use), but
# the soak's driver, which no page imports (`bench --only soak` drives the pages with it).
NOT_AT_START = frozenset({"commlog.ui.soak_driver"})
# And what a page's first run imports on its way: the database's preparation (commlog.bootstrap:
# the migrations, Alembic and its templates), PostgreSQL's driver (the first connection), and
# Streamlit's table of emojis, which st.set_page_config imports to tell an emoji icon from a file's
# (its patterns compiled on import: 59–80 ms, 2026-12-05, paid by each server's first visitor before).
FIRST_RUN = ("commlog.bootstrap", "psycopg", "streamlit.emojis")

log = logging.getLogger(__name__)


def imported_by(source: Path) -> set[str]:
    """The modules a Python file imports by absolute name (`import a.b`, `from a.b import c`)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
    return modules


def modules_to_import() -> list[str]:
    """What the pages import, every component under commlog.ui but NOT_AT_START, and FIRST_RUN."""
    import commlog.ui

    pages = set().union(*(imported_by(source) for source in PAGE_SOURCES))
    components = {m.name for m in pkgutil.walk_packages(commlog.ui.__path__, "commlog.ui.")} - NOT_AT_START
    return sorted(pages | components | set(FIRST_RUN))


def settle() -> None:
    """Import what the pages will, collect once, and freeze every object left."""
    for name in modules_to_import():
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    log.info("the start's %d objects set aside from the garbage collector", gc.get_freeze_count())
