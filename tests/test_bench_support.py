"""The rule that keeps Streamlit out of the domain (the soak bench's driver is commlog.ui's)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_only_the_ui_imports_streamlit():
    """Nothing under commlog/ but commlog/ui/ imports Streamlit (the soak's AppTest driver is
    commlog.ui.soak_driver)."""
    found = []
    for path in sorted((ROOT / "commlog").rglob("*.py")):
        if path.is_relative_to(ROOT / "commlog" / "ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert found == []


def test_listing_the_benches_loads_no_streamlit():
    """Every bench module imports without Streamlit (soak loads its driver only when it runs)."""
    code = "import sys; from commlog.bench import discover; print(sorted(discover())); print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['checks', 'deliverability', 'export', 'log', 'soak', 'webhooks']"
    assert out[1] == "False"
