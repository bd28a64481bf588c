"""Authentication events in the audit trail (commlog.audit.record_auth_event, written by
commlog.auth, commlog.sso and the sign-out), on SQLite and PostgreSQL: one row per event with its
reason class, the user's lender (none for ops and for addresses that are no user's), the client IP,
and never a password; and the retention's pruning (`audit prune`)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commlog import audit, audit_retention, auth, sso
from commlog.audit_queries import KIND_SIGN_INS, KIND_WORK, RESULT_ALLOWED, RESULT_REFUSED, AuditFilter, list_audit
from commlog.models import AuditEntry
from commlog.principal import Principal, Role
from tests.support import factories as f
from tests.support.factories import T0

PASSWORD = "correct horse battery"
ADMIN, OPS_EMAIL = "admin@lender-a.example", "ops@commlog.example"
IP = "198.51.100.7"
OPS = Principal(0, OPS_EMAIL, Role.OPS, None)


@pytest.fixture
def world(engine):
    with engine.begin() as c:
        a = f.lender(c, "lender-a")
        ids = {
            "admin": f.user(c, ADMIN, "lender_admin", "lender-a", PASSWORD),
            "ops": f.user(c, OPS_EMAIL, "ops", None, PASSWORD),
            "gone": f.user(c, "gone@lender-a.example", "lender_admin", "lender-a", PASSWORD),
            "sso_only": f.user(c, "sso@lender-a.example", "lender_admin", "lender-a", None),
        }
        auth.set_disabled(c, "gone@lender-a.example", True)
    return {"engine": engine, "a": a, **ids}


def sign_in(engine, email, password, at=T0, ip=IP):
    with engine.begin() as c:
        try:
            return auth.authenticate(c, email, password, at, ip)
        except auth.AuthError as exc:
            return str(exc)


def rows(engine):
    with engine.connect() as c:
        return [r._asdict() for r in c.execute(
            select(AuditEntry.action, AuditEntry.user_email, AuditEntry.role, AuditEntry.lender_id, AuditEntry.detail,
                   AuditEntry.client_ip, AuditEntry.filters).order_by(AuditEntry.id))]


def row(action, email, role, lender_id, detail, ip=IP):
    return {"action": action, "user_email": email, "role": role, "lender_id": lender_id, "detail": detail,
            "client_ip": ip, "filters": None}


def test_each_local_sign_in_outcome_is_one_row_with_its_reason_and_never_the_password(world):
    e, a = world["engine"], world["a"]
    assert isinstance(sign_in(e, " Admin@Lender-A.example ", PASSWORD), Principal)
    sign_in(e, ADMIN, "wrong-secret-1")
    sign_in(e, "Nobody@Lender-A.example", "wrong-secret-2", ip="203.0.113.9")
    sign_in(e, "gone@lender-a.example", PASSWORD)
    sign_in(e, "sso@lender-a.example", "wrong-secret-3")
    sign_in(e, OPS_EMAIL, PASSWORD, ip=None)
    sign_in(e, "correct horse battery staple", "wrong-secret-4")  # a password typed into the email field
    sign_in(e, "x" * 300 + "@lender-a.example", "wrong-secret-5")
    assert rows(e) == [
        row("sign_in", ADMIN, "lender_admin", a, "local"),
        row("sign_in_failed", ADMIN, "lender_admin", a, "wrong_password"),
        row("sign_in_failed", "nobody@lender-a.example", "", None, "unknown_address", "203.0.113.9"),
        row("sign_in_failed", "gone@lender-a.example", "lender_admin", a, "disabled"),
        row("sign_in_failed", "sso@lender-a.example", "lender_admin", a, "no_local_password"),
        row("sign_in", OPS_EMAIL, "ops", None, "local", None),
        row("sign_in_failed", "(not an email address)", "", None, "unknown_address"),
        row("sign_in_failed", "x" * auth.TYPED_ADDRESS_CHARS, "", None, "unknown_address"),
    ]
    text = repr(rows(e))
    assert "wrong-secret" not in text and PASSWORD not in text and "staple" not in text


def test_throttled_attempts_write_one_row_per_ip_between_its_failures(world):
    e = world["engine"]
    for _ in range(4):
        sign_in(e, ADMIN, "wrong-secret-x")
    for s in (0, 0, 1):  # refused three times, recorded once
        assert sign_in(e, ADMIN, PASSWORD, T0 + timedelta(seconds=s)).startswith("Too many sign-in attempts")
    assert sign_in(e, "nobody@lender-a.example", "x-x-x-x-x-x-x", T0, ip="203.0.113.50") == "Email or password is not right."
    assert sign_in(e, ADMIN, "wrong-secret-x", T0 + timedelta(seconds=2)) == "Email or password is not right."
    assert sign_in(e, ADMIN, PASSWORD, T0 + timedelta(seconds=3)).startswith("Too many")  # a new failure: a new row
    throttled = [r for r in rows(e) if r["action"] == "sign_in_throttled"]
    assert throttled == [
        row("sign_in_throttled", ADMIN, "", None, "address_ip; try again in 2 s"),
        row("sign_in_throttled", ADMIN, "", None, "address_ip; try again in 3 s"),
    ]


def test_sign_out_reasons_and_single_sign_on_events(world):
    e, a = world["engine"], world["a"]
    admin = Principal(world["admin"], ADMIN, Role.LENDER_ADMIN, a)
    with e.begin() as c:
        for reason in ("user", "idle_timeout", "lifetime"):
            audit.record_sign_out(c, admin, at=T0, ip=IP, reason=reason)
        with pytest.raises(ValueError):
            audit.record_sign_out(c, admin, at=T0, ip=IP, reason="because")
        with pytest.raises(ValueError):
            audit.record_auth_event(c, "export", at=T0, email=ADMIN, ip=IP)
        sso.record_login(c, admin, T0, IP)
        for kind, email in (("unknown", "stranger@elsewhere.example"), ("disabled", "gone@lender-a.example"),
                            ("unverified", ADMIN), ("no_email", None)):
            sso.record_refusal(c, sso.RefusalReason(kind, email), T0, IP)
    assert rows(e) == [
        row("sign_out", ADMIN, "lender_admin", a, "user"),
        row("sign_out", ADMIN, "lender_admin", a, "idle_timeout"),
        row("sign_out", ADMIN, "lender_admin", a, "lifetime"),
        row("sign_in", ADMIN, "lender_admin", a, "sso"),
        row("sso_refused", "stranger@elsewhere.example", "", None, "unknown"),
        row("sso_refused", "gone@lender-a.example", "lender_admin", a, "disabled"),
        row("sso_refused", ADMIN, "", None, "unverified"),  # a claim, not a proven identity: no lender
        row("sso_refused", "(no email address)", "", None, "no_email"),
    ]


def test_the_audit_trail_filters_sign_ins_from_work_and_refusals_from_the_rest(world):
    e = world["engine"]
    sign_in(e, ADMIN, PASSWORD)
    sign_in(e, ADMIN, "wrong-secret-x")
    with e.begin() as c:
        audit.record(c, OPS, "export", at=T0, lender_id=None, row_count=3)
        audit.record(c, OPS, "check", at=T0, lender_id=world["a"], row_count=1)
        sso.record_refusal(c, sso.RefusalReason("unknown", "stranger@elsewhere.example"), T0, IP)

    def actions(**kw):
        with e.connect() as c:
            return sorted(r.action for r in list_audit(c, OPS, AuditFilter(**kw)).rows)

    assert actions(kind=KIND_SIGN_INS) == ["sign_in", "sign_in_failed", "sso_refused"]
    assert actions(kind=KIND_WORK) == ["check", "export"]
    assert actions(result=RESULT_REFUSED) == ["sign_in_failed", "sso_refused"]
    assert actions(kind=KIND_SIGN_INS, result=RESULT_ALLOWED) == ["sign_in"]
    with e.connect() as c:
        assert {r.client_ip for r in list_audit(c, OPS, AuditFilter(kind=KIND_SIGN_INS)).rows} == {IP}


def test_prune_removes_only_entries_past_the_retention(world):
    e = world["engine"]
    with e.begin() as c:
        for days in (401, 400.5, 399, 1):
            audit.record(c, OPS, "export", at=T0 - timedelta(days=days), lender_id=None, detail=f"{days} days")
        assert audit_retention.prune(c, T0) == 2
        with pytest.raises(ValueError):
            audit_retention.prune(c, T0, timedelta(0))
    assert [r["detail"] for r in rows(e)] == ["399 days", "1 days"]


def test_audit_prune_command(sqlite_url, sqlite_engine):
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with sqlite_engine.begin() as c:
        for days in (500, 30, 2):
            audit.record(c, OPS, "export", at=now - timedelta(days=days), lender_id=None)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "commlog", "--database-url", sqlite_url, "audit", "prune", *args],
                              capture_output=True, text=True, timeout=60)

    done = run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("removed 1 audit entry from before ") and "(kept 400 days)" in done.stdout
    assert run("--days", "10").stdout.startswith("removed 1 audit entry")
    refused = run("--days", "0")
    assert refused.returncode == 1 and refused.stderr.startswith("error: ")
    with sqlite_engine.connect() as c:
        assert c.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1
