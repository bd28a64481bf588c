"""A server's start is set aside from the garbage collector (commlog.server_heap): its full
collections, which held every session of a server for 136–383 ms, walk only what came after."""

import json
import subprocess
import sys
from pathlib import Path

from commlog.server_heap import PAGE_SOURCES, imported_by

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter starts the server module as `streamlit run launcher.py` does (the app and its
# routes are made; no server listens), then reports what the collector holds.
STARTED = """
import gc, json, sys
import launcher
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()), "modules": sorted(sys.modules)}))
"""


def _started_server() -> dict:
    run = subprocess.run([sys.executable, "-c", STARTED], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_start_is_frozen_and_the_pages_modules_are_loaded_with_it():
    started = _started_server()
    # Everything the start made is out of the collector's walks: it tracks a few objects, not the
    # hundreds of thousands the imports made (without the freeze: 0 frozen, about 190,000 tracked).
    assert started["frozen"] > 100_000
    assert started["tracked"] < started["frozen"] / 50
    # Every module a page imports was imported before the freeze, so a page's first run adds no
    # module's objects to what the collector walks.
    loaded = set(started["modules"])
    assert {"app.py", "log.py", "deliverability.py", "audit.py"} <= {page.name for page in PAGE_SOURCES}
    for page in PAGE_SOURCES:
        missing = sorted(m for m in imported_by(page) if m not in loaded)
        assert missing == [], f"{page.name} imports {missing} only on its first run"
    # and what the first run needs besides: the database's preparation, PostgreSQL's driver, and the
    # emoji table st.set_page_config reads for the page's icon
    assert {"commlog.bootstrap", "alembic.command", "psycopg", "streamlit.emojis"} <= loaded
