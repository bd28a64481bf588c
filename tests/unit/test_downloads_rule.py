"""Issue 14's rule for every download, now and later: no file through Streamlit's media store
(`st.download_button`, whose `/media/<hash>` URL works without any cookie). Downloads are minted on
click and served by the launcher's `GET /export/<token>` (commlog.export_route)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_page_or_component_offers_a_file_through_streamlits_media_store():
    found = []
    for path in sorted([*(ROOT / "commlog").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "download_button":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
