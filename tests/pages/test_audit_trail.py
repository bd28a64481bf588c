"""The audit trail: reading it (ops only, filtered and paginated in SQL), the Audit page, and the
rule that audit rows are never editable from the app."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from commlog import audit
from commlog.audit_queries import (
    ALL_LENDERS,
    AuditFilter,
    audit_actions,
    audit_users,
    list_audit,
)
from commlog.models import AuditEntry
from commlog.principal import Principal, Role, ScopeError
from tests.support import factories as f
from tests.support.app import buttons, data_tables

ROOT = Path(__file__).resolve().parents[2]
OPS = Principal(1, "ops@commlog.example", Role.OPS, None)


def build_trail(engine):
    """Two lenders, three users and 60 audit entries over the last days (newest first: i = 0)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as c:
        a = f.lender(c, "acme-lending", "Acme Lending")
        b = f.lender(c, "bravo", "Bravo Credit")
        users = {
            "ops": f.user(c, "ops@commlog.example", "ops", password=None),
            "admin_a": f.user(c, "admin@acme.example", "lender_admin", "acme-lending", password=None),
        }
        admin_a = Principal(users["admin_a"], "admin@acme.example", Role.LENDER_ADMIN, a)
        admin_b = Principal(99, "admin@bravo.example", Role.LENDER_ADMIN, b)
        for i in range(60):
            who, lender = [(admin_a, a), (admin_b, b), (OPS, None)][i % 3]
            audit.record(
                c,
                who,
                "check" if i % 4 == 0 else "export",
                at=now - timedelta(hours=i),
                lender_id=lender,
                filters={"span": "lender", "i": i},
                row_count=i,
                detail=f"entry {i}",
            )
    return dict(a=a, b=b, now=now, users=users, admin_a=admin_a)


@pytest.fixture
def trail(engine):
    return build_trail(engine)


# --- queries -------------------------------------------------------------------------------------


def test_list_audit_newest_first_with_pages(engine, trail):
    with engine.connect() as c:
        first = list_audit(c, OPS, AuditFilter(page_size=25))
        third = list_audit(c, OPS, AuditFilter(page=3, page_size=25))
        beyond = list_audit(c, OPS, AuditFilter(page=99, page_size=25))
    assert first.total == 60 and first.num_pages == 3
    assert [r.detail for r in first.rows] == [f"entry {i}" for i in range(25)]
    assert [r.detail for r in third.rows] == [f"entry {i}" for i in range(50, 60)]
    assert beyond.page == 3  # clamped to the last page
    assert first.rows[0].filters == {"span": "lender", "i": 0}
    assert first.rows[0].scope == "Acme Lending" and first.rows[2].scope == "All lenders"


def test_list_audit_filters(engine, trail):
    now = trail["now"]
    with engine.connect() as c:
        checks = list_audit(c, OPS, AuditFilter(action="check", page_size=500))
        by_user = list_audit(c, OPS, AuditFilter(user_email=" Admin@Acme.example ", page_size=500))
        lender_b = list_audit(c, OPS, AuditFilter(lender_id=trail["b"], page_size=500))
        everyone = list_audit(c, OPS, AuditFilter(lender_id=ALL_LENDERS, page_size=500))
        window = list_audit(c, OPS, AuditFilter(since=now - timedelta(hours=10), until=now - timedelta(hours=4), page_size=500))
        actions, users = audit_actions(c, OPS), audit_users(c, OPS)
    assert checks.total == 15 and {r.action for r in checks.rows} == {"check"}
    assert by_user.total == 20 and {r.user_email for r in by_user.rows} == {"admin@acme.example"}
    assert lender_b.total == 20 and {r.lender_id for r in lender_b.rows} == {trail["b"]}
    assert everyone.total == 20 and {r.lender_id for r in everyone.rows} == {None}
    assert [r.detail for r in window.rows] == [f"entry {i}" for i in range(5, 11)]  # [since, until)
    assert actions == ["check", "export"]
    assert users == ["admin@acme.example", "admin@bravo.example", "ops@commlog.example"]


def test_only_ops_read_the_audit_trail(engine, trail):
    with engine.connect() as c:
        for read in (
            lambda: list_audit(c, trail["admin_a"], AuditFilter()),
            lambda: audit_actions(c, trail["admin_a"]),
            lambda: audit_users(c, trail["admin_a"]),
        ):
            with pytest.raises(ScopeError):
                read()


# --- never editable ------------------------------------------------------------------------------


RETENTION_MODULE = ROOT / "commlog" / "audit_retention.py"  # the one deletion: entries past the retention


