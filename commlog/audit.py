"""The audit trail: every export and every delivery check is recorded. Append-only from the app."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, insert

from commlog.models import AuditEntry
from commlog.principal import Principal


def record(
    conn: Connection,
    principal: Principal,
    action: str,
    *,
    at: datetime,
    lender_id: int | None,
    filters: dict | None = None,
    row_count: int | None = None,
    detail: str | None = None,
) -> None:
    conn.execute(
        insert(AuditEntry).values(
            at=at,
            user_email=principal.email,
            role=principal.role.value,
            lender_id=lender_id,
            action=action,
            filters=json.dumps(filters, sort_keys=True, default=str) if filters is not None else None,
            row_count=row_count,
            detail=detail[:2000] if detail else None,
        )
    )
