"""Single sign-on: which app_user row (role and lender) a verified OIDC identity is.

Streamlit's `st.login` (OIDC, configured in `.streamlit/secrets.toml` `[auth]`) proves who the
person is; commlog decides what they may see. The identity's email maps onto an enabled app_user
row by the same case-insensitive email the local login uses; anything else is refused with a
reason fit for the page. No Streamlit import: the rule is tested without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from commlog import audit, auth
from commlog.models import AppUser
from commlog.principal import Principal


@dataclass(frozen=True)
class RefusalReason:
    """A signed-in identity commlog does not let in; `message` is safe to show."""

    kind: str  # no_email | unverified | unknown | disabled
    email: str | None

    @property
    def message(self) -> str:
        who = f"Your single sign-on identity {self.email}"
        if self.kind == "unknown":
            return f"{who} is not allowed in commlog: ask platform ops to add you."
        if self.kind == "disabled":
            return f"{who} is not allowed in commlog: its account is disabled. Ask platform ops to re-enable it."
        if self.kind == "unverified":
            return (f"{who} is not allowed in commlog: your sign-on provider has not verified that email address. "
                    "Verify it with your provider, then sign in again.")
        return ("Your single sign-on identity has no email address, so commlog cannot tell who you are: "
                "ask platform ops to have the provider send the email claim.")


def email_verified(claims: Mapping[str, Any]) -> bool:
    """OIDC's `email_verified`: required when the provider sends it (some send the string "true");
    a provider that never sends it (e.g. one that only issues verified addresses) is trusted."""
    if "email_verified" not in claims:
        return True
    value = claims["email_verified"]
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def principal_for_identity(conn: Connection, claims: Mapping[str, Any]) -> Principal | RefusalReason:
    """The principal for a signed-in OIDC identity (`st.user`'s claims), or why it is refused."""
    raw = claims.get("email")
    email = auth.normalize_email(raw) if isinstance(raw, str) else ""
    if not email or "@" not in email or len(email) > 320:
        return RefusalReason("no_email", None)
    if not email_verified(claims):
        return RefusalReason("unverified", email)
    user = conn.execute(select(AppUser.__table__).where(AppUser.email == email)).first()
    if user is None:
        return RefusalReason("unknown", email)
    if user.disabled:
        return RefusalReason("disabled", email)
    return auth.principal_for(user)


def record_login(conn: Connection, principal: Principal, now: datetime, ip: str | None = None) -> None:
    """A single sign-on session began: `users list` shows it as the last login, the audit trail as a
    `sign_in` (sso) from client IP `ip`."""
    conn.execute(update(AppUser).where(AppUser.id == principal.user_id).values(last_login_at=now))
    audit.record_auth_event(conn, audit.SIGN_IN, at=now, email=principal.email, ip=ip, role=principal.role.value,
                            lender_id=principal.lender_id, detail="sso")


def record_refusal(conn: Connection, reason: RefusalReason, now: datetime, ip: str | None = None) -> None:
    """A single sign-on identity turned away, in the audit trail (`sso_refused`, the refusal's kind).
    A disabled user's entry carries their lender; an unknown, unverified or nameless identity has
    none (its email is only a claim: ops only)."""
    role = lender_id = None
    if reason.kind == "disabled" and reason.email:
        user = conn.execute(select(AppUser.role, AppUser.lender_id).where(AppUser.email == reason.email)).first()
        if user is not None:
            role, lender_id = user.role, user.lender_id
    email = auth.typed_address(reason.email) if reason.email else "(no email address)"
    audit.record_auth_event(conn, audit.SSO_REFUSED, at=now, email=email, ip=ip, role=role, lender_id=lender_id,
                            detail=reason.kind)
