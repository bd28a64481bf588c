"""Local accounts: argon2 password hashes, sign-in with throttling (commlog.throttle) and its
audit trail (commlog.audit), the password rules (commlog.passwords), user management.

Single sign-on identities map onto the same app_user rows (password_hash NULL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, exists, insert, select, update

from commlog import audit, passwords, throttle
from commlog.log_queries import lender_by_slug
from commlog.models import AppUser, AuditEntry, Lender
from commlog.principal import Principal, Role

_hasher = PasswordHasher()

MAX_PASSWORD_LENGTH = passwords.MAX_LENGTH  # argon2 cost grows with input; refuse absurd input up front
MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH
NOT_RIGHT = "Email or password is not right."
TYPED_ADDRESS_CHARS = 100  # an address that is no user's is kept this long in the audit trail

# A hash of nothing anyone knows, verified when the address is unknown so that timing does not
# tell which addresses exist.
_DUMMY_HASH = _hasher.hash("commlog-no-such-user-placeholder")


class AuthError(Exception):
    """A login refused; the message is safe to show."""


class UserError(Exception):
    """A user-management request that cannot be carried out; the message is safe to show."""


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    role: str
    lender_slug: str | None
    disabled: bool
    last_login_at: datetime | None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def typed_address(email: str) -> str:
    """An address that is no user's, as the audit trail keeps it: shortened, and not kept at all when
    it is not an address (people type their password into the email field)."""
    return email[:TYPED_ADDRESS_CHARS] if "@" in email else "(not an email address)"


def _record_throttled(conn: Connection, email: str, ip: str | None, refusal: throttle.Throttled, now: datetime) -> None:
    """One sign_in_throttled entry per client IP between two of its failures: a client hammering
    while refused writes one row, not one per try."""
    already = conn.execute(
        select(exists().where(
            AuditEntry.action == audit.SIGN_IN_THROTTLED,
            AuditEntry.at >= refusal.last_failure_at,
            AuditEntry.client_ip.is_(None) if ip is None else AuditEntry.client_ip == ip,
        ))
    ).scalar()
    if not already:
        audit.record_auth_event(conn, audit.SIGN_IN_THROTTLED, at=now, email=typed_address(email), ip=ip,
                                detail=f"{refusal.key.name}; try again in {refusal.wait_text}")


def authenticate(conn: Connection, email: str, password: str, now: datetime, ip: str | None = None) -> Principal:
    """Check a local sign-in from client IP `ip` (None: not known). Raises AuthError with a message fit
    for the sign-in form: the same words for unknown addresses and wrong passwords, and for a
    throttled attempt whether or not the address exists. Every outcome is in the audit trail."""
    email = normalize_email(email)[:320]
    if not email or not password:
        raise AuthError("Enter your email and password.")
    refusal = throttle.check(conn, email, ip, now)
    if refusal is not None:  # no password verified, nothing counted: the delay is not extended
        _record_throttled(conn, email, ip, refusal, now)
        raise AuthError(refusal.message)
    user = conn.execute(select(AppUser.__table__).where(AppUser.email == email)).first()
    ok = False
    if len(password) <= MAX_PASSWORD_LENGTH:
        stored = user.password_hash if user is not None else None
        try:
            ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    signed_in = ok and not user.disabled
    throttle.record(conn, email, ip, now, succeeded=signed_in)
    throttle.prune(conn, now)
    if user is None:
        audit.record_auth_event(conn, audit.SIGN_IN_FAILED, at=now, email=typed_address(email), ip=ip,
                                detail="unknown_address")
    else:
        reason = ("local" if signed_in else "disabled" if ok
                  else "no_local_password" if user.password_hash is None else "wrong_password")
        audit.record_auth_event(conn, audit.SIGN_IN if signed_in else audit.SIGN_IN_FAILED, at=now, email=user.email,
                                ip=ip, role=user.role, lender_id=user.lender_id, detail=reason)
    if not ok:
        raise AuthError(NOT_RIGHT)
    if user.disabled:
        raise AuthError("This account is disabled. Ask platform ops to re-enable it.")
    conn.execute(update(AppUser).where(AppUser.id == user.id).values(last_login_at=now))
    return principal_for(user)


def principal_for(user) -> Principal:
    return Principal(user_id=user.id, email=user.email, role=Role(user.role), lender_id=user.lender_id)


def load_principal(conn: Connection, user_id: int) -> Principal | None:
    """The principal for a logged-in session, re-read every run so disabling takes effect at once."""
    user = conn.execute(select(AppUser.__table__).where(AppUser.id == user_id)).first()
    if user is None or user.disabled:
        return None
    return principal_for(user)


def principal_for_email(conn: Connection, email: str) -> Principal | None:
    """Single sign-on: a verified email maps onto an enabled user row, or nothing."""
    user = conn.execute(select(AppUser.__table__).where(AppUser.email == normalize_email(email))).first()
    if user is None or user.disabled:
        return None
    return principal_for(user)


def add_user(conn: Connection, email: str, role: str, lender_slug: str | None, password: str | None, now: datetime) -> int:
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise UserError(f"not an email address: {email!r}")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"role must be one of: {', '.join(r.value for r in Role)}") from None
    lender_id = None
    if role == Role.LENDER_ADMIN:
        if not lender_slug:
            raise UserError("a lender_admin needs --lender")
        lender = lender_by_slug(conn, lender_slug)
        if lender is None:
            raise UserError(f"no lender with slug {lender_slug!r}")
        lender_id = lender.id
    elif lender_slug:
        raise UserError("ops users see every lender; do not give --lender")
    if password is not None and (problem := passwords.password_problem(password, email)) is not None:
        raise UserError(problem)
    if conn.execute(select(AppUser.id).where(AppUser.email == email)).first():
        raise UserError(f"a user {email} already exists")
    return conn.execute(
        insert(AppUser)
        .values(
            email=email,
            role=role.value,
            lender_id=lender_id,
            password_hash=hash_password(password) if password else None,
            disabled=False,
            created_at=now,
        )
        .returning(AppUser.id)
    ).scalar_one()


def set_disabled(conn: Connection, email: str, disabled: bool) -> None:
    res = conn.execute(update(AppUser).where(AppUser.email == normalize_email(email)).values(disabled=disabled))
    if res.rowcount == 0:
        raise UserError(f"no user {email}")


def list_users(conn: Connection) -> list[UserRow]:
    rows = conn.execute(
        select(AppUser.id, AppUser.email, AppUser.role, Lender.slug, AppUser.disabled, AppUser.last_login_at)
        .outerjoin(Lender, Lender.id == AppUser.lender_id)
        .order_by(AppUser.email)
    ).all()
    return [UserRow(*r) for r in rows]
