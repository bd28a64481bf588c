"""Sign-in throttling (commlog.throttle through commlog.auth.authenticate), on SQLite and PostgreSQL,
with a clock the tests move: progressive delays per (address, IP), per IP and, mildly, per address;
never a lockout of the real user; the same words for unknown and known addresses; the ops command
that clears a throttle."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commlog import auth, throttle
from commlog.models import LoginAttempt
from tests.support import factories as f
from tests.support.factories import T0

PASSWORD = "correct horse battery"
ADMIN = "admin@lender-a.example"
ATTACKER, USER_IP, OTHER = "203.0.113.66", "198.51.100.7", "192.0.2.10"
NOT_RIGHT = "Email or password is not right."


@pytest.fixture
def users(engine):
    with engine.begin() as c:
        f.lender(c, "lender-a")
        f.user(c, ADMIN, "lender_admin", "lender-a", PASSWORD)
    return engine


def attempt(engine, email: str, password: str, at, ip) -> str:
    """One sign-in in its own transaction (as the form does): "ok" or the form's message."""
    with engine.begin() as c:
        try:
            auth.authenticate(c, email, password, at, ip)
        except auth.AuthError as exc:
            return str(exc)
    return "ok"


def wait_message(seconds: int) -> str:
    return f"Too many sign-in attempts from your network. Try again in {seconds} s."


def test_three_failures_are_free_then_each_waits_twice_as_long(users):
    at = T0
    for _ in range(4):  # the fourth attempt still gets its password checked
        assert attempt(users, ADMIN, "wrong-password-x", at, ATTACKER) == NOT_RIGHT
    assert attempt(users, ADMIN, "wrong-password-x", at, ATTACKER) == wait_message(2)
    assert attempt(users, ADMIN, "wrong-password-x", at + timedelta(seconds=2), ATTACKER) == NOT_RIGHT
    for waited, left in ((0, 4), (1, 3), (3, 1)):  # refused tries do not extend the wait
        assert attempt(users, ADMIN, PASSWORD, at + timedelta(seconds=2 + waited), ATTACKER) == wait_message(left)
    assert attempt(users, ADMIN, "wrong-password-x", at + timedelta(seconds=6), ATTACKER) == NOT_RIGHT
    assert attempt(users, ADMIN, "wrong-password-x", at + timedelta(seconds=6), ATTACKER) == wait_message(8)
    # The right password after the wait signs in, and clears this address + IP: three free failures again.
    assert attempt(users, ADMIN, PASSWORD, at + timedelta(seconds=14), ATTACKER) == "ok"
    for _ in range(4):
        assert attempt(users, ADMIN, "wrong-password-x", at + timedelta(seconds=15), ATTACKER) == NOT_RIGHT


def test_a_refused_attempt_checks_no_password_and_records_no_attempt(users, monkeypatch):
    for _ in range(4):
        attempt(users, ADMIN, "wrong-password-x", T0, ATTACKER)
    with users.connect() as c:
        before = c.execute(select(func.count()).select_from(LoginAttempt)).scalar_one()
    class NoVerifying:
        def verify(self, *_args):
            pytest.fail("a throttled attempt verified a password")

    monkeypatch.setattr(auth, "_hasher", NoVerifying())
    assert attempt(users, ADMIN, PASSWORD, T0 + timedelta(seconds=1), ATTACKER) == wait_message(1)
    with users.connect() as c:
        assert c.execute(select(func.count()).select_from(LoginAttempt)).scalar_one() == before


def test_the_real_user_from_another_network_signs_in_at_once_while_an_attacker_hammers(users):
    """The attacker tries again the moment each wait ends, for six hours; after every one of its
    failures the real user, from their own IP, signs in at once."""
    at, end, failures = T0, T0 + timedelta(hours=6), 0
    while at < end:
        with users.begin() as c:
            refusal = throttle.check(c, ADMIN, ATTACKER, at)
        if refusal is not None:
            at += refusal.retry_after
            continue
        assert attempt(users, ADMIN, "guess-guess-guess", at, ATTACKER) == NOT_RIGHT
        failures += 1
        assert attempt(users, ADMIN, PASSWORD, at, USER_IP) == "ok"
    assert failures <= 4 + 9 + 6 * 4  # free, then 2 s … 8.5 min, then one a quarter hour: ~ 36 guesses in 6 h


def test_unknown_and_known_addresses_read_the_same_throughout(users):
    def messages(email: str, ip: str) -> list[str]:
        return [attempt(users, email, "wrong-password-x", T0 + timedelta(seconds=s), ip) for s in (0, 0, 0, 0, 0, 1, 2, 2)]

    known, unknown = messages(ADMIN, ATTACKER), messages("nobody@lender-a.example", OTHER)
    assert known == unknown
    assert known == [NOT_RIGHT] * 4 + [wait_message(2), wait_message(1), NOT_RIGHT, wait_message(4)]


