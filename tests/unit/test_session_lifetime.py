"""commlog.session_lifetime: when a signed-in session is over, and what the sign-in form says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commlog.session_lifetime import Limits, SignOutReason, duration_words, expiry
from commlog.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEFAULTS = Limits.from_settings(Settings())


def test_the_defaults_are_30_idle_minutes_and_12_hours():
    assert Limits(idle=timedelta(minutes=30), lifetime=timedelta(hours=12)) == DEFAULTS


@pytest.mark.parametrize(("since_sign_in", "idle", "reason"), [
    (timedelta(minutes=29, seconds=59), timedelta(minutes=29, seconds=59), None),
    (timedelta(minutes=30), timedelta(minutes=30), SignOutReason.IDLE_TIMEOUT),
    (timedelta(hours=11, minutes=59), timedelta(minutes=29), None),
    (timedelta(hours=12), timedelta(minutes=1), SignOutReason.LIFETIME),
    (timedelta(hours=13), timedelta(hours=1), SignOutReason.LIFETIME),  # past both: too old comes first
])
def test_a_session_ends_at_either_limit(since_sign_in, idle, reason):
    now = T0 + since_sign_in
    ended = expiry(DEFAULTS, T0, now - idle, now)
    assert (ended.reason if ended else None) == reason


def test_what_the_sign_in_form_says():
    now = T0 + timedelta(hours=12)
    assert expiry(DEFAULTS, now - timedelta(hours=1), now - timedelta(minutes=45), now).message == (
        "You were signed out after 30 minutes without activity.")
    assert expiry(DEFAULTS, T0, now, now).message == "You were signed out after 12 hours; sign in again."


@pytest.mark.parametrize(("span", "words"), [
    (timedelta(minutes=30), "30 minutes"), (timedelta(hours=1), "1 hour"), (timedelta(seconds=3), "3 seconds"),
    (timedelta(hours=1, minutes=30), "1 hour 30 minutes"), (timedelta(minutes=1, seconds=1), "1 minute 1 second"),
])
def test_durations_in_words(span, words):
    assert duration_words(span) == words
