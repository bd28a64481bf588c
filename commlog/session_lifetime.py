"""When a signed-in session ends by time: the rule, its words, and its audit row.

A session ends after `idle` without activity (default 30 minutes, COMMLOG_SESSION_IDLE_MINUTES) or
`lifetime` after its sign-in, whatever happened since (default 12 hours, COMMLOG_SESSION_MAX_HOURS).
Activity is any script run of a page for that session (commlog.ui.guard): a Streamlit session runs
only when its browser sends something, so the check happens at the next interaction, or when the
page's own timer (commlog.ui.guard's session watch) asks once the idle limit has passed.

No Streamlit here: the guard keeps the times in session state and asks `expiry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from commlog import audit
from commlog.principal import Principal


class SignOutReason(StrEnum):
    USER = "user"
    IDLE_TIMEOUT = "idle_timeout"
    LIFETIME = "lifetime"


@dataclass(frozen=True)
class Limits:
    idle: timedelta
    lifetime: timedelta

    @classmethod
    def from_settings(cls, current) -> Limits:
        """From `commlog.settings.Settings` (session_idle_minutes, session_max_hours)."""
        return cls(idle=timedelta(minutes=current.session_idle_minutes),
                   lifetime=timedelta(hours=current.session_max_hours))


@dataclass(frozen=True)
class Expiry:
    reason: SignOutReason
    message: str  # what the sign-in form says


def expiry(limits: Limits, signed_in_at: datetime, last_activity_at: datetime, now: datetime) -> Expiry | None:
    """Why this session is over at `now`, or None while it lasts. The lifetime is checked first:
    a session past both limits was signed out because it was too old."""
    if now - signed_in_at >= limits.lifetime:
        return Expiry(SignOutReason.LIFETIME,
                      f"You were signed out after {duration_words(limits.lifetime)}; sign in again.")
    if now - last_activity_at >= limits.idle:
        return Expiry(SignOutReason.IDLE_TIMEOUT,
                      f"You were signed out after {duration_words(limits.idle)} without activity.")
    return None


def duration_words(span: timedelta) -> str:
    """`30 minutes`, `12 hours`, `1 hour 30 minutes`, `5 seconds`: the largest whole units."""
    seconds = round(span.total_seconds())
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"


def record_sign_out(conn: Connection, principal: Principal, reason: SignOutReason, now: datetime,
                    ip: str | None = None) -> None:
    """The audit row of a sign-out by time: the authentication events' one `sign_out` row
    (commlog.audit.record_sign_out), with the reason."""
    audit.record_sign_out(conn, principal, at=now, ip=ip, reason=reason.value)
