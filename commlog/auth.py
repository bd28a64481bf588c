"""Local accounts: argon2 password hashes, throttling after repeated failures, user management.

Single sign-on identities map onto the same app_user rows (password_hash NULL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, func, insert, select, update

from commlog.log_queries import lender_by_slug
from commlog.models import AppUser, Lender, LoginAttempt
from commlog.principal import Principal, Role

_hasher = PasswordHasher()

MAX_FAILURES = 5  # failed logins per address within THROTTLE_WINDOW before it is locked
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_PASSWORD_LENGTH = 1024  # argon2 cost grows with input; refuse absurd input up front
MIN_PASSWORD_LENGTH = 10

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


def _recent_failures(conn: Connection, email: str, now: datetime) -> int:
    last_success = conn.execute(
        select(func.max(LoginAttempt.attempted_at)).where(LoginAttempt.email == email, LoginAttempt.succeeded.is_(True))
    ).scalar()
    since = now - THROTTLE_WINDOW
    if last_success is not None and last_success > since:
        since = last_success
    return conn.execute(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.email == email, LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at > since)
    ).scalar_one()


def authenticate(conn: Connection, email: str, password: str, now: datetime) -> Principal:
    """Check a local login. Raises AuthError with a message fit for the login page."""
    email = normalize_email(email)[:320]
    if not email or not password:
        raise AuthError("Enter your email and password.")
    if _recent_failures(conn, email, now) >= MAX_FAILURES:
        raise AuthError(
            f"Too many failed attempts for this address. Try again in {int(THROTTLE_WINDOW.total_seconds() // 60)} minutes."
        )
    user = conn.execute(select(AppUser.__table__).where(AppUser.email == email)).first()
    ok = False
    if len(password) <= MAX_PASSWORD_LENGTH:
        stored = user.password_hash if user is not None else None
        try:
            ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    conn.execute(insert(LoginAttempt).values(email=email, attempted_at=now, succeeded=ok and not user.disabled))
    if not ok:
        raise AuthError("Email or password is not right.")
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
    if password is not None and not (MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH):
        raise UserError(f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
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
