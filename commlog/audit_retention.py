"""How long the audit trail is kept, and the one deletion of audit entries: those older than the
retention, by `python -m commlog audit prune` (run it daily, e.g. from cron). Nothing in the app
itself changes or removes an audit entry (tests/pages/test_audit_trail.py checks both).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete

from commlog.models import AuditEntry

RETENTION = timedelta(days=400)


def prune(conn: Connection, now: datetime, keep: timedelta = RETENTION) -> int:
    """Remove the entries older than `keep`: how many were removed. Platform work (every lender's
    entries): run it in a platform unit of work."""
    if keep <= timedelta(0):
        raise ValueError("keep must be longer than nothing")
    return conn.execute(delete(AuditEntry).where(AuditEntry.at < now - keep)).rowcount
