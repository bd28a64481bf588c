"""A sign-out by time is an audit row ops can read (SQLite and PostgreSQL, row-level security on):
written in the signed-out user's own unit of work, read on the Audit page's query by its action."""

from __future__ import annotations

from datetime import UTC, datetime

from commlog.audit_queries import AuditFilter, audit_actions, list_audit
from commlog.principal import Principal, Role
from commlog.session_lifetime import SignOutReason, record_sign_out
from commlog.unit_of_work import reading, writing
from tests.support import factories as f

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_sign_outs_by_time_are_in_the_audit_trail(engine):
    with engine.begin() as c:
        lender = f.lender(c, "acme-lending", "Acme Lending")
        admin_id = f.user(c, "admin@acme.example", "lender_admin", "acme-lending")
        ops_id = f.user(c, "ops@commlog.example", "ops")
    admin = Principal(admin_id, "admin@acme.example", Role.LENDER_ADMIN, lender)
    ops = Principal(ops_id, "ops@commlog.example", Role.OPS, None)

    with writing(engine, admin) as conn:
        record_sign_out(conn, admin, SignOutReason.IDLE_TIMEOUT, NOW)
    with writing(engine, ops) as conn:
        record_sign_out(conn, ops, SignOutReason.LIFETIME, NOW)

    with reading(engine, ops) as conn:
        assert "sign_out" in audit_actions(conn, ops)
        rows = list_audit(conn, ops, AuditFilter(action="sign_out")).rows
    assert sorted((r.user_email, r.lender_name, r.detail) for r in rows) == [
        ("admin@acme.example", "Acme Lending", "idle_timeout"),
        ("ops@commlog.example", None, "lifetime"),
    ]
