"""A server's start is set aside from the garbage collector (commlog.server_heap): its full
collections, which held every session of a server for 80–255 ms, walk only what came after."""

import ast
import json
import subprocess
import sys
from pathlib import Path

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


def _imported_by(page: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(page.read_text(), str(page))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
    return modules


def test_the_start_is_frozen_and_the_pages_modules_are_loaded_with_it():
    started = _started_server()
    # Everything the start made is out of the collector's walks: it tracks a few objects, not the
    # hundreds of thousands the imports made (without the freeze: 0 frozen, about 190,000 tracked).
    assert started["frozen"] > 100_000
    assert started["tracked"] < started["frozen"] / 50
    # Every module a page imports was imported before the freeze, so a page's first run adds no
    # module's objects to what the collector walks.
    loaded = set(started["modules"])
    for page in sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]:
        missing = sorted(m for m in _imported_by(page) if m not in loaded)
        assert missing == [], f"{page.name} imports {missing} only on its first run"
    # and what the first run needs besides: the database's preparation and PostgreSQL's driver
    assert {"commlog.bootstrap", "alembic.command", "psycopg"} <= loaded
