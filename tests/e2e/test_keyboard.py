"""The log's journey with the keyboard alone: sign in, find a borrower, open one of their emails,
close it, sign out. Only Tab, Shift+Tab, arrows, Enter, Space and Escape; never a click. Each control
reached shows where the focus is (Streamlit's focus ring, or the input's border in the accent colour).

The grid (st.dataframe, Glide Data Grid) is one canvas: Tab reaches it, the arrow keys move between
its rows, and Shift+Space ticks the focused row, which opens its email as a click on its tick box
does (the log says so above the grid). The rows' Open buttons answer the mouse only: Enter and Space
on a focused Open cell do nothing in Streamlit's grid (tried), so the tick stays the keyboard's way.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import data_tables, dialog, grid_rows, menu, open_app, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

PRIMARY = "rgb(31, 95, 191)"  # .streamlit/config.toml primaryColor, #1f5fbf

# True when the focused element shows it: an outline, a focus ring (box-shadow), or, for a text
# input or a select, its frame drawn in the accent colour. Waited for: Streamlit animates it in.
FOCUS_SHOWN = """(primary) => {
  const e = document.activeElement;
  if (!e || e === document.body || !e.matches(':focus-visible')) return false;
  const s = getComputedStyle(e);
  if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) return true;
  if (s.boxShadow && s.boxShadow !== 'none') return true;
  for (let f = e.parentElement, i = 0; f && i < 3; f = f.parentElement, i++) {  // the input's frame
    const b = getComputedStyle(f);
    if (parseFloat(b.borderTopWidth) > 0 && b.borderTopColor === primary) return true;
  }
  return false;
}"""
FOCUSED = """() => { const e = document.activeElement;
  return e ? `${e.tagName.toLowerCase()} "${e.getAttribute('aria-label') || (e.innerText || e.value || '').slice(0, 60)}"` : 'nothing'; }"""


def is_focused(target: Locator) -> bool:
    return target.evaluate("e => e === document.activeElement || e.contains(document.activeElement)")


def tab_to(page: Page, target: Locator, *, backwards: bool = False, limit: int = 60) -> int:
    """Press Tab (or Shift+Tab) until `target` has the focus, as a keyboard user would; the presses it took."""
    target.wait_for()
    for presses in range(1, limit + 1):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if is_focused(target):
            return presses
    raise AssertionError(f"{limit} presses of Tab never reached {target}; the focus is on {page.evaluate(FOCUSED)}")


def expect_focus_shown(page: Page) -> None:
    try:
        page.wait_for_function(FOCUS_SHOWN, arg=PRIMARY, timeout=3_000)
    except Exception as exc:  # said as what a user would miss
        raise AssertionError(f"no visible focus on {page.evaluate(FOCUSED)}") from exc


def test_the_log_journey_with_the_keyboard_alone(server, demo, page):
    b = demo.borrower
    open_app(page, server.url("/"))

    # Sign in: the email, Tab, the password, Enter.
    tab_to(page, page.get_by_role("textbox", name="Email", exact=True))
    expect_focus_shown(page)
    page.keyboard.type(demo.admin)
    page.keyboard.press("Tab")
    password = page.get_by_role("textbox", name="Password", exact=True)
    expect(password).to_be_focused()
    expect_focus_shown(page)
    page.keyboard.type(demo.password)
    page.keyboard.press("Enter")
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Communication Log")).to_be_visible()
    expect(menu(page)).to_contain_text(demo.admin)

    # Find the borrower: type part of the email, Tab to the best match, Enter.
    finder = page.get_by_role("textbox", name="Find a borrower (name or email)")
    tab_to(page, finder)
    expect_focus_shown(page)
    page.keyboard.type(b.search[:-2], delay=30)
    wait_for_run(page)
    first = page.locator(".st-key-log_matches").get_by_role("button").first
    expect(first).to_contain_text(b.email)
    page.keyboard.press("Tab")
    expect(first).to_be_focused()
    expect_focus_shown(page)
    page.keyboard.press("Enter")
    wait_for_run(page)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text(f"{b.name}'s log ({b.email})")

    # Open an email: Tab into the grid, down to the second row, Shift+Space ticks it.
    expect(main).to_contain_text("Keyboard: Tab into the grid, arrow keys to a row, Shift+Space to tick it (one tick opens it too).")
    tab_to(page, page.get_by_test_id("stDataFrame").get_by_test_id("data-grid-canvas"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+Space")
    wait_for_run(page)
    email = dialog(page)
    expect(email.get_by_role("heading", name="Email", exact=True)).to_be_visible()
    ticked = [r for r in grid_rows(page, ticked=1) if r["ticked"]]
    assert len(ticked) == 1, ticked
    expect(email.get_by_role("heading", name=ticked[0]["Subject"])).to_be_visible()
    expect(email.get_by_role("heading", name="Events")).to_be_visible()

    # Its links and buttons are reachable with Tab, each showing the focus.
    tab_to(page, email.get_by_role("link", name="Open on its own page"))
    expect_focus_shown(page)

    # Escape closes it.
    page.keyboard.press("Escape")
    wait_for_run(page)
    expect(dialog(page)).to_have_count(0)
    expect(main).to_contain_text(f"{b.name}'s log ({b.email})")

    # Sign out from the menu: Shift+Tab back up to who is signed in, Enter, Tab to Sign out, Enter.
    who = menu(page).get_by_test_id("stPopoverButton").filter(visible=True)
    tab_to(page, who, backwards=True)
    expect_focus_shown(page)
    page.keyboard.press("Enter")
    sign_out = page.get_by_test_id("stPopoverBody").get_by_role("button", name="Sign out")
    tab_to(page, sign_out)
    expect_focus_shown(page)
    page.keyboard.press("Enter")
    wait_for_run(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(data_tables(page)).to_have_count(0)
