"""Local logins: argon2 hashes, throttling, disabled users, the users CLI."""

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from commlog import auth
from commlog.models import AppUser
from commlog.principal import Role
from tests.support import factories as f
from tests.support.factories import T0

PASSWORD = "correct horse battery"


@pytest.fixture
def users(engine):
    with engine.begin() as c:
        f.lender(c, "lender-a")
        admin = f.user(c, "Admin@Lender-A.example", "lender_admin", "lender-a", PASSWORD)
        ops = f.user(c, "ops@commlog.example", "ops", None, PASSWORD)
    return {"admin": admin, "ops": ops}


def test_password_is_stored_as_argon2_hash_never_plaintext(engine, users):
    with engine.connect() as c:
        stored = c.execute(select(AppUser.password_hash).where(AppUser.id == users["admin"])).scalar()
    assert stored.startswith("$argon2") and PASSWORD not in stored


def test_login_with_right_password_case_insensitive_email(engine, users):
    with engine.begin() as c:
        p = auth.authenticate(c, "  admin@lender-a.EXAMPLE ", PASSWORD, T0)
    assert p.role == Role.LENDER_ADMIN and p.lender_id is not None and p.email == "admin@lender-a.example"


def test_wrong_password_and_unknown_user_read_the_same(engine, users):
    with engine.begin() as c:
        with pytest.raises(auth.AuthError) as wrong:
            auth.authenticate(c, "admin@lender-a.example", "nope-nope-nope", T0)
        with pytest.raises(auth.AuthError) as unknown:
            auth.authenticate(c, "nobody@lender-a.example", "nope-nope-nope", T0)
    assert str(wrong.value) == str(unknown.value)


def test_repeated_failures_slow_their_ip_but_never_lock_the_address(engine, users):
    """Was a bug (issue 14): five failures locked the address for 15 minutes, the right password
    included, from anywhere. Now the failing IP waits a few seconds; the address is not locked."""
    attacker, user_ip = "203.0.113.66", "198.51.100.7"
    with engine.begin() as c:
        for i in range(4):
            with pytest.raises(auth.AuthError, match="not right"):
                auth.authenticate(c, "ops@commlog.example", f"wrong-{i}-xxxxx", T0, attacker)
        with pytest.raises(auth.AuthError, match="Too many sign-in attempts from your network"):
            auth.authenticate(c, "ops@commlog.example", PASSWORD, T0 + timedelta(seconds=1), attacker)
        assert auth.authenticate(c, "ops@commlog.example", PASSWORD, T0 + timedelta(seconds=1), user_ip).is_ops
        # The attacker's network waits seconds, not 15 minutes.
        assert auth.authenticate(c, "ops@commlog.example", PASSWORD, T0 + timedelta(seconds=4), attacker).is_ops


def test_disabled_user_cannot_log_in_and_loses_session(engine, users):
    with engine.begin() as c:
        auth.set_disabled(c, "ops@commlog.example", True)
        with pytest.raises(auth.AuthError, match="disabled"):
            auth.authenticate(c, "ops@commlog.example", PASSWORD, T0)
        assert auth.load_principal(c, users["ops"]) is None


def test_add_user_validation(engine, users):
    with engine.begin() as c:
        with pytest.raises(auth.UserError, match="needs --lender"):
            auth.add_user(c, "x@y.example", "lender_admin", None, PASSWORD, T0)
        with pytest.raises(auth.UserError, match="no lender"):
            auth.add_user(c, "x@y.example", "lender_admin", "nope", PASSWORD, T0)
        with pytest.raises(auth.UserError, match="already exists"):
            auth.add_user(c, "OPS@commlog.example", "ops", None, PASSWORD, T0)
        with pytest.raises(auth.UserError, match="at least 12 characters"):
            auth.add_user(c, "short@y.example", "ops", None, "short", T0)


def test_users_cli_reads_password_from_stdin(sqlite_url, sqlite_engine):
    with sqlite_engine.begin() as c:
        f.lender(c, "lender-a")
    run = lambda *a, stdin="": subprocess.run(  # noqa: E731 - a one-line helper read beside its uses
        [sys.executable, "-m", "commlog", "--database-url", sqlite_url, "users", *a],
        input=stdin, capture_output=True, text=True, timeout=60,
    )
    added = run("add", "--email", "new@lender-a.example", "--role", "lender_admin", "--lender", "lender-a",
                "--password-stdin", stdin="a-long-password\n")
    assert added.returncode == 0, added.stderr
    assert "a-long-password" not in added.stdout + added.stderr
    listed = run("list")
    assert "new@lender-a.example" in listed.stdout and "lender-a" in listed.stdout
    dup = run("add", "--email", "new@lender-a.example", "--role", "ops", "--password-stdin", stdin="a-long-password\n")
    assert dup.returncode == 1 and dup.stderr.startswith("error: ") and "Traceback" not in dup.stderr
    assert run("disable", "--email", "new@lender-a.example").returncode == 0
    assert "disabled" in run("list").stdout


@pytest.mark.parametrize("password, words", [
    ("short-pw", "at least 12 characters"),
    ("new@lender-a.example", "must not be the email address"),
    ("New2024!!!!!", "must not be the email address"),
    ("Password1234!", "common"),
])
def test_users_add_refuses_a_weak_password_and_stores_nothing(sqlite_url, sqlite_engine, password, words):
    with sqlite_engine.begin() as c:
        f.lender(c, "lender-a")
    added = subprocess.run(
        [sys.executable, "-m", "commlog", "--database-url", sqlite_url, "users", "add", "--email", "new@lender-a.example",
         "--role", "lender_admin", "--lender", "lender-a", "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, timeout=60,
    )
    assert added.returncode == 1 and added.stderr.startswith("error: the password ") and words in added.stderr
    assert password not in added.stdout + added.stderr and "Traceback" not in added.stderr
    with sqlite_engine.connect() as c:
        assert c.execute(select(AppUser.id)).all() == []
