"""Security suite, tenancy: a lender admin of Alpha Lending (lender A) tries to reach Bravo Credit's
(lender B's) data through every input of the app. Lender B's data overlaps A's on purpose (same
mailbox domains, email types, subjects, statuses, a borrower also called Ana), so a missing
`lender_id` condition anywhere would surface; every B row carries a marker ("Bravo", "bravo",
"Zed Zulu", a B-only email type) that the page text is scanned for.

Attack table (attack -> result; "test" names the test that proves it, in this file unless a file
is named). Result "refused" = no foreign row, name, count or id on the page or in the file, no
exception or error page; a foreign value in a URL gives a short notice and falls back.

| # | input | attack (as lender admin A) | result | test |
|---|---|---|---|---|
| 1 | Lender picker (log) | look for it / force `log_lender`=B in session state | absent for lender admins; lender stays A | test_lender_picker_is_absent_and_forced_state_is_ignored |
| 2 | Account selector + type-ahead | type B's borrower names/emails, `%`, `_`, `\\`, SQL quotes, 2-char prefixes shared with B | only A's borrowers offered | test_typeahead_offers_only_own_borrowers |
| 3 | Account (session state) | remembered account row / `log_account` = B's borrower | ignored, falls back to A's lender log | test_forged_account_state_falls_back |
| 4 | Every filter widget (Sent, dates, Status, Delivery status, Event type, Email type, Audience, Sort, Recipient/subject text, Recipient domain, Mailbox provider, Rows per page, pagination) | every option / B-only values / wide custom dates / page 999 | rows are A's only | test_every_filter_widget_value_shows_only_own_rows |
| 5 | URL `lender` (alone and with every other parameter: account, account=all, family, q, domain, page, size, from/to, sort, delivery, event, type, audience, status) | `/log?lender=<B>&...` | notice "not available to you", A's log, URL rewritten without `lender` | test_url_parameters_never_reach_another_lender |
| 6 | URL `account` | B's borrower id, `all` + lender=B, `-1`, `0`, `1e3`, `²`, 40 digits | notice, lender log of A | test_url_parameters_never_reach_another_lender |
| 7 | URL `type` / `domain` / `q` | B-only email type, B's domain, B's subject words | empty or A-only rows | test_url_parameters_never_reach_another_lender |
| 8 | URL values as Markdown | `type=[x](https://evil)`, `![i](https://evil/p.png)`, `:red[..]` echoed in notices | escaped: shown as text, no link, image or auto-link (FIXED: they rendered as a link / remote image in the app's own warning; `plain` in commlog/ui/format.py, used for notices in commlog/ui/log_controls.py and borrower names in pages/log.py) | test_url_values_are_not_markdown_in_notices |
| 9 | Unicode digits in ids | `/log?page=²`, `lender=¹²`, `/message?id=²` | notice / "not found" (FIXED: was a ValueError page, commlog/log_view.py, pages/message.py) | test_url_parameters_never_reach_another_lender, test_message_page_ids |
| 10 | `/message?id=` | B's message id, id+1..., `0`, `-5`, `1.0`, ` 7`, `0x10`, 30 digits, `²` | "not found in the logs you can see" (same words as nonexistent) | test_message_page_ids |
| 11 | Detail view selection (session state) | selected id = B's message | no detail shown | test_forged_selection_opens_nothing_foreign |
| 12 | Bulk check selection | selected ids = [B's, A's], click Check | B's: "No such email in your Communication Log."; provider never asked about it; nothing stored for it | test_forged_selection_opens_nothing_foreign |
| 13 | checks.check_messages / check_message | B's id (alone, with own ids, repeated, nonexistent) | outcome not_found; no provider request, no event, audit row scoped to A | test_check_messages_with_a_foreign_id |
| 14 | checks.sync_recent | lender_id = B | ScopeError before any provider call | test_check_messages_with_a_foreign_id |
| 15 | commlog.export (count_failures / export_select / stream_failures / build_csv) | lender B; span lender B; span all; A + B's borrower; span 2000-2100 | ScopeError before the first byte and no audit row / zero rows / A's rows only | test_export_with_foreign_lender_account_or_span |
| 16 | Export panel on the log page | forged URL lender=B, account=B's borrower, account=all; "All of the lender's logs" + DEFERRED; download the file | file holds A's failures only | test_export_panel_file_never_holds_foreign_rows |
| 17 | Deliverability page | no lender picker; `dlv_lender`=B in state; every widget (dates wide, granularity, audience, email type, minimum volume, each tab opened in turn, tables) | only A's figures; B's name nowhere in text, tables or chart data | test_deliverability_shows_nothing_foreign |
| 18 | Audit page | open as lender admin (navigation / file run directly) | unroutable (ValueError) / "platform ops only" | tests/pages/test_audit_trail.py::test_audit_page_is_not_routable_for_lender_admins, ::test_audit_page_run_directly_refuses_lender_admins; test_audit_page_is_refused_to_lender_admins |
| 19 | Direct page URLs before any login (fresh server, legacy pages/ mode) | `/log`, `/message?id=1`, `/deliverability`, `/audit` | login form only | tests/e2e/test_direct_urls.py; AppTest: tests/pages/test_page_log.py::test_every_page_shows_the_login_and_no_data_when_logged_out |
| 20 | Foreign URLs in a real browser (lender admin) | `/log?lender=B&account=B's borrower`, `/message?id=<B>`, `/audit` | notice + own log / not found / no Audit page | tests/e2e/test_security_e2e.py |
| 21 | Property-based filters and search (hypothesis) | random URL params, text, ids into parse -> resolve -> fetch_log_page / count / export / type-ahead, SQLite and PostgreSQL; and into the log page (AppTest) | never a foreign row, never an exception (FIXED: type-ahead ending in U+10FFFF or U+D7FF crashed; NUL in text crashed on PostgreSQL) | tests/pages/test_security_inputs.py |
| 22 | Login throttling (issue 14: was a 15-minute lockout of the address, a weapon against its user) | failures from one IP against an address, then the right password from that IP and from another; an optimal attacker for 6 h; one IP spraying addresses; 76 IPs against one address | the failing IP waits 2 s, 4 s, … (cap 15 min), refused tries verify nothing and extend nothing; the real user from another IP signs in at once, every time; a distributed attack slows the address by at most 30 s; same words for unknown addresses | tests/db/test_login_throttle.py; tests/db/test_auth.py::test_repeated_failures_slow_their_ip_but_never_lock_the_address |
| 23 | Login throttling via the login form | 4 wrong passwords in the form, then a wrong and the right one | "Too many sign-in attempts from your network. Try again in 2 s." for both. FIXED (was a bug: the failed attempts rolled back with the AuthError inside engine.begin(), so the UI never throttled; commlog/ui/guard.py) | tests/pages/test_security_secrets.py::test_login_form_throttles_after_repeated_failures, tests/pages/test_sign_in.py |
| 24 | Webhook signature | none, wrong key, truncated signature, timestamp changed, body tampered | 401, nothing stored | tests/db/test_webhook_http.py::test_bad_or_missing_signature_is_401_and_nothing_stored |
| 25 | Webhook replay / freshness | same signed body again; timestamp -301 s, +301 s, -1 day | replay stores nothing twice; stale/future 401 | tests/db/test_webhook_http.py::test_replayed_and_duplicated_posts_double_nothing, ::test_stale_or_future_timestamp_refused |
| 26 | Webhook size | Content-Length over the limit; chunked body without length | 413 before reading the rest | tests/db/test_webhook_http.py::test_oversized_body_is_413 |
| 27 | Webhook without a key / bad JSON / secrets in logs | no public key; not JSON; body, key or addresses in log lines | 503 / 400 / never logged | tests/db/test_webhook_http.py::test_no_public_key_refuses_everything_unless_insecure_flag, ::test_malformed_json_is_400_and_bad_events_are_rejected, ::test_body_and_secrets_never_logged |
| 28 | CSV formula payloads | `= + - @`, tab, CR and full-width forms in subjects, names, reasons | leading `'`, RFC 4180 quoting | tests/db/test_export.py::test_formula_payloads_are_text_and_everything_else_is_verbatim, ::test_sql_and_python_neutralize_the_same_way, ::test_any_text_round_trips_through_csv_as_safe_text |
| 29 | Secrets on pages and in logs | SENDGRID_API_KEY, POSTMARK_SERVER_TOKEN, webhook key (public and private material), database password; log, message, deliverability, audit pages as ops and lender admin after checks (ok, 401, 500, malformed answers) and an export; every log record at DEBUG incl. Streamlit's loggers and stderr | never shown, never logged | tests/pages/test_security_secrets.py::test_no_secret_on_any_page_or_log_line |
| 30 | SMTP reply as Markdown | a receiving server's reply `550 [Verify your account](https://evil)` shown in the message's status box | shown as text. FIXED (was a bug: rendered as a live link / remote image; commlog/ui/message_view.py) | tests/pages/test_security_secrets.py::test_smtp_reply_is_not_markdown_in_the_status_box |
| 31 | The failures CSV's download URL (issue 14: it was `/media/<hash>.csv`, served without a cookie while the tab lived) | `GET /export/<token>` replayed with no cookie (curl), from another browser, a second time, after 60 s, a HEAD first; the user disabled or moved to lender B after the click; a token whose export names lender B | 404 with the same short body, a log line without the token, no audit row; the right browser's first GET still gets the file | tests/db/test_export_route.py, tests/db/test_export_tokens.py, tests/db/test_launcher.py::test_the_same_server_serves_a_minted_download_once_to_the_browser_that_asked, tests/pages/test_export_cli_page.py::test_each_click_mints_one_url_served_once_to_this_browser_and_audited_when_served, tests/e2e/test_security_e2e.py::test_one_click_downloads_each_time_and_the_url_is_worth_nothing_afterwards |
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from commlog import checks, export
from commlog.db import make_engine
from commlog.domains import FAMILIES
from commlog.log_filters import DELIVERY_CHOICES
from commlog.log_queries import SPAN_ALL, SPAN_LENDER, SPAN_LOG, AccountRow
from commlog.log_view import PAGE_SIZES, SORTS
from commlog.models import AuditEntry, DeliveryEvent, Message
from commlog.principal import ScopeError
from commlog.ui.deliverability.tabs import TAB_KEY, tab_labels
from commlog.vocabulary import Audience, EventType, SendStatus
from tests.support.app import app, borrower_matches, download, page_text
from tests.support.factories import log_query
from tests.support.tenancy_world import (
    FOREIGN_MARKERS,
    copy_world,
    everything_on_page,
    table_rows,
)


def assert_nothing_foreign(at, world, typed: tuple[str, ...] = ()) -> None:
    assert not at.exception, [e.value for e in at.exception]
    rows = table_rows(at)
    assert rows <= world["a_rows"], rows - world["a_rows"]
    text = page_text(at)
    for t in typed:
        if t:
            text = text.replace(t, "").replace(t.lower(), "").replace(" ".join(t.split()), "")
    for marker in FOREIGN_MARKERS:
        assert marker not in text, f"{marker!r} on the page:\n{text[:3000]}"
    for name, value in at.query_params.items():
        assert name != "lender", "a lender admin's URL carries a lender"
        if name == "account":
            assert value in ("all", "") or int(value[0] if isinstance(value, list) else value) not in (world["zed"], world["ana_b"])






@pytest.fixture
def world(tenancy_template, tmp_path, monkeypatch, fake):
    url, w = copy_world(tenancy_template, tmp_path)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", fake.api_key)
    monkeypatch.setenv("COMMLOG_SENDGRID_BASE_URL", fake.url)
    w["engine"] = make_engine(url)
    yield w
    w["engine"].dispose()


def admin_log(world, params: dict | None = None):
    return app(user_id=world["users"]["admin_a"], params=params).run()


# --- the log page's widgets ----------------------------------------------------------------------


def test_lender_picker_is_absent_and_forced_state_is_ignored(world):
    at = admin_log(world)
    assert "log_lender" not in [sb.key for sb in at.selectbox]
    assert all(sb.label != "Lender" for sb in at.selectbox)
    at.session_state["log_lender"] = world["b"]
    at.run()
    assert_nothing_foreign(at, world)
    assert table_rows(at)  # still A's log


TYPED = ["zed", "Zed Zulu", "bravo", "ana.bravoson", "ana", "an", "gmail", "%", "_", "\\", "' OR '1'='1", "%bravo%",
         "z%", "a_a", "ana.bravoson@gmail.com", "an\U0010ffff", "an\ud7ff", "\x00\x00", "ana\x00"]


def test_typeahead_offers_only_own_borrowers(world):
    at = admin_log(world)
    for typed in TYPED:
        at.text_input(key="log_borrower_search").input(typed).run()
        options = at.selectbox(key="log_account").options + borrower_matches(at)
        assert all("Bravo" not in o and "Zed" not in o and "bravo" not in o for o in options), (typed, options)
        assert_nothing_foreign(at, world, typed=(typed,))


def test_forged_account_state_falls_back(world):
    at = admin_log(world)
    zed = AccountRow(world["zed"], world["b"], "borrower", "Zed Zulu", "zed.zulu@bravo-borrower.example")
    at.session_state["log_account_row"] = zed  # the "remembered" borrower: must be the lender's own
    at.run()
    assert world["zed"] not in at.selectbox(key="log_account").options
    at.text_input(key="log_borrower_search").input("Zed").run()
    assert_nothing_foreign(at, world, typed=("Zed",))
    assert at.selectbox(key="log_account").value == 0  # the lender's own log


WIDGET_VALUES = {  # every option of every filter selectbox (first: the default), plus B-only values
    "log_range": ["custom", "24h", "7d", "30d"],
    "log_status": ["Any", *[s.value for s in SendStatus]],
    "log_delivery": ["Any", *DELIVERY_CHOICES],
    "log_event": ["Any", *[e.value for e in EventType]],
    "log_type": ["Any", "account_confirmation", "password_reset", "statement_ready"],  # B-only types: URL attacks
    "log_audience": ["Any", *[a.value for a in Audience]],
    "log_sort": list(SORTS),
    "log_family": ["Any", *FAMILIES],
    "log_size": list(PAGE_SIZES),
}


def test_every_filter_widget_value_shows_only_own_rows(world):
    at = admin_log(world)
    at.selectbox(key="log_account").set_value(-1).run()  # all of the lender's logs: the widest view
    at.selectbox(key="log_range").set_value("custom").run()
    at.date_input(key="log_dates").set_value((date(2000, 1, 1), date.today() + timedelta(days=1))).run()
    assert_nothing_foreign(at, world)
    assert table_rows(at) == world["a_rows"]  # the widest view shows every A row, nothing more
    for key, values in WIDGET_VALUES.items():
        for value in values:
            at.session_state[key] = value
            at.run()
            assert_nothing_foreign(at, world)
        at.session_state[key] = values[0]
        at.run()
    for key, values in (("log_q", ["bravo", "Bravo secret", "Confirm your new account", "%", "_", "' OR 1=1 --"]),
                        ("log_domain", ["bravo-borrower.example", "gmail.com", "outlook.com", "%", "not a domain"])):
        for value in values:
            at.text_input(key=key).input(value).run()
            assert_nothing_foreign(at, world, typed=(value,))
        at.text_input(key=key).input("").run()
    at.session_state["log_page"] = 999
    at.run()
    assert_nothing_foreign(at, world)


# --- URL parameters --------------------------------------------------------------------------------

URL_ATTACKS = [
    {"lender": "{b}"},
    {"lender": "{b}", "account": "{zed}"},
    {"lender": "{b}", "account": "{ana_b}"},
    {"lender": "{b}", "account": "all"},
    {"account": "{zed}"},
    {"account": "{ana_b}"},
    {"account": "all", "q": "Bravo"},
    {"account": "-1"}, {"account": "0"}, {"account": "1e3"}, {"account": "²"}, {"account": "9" * 40},
    {"lender": "²"}, {"lender": "¹²"}, {"page": "²"}, {"size": "⁵⁰"}, {"lender": "{b}", "page": "٣"},
    {"lender": "{b}", "family": "google", "account": "all"},
    {"lender": "{b}", "q": "Confirm your new account", "account": "all"},
    {"lender": "{b}", "domain": "gmail.com", "account": "all"},
    {"lender": "{b}", "domain": "bravo-borrower.example"},
    {"lender": "{b}", "page": "2", "size": "25"},
    {"lender": "{b}", "size": "100"},
    {"lender": "{b}", "range": "custom", "from": "2000-01-01", "to": "2099-12-31", "account": "all"},
    {"lender": "{b}", "sort": "recipient", "account": "all"},
    {"lender": "{b}", "delivery": "NOT_DELIVERED", "account": "all"},
    {"lender": "{b}", "delivery": "NOT_CHECKED", "account": "all"},
    {"lender": "{b}", "event": "BLOCKED", "account": "all"},
    {"lender": "{b}", "event": "DEFERRED", "account": "all"},
    {"lender": "{b}", "type": "payment_reminder", "account": "all"},
    {"type": "payment_reminder", "account": "all"},
    {"lender": "{b}", "audience": "staff", "account": "all"},
    {"lender": "{b}", "status": "failed", "account": "all"},
    {"lender": "{b},{a}"}, {"lender": "{a} OR 1=1"}, {"lender": " {b} "},
]


@pytest.mark.parametrize("params", URL_ATTACKS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()))
def test_url_parameters_never_reach_another_lender(world, params):
    params = {k: v.format(**world) for k, v in params.items()}
    at = admin_log(world, params)
    echoed = [v for k, v in params.items() if k in ("q", "domain", "type")]  # the attacker's own text, shown back
    echoed += [v.replace("_", " ").capitalize() for k, v in params.items() if k == "type"]
    assert_nothing_foreign(at, world, typed=tuple(echoed))
    assert not at.error, [e.value for e in at.error]
    if params.get("lender") == str(world["b"]):
        assert any("not available to you" in w.value for w in at.warning)


def test_url_values_are_not_markdown_in_notices(world):
    payloads = {"type": "[Sign in again](https://evil.example/x)", "domain": "![i](https://evil.example/p.png)",
                "sort": ":red[ALERT] www.evil.example", "delivery": "<img src=x onerror=alert(1)>"}
    at = admin_log(world, payloads)
    assert not at.exception
    notices = [w.value for w in at.warning]
    assert len(notices) >= 4
    for body in notices:  # every ASCII punctuation character escaped: rendered as the text itself
        assert not re.search(r"[!-/:-@\[-`{-~]", re.sub(r"\\.", "", body)), body


# --- message ids -------------------------------------------------------------------------------------


def test_message_page_ids(world):
    foreign = world["ids"]["foreign"]
    for raw in [str(foreign), str(world["ids"]["b_reset"]), f"{foreign:08d}", f" {foreign}", f"{foreign}.0", "0", "-5",
                "0x10", "9" * 30, "²", "1e2", str(max(world["b_ids"]) + 1000), ""]:
        at = app(user_id=world["users"]["admin_a"]).run()
        at.switch_page("pages/message.py")
        at.query_params["id"] = raw
        at.run()
        assert not at.exception, (raw, [e.value for e in at.exception])
        assert "not found in the logs you can see" in page_text(at), raw
        assert_nothing_foreign(at, world)


def test_forged_selection_opens_nothing_foreign(world, fake):
    foreign, own = world["ids"]["foreign"], world["ids"]["confirm_ana"]
    at = admin_log(world)
    at.session_state["log_selected_ids"] = [foreign]
    at.run()
    assert_nothing_foreign(at, world)
    assert not [b for b in at.button if b.key and "_check_" in b.key]

    at.session_state["log_selected_ids"] = [foreign, own]
    at.run()
    assert at.session_state["log_selected_ids"] == [own]  # an id that is not on the page is unticked
    assert not [b for b in at.button if b.key == "bulk_check"]
    at.session_state["log_bulk_ids"] = (foreign, own)  # forged straight into the bulk check itself
    at.run()
    assert_nothing_foreign(at, world)
    results = at.table[0].value  # the bulk check's dialog
    assert "No such email in your Communication Log." in list(results["Result"])
    foreign_pmid = _provider_id(world, foreign)
    assert not any(foreign_pmid.split(".")[0] in path for _, _, path in fake.requests)
    assert _events_of(world, foreign) == 2  # the two stored in setup, nothing new


def _provider_id(world, message_id: int) -> str:
    with world["engine"].connect() as c:
        return c.execute(select(Message.provider_message_id).where(Message.id == message_id)).scalar_one()


def _events_of(world, message_id: int) -> int:
    with world["engine"].connect() as c:
        return c.execute(select(func.count()).select_from(DeliveryEvent).where(DeliveryEvent.message_id == message_id)).scalar_one()


def test_check_messages_with_a_foreign_id(world, fake):
    eng, admin = world["engine"], world["admin_a"]
    foreign, own = world["ids"]["foreign"], world["ids"]["reset_ana"]
    before = {m: _events_of(world, m) for m in world["b_ids"]}
    outcomes = checks.check_messages(eng, admin, [foreign, own, foreign, world["ids"]["b_reset"], 10**12])
    by_id = {o.message_id: o for o in outcomes}
    for m in (foreign, world["ids"]["b_reset"], 10**12):
        assert by_id[m].kind == "not_found" and by_id[m].error == checks.NOT_FOUND_TEXT
        assert by_id[m].last_known_status is None and by_id[m].status is None
    assert by_id[own].ok
    one = checks.check_message(eng, admin, world["ids"]["b_confirm"])
    assert one.kind == "not_found"
    assert {m: _events_of(world, m) for m in world["b_ids"]} == before
    asked = " ".join(path for _, _, path in fake.requests)
    for m in world["b_ids"]:
        pmid = _provider_id(world, m)
        assert not pmid or pmid.split(".")[0] not in asked
    with eng.connect() as c:
        audits = c.execute(select(AuditEntry.lender_id, AuditEntry.action).where(AuditEntry.action == "check")).all()
    assert audits and all(lid == world["a"] for lid, _ in audits)
    with pytest.raises(ScopeError):
        checks.sync_recent(eng, admin, datetime.now(UTC) - timedelta(hours=2), lender_id=world["b"])
    assert not [p for _, _, p in fake.requests if "/v3/messages" in p or p.startswith("/v3/logs?")]


# --- export ---------------------------------------------------------------------------------------------


def _csv_ids(data: bytes) -> list[int]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(export.HEADER)
    return [int(r[-1]) for r in rows[1:]]


def _audit_count(engine) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def test_export_with_foreign_lender_account_or_span(world):
    eng, admin, a, b = world["engine"], world["admin_a"], world["a"], world["b"]
    refused = [
        export.FailureExport(log_query(lender_id=b)),
        export.FailureExport(log_query(lender_id=b, all_logs=True), span=SPAN_LENDER, include_deferred=True),
        export.FailureExport(log_query(lender_id=a), span=SPAN_ALL),
        export.FailureExport(log_query(lender_id=b, account_id=world["zed"])),
    ]
    for spec in refused:
        with pytest.raises(ScopeError):
            with eng.connect() as c:
                export.count_failures(c, admin, spec)
        with pytest.raises(ScopeError):
            export.export_select(admin, spec)
        before = _audit_count(eng)
        with pytest.raises(ScopeError):
            next(export.stream_failures(eng, admin, spec, source="test", file_name="x.csv"))
        assert _audit_count(eng) == before  # refused before anything, nothing to audit
    wide = dict(since=datetime(2000, 1, 1, tzinfo=UTC), until=datetime(2100, 1, 1, tzinfo=UTC))
    empty = [
        export.FailureExport(log_query(lender_id=a, account_id=world["zed"], **wide), include_deferred=True),
        export.FailureExport(log_query(lender_id=a, account_id=world["ana_b"], **wide), include_deferred=True),
        export.FailureExport(log_query(lender_id=a, text="bravo", all_logs=True, **wide), span=SPAN_LENDER, include_deferred=True),
        export.FailureExport(log_query(lender_id=a, email_type="payment_reminder", all_logs=True, **wide), span=SPAN_LENDER),
    ]
    for spec in empty:
        assert _csv_ids(export.build_csv(eng, admin, spec, source="test", file_name="x.csv")) == []
    for span in (SPAN_LOG, SPAN_LENDER):
        spec = export.FailureExport(log_query(lender_id=a, all_logs=True, **wide), span=span, include_deferred=True)
        ids = _csv_ids(export.build_csv(eng, admin, spec, source="test", file_name="x.csv"))
        assert ids and set(ids) <= world["a_ids"]
    # ops (control): the same all-lenders export does hold B's failures
    ids = _csv_ids(export.build_csv(eng, world["ops"], export.FailureExport(log_query(lender_id=0, **wide), span=SPAN_ALL,
                                                                           include_deferred=True), source="test", file_name="x.csv"))
    assert set(ids) & world["b_ids"]


def _download(at, browser) -> bytes:
    return download(at, browser)[0]


@pytest.mark.parametrize("params", [
    {"lender": "{b}", "account": "all", "range": "custom", "from": "2000-01-01", "to": "2099-12-31"},
    {"lender": "{b}", "account": "{zed}", "range": "custom", "from": "2000-01-01", "to": "2099-12-31"},
    {"account": "{ana_b}", "type": "payment_reminder"},
])
def test_export_panel_file_never_holds_foreign_rows(world, page_browser, params):
    params = {k: v.format(**world) for k, v in params.items()}
    typed = ("payment_reminder", "Payment reminder")  # the URL's own value, shown back in the Email type filter
    at = admin_log(world, params)
    assert_nothing_foreign(at, world, typed)
    if any(r.key == "export_span" for r in at.radio):  # no "Rows from" choice when the log shows every log
        at.radio(key="export_span").set_value("lender")
    at.checkbox(key="export_deferred").check()
    at.run()
    assert_nothing_foreign(at, world, typed)
    ids = _csv_ids(_download(at, page_browser))
    assert set(ids) <= world["a_ids"]
    assert b"Bravo" not in _download(at, page_browser) and b"bravo" not in _download(at, page_browser)


# --- deliverability and audit ------------------------------------------------------------------------




def _nothing_foreign_in_any_tab(at, foreign: str, where: str) -> None:
    """Open each Deliverability tab in turn (only the open one is drawn), then the first again."""
    for tab in [*tab_labels(ops=False)[1:], tab_labels(ops=False)[0]]:
        at.session_state[TAB_KEY] = tab
        at.run()
        assert not at.exception and foreign not in everything_on_page(at), (where, tab)


def test_deliverability_shows_nothing_foreign(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.switch_page("pages/deliverability.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert all(sb.label != "Lender" for sb in at.selectbox)
    assert "Bravo" not in everything_on_page(at)
    at.session_state["dlv_lender"] = world["b"]
    at.date_input(key="dlv_dates").set_value((date.today() - timedelta(days=400), date.today())).run()
    for gran in ("day", "week", "month"):
        at.session_state["dlv_gran"] = gran
        at.run()
        assert not at.exception and "Bravo" not in everything_on_page(at)
        _nothing_foreign_in_any_tab(at, "Bravo", gran)
    types = at.selectbox(key="dlv_type").options
    assert not any("payment" in t.lower() for t in types), types
    for audience in ("borrower", "staff", None):
        at.session_state["dlv_audience"] = audience
        at.run()
        assert not at.exception and "Bravo" not in everything_on_page(at)
        _nothing_foreign_in_any_tab(at, "Bravo", str(audience))
    at.session_state["dlv_min_volume"] = 1
    at.run()
    for metric in ("block", "defer", "failures", "expired"):
        at.session_state["dlv_metric"] = metric
        at.run()
        assert not at.exception and "Bravo" not in everything_on_page(at), metric
    _nothing_foreign_in_any_tab(at, "Bravo", "minimum volume 1")
    for link in at.get("page_link"):
        assert f"lender={world['b']}" not in str(link.proto)


def test_audit_page_is_refused_to_lender_admins(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    with pytest.raises(ValueError):
        at.switch_page("pages/audit.py")
