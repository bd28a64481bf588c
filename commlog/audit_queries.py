"""Reading the audit trail (exports, delivery checks, sign-ins and sign-outs) for the ops-only Audit view.

Read-only: nothing here (or anywhere in the app) updates or deletes an audit row; commlog.audit.record
is the one write, an insert. Only platform ops may read the trail: anyone else gets ScopeError.
Filtered, ordered and paginated in SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from commlog.audit import AUTH_ACTIONS, REFUSED_AUTH_ACTIONS, SUPPRESSION_ACTIONS
from commlog.models import AuditEntry, Lender
from commlog.paging import Page, clamp
from commlog.principal import Principal, ScopeError

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
ALL_LENDERS = -1  # lender filter value: entries whose scope was every lender (lender_id NULL)

# The kind filter: authentication events, the work done (exports, checks), or suppression removals.
KIND_SIGN_INS = "sign_ins"
KIND_WORK = "work"
KIND_SUPPRESSIONS = "suppressions"
KINDS = {KIND_SIGN_INS: "Sign-ins and sign-outs", KIND_WORK: "Checks and exports",
         KIND_SUPPRESSIONS: "Suppression removals"}
# The result filter: refused authentication attempts, or everything that went ahead.
RESULT_REFUSED = "refused"
RESULT_ALLOWED = "allowed"
RESULTS = {RESULT_ALLOWED: "Allowed", RESULT_REFUSED: "Refused (failed, throttled, single sign-on refused)"}


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    kind: str | None = None  # None · KIND_SIGN_INS · KIND_WORK
    result: str | None = None  # None · RESULT_ALLOWED · RESULT_REFUSED
    user_email: str | None = None
    lender_id: int | None = None  # None: any scope · ALL_LENDERS: scope "all lenders" · else that lender
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    page: int = 1
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    user_email: str
    role: str
    lender_id: int | None
    lender_name: str | None  # None with lender_id None: all lenders
    action: str
    filters: dict | None
    row_count: int | None
    detail: str | None
    client_ip: str | None = None

    @property
    def scope(self) -> str:
        if self.lender_id is None:  # an ops user's, or a sign-in by an address that is no user's
            return "No lender (ops only)" if self.action in AUTH_ACTIONS else "All lenders"
        return self.lender_name or f"lender {self.lender_id}"


def _require_ops(principal: Principal) -> None:
    if not principal.is_ops:
        raise ScopeError("the audit trail is for platform ops only")


def _conditions(f: AuditFilter) -> list:
    cond = []
    if f.action:
        cond.append(AuditEntry.action == f.action)
    if f.kind == KIND_SIGN_INS:
        cond.append(AuditEntry.action.in_(AUTH_ACTIONS))
    elif f.kind == KIND_WORK:
        cond.append(AuditEntry.action.not_in([*AUTH_ACTIONS, *SUPPRESSION_ACTIONS.values()]))
    elif f.kind == KIND_SUPPRESSIONS:
        cond.append(AuditEntry.action.in_(list(SUPPRESSION_ACTIONS.values())))
    if f.result == RESULT_REFUSED:
        cond.append(AuditEntry.action.in_(REFUSED_AUTH_ACTIONS))
    elif f.result == RESULT_ALLOWED:
        cond.append(AuditEntry.action.not_in(REFUSED_AUTH_ACTIONS))
    if f.user_email:
        cond.append(AuditEntry.user_email == f.user_email.strip().lower())
    if f.lender_id == ALL_LENDERS:
        cond.append(AuditEntry.lender_id.is_(None))
    elif f.lender_id is not None:
        cond.append(AuditEntry.lender_id == f.lender_id)
    if f.since is not None:
        cond.append(AuditEntry.at >= f.since)
    if f.until is not None:
        cond.append(AuditEntry.at < f.until)
    return cond


def _filters_json(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def list_audit(conn: Connection, principal: Principal, f: AuditFilter) -> Page[AuditRow]:
    """One page of audit entries, newest first."""
    _require_ops(principal)
    size = max(1, min(int(f.page_size), MAX_PAGE_SIZE))
    where = _conditions(f)
    total = conn.execute(select(func.count()).select_from(AuditEntry).where(*where)).scalar_one()
    page = clamp(f.page, total, size)
    stmt = (
        select(*AuditEntry.__table__.columns, Lender.name.label("lender_name"))
        .outerjoin(Lender, Lender.id == AuditEntry.lender_id)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    )
    rows = [
        AuditRow(
            id=e.id,
            at=e.at,
            user_email=e.user_email,
            role=e.role,
            lender_id=e.lender_id,
            lender_name=e.lender_name,
            action=e.action,
            filters=_filters_json(e.filters),
            row_count=e.row_count,
            detail=e.detail,
            client_ip=e.client_ip,
        )
        for e in conn.execute(stmt)
    ]
    return Page(rows, total, page, size)


def audit_actions(conn: Connection, principal: Principal) -> list[str]:
    _require_ops(principal)
    return list(conn.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).scalars())


def audit_users(conn: Connection, principal: Principal) -> list[str]:
    _require_ops(principal)
    return list(conn.execute(select(AuditEntry.user_email).distinct().order_by(AuditEntry.user_email)).scalars())


__all__ = [
    "ALL_LENDERS", "KINDS", "KIND_SIGN_INS", "KIND_WORK", "RESULTS", "RESULT_ALLOWED", "RESULT_REFUSED",
    "AuditFilter", "AuditRow", "audit_actions", "audit_users", "list_audit",
]


def _value_text(value) -> str:
    """yes/no for flags, `k=v, k=v` for a nested filter, the first ten items of a list."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value_text(v)}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_value_text, value[:10])) + (f" … (+{len(value) - 10})" if len(value) > 10 else "")
    return str(value)


def filters_text(filters: dict | None, limit: int = 400) -> str:
    """An audit entry's filters as people read them: `key: value · key: value`."""
    if not filters:
        return ""
    parts = [f"{key}: {_value_text(filters[key])}" for key in sorted(filters)]
    text = " · ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
