"""Page URLs opened directly on a freshly started server, before any login.

Streamlit starts in legacy `pages/` mode when a `pages/` folder sits next to app.py, until some
session runs st.navigation: until then `/audit` runs pages/audit.py without app.py's gate. Each
page must guard itself. This module gets its own server, and the first test's requests are the
first this server sees.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.support import data_tables, login, main_text, menu, open_app, screenshot

pytestmark = pytest.mark.e2e

PATHS = ["/log", "/message?id=1", "/deliverability", "/audit", "/suppressions"]


def test_direct_page_urls_before_any_login_show_only_the_login(server, demo, page):
    for i, path in enumerate(PATHS):
        open_app(page, server.url(path))
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.get_by_role("textbox", name="Password", exact=True)).to_be_visible()
        expect(data_tables(page)).to_have_count(0)
        expect(page.get_by_test_id("stVegaLiteChart").filter(visible=True)).to_have_count(0)
        text = main_text(page)
        for name in [demo.lender_name, *demo.other_lender_names]:
            assert name not in text, f"{path} shows {name!r} before login"
        assert demo.borrower.email not in text
        assert "Traceback" not in text and "Error" not in text, text
        if i == 0:
            screenshot(page, "login")
    assert "Traceback" not in server.log_text()


def test_login_on_a_direct_url_shows_that_page_and_a_role_aware_menu(server, demo, page):
    """Still no session has run app.py: sign in on /deliverability in legacy mode."""
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin, demo.password)
    expect(page.get_by_role("heading", name="Deliverability")).to_be_visible()
    bar = menu(page)
    expect(bar.get_by_role("link", name="Communication Log")).to_be_visible()
    expect(bar.get_by_role("link", name="Deliverability")).to_be_visible()
    # Platform ops only: not offered to a lender admin, and refused by URL.
    expect(bar.get_by_text("Audit", exact=False)).to_have_count(0)
    expect(bar.get_by_text("app", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)  # no sidebar: the bar wraps at 800 px
    screenshot(page, "direct-url-after-login")
