"""Sign-in throttling: progressive delays, never a lockout (OWASP Authentication Cheat Sheet).

Failed sign-ins (rows of `login_attempt` whose password was checked and refused) are counted under
three keys; each allows a few failures free, then refuses the next attempt until a delay after the
key's latest failure that doubles with every further failure:

| key | counts | free | then | cap |
|---|---|---|---|---|
| address + client IP | its failures of the last day; a success from that IP for that address clears them | 3 | 2 s, 4 s, 8 s … | 15 min |
| client IP, any address | its failures of the last day (cleared ones excepted) | 20 | 2 s, 4 s, 8 s … | 15 min |
| address, any IP | its failures of the last 15 minutes (cleared ones excepted) | 15 | 2 s, 4 s, 8 s … | 30 s |

So an attacker slows only their own network: the real user from another IP is not slowed by them.
One IP cannot even reach the address-wide key (its own delays let at most 12 failures into any
15 minutes: tests/db/test_login_throttle.py hammers it for hours); that key is for an address
attacked from many IPs at once, and its delay is capped low (30 s) so the real user is only ever
mildly slowed. A refused attempt verifies no password and writes no row, so it never extends a delay.

Rows are kept a day: `prune` runs at every checked sign-in attempt (commlog.auth.authenticate).
Ops clear a throttle with `python -m commlog users clear-throttle` (`clear`).
A client IP of None is "not known" (a local connection): all such attempts share one IP key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select

from commlog.models import LoginAttempt

FIRST_DELAY = timedelta(seconds=2)
KEPT = timedelta(days=1)  # attempts older than this are pruned, and no longer count


@dataclass(frozen=True)
class Key:
    name: str  # address_ip | ip | address: what the audit trail's detail says
    free: int  # failures allowed without a delay
    window: timedelta  # failures older than this do not count
    cap: timedelta  # the longest delay


ADDRESS_IP = Key("address_ip", free=3, window=KEPT, cap=timedelta(minutes=15))
IP = Key("ip", free=20, window=KEPT, cap=timedelta(minutes=15))
ADDRESS = Key("address", free=15, window=timedelta(minutes=15), cap=timedelta(seconds=30))
KEYS = (ADDRESS_IP, IP, ADDRESS)


@dataclass(frozen=True)
class Throttled:
    """A sign-in attempt refused before its password is checked."""

    key: Key
    retry_after: timedelta
    last_failure_at: datetime  # the latest failure counted by the key

    @property
    def wait_text(self) -> str:
        """The wait as the form says it: "8 s" under two minutes, else whole minutes ("15 min")."""
        seconds = max(1, math.ceil(self.retry_after.total_seconds()))
        return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"

    @property
    def message(self) -> str:
        """The same words for every key and for known and unknown addresses alike."""
        return f"Too many sign-in attempts from your network. Try again in {self.wait_text}."


def delay_after(failures: int, key: Key) -> timedelta:
    """How long after its latest failure a key refuses attempts, given its failures."""
    extra = failures - key.free
    if extra <= 0:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** min(extra - 1, 40), key.cap)


def ip_is(ip: str | None) -> ColumnElement[bool]:
    return LoginAttempt.client_ip.is_(None) if ip is None else LoginAttempt.client_ip == ip


def _condition(key: Key, email: str, ip: str | None) -> list:
    if key is ADDRESS_IP:
        return [LoginAttempt.email == email, ip_is(ip)]
    if key is IP:
        return [ip_is(ip)]
    return [LoginAttempt.email == email]


def check(conn: Connection, email: str, ip: str | None, now: datetime) -> Throttled | None:
    """The key that refuses this attempt now (the longest wait of them), or None: go ahead."""
    worst: Throttled | None = None
    for key in KEYS:
        count, last = conn.execute(
            select(func.count(), func.max(LoginAttempt.attempted_at)).where(
                *_condition(key, email, ip),
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.attempted_at > now - key.window,
            )
        ).one()
        if last is None:
            continue
        wait = last + delay_after(count, key) - now
        if wait > timedelta(0) and (worst is None or wait > worst.retry_after):
            worst = Throttled(key, wait, last)
    return worst


def record(conn: Connection, email: str, ip: str | None, now: datetime, succeeded: bool) -> None:
    """A checked attempt: a failure counts under every key; a success clears its address + IP key."""
    if succeeded:
        conn.execute(delete(LoginAttempt).where(LoginAttempt.email == email, ip_is(ip), LoginAttempt.succeeded.is_(False)))
    conn.execute(insert(LoginAttempt).values(email=email, client_ip=ip, attempted_at=now, succeeded=succeeded))


def prune(conn: Connection, now: datetime) -> int:
    """Forget attempts older than a day (they no longer count under any key)."""
    return conn.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - KEPT)).rowcount


@dataclass(frozen=True)
class Cleared:
    failures: int
    addresses: int
    ips: int


def clear(conn: Connection, email: str | None, ip: str | None, *, local: bool = False) -> Cleared:
    """Ops: forget the failures of an address (from every IP), of an IP (for every address), or of
    both together; `local` stands for the IP of local connections (stored as none)."""
    where = [LoginAttempt.succeeded.is_(False)]
    if email is not None:
        where.append(LoginAttempt.email == email)
    if ip is not None or local:
        where.append(ip_is(None if local else ip))
    if len(where) == 1:
        raise ValueError("name an address, an IP, or both")
    addresses, ips = conn.execute(
        select(func.count(LoginAttempt.email.distinct()), func.count(func.coalesce(LoginAttempt.client_ip, "").distinct()))
        .where(*where)
    ).one()
    failures = conn.execute(delete(LoginAttempt).where(*where)).rowcount
    return Cleared(failures, addresses, ips)
