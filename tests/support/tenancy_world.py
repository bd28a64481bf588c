"""Two lenders built for the tenancy tests (tests/pages/test_security_*.py): lender A's admin must
never see lender B through any input. Built once per module into a SQLite file (argon2 hashes and
migrations are slow); each test copies it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from commlog import rollups
from commlog.db import make_engine
from commlog.migrate import upgrade
from commlog.models import Message
from commlog.principal import Principal, Role
from tests.support import factories as f
from tests.support.app import build_two_lenders, page_text

# What only lender B's data contains. The user's own typed text is removed before scanning.
FOREIGN_MARKERS = ("Bravo", "bravo", "Zed Zulu", "zed.zulu", "payment_reminder", "Payment reminder")


def build_world(engine) -> dict:
    """tests.support.app's two lenders, plus lender B data that overlaps lender A's."""
    w = build_two_lenders(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    a, b = w["a"], w["b"]
    with engine.begin() as c:
        ana_b = f.account(c, b, "Ana Bravoson", "ana.bravoson@gmail.com")
        w["ana_b"] = ana_b
        ids = {}
        ids["b_confirm"] = f.message(c, b, "ana.bravoson@gmail.com", recipient_account_id=ana_b,
                                     subject="Confirm your new account with Bravo Credit", sent_at=now - timedelta(hours=6))
        ids["b_reset"] = f.message(c, b, "ana.bravoson@gmail.com", log_account_id=ana_b, recipient_account_id=ana_b,
                                   email_type="password_reset", subject="Reset your Bravo Credit password",
                                   sent_at=now - timedelta(hours=2))
        ids["b_failed"] = f.message(c, b, "bravo.staff@outlook.com", audience="staff", send_status="failed",
                                    send_error="SMTP relay timed out (bravo)", email_type="statement_ready",
                                    subject="Your Bravo statement is ready", sent_at=now - timedelta(days=3))
        ids["b_only_type"] = f.message(c, b, "ana.bravoson@gmail.com", log_account_id=ana_b, email_type="payment_reminder",
                                       subject="Bravo payment reminder", sent_at=now - timedelta(days=1))
        ids["b_deferred"] = f.message(c, b, "bravo.staff@outlook.com", audience="staff",
                                      subject="Confirm your new account with Bravo Credit", sent_at=now - timedelta(days=5))
        f.events(c, ids["b_confirm"], b, ("PROCESSED", f.minutes(now - timedelta(hours=6)), None),
                 ("DELIVERED", f.minutes(now - timedelta(hours=5, minutes=59)), "250 2.0.0 OK bravo"), now=now)
        f.events(c, ids["b_reset"], b, ("PROCESSED", f.minutes(now - timedelta(hours=2)), None),
                 ("BLOCKED", f.minutes(now - timedelta(hours=1, minutes=59)), "550 5.7.1 bravo blocked"), now=now)
        f.events(c, ids["b_deferred"], b, ("DEFERRED", f.minutes(now - timedelta(days=5)), "451 4.7.1 bravo try later"), now=now)
        rollups.rebuild_rollups(c)
    w["ids"].update(ids)
    with engine.connect() as c:
        rows = c.execute(select(Message.id, Message.lender_id, Message.recipient_email, Message.subject)).all()
    w["a_ids"] = {r.id for r in rows if r.lender_id == a}
    w["b_ids"] = {r.id for r in rows if r.lender_id == b}
    w["a_rows"] = {(r.recipient_email, r.subject) for r in rows if r.lender_id == a}
    w["admin_a"] = Principal(w["users"]["admin_a"], "admin@alpha.example", Role.LENDER_ADMIN, a)
    w["ops"] = Principal(w["users"]["ops"], "ops@commlog.example", Role.OPS, None)
    return w


def table_rows(at) -> set[tuple[str, str]]:
    """(To, Subject) of the log table, if the page shows one."""
    for df in at.dataframe:
        frame = df.value
        if "To" in frame.columns and "Subject" in frame.columns and "Sent" in frame.columns:
            return set(zip(frame["To"], frame["Subject"]))
    return set()


@pytest.fixture(scope="module")
def tenancy_template(tmp_path_factory) -> tuple[Path, dict]:
    """The world built once per module (argon2 hashes and migrations are slow); each test gets a copy."""
    path = tmp_path_factory.mktemp("security") / "template.sqlite3"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    w = build_world(eng)
    eng.dispose()
    return path, w


def copy_world(tenancy_template, tmp_path) -> tuple[str, dict]:
    src, w = tenancy_template
    dst = tmp_path / "commlog.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")
    return f"sqlite:///{dst}", dict(w)


def everything_on_page(at) -> str:
    """Every word a page shows, charts' data and links included."""
    parts = [page_text(at)]
    for kind in ("vega_lite_chart", "arrow_vega_lite_chart", "metric", "badge", "tabs", "expander", "popover"):
        try:
            parts.extend(str(el.proto) for el in at.get(kind))
        except Exception:  # noqa: BLE001 - element kind unknown to this Streamlit
            continue
    for el in at.get("page_link"):
        parts.append(str(el.proto))
    return "\n".join(parts)