def test_one_ip_trying_many_addresses_is_slowed_by_its_ip_key(users):
    for i in range(throttle.IP.free):
        assert attempt(users, f"someone{i}@lender-a.example", "wrong-password-x", T0, ATTACKER) == NOT_RIGHT
    assert attempt(users, "someone-new@lender-a.example", "wrong-password-x", T0, ATTACKER) == NOT_RIGHT
    assert attempt(users, "another-one@lender-a.example", "wrong-password-x", T0, ATTACKER) == wait_message(2)
    assert attempt(users, ADMIN, PASSWORD, T0, ATTACKER) == wait_message(2)  # the right password waits too, there
    assert attempt(users, ADMIN, PASSWORD, T0, USER_IP) == "ok"  # but not from anywhere else


def test_an_address_attacked_from_many_ips_slows_its_user_mildly_and_never_past_30_s(users):
    at = T0
    for i in range(throttle.ADDRESS.free):
        assert attempt(users, ADMIN, "wrong-password-x", at, f"10.0.{i}.1") == NOT_RIGHT
    assert attempt(users, ADMIN, "wrong-password-x", at, "10.1.0.1") == NOT_RIGHT
    assert attempt(users, ADMIN, PASSWORD, at, USER_IP) == wait_message(2)
    waits = []
    for i in range(60):  # a botnet: each IP one guess, as fast as the address key lets them
        at += timedelta(seconds=31)
        assert attempt(users, ADMIN, "wrong-password-x", at, f"10.2.{i // 250}.{i % 250}") == NOT_RIGHT
        with users.begin() as c:
            waits.append(throttle.check(c, ADMIN, USER_IP, at).retry_after)
    assert max(waits) == timedelta(seconds=30)
    assert attempt(users, ADMIN, PASSWORD, at + timedelta(seconds=30), USER_IP) == "ok"


def test_attempts_older_than_a_day_are_pruned_at_the_next_checked_attempt(users):
    for _ in range(3):
        attempt(users, ADMIN, "wrong-password-x", T0, ATTACKER)
    attempt(users, "x@lender-a.example", "wrong-password-x", T0 + timedelta(days=1, seconds=1), OTHER)
    with users.connect() as c:
        rows = c.execute(select(LoginAttempt.email, LoginAttempt.client_ip)).all()
    assert rows == [("x@lender-a.example", OTHER)]


def test_delays_double_from_two_seconds_and_stop_at_each_keys_cap():
    assert [throttle.delay_after(n, throttle.ADDRESS_IP).total_seconds() for n in range(1, 9)] == [0, 0, 0, 2, 4, 8, 16, 32]
    assert throttle.delay_after(10_000, throttle.ADDRESS_IP) == timedelta(minutes=15)
    assert throttle.delay_after(10_000, throttle.IP) == timedelta(minutes=15)
    assert throttle.delay_after(10_000, throttle.ADDRESS) == timedelta(seconds=30)


@pytest.mark.parametrize("seconds, text", [(0.2, "1 s"), (8, "8 s"), (119.5, "2 min"), (121, "3 min"), (900, "15 min")])
def test_the_wait_is_said_in_seconds_then_whole_minutes(seconds, text):
    refusal = throttle.Throttled(throttle.ADDRESS_IP, timedelta(seconds=seconds), T0)
    assert refusal.message == f"Too many sign-in attempts from your network. Try again in {text}."


# --- ops: users clear-throttle ------------------------------------------------------------------------


def test_clear_throttle_command(sqlite_url, sqlite_engine):
    with sqlite_engine.begin() as c:
        f.lender(c, "lender-a")
        f.user(c, ADMIN, "lender_admin", "lender-a", PASSWORD)
    for ip in (ATTACKER, OTHER):
        for _ in range(4):
            attempt(sqlite_engine, ADMIN, "wrong-password-x", T0, ip)
    for i in range(3):
        attempt(sqlite_engine, f"user{i}@lender-a.example", "wrong-password-x", T0, ATTACKER)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "commlog", "--database-url", sqlite_url, "users", "clear-throttle", *args],
                              capture_output=True, text=True, timeout=60)

    done = run("--email", "Admin@Lender-A.example", "--ip", ATTACKER)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cleared 4 failed sign-ins for {ADMIN} from {ATTACKER}"
    assert attempt(sqlite_engine, ADMIN, "wrong-password-x", T0, ATTACKER) == NOT_RIGHT  # free again
    assert attempt(sqlite_engine, ADMIN, "wrong-password-x", T0, OTHER) == wait_message(2)  # the other IP's stays
    done = run("--ip", ATTACKER)
    assert done.stdout.strip() == f"cleared 4 failed sign-ins for 4 addresses from {ATTACKER}"  # 3 others + the new one
    done = run("--email", ADMIN)
    assert done.stdout.strip() == f"cleared 4 failed sign-ins for {ADMIN} from 1 IP"
    assert attempt(sqlite_engine, ADMIN, PASSWORD, T0, OTHER) == "ok"
    assert run("--ip", ATTACKER).stdout.strip() == f"cleared 0 failed sign-ins for 0 addresses from {ATTACKER}"
    for bad in ((), ("--ip", "not-an-ip")):
        refused = run(*bad)
        assert refused.returncode == 1 and refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
