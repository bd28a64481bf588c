"""The error boundary: a failure injected anywhere in a page run shows one calm message with an
incident id, keeps the menu and Sign out, and logs the traceback under that id with secrets
masked; never Streamlit's own error box."""

import logging
import re

import pytest

from commlog.ui.boundary import MESSAGE
from tests.support.app import app, build_two_lenders, buttons

SECRET_KEY = "SG.injected-secret-key.abcdefghijklmnop"


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    monkeypatch.setenv("SENDGRID_API_KEY", SECRET_KEY)
    return build_two_lenders(sqlite_engine)


def fail(*_args, **_kwargs):
    raise RuntimeError(f"injected failure while holding {SECRET_KEY}")


def incident_of(at) -> str:
    """The incident id the page shows with the calm message (and nothing of Streamlit's own)."""
    assert not at.exception, "Streamlit's own error box is on the page"
    shown = [e.value for e in at.error if MESSAGE in e.value]
    assert len(shown) == 1, f"no calm message on the page: {[e.value for e in at.error]}"
    m = re.search(r"Incident `([A-Z0-9]{4}-[A-Z0-9]{4})`", shown[0])
    assert m, shown[0]
    return m.group(1)


def logged(caplog, incident: str) -> str:
    records = [r for r in caplog.records if r.name == "commlog.incident" and incident in r.getMessage()]
    assert len(records) == 1, "the incident is not in the server log"
    return records[0].getMessage()


PAGES = [
    # (page, role, what fails)
    ("pages/log.py", "admin_a", "commlog.ui.log_view.fetch_log_page"),
    ("app.py", "admin_a", "commlog.ui.log_view.fetch_log_page"),
    ("pages/log.py", "ops", "commlog.ui.recipient_search.find_emails_to"),  # with ?find=
    ("pages/message.py", "admin_a", "commlog.ui.message_view.get_message"),
    ("pages/why.py", "admin_a", "commlog.ui.troubleshooter.gather"),
    ("pages/why.py", "ops", "commlog.ui.troubleshooter.ask_suppression_lists"),
    ("pages/deliverability.py", "admin_a", "commlog.deliverability.data_range"),
    ("pages/deliverability.py", "ops", "commlog.deliverability.data_range"),
    ("pages/audit.py", "ops", "commlog.ui.audit_view.list_audit"),
    ("pages/suppressions.py", "admin_a", "commlog.suppression_removals.list_requests"),
    ("pages/suppressions.py", "ops", "commlog.suppression_removals.list_requests"),
]


@pytest.mark.parametrize(("path", "role", "target"), PAGES)
def test_a_failure_in_a_page_shows_the_calm_message_and_keeps_sign_out(world, monkeypatch, caplog, path, role, target):
    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(f"{module}.{name}", fail)
    params = {"id": str(world["ids"]["reset_ana"])} if path.endswith("message.py") else {}
    if path.endswith("why.py"):
        params = {"message": str(world["ids"]["reset_ana"])}
    if target.endswith("find_emails_to"):
        params = {"find": "souza"}
    with caplog.at_level(logging.ERROR, logger="commlog.incident"):
        at = app(path, user_id=world["users"][role], params=params).run()
    incident = incident_of(at)
    assert at.button(key="sign_out").label == "Sign out"
    text = logged(caplog, incident)
    assert "Traceback (most recent call last)" in text and "RuntimeError: injected failure" in text
    assert SECRET_KEY not in text and "while holding ***" in text
    assert not any(SECRET_KEY in e.value for e in at.error)


def test_a_failure_in_the_export_panel_leaves_the_log_on_screen(world, monkeypatch, caplog):
    monkeypatch.setattr("commlog.ui.export_panel.count_failures", fail)
    with caplog.at_level(logging.ERROR, logger="commlog.incident"):
        at = app("pages/log.py", user_id=world["users"]["admin_a"]).run()
    incident = incident_of(at)
    logged(caplog, incident)
    assert at.dataframe, "the log table is gone"  # only the panel failed


def test_sign_out_still_works_after_an_incident(world, monkeypatch):
    monkeypatch.setattr("commlog.ui.log_view.fetch_log_page", fail)
    at = app("pages/log.py", user_id=world["users"]["admin_a"]).run()
    incident_of(at)
    at.button(key="sign_out").click().run()
    assert not at.exception
    assert buttons(at) == ["Sign in"]


def test_a_failure_before_the_menu_still_offers_sign_out(world, monkeypatch, caplog):
    monkeypatch.setattr("commlog.ui.guard.render_menu", fail)
    with caplog.at_level(logging.ERROR, logger="commlog.incident"):
        at = app("pages/log.py", user_id=world["users"]["admin_a"]).run()
    logged(caplog, incident_of(at))
    assert at.button(key="sign_out").label == "Sign out"


def test_incident_ids_differ_between_incidents(world, monkeypatch, caplog):
    monkeypatch.setattr("commlog.ui.log_view.fetch_log_page", fail)
    ids = {incident_of(app("pages/log.py", user_id=world["users"]["admin_a"]).run()) for _ in range(3)}
    assert len(ids) == 3
