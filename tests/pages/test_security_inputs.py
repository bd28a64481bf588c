"""Security suite, property-based: random filter and search input never errors and never returns a
foreign row (attack table: tests/pages/test_security_tenancy.py, row 21).

* Domain level, on SQLite and PostgreSQL: random URL parameters go through the real path of the
  log page (LogView.from_query_params -> log_queries.resolve_view -> LogView.query ->
  fetch_log_page / count_log / export.count_failures / export.export_select), and random
  LogQuery values and type-ahead text straight into the query functions; as lender admin A every
  row is lender A's; as ops nothing raises.
* Page level (AppTest, fewer examples): random URL parameters and random text typed into the
  search widgets of the log page: no exception, no error element, only lender A's rows.

Found by these tests and fixed: a type-ahead text ending in U+10FFFF or U+D7FF raised (upper bound
of the index range out of Unicode / a surrogate; commlog/log_queries.py), NUL in search text made
PostgreSQL raise (commlog/log_view.py clean_text, log_queries.search_borrowers), and a non-ASCII
digit ('²') in an id parameter raised ValueError (commlog/log_view.py, pages/message.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from commlog import export
from commlog.domains import FAMILIES
from commlog.log_filters import DELIVERY_CHOICES
from commlog.log_queries import (
    SPAN_LENDER,
    SPAN_LOG,
    count_log,
    fetch_log_page,
    log_select,
    resolve_view,
    search_borrowers,
)
from commlog.log_view import PAGE_SIZES, SORTS, LogQuery, LogView, clean_text
from commlog.models import Message
from commlog.vocabulary import Audience, EventType, SendStatus
from tests.support.app import app, borrower_matches
from tests.support.factories import log_query
from tests.support.tenancy_world import (
    FOREIGN_MARKERS,
    build_world,
    copy_world,
    table_rows,
)

PARAMS = ("lender", "account", "family", "range", "from", "to", "sent_from", "sent_to", "status", "delivery", "event", "type", "audience", "q",
          "domain", "sort", "page", "size", "id")
NOW = datetime.now(UTC)
UTC = ZoneInfo("UTC")

no_nul = hs.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


def _value(world_ids: dict) -> hs.SearchStrategy[str]:
    ids = [str(i) for i in (world_ids["a"], world_ids["b"], world_ids["zed"], world_ids["ana_b"], world_ids["ana"],
                            *world_ids["b_ids"], *world_ids["a_ids"])]
    valid = ["all", "custom", "24h", "7d", "30d", *SORTS, *DELIVERY_CHOICES, *FAMILIES, "2000-01-01", "2099-12-31",
             *[s.value for s in SendStatus], *[e.value for e in EventType], *[a.value for a in Audience],
             "account_confirmation", "password_reset", "payment_reminder", "gmail.com", "outlook.com",
             "bravo-borrower.example", "Bravo", "bravo", *map(str, PAGE_SIZES), "2000-01-01T00:00Z", "2099-12-31T23:59Z"]
    return hs.one_of(
        hs.sampled_from(ids + valid),
        hs.text(max_size=40),
        hs.text(alphabet="0123456789²³¹٣-+ .e%_'\"\\", max_size=25),
        hs.integers(min_value=-(2**70), max_value=2**70).map(str),
        hs.text(max_size=300),
    )


def _params(world_ids: dict) -> hs.SearchStrategy[dict]:
    return hs.dictionaries(hs.sampled_from(PARAMS), _value(world_ids), max_size=8)


@pytest.fixture
def dworld(engine) -> dict:
    w = build_world(engine)
    w["engine"] = engine
    return w


DOMAIN_SETTINGS = settings(max_examples=120, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _all_ids(conn, principal, f: LogQuery, span: str) -> set[int]:
    return set(conn.execute(log_select(principal, f, (Message.id,), span=span)).scalars())


def test_random_url_parameters_through_the_real_queries(dworld):
    admin, ops, a_ids = dworld["admin_a"], dworld["ops"], dworld["a_ids"]

    ran: list[int] = []

    @DOMAIN_SETTINGS
    @given(params=_params(dworld))
    def check(params):
        ran.append(1)
        view, notices = LogView.from_query_params(params)
        assert all(isinstance(n, str) for n in notices)
        with dworld["engine"].connect() as conn:
            resolved = resolve_view(conn, admin, view)
            assert resolved.lender is not None and resolved.lender.id == dworld["a"]
            assert resolved.account is None or resolved.account.lender_id == dworld["a"]
            f = resolved.view.query(resolved.lender.id, UTC, NOW)
            page = fetch_log_page(conn, admin, f)
            assert {r["id"] for r in page.rows} <= a_ids
            for span in (SPAN_LOG, SPAN_LENDER):
                assert _all_ids(conn, admin, f, span) <= a_ids
                count_log(conn, admin, f, span=span)
                spec = export.FailureExport(f, span=span, include_deferred=True)
                assert export.count_failures(conn, admin, spec) <= len(a_ids)
                rows = conn.execute(export.export_select(admin, spec)).all()
                assert {int(r[-1]) for r in rows} <= a_ids
            # ops: the same input never raises either
            resolved_ops = resolve_view(conn, ops, view)
            if resolved_ops.lender is not None:
                fetch_log_page(conn, ops, resolved_ops.view.query(resolved_ops.lender.id, UTC, NOW))

    check()
    print(f"{len(ran)} examples")
    assert len(ran) >= 15


def test_random_log_filters_and_typeahead_text(dworld):
    admin, a_ids, a = dworld["admin_a"], dworld["a_ids"], dworld["a"]
    text = hs.text(alphabet=no_nul, max_size=60)
    filters = hs.builds(
        log_query,
        lender_id=hs.just(a),
        account_id=hs.one_of(hs.none(), hs.sampled_from([dworld["zed"], dworld["ana_b"], dworld["ana"], dworld["bob"]]),
                             hs.integers(1, 2**62)),
        all_logs=hs.booleans(),
        send_status=hs.one_of(hs.none(), text, hs.sampled_from([s.value for s in SendStatus])),
        delivery_status=hs.one_of(hs.none(), text, hs.sampled_from(DELIVERY_CHOICES)),
        event_type=hs.one_of(hs.none(), hs.sampled_from([e.value for e in EventType])),
        email_type=hs.one_of(hs.none(), text, hs.sampled_from(["payment_reminder", "password_reset"])),
        audience=hs.one_of(hs.none(), text, hs.sampled_from([x.value for x in Audience])),
        text=hs.one_of(hs.none(), hs.text(max_size=250).map(clean_text)),  # what the page and URL pass: cleaned
        domain=hs.one_of(hs.none(), text, hs.sampled_from(["gmail.com", "bravo-borrower.example", "outlook.com"])),
        provider_family=hs.one_of(hs.none(), text, hs.sampled_from(FAMILIES)),
        provider=hs.one_of(hs.none(), text, hs.sampled_from(["sendgrid", "postmark"])),
        sort=hs.one_of(hs.sampled_from(list(SORTS)), text),
        page=hs.integers(1, 100_000),
        page_size=hs.integers(1, 100),
    )

    ran: list[int] = []

    @DOMAIN_SETTINGS
    @given(f=filters, typed=hs.text(max_size=120))
    def check(f, typed):
        ran.append(1)
        with dworld["engine"].connect() as conn:
            assert {r["id"] for r in fetch_log_page(conn, admin, f).rows} <= a_ids
            assert _all_ids(conn, admin, f, SPAN_LENDER) <= a_ids
            found = search_borrowers(conn, admin, a, typed)
            assert all(acc.lender_id == a for acc in found)
            ids = {acc.id for acc in found}
            assert dworld["zed"] not in ids and dworld["ana_b"] not in ids

    check()
    print(f"{len(ran)} examples")
    assert len(ran) >= 15


# --- the page (AppTest) ----------------------------------------------------------------------------------

PAGE_SETTINGS = settings(max_examples=15, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def pworld(tenancy_template, tmp_path, monkeypatch):
    url, w = copy_world(tenancy_template, tmp_path)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    return w


def _page_ok(at, w, typed=()) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert table_rows(at) <= w["a_rows"]
    tables = "\n".join(df.value.to_csv() for df in at.dataframe)
    for t in typed:
        tables = tables.replace(t, "")
    assert not any(m in tables for m in FOREIGN_MARKERS)


def test_random_url_parameters_on_the_log_page(pworld):
    ran: list[int] = []

    @PAGE_SETTINGS
    @given(params=_params(pworld))
    def check(params):
        ran.append(1)
        at = app(user_id=pworld["users"]["admin_a"], params=params).run()
        _page_ok(at, pworld)
        assert "lender" not in at.query_params

    check()
    print(f"{len(ran)} examples")
    assert len(ran) >= 15


def test_random_text_in_the_log_pages_search_widgets(pworld):
    at = app(user_id=pworld["users"]["admin_a"]).run()

    ran: list[int] = []

    @PAGE_SETTINGS
    @given(search=hs.text(max_size=100), q=hs.text(max_size=200), domain=hs.text(max_size=80))
    def check(search, q, domain):
        ran.append(1)
        at.text_input(key="log_borrower_search").input(search)
        at.text_input(key="log_q").input(q)
        at.text_input(key="log_domain").input(domain)
        at.run()
        _page_ok(at, pworld, typed=(search, q, domain))
        options = at.selectbox(key="log_account").options + borrower_matches(at)
        assert not any("Bravo" in o or "Zed" in o for o in options)

    check()
    print(f"{len(ran)} examples")
    assert len(ran) >= 15


def test_message_page_random_ids(pworld):
    at = app(user_id=pworld["users"]["admin_a"]).run()

    ran: list[int] = []

    @PAGE_SETTINGS
    @given(raw=hs.one_of(hs.text(max_size=30), hs.sampled_from([str(i) for i in pworld["b_ids"]])))
    def check(raw):
        ran.append(1)
        at.switch_page("pages/message.py")
        at.query_params["id"] = raw
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Bravo" not in "\n".join(str(m.value) for m in at.markdown)

    check()
    print(f"{len(ran)} examples")
    assert len(ran) >= 15
