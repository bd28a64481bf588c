"""Choice widgets whose options follow the view survive any change of the others (the crash of
issue 10: pick a borrower in Account, then click a row, and the export panel's "Rows from" radio
received a label it never offered)."""

import pytest

from commlog.log_queries import SPAN_LENDER, SPAN_LOG
from tests.support.app import app, build_two_lenders, page_text, pick_borrower


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    return build_two_lenders(sqlite_engine)


def browser_sends(monkeypatch, key: str, label: str) -> None:
    """Make AppTest send what a browser sends for a selectbox or radio: the label it last showed as
    selected, which may be no option any more (AppTest itself would translate the Python value with
    the new labels)."""
    from streamlit.testing.v1 import element_tree

    for cls in (element_tree.Radio, element_tree.Selectbox):
        original = cls._widget_state

        def stale(self, original=original):
            state = original.fget(self)
            if self.key == key:
                state.string_value = label
            return state

        monkeypatch.setattr(cls, "_widget_state", property(stale))


def test_pick_a_borrower_then_open_a_row_keeps_the_log_and_the_export_panel(world, monkeypatch):
    at = app(user_id=world["users"]["admin_a"]).run()
    assert at.radio(key="export_span").value == SPAN_LOG
    browser_sends(monkeypatch, "export_span", "The lender's own log")  # selected before the Account changed
    pick_borrower(at, "souza", world["ana"])
    at.session_state["log_table_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.radio(key="export_span").value in (SPAN_LOG, SPAN_LENDER)
    assert at.radio(key="export_span").options == ["Ana Souza's log", "All of Alpha Lending's logs (lender and borrowers)"]
    assert "Reset your Alpha Lending password" in page_text(at)
    assert at.dataframe  # the log is still there


def test_a_remembered_span_survives_the_account_changing_back_and_forth(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.radio(key="export_span").set_value(SPAN_LENDER).run()
    pick_borrower(at, "souza", world["ana"])
    assert not at.exception
    assert at.radio(key="export_span").value == SPAN_LENDER
    at.selectbox(key="log_account").select(0).run()  # back to the lender's own log
    assert not at.exception
    assert at.radio(key="export_span").value == SPAN_LENDER
    assert at.dataframe


LOG_CHOICES = ["log_lender", "log_account", "log_range", "log_status", "log_delivery", "log_event", "log_type",
               "log_audience", "log_sort", "log_family", "log_size", "export_span"]


@pytest.mark.parametrize(("role", "key"), [(r, k) for r in ("admin_a", "ops") for k in LOG_CHOICES
                                            if not (k == "log_lender" and r == "admin_a")])  # admins have no Lender
def test_every_choice_on_the_log_page_falls_back_from_a_label_it_no_longer_offers(world, monkeypatch, role, key):
    at = app(user_id=world["users"][role]).run()
    browser_sends(monkeypatch, key, "An option that is gone")
    at.run()
    assert not at.exception
    widget = next(w for w in [*at.selectbox, *at.radio] if w.key == key)
    assert widget.value is not None and widget.index is not None  # one of its options again
    assert at.dataframe, "the log table is gone"
    assert "Alpha Lending" in page_text(at) or role == "ops"


def test_a_closed_export_panel_counts_nothing_until_it_is_opened(world, monkeypatch):
    """Counting a view's failures is the dearest query of a log page at scale: while the "Export
    failures as CSV" panel is closed (as every page first loads) nothing of it runs; opening it counts."""
    from commlog.ui import export_panel

    counted: list[int] = []
    real = export_panel.count_failures

    def counting(*args, **kwargs):
        counted.append(real(*args, **kwargs))
        return counted[-1]

    monkeypatch.setattr(export_panel, "count_failures", counting)
    at = app("pages/log.py", user_id=world["users"]["admin_a"], export_open=False).run()
    assert not at.exception and at.dataframe
    assert [e.label for e in at.expander] == ["Export failures as CSV"]
    assert counted == [] and "failures match" not in page_text(at)
    assert not [r for r in at.radio if r.key == "export_span"] and "Download failures CSV" not in page_text(at)

    at.session_state[export_panel.EXPORT_OPEN] = True  # the user opens the panel
    at.run()
    assert not at.exception
    assert len(counted) == 1 and f"**{counted[0]:,}** failure" in page_text(at)
