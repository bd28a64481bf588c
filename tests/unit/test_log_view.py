"""The log's view in the URL: valid parameters round-trip, invalid ones fall back with a notice and
never reach SQL; every choice filter is defined once (commlog.log_filters)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from commlog import log_view
from commlog.log_filters import BY_PARAM, FILTERS
from commlog.log_view import LogView

FULL = LogView(
    lender_id=3, account_id=77, range="custom", date_from=date(2026, 11, 1), date_to=date(2026, 11, 7),
    choices={"status": "sent", "delivery": "NOT_DELIVERED", "event": "BOUNCE", "type": "password_reset",
             "audience": "borrower", "family": "google", "provider": "postmark"},
    text="ana@", domain="gmail.com", sort="oldest", page=3, page_size=100, search="billy nasser", search_all_lenders=True,
)


def test_round_trip_of_a_full_view():
    view, notices = LogView.from_query_params(FULL.to_query_params())
    assert notices == []
    assert view == FULL


def test_every_choice_filter_is_in_the_url_and_round_trips():
    assert {f.param for f in FILTERS} <= set(FULL.to_query_params())
    for f in FILTERS:
        value = FULL.choice(f.param)
        assert LogView.from_query_params({f.param: value.swapcase()})[0].choice(f.param) == value  # any case


def test_defaults_make_an_empty_url():
    assert LogView().to_query_params() == {}


def test_bad_values_fall_back_with_notices():
    view, notices = LogView.from_query_params(
        {"lender": "abc", "range": "forever", "delivery": "LOST", "page": "-2", "size": "7", "from": "2026-13-40",
         "domain": "evil'; drop table message;--", "sort": "random", "provider": "mailgun", "type": "Bad Type!"}
    )
    assert view.lender_id is None and view.range == "30d" and view.choices == ()
    assert view.page == 1 and view.page_size == 50 and view.domain is None and view.sort == "newest"
    assert len(notices) == 10  # one per bad parameter
    assert "Ignored provider='mailgun': not one of postmark, sendgrid." in notices
    assert "Ignored type='Bad Type!': not an email type." in notices


def test_custom_range_with_swapped_dates_is_fixed():
    view, notices = LogView.from_query_params({"range": "custom", "from": "2026-11-09", "to": "2026-11-02"})
    assert (view.date_from, view.date_to) == (date(2026, 11, 2), date(2026, 11, 9))
    assert notices == ["The 'from' date is after the 'to' date: swapped them."]


def test_long_search_text_is_capped():
    view, notices = LogView.from_query_params({"q": "x" * 10_000})
    assert len(view.text) == log_view.MAX_TEXT
    assert notices == ["Search text was cut to 200 characters."]


def test_custom_dates_are_whole_days_in_the_viewers_zone():
    view = LogView(range="custom", date_from=date(2026, 11, 2), date_to=date(2026, 11, 2))
    since, until = view.bounds(ZoneInfo("Europe/Berlin"), datetime(2026, 11, 27, tzinfo=UTC))
    assert since == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
    assert until == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)


EXACT_VIEW = LogView(lender_id=3, all_logs=True, range=log_view.EXACT, sent_from=datetime(2026, 11, 20, tzinfo=UTC),
                     sent_to=datetime(2026, 11, 27, tzinfo=UTC), choices={"event": "BLOCKED", "family": "microsoft"})


def test_exact_utc_bounds_round_trip_and_replace_the_dates():
    params = EXACT_VIEW.to_query_params()
    assert params["sent_from"] == "2026-11-20T00:00Z" and params["sent_to"] == "2026-11-27T00:00Z"
    assert not {"range", "from", "to"} & set(params)
    view, notices = LogView.from_query_params({**params, "range": "custom", "from": "2026-11-01", "to": "2026-11-02"})
    assert notices == [] and view == EXACT_VIEW


def test_exact_utc_bounds_are_the_same_in_every_zone():
    now = datetime(2026, 11, 30, tzinfo=UTC)
    for zone in ("America/Los_Angeles", "UTC", "Asia/Tokyo"):
        assert EXACT_VIEW.bounds(ZoneInfo(zone), now) == (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))


def test_bad_exact_bounds_are_dropped_with_one_clear_notice():
    for bad in ({"sent_from": "2026-11-20T00:00Z"},  # only one
                {"sent_from": "2026-11-27T00:00Z", "sent_to": "2026-11-20T00:00Z"},  # backwards
                {"sent_from": "2026-11-20", "sent_to": "2026-11-27"},  # dates, not times
                {"sent_from": "2026-11-20T00:00+09:00", "sent_to": "2026-11-27T00:00Z"},  # not UTC
                {"sent_from": "2026-11-20T00:00:00Z", "sent_to": "2026-11-27T00:00Z"},  # another form
                {"sent_from": "2026-02-30T00:00Z", "sent_to": "2026-03-02T00:00Z"},  # no such day
                {"sent_from": "١٩٩٩-11-20T00:00Z", "sent_to": "2026-11-27T00:00Z"},  # not ASCII digits
                {"sent_from": "1999-11-20T00:00Z", "sent_to": "2026-11-27T00:00Z"}):  # out of range
        view, notices = LogView.from_query_params({**bad, "range": "7d"})
        assert view.range == "7d" and view.sent_from is None and view.sent_to is None, bad
        assert len(notices) == 1 and "written like 2026-11-20T00:00Z (UTC)" in notices[0], (bad, notices)


def test_exact_label_names_utc_and_the_viewers_zone():
    since, until = EXACT_VIEW.sent_from, EXACT_VIEW.sent_to
    assert log_view.exact_label(since, until, ZoneInfo("UTC")) == "Sent 20 Nov 00:00 – 27 Nov 00:00 UTC"
    assert log_view.exact_label(since, until, ZoneInfo("America/Los_Angeles")) == (
        "Sent 20 Nov 00:00 – 27 Nov 00:00 UTC (in America/Los_Angeles: 19 Nov 16:00 – 26 Nov 16:00)")


@given(st.dictionaries(st.sampled_from(["lender", "account", "range", "from", "to", "sent_from", "sent_to", *BY_PARAM, "q", "domain", "sort",
                                        "page", "size", "find", "lenders"]),
                       st.text(max_size=300)))
def test_any_url_parses_to_a_valid_view(params):
    v, _ = LogView.from_query_params(params)
    assert (v.range in log_view.PRESET_LABELS or v.range == log_view.EXACT) and v.sort in log_view.SORTS
    assert (v.range == log_view.EXACT) == (v.sent_from is not None and v.sent_to is not None and v.sent_from < v.sent_to)
    assert v.page_size in log_view.PAGE_SIZES and 1 <= v.page <= log_view.MAX_PAGE
    assert v.text is None or len(v.text) <= log_view.MAX_TEXT
    assert v.domain is None or log_view.DOMAIN_RE.match(v.domain)
    assert all(BY_PARAM[p].parse(value) == value for p, value in v.choices)


def test_all_logs_and_family_round_trip():
    view = LogView(lender_id=2, all_logs=True, choices={"family": "microsoft"})
    assert view.to_query_params() == {"lender": "2", "account": "all", "family": "microsoft"}
    assert LogView.from_query_params({"account": "ALL", "family": "Microsoft"})[0] == LogView(all_logs=True, choices={"family": "microsoft"})
    bad, notices = LogView.from_query_params({"family": "aol"})
    assert bad.choice("family") is None and notices


def test_a_recipient_search_in_the_url():
    view, notices = LogView.from_query_params({"find": "  nasser   ALBERT ", "lenders": "all"})
    assert (view.search, view.search_all_lenders, notices) == ("nasser ALBERT", True, [])
    assert view.to_query_params() == {"find": "nasser ALBERT", "lenders": "all"}


def test_every_lender_without_a_search_means_nothing_and_a_bad_value_is_named():
    assert LogView.from_query_params({"lenders": "all"})[0].search_all_lenders is False
    view, notices = LogView.from_query_params({"find": "x" * 500, "lenders": "some"})
    assert len(view.search) == 200 and not view.search_all_lenders
    assert notices == ["Search text was cut to 200 characters.", "Ignored lenders='some': the only choice is lenders=all."]


def test_a_view_is_a_value():
    a = LogView(choices={"delivery": "DELIVERED", "status": "sent"})
    b = LogView(choices=(("status", "sent"), ("delivery", "DELIVERED")))
    assert a == b and hash(a) == hash(b)
    assert LogView(choices={"nonsense": "x", "status": ""}).choices == ()  # unknown filters and empty values dropped


def test_exact_days_name_the_utc_days_of_midnight_bounds_only():
    assert log_view.exact_days(EXACT_VIEW.sent_from, EXACT_VIEW.sent_to) == "20–26 Nov"
    assert log_view.exact_days(datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)) == "30 Nov – 2 Dec"
    assert log_view.exact_days(datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)) == "30 Nov"
    assert log_view.exact_days(datetime(2026, 11, 30, 8, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)) is None
