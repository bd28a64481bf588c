"""The audit trail: every export, every delivery check, every authentication event and every step of a
suppression removal (commlog.suppression_removals.ACTIONS: requested, approved, removed, not removed,
rejected, cancelled; detail `#<request> <address>, <list>: <words>`) is recorded.
Append-only from the app; only `python -m commlog audit prune` (commlog.audit_retention) removes
entries, and only those past the retention.

Authentication events (`record_auth_event`, `record_sign_out`) and what their detail says:

- `sign_in`: a local or single sign-on session began; detail `local` or `sso`.
- `sign_in_failed`: a local sign-in was refused; detail the reason class `wrong_password`,
  `unknown_address`, `disabled` or `no_local_password` (never the password).
- `sign_in_throttled`: refused before its password was checked (commlog.throttle), one entry per
  client IP between two of its failures; detail the key and the wait (`address_ip; try again in 8 s`).
- `sign_out`: a session ended; detail `user`, `idle_timeout` or `lifetime`.
- `sso_refused`: a single sign-on identity was turned away; detail `unknown`, `unverified`,
  `disabled` or `no_email`.

The entry's lender is the user's (ops users and addresses that are no user's have none: ops only),
its `client_ip` where the request came from (commlog.client_address).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, insert

from commlog.models import AuditEntry
from commlog.principal import Principal

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_IN_THROTTLED = "sign_in_throttled"
SIGN_OUT = "sign_out"
SSO_REFUSED = "sso_refused"
AUTH_ACTIONS = (SIGN_IN, SIGN_IN_FAILED, SIGN_IN_THROTTLED, SIGN_OUT, SSO_REFUSED)
REFUSED_AUTH_ACTIONS = (SIGN_IN_FAILED, SIGN_IN_THROTTLED, SSO_REFUSED)
SIGN_OUT_REASONS = ("user", "idle_timeout", "lifetime")
# A suppression removal's steps (commlog.suppression_removals), by the request's new state.
SUPPRESSION_ACTIONS = {
    "requested": "suppression_requested",
    "approved": "suppression_approved",
    "removed": "suppression_removed",
    "failed": "suppression_not_removed",
    "rejected": "suppression_rejected",
    "cancelled": "suppression_cancelled",
}


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


def record_auth_event(
    conn: Connection,
    action: str,
    *,
    at: datetime,
    email: str,
    ip: str | None,
    role: str | None = None,
    lender_id: int | None = None,
    detail: str | None = None,
) -> None:
    """One authentication event (see the table above). `email` is the user's, or the address as
    typed for one that is no user's (the caller shortens it; never a password); `role` and
    `lender_id` are the user's when there is one."""
    if action not in AUTH_ACTIONS:
        raise ValueError(f"not an authentication event: {action!r}")
    conn.execute(
        insert(AuditEntry).values(
            at=at,
            user_email=email[:320],
            role=(role or "")[:32],
            lender_id=lender_id,
            action=action,
            detail=detail[:200] if detail else None,
            client_ip=ip,
        )
    )


def record_sign_out(conn: Connection, principal: Principal, *, at: datetime, ip: str | None, reason: str) -> None:
    """A session ended: `reason` user (Sign out), idle_timeout or lifetime (commlog's session limits)."""
    if reason not in SIGN_OUT_REASONS:
        raise ValueError(f"sign-out reason must be one of {', '.join(SIGN_OUT_REASONS)}")
    record_auth_event(conn, SIGN_OUT, at=at, email=principal.email, ip=ip, role=principal.role.value,
                      lender_id=principal.lender_id, detail=reason)

