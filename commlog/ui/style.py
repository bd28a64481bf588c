"""The few CSS rules the theme (.streamlit/config.toml) cannot express, each for an accessibility
reason; drawn once per run by every page (`commlog.ui.page.guarded`), the sign-in form included.

Keep this short: colours and fonts belong in the theme; a rule here fixes what axe-core reports
on an element Streamlit draws (tests/e2e/test_accessibility.py).
"""

from __future__ import annotations

import streamlit as st

CSS = """
<style>
/* st.date_input draws each part of a date (month, day) as its own focusable spinbutton, 18 x 20 px:
   under WCAG 2.2's 24 x 24 px minimum target size (2.5.8). */
[data-testid="stDateInputField"] [role="spinbutton"] {
  display: inline-block;
  min-width: 24px;
  min-height: 24px;
  padding: 0 2px;  /* the year too, so the parts stay evenly spaced */
  line-height: 24px;
  text-align: center;
}
/* st.page_link shows the keyboard focus only as a faint grey background, the same as the page you
   are on (WCAG 2.4.7, focus visible): a ring in the accent colour, like Streamlit's buttons. */
[data-testid="stPageLink-NavLink"]:focus-visible {
  outline: 2px solid #1f5fbf;
  outline-offset: 1px;
}
/* Streamlit fades a block quote (60 % opacity) and a caption, and draws inline code in its own green:
   the two together came out #6d9c8f on white, 3.03:1, under WCAG AA's 4.5:1 (1.4.3): an address
   inside a receiving server's reply (commlog.ui.format.quoted), a subject as stored, RFC 2047 words
   and all (commlog.ui.message_view). In faded text, code takes the text's own colour, as its words do. */
[data-testid="stMarkdownContainer"] blockquote code,
[data-testid="stCaptionContainer"] code {
  color: inherit;
}
</style>
"""


def apply_styles() -> None:
    st.html(CSS)