def _app_sources() -> list[Path]:
    files = [*sorted((ROOT / "commlog").rglob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]
    if (ROOT / "app.py").exists():
        files.append(ROOT / "app.py")
    return [p for p in files if "migrations" not in p.parts and p != RETENTION_MODULE]


def test_audit_rows_are_never_updated_or_deleted_by_the_app():
    """No code path in the app changes or removes an audit entry: the only writes are commlog.audit's
    INSERTs. (Migrations are excluded: they own the table's shape; so is the retention's age-only
    deletion, which only the `audit prune` command calls: see the next test.)"""
    offenders = []
    sql = re.compile(r"\b(update|delete\s+from|truncate)\s+(table\s+)?\"?audit_entry\b", re.IGNORECASE)
    for path in _app_sources():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            # update(AuditEntry) / delete(AuditEntry) / AuditEntry.__table__.update() / session.delete(entry)
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                args = " ".join(ast.unparse(a) for a in node.args)
                target = ast.unparse(fn.value) if isinstance(fn, ast.Attribute) else ""
                if name in ("update", "delete") and ("AuditEntry" in args or "AuditEntry" in target or "audit_entry" in args):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
        for m in sql.finditer(source):
            offenders.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert offenders == []


def test_only_the_prune_command_deletes_and_only_entries_past_the_retention():
    source = RETENTION_MODULE.read_text(encoding="utf-8")
    deletes = re.findall(r"delete\(.*", source)
    assert deletes == ["delete(AuditEntry).where(AuditEntry.at < now - keep)).rowcount"]
    calls = re.compile(r"audit_retention\.prune\(|from commlog\.audit_retention import [^\n]*\bprune\b")
    callers = [p.relative_to(ROOT).as_posix() for p in _app_sources() if calls.search(p.read_text(encoding="utf-8"))]
    assert callers == ["commlog/commands/audit.py"]


def test_the_audit_module_only_inserts():
    source = (ROOT / "commlog" / "audit.py").read_text(encoding="utf-8")
    assert "insert(AuditEntry)" in source
    assert not re.search(r"\b(update|delete)\(", source)
    read_side = (ROOT / "commlog" / "audit_queries.py").read_text(encoding="utf-8")
    assert not re.search(r"\b(insert|update|delete)\(", read_side)
    page = (ROOT / "pages" / "audit.py").read_text(encoding="utf-8")
    assert "data_editor" not in page and "engine.begin()" not in page


def test_the_audit_page_guards_itself_first():
    tree = ast.parse((ROOT / "pages" / "audit.py").read_text(encoding="utf-8"))
    body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom)) and not (
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert isinstance(body[0], ast.With)  # the whole page runs inside its login check and error boundary
    assert ast.unparse(body[0].items[0]) == "guarded(Role.OPS) as principal"


# --- the page ------------------------------------------------------------------------------------


@pytest.fixture
def page_world(sqlite_engine, sqlite_url, monkeypatch):
    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    from commlog.ui import resources

    monkeypatch.setattr(resources, "_bootstrapped", lambda url: url)  # the fixture already migrated it
    yield sqlite_engine
    st.cache_data.clear()
    st.cache_resource.clear()


def _page(user_id: int | None, tz: str = "Europe/Berlin", via_app: bool = True) -> AppTest:
    """The Audit page as the app serves it (app.py's navigation), or its file run directly."""
    at = AppTest.from_file(str(ROOT / ("app.py" if via_app else "pages/audit.py")), default_timeout=30)
    if user_id is not None:
        at.session_state["commlog_user_id"] = user_id
    at.context = {"timezone": tz}
    if via_app:
        at.run()
        at.switch_page("pages/audit.py")
    return at


def test_audit_page_logged_out_shows_only_the_login(page_world):
    at = _page(None, via_app=False).run()
    assert not at.exception
    assert buttons(at) == ["Sign in"] and not data_tables(at)


def test_audit_page_is_not_routable_for_lender_admins(page_world):
    data = build_trail(page_world)
    with pytest.raises(ValueError):
        _page(data["users"]["admin_a"])


def test_audit_page_run_directly_refuses_lender_admins(page_world, monkeypatch):
    """Legacy pages/ mode runs the file without app.py: the page's own guard stops it."""
    from commlog.ui import guard

    monkeypatch.setattr(guard, "render_menu", lambda principal: None)  # its page links need app.py's pages
    data = build_trail(page_world)
    at = _page(data["users"]["admin_a"], via_app=False).run()
    assert not at.exception
    assert "This page is for platform ops only." in [e.value for e in at.error]
    assert not at.dataframe and not at.selectbox


def test_audit_page_for_ops_times_in_the_viewers_zone_filters_and_pages(page_world):
    data = build_trail(page_world)
    at = _page(data["users"]["ops"]).run()
    assert not at.exception
    assert any("Times in Europe/Berlin" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert "When (Europe/Berlin)" in table.columns
    newest = data["now"].astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M:%S")
    assert table.iloc[0]["When (Europe/Berlin)"] == newest
    assert len(table) == 50 and any("**60** audit entries" in m.value for m in at.markdown)
    # The second page comes from SQL.
    at.session_state["audit_page"] = 2
    at.run()
    assert list(at.dataframe[0].value["Detail"]) == [f"entry {i}" for i in range(50, 60)]
    # A filter starts again at page 1.
    at.selectbox(key="audit_action").set_value("check").run()
    table = at.dataframe[0].value
    assert set(table["Action"]) == {"check"} and len(table) == 15
    at.selectbox(key="audit_lender").set_value(ALL_LENDERS).run()
    assert set(at.dataframe[0].value["Scope"]) == {"All lenders"}


def test_audit_rows_count_unchanged_by_viewing(page_world):
    data = build_trail(page_world)
    _page(data["users"]["ops"]).run()
    with page_world.connect() as c:
        assert c.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 60


def test_filters_read_as_words_not_python():
    from commlog.audit_queries import filters_text

    text = filters_text({"bom": True, "include_deferred": False, "source": "page",
                         "filter": {"lender_id": 3, "all_logs": True, "since": "2026-11-20T05:00:00Z"},
                         "message_ids": list(range(12))})
    assert text == ("bom: yes · filter: all_logs=yes, lender_id=3, since=2026-11-20T05:00:00Z · include_deferred: no · "
                    "message_ids: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 … (+2) · source: page")
    assert "{" not in text and "True" not in text
