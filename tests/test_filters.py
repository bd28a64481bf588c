"""URL parameters: valid ones round-trip, invalid ones fall back with a notice and never reach SQL."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from commlog import filters
from commlog.filters import ViewState, parse_query_params, to_query_params


def test_round_trip_of_a_full_view():
    view = ViewState(
        lender_id=3, account_id=77, range="custom", date_from=date(2026, 11, 1), date_to=date(2026, 11, 7),
        send_status="sent", delivery_status="NOT_DELIVERED", event_type="BOUNCE", email_type="password_reset",
        audience="borrower", text="ana@", domain="gmail.com", sort="oldest", page=3, page_size=100,
        search="billy nasser", search_all_lenders=True,
    )
    parsed = parse_query_params(to_query_params(view))
    assert parsed.notices == []
    assert parsed.view == view


def test_defaults_make_an_empty_url():
    assert to_query_params(ViewState()) == {}


def test_bad_values_fall_back_with_notices():
    parsed = parse_query_params(
        {"lender": "abc", "range": "forever", "delivery": "LOST", "page": "-2", "size": "7", "from": "2026-13-40",
         "domain": "evil'; drop table message;--", "sort": "random"}
    )
    v = parsed.view
    assert v.lender_id is None and v.range == "30d" and v.delivery_status is None
    assert v.page == 1 and v.page_size == 50 and v.domain is None and v.sort == "newest"
    assert len(parsed.notices) == 8  # one per bad parameter


def test_custom_range_with_swapped_dates_is_fixed():
    parsed = parse_query_params({"range": "custom", "from": "2026-11-09", "to": "2026-11-02"})
    assert (parsed.view.date_from, parsed.view.date_to) == (date(2026, 11, 2), date(2026, 11, 9))
    assert parsed.notices


def test_long_search_text_is_capped():
    parsed = parse_query_params({"q": "x" * 10_000})
    assert len(parsed.view.text) == filters.MAX_TEXT
    assert any("cut" in n for n in parsed.notices)


def test_custom_dates_are_whole_days_in_the_viewers_zone():
    view = ViewState(range="custom", date_from=date(2026, 11, 2), date_to=date(2026, 11, 2))
    since, until = filters.time_bounds(view, ZoneInfo("Europe/Berlin"), datetime(2026, 11, 27, tzinfo=timezone.utc))
    assert since == datetime(2026, 11, 1, 23, 0, tzinfo=timezone.utc)
    assert until == datetime(2026, 11, 2, 23, 0, tzinfo=timezone.utc)


@given(st.dictionaries(st.sampled_from(["lender", "account", "range", "from", "to", "status", "delivery", "event",
                                        "type", "audience", "q", "domain", "sort", "page", "size"]),
                       st.text(max_size=300)))
def test_any_url_parses_to_a_valid_view(params):
    v = parse_query_params(params).view
    assert v.range in filters.PRESET_LABELS and v.sort in filters.SORTS
    assert v.page_size in filters.PAGE_SIZES and 1 <= v.page <= filters.MAX_PAGE
    assert v.text is None or len(v.text) <= filters.MAX_TEXT
    assert v.domain is None or filters.DOMAIN_RE.match(v.domain)


def test_all_logs_and_family_round_trip():
    view = ViewState(lender_id=2, all_logs=True, provider_family="microsoft")
    assert to_query_params(view) == {"lender": "2", "account": "all", "family": "microsoft"}
    assert parse_query_params({"account": "ALL", "family": "Microsoft"}).view == ViewState(all_logs=True, provider_family="microsoft")
    bad = parse_query_params({"family": "aol"})
    assert bad.view.provider_family is None and bad.notices


def test_a_recipient_search_in_the_url():
    parsed = parse_query_params({"find": "  nasser   ALBERT ", "lenders": "all"})
    assert (parsed.view.search, parsed.view.search_all_lenders, parsed.notices) == ("nasser ALBERT", True, [])
    assert to_query_params(parsed.view) == {"find": "nasser ALBERT", "lenders": "all"}


def test_every_lender_without_a_search_means_nothing_and_a_bad_value_is_named():
    assert parse_query_params({"lenders": "all"}).view.search_all_lenders is False
    parsed = parse_query_params({"find": "x" * 500, "lenders": "some"})
    assert len(parsed.view.search) == 200 and not parsed.view.search_all_lenders
    assert parsed.notices == ["Search text was cut to 200 characters.", "Ignored lenders='some': the only choice is lenders=all."]
