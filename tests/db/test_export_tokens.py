"""Download tokens (commlog.export_tokens) on SQLite and PostgreSQL: single use, expiry by an injected
clock, bound to the browser, only hashes stored, and the export's spec carried exactly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from threading import Barrier
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from commlog import export_tokens as T
from commlog.export import FailureExport, period_export
from commlog.log_queries import SPAN_LENDER
from commlog.log_view import LogView
from commlog.models import ExportToken
from commlog.principal import Principal, Role
from commlog.unit_of_work import platform_reading, platform_writing

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BROWSER = "b" * 43
OTHER_BROWSER = "o" * 43


@pytest.fixture
def world(export_world):
    return export_world


def _spec(world, **view) -> T.DownloadSpec:
    v = LogView(lender_id=world["a"], all_logs=True, choices={"delivery": "NOT_DELIVERED"}, **view)
    query = v.query(world["a"], ZoneInfo("Europe/Berlin"), NOW)
    return T.DownloadSpec(FailureExport(query, span=SPAN_LENDER, include_deferred=True), "failures_acme.csv",
                          bom=True, audit_extra={"view": v.to_query_params(), "tz": "Europe/Berlin"})


def _mint(engine, world, spec=None, *, now=NOW, browser=BROWSER) -> str:
    with platform_writing(engine) as conn:
        return T.mint(conn, world["admin_a"], spec or _spec(world), browser, now)


def _claim(engine, token, *, browser=BROWSER, now=NOW):
    with platform_writing(engine) as conn:
        return T.claim(conn, token, browser, now)


def _why(engine, token, *, browser=BROWSER, now=NOW) -> str:
    with platform_reading(engine) as conn:
        return T.why_refused(conn, token, browser, now)


def test_a_token_is_served_once_with_exactly_the_spec_and_principal_it_was_minted_for(engine, world):
    spec = _spec(world, range="7d")  # a preset: its start is now minus 7 days, to the microsecond
    token = _mint(engine, world, spec)
    got = _claim(engine, token, now=NOW + timedelta(seconds=5))
    assert got is not None and got.spec == spec
    assert got.spec.export.query.since == NOW - timedelta(days=7)
    assert (got.user_id, got.role, got.principal_lender_id) == (world["users"]["admin_a"], "lender_admin", world["a"])
    assert got.still_matches(world["admin_a"])
    assert _claim(engine, token, now=NOW + timedelta(seconds=6)) is None  # a second fetch
    assert _why(engine, token) == "already used"


def test_deliverability_periods_for_one_or_every_lender_travel_exactly(engine, world):
    for lender_id in (world["a"], None):
        spec = T.DownloadSpec(period_export(lender_id, date(2026, 11, 1), date(2026, 11, 7), email_type="password_reset"),
                              "f.csv")
        with platform_writing(engine) as conn:
            ops = Principal(world["users"]["ops"], "ops@commlog.example", Role.OPS, None)
            token = T.mint(conn, ops, spec, BROWSER, NOW)
        assert _claim(engine, token).spec == spec


def test_a_token_expires_after_sixty_seconds_at_most(engine, world):
    token = _mint(engine, world)
    assert _claim(engine, token, now=NOW + T.TOKEN_LIFETIME) is None
    assert _why(engine, token, now=NOW + T.TOKEN_LIFETIME) == "expired"
    fresh = _mint(engine, world)
    assert _claim(engine, fresh, now=NOW + T.TOKEN_LIFETIME - timedelta(seconds=1)) is not None
    with platform_writing(engine) as conn:  # asking for longer gets 60 s
        long = T.mint(conn, world["admin_a"], _spec(world), BROWSER, NOW, lifetime=timedelta(hours=1))
    assert _claim(engine, long, now=NOW + timedelta(seconds=61)) is None


def test_another_browser_or_none_gets_nothing_and_does_not_spend_the_token(engine, world):
    token = _mint(engine, world)
    assert _claim(engine, token, browser=OTHER_BROWSER) is None
    assert _why(engine, token, browser=OTHER_BROWSER) == "another browser"
    assert _claim(engine, token, browser=None) is None
    assert _why(engine, token, browser=None) == "no browser cookie"
    assert _claim(engine, token) is not None  # the browser that asked still gets its file


def test_unknown_and_malformed_tokens(engine, world):
    _mint(engine, world)
    assert _claim(engine, "x" * 43) is None and _why(engine, "x" * 43) == "unknown"
    assert _claim(engine, "") is None and _claim(engine, "y" * 5000) is None


def test_only_hashes_are_stored_and_the_log_name_is_a_hash_prefix(engine, world):
    token = _mint(engine, world)
    with engine.connect() as c:
        row = c.execute(select(*ExportToken.__table__.columns)).one()
    stored = " ".join(str(v) for v in row)
    assert token not in stored and BROWSER not in stored
    assert row.token_sha256 == T.sha256_hex(token) and row.browser_sha256 == T.sha256_hex(BROWSER)
    assert row.expires_at == NOW + T.TOKEN_LIFETIME and row.used_at is None
    assert token not in T.log_name(token) and T.log_name(token) == "sha256:" + T.sha256_hex(token)[:12]


def test_minting_needs_a_browser_and_clears_long_expired_rows(engine, world):
    with pytest.raises(ValueError), platform_writing(engine) as conn:
        T.mint(conn, world["admin_a"], _spec(world), "", NOW)
    old = _mint(engine, world, now=NOW - timedelta(hours=2))
    _mint(engine, world)
    with engine.connect() as c:
        hashes = c.execute(select(ExportToken.token_sha256)).scalars().all()
    assert T.sha256_hex(old) not in hashes and len(hashes) == 1


def test_concurrent_fetches_of_one_token_serve_it_once(engine, world):
    """Two replicas (threads, own connections) claiming the same token at the same moment."""
    token = _mint(engine, world)
    start = Barrier(4)

    def fetch(_):
        start.wait()
        return _claim(engine, token, now=NOW + timedelta(seconds=1))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(fetch, range(4)))
    assert sum(r is not None for r in results) == 1


def test_a_used_token_is_never_claimed_again_even_if_its_expiry_were_moved(engine, world):
    token = _mint(engine, world)
    assert _claim(engine, token) is not None
    with engine.begin() as c:
        c.execute(update(ExportToken).values(expires_at=NOW + timedelta(days=1)))
    assert _claim(engine, token, now=NOW + timedelta(seconds=2)) is None
