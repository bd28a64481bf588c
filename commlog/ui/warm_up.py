"""While a person types their password, the browser loads what the log will need.

Streamlit's browser code loads an element's component the first time a page draws that element.
The log's grid alone brings about 1.3 MB of JavaScript (the data grid and Apache Arrow's
formatting), and the sign-in form draws none of it, so it used to be fetched, compiled and run
after the click on Sign in, as part of the wait before the log appeared. The sign-in form now draws
the elements the log page uses, out of sight, so their components are ready when the log is drawn.

An email's dialog and Deliverability's elements are drawn there too, so the first email opened and
the first visit to Deliverability do not wait for their code (Vega, for Deliverability's charts; a
button, for the dialog's Check delivery status: the log draws no button before it, and a dialog
whose button's code was still on its way waited a request for it). A
person types for seconds; a sign-in typed in an instant (the browser bench) can click before all of
it has loaded, and then the log waits for the rest. (The dialog quotes a provider's reply as a block
quote, not as Streamlit's code block, whose highlighter is 1.5 MB of JavaScript.)

The block is hidden with `display: none` (out of the layout, the tab order and the accessibility
tree) and holds no data: an empty table and chart, one-choice lists, a one-page pager, a link to
the log, an emoji, a button no one can press, a box no one can tick, a figure of 0. The rule that
hides it is `st.html`'s, whose browser code Streamlit loads with the first one drawn; until it has,
the block is a container 1 px tall, so its elements' placeholders do not stand under the form (they
did, 500-600 px of them, in most fresh page loads in Chromium).

Fonts are fetched another way: a browser fetches a font face when text it lays out first uses it,
and a block out of the layout lays out nothing. The italic of Source Sans (Deliverability's notes)
and Source Code Pro (an address in an email's dialog) used to be fetched by the first page that
showed them; one letter in each, laid out in a 1 px clipped box the screen reader skips, has the
browser fetch them while the person types.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from commlog.ui.links import page_link

KEY = "warm_up"  # Streamlit gives the container the class st-key-warm_up

# What the block draws, by Streamlit's test ids: each is in the page once its code has loaded (the
# browser bench waits for them before it types, as a person's typing would).
DRAWN = ("stDataFrame", "stSelectbox", "stPagination", "stPageLink", "stButton", "stVegaLiteChart", "stButtonGroup", "stMetric",
         "stDateInput", "stCheckbox")
BUTTON = f"{KEY}_button"  # the one button of the block: hidden, so no one can press it
FONTS = f"{KEY}_fonts"  # the class of the letters that have the browser fetch the faces the pages use later

_HIDDEN = f"<style>.st-key-{KEY} {{ display: none; }}</style>"
# Laid out (so their faces are fetched), never seen: 1 px, clipped, out of the flow and of the accessibility tree.
_FONTS = (f"<style>.{FONTS} {{ position: fixed; left: 0; top: 0; width: 1px; height: 1px; overflow: hidden; "
          f"clip-path: inset(50%); white-space: nowrap; }} .{FONTS} code {{ font-family: 'Source Code Pro', monospace; }}</style>"
          f'<span class="{FONTS}" aria-hidden="true"><i>a</i><code>a</code></span>')


def warm_up_pages() -> None:
    """Draw, hidden, one of each element the Communication Log, an email's dialog and Deliverability
    load on their first draw, and a letter in each font they use later."""
    st.html(_FONTS)  # outside the block, which lays out nothing
    with st.container(key=KEY, height=1, border=False):  # 1 px tall until the rule that hides it applies
        st.html(_HIDDEN)
        st.dataframe(pd.DataFrame({"email": []}), hide_index=True, on_select="ignore")
        st.selectbox("Components of the log", ["Any"], key=f"{KEY}_select", label_visibility="collapsed")
        st.pagination(1, key=f"{KEY}_page")
        page_link("pages/log.py", "Communication Log")  # the menu's links
        # An email's dialog: Markdown's emoji support (remark-emoji), which the dialog's text loads, and
        # its buttons (Check delivery status), whose code Streamlit loads with the first button drawn.
        st.markdown(":email:")
        st.button("A button", key=BUTTON)
        # Deliverability's: its charts (Vega), the Rate and Granularity switches, figures, dates.
        st.vega_lite_chart({"mark": "point", "data": {"values": []}})
        st.segmented_control("Rate", ["Any"], key=f"{KEY}_rate", label_visibility="collapsed")
        st.metric("Rate", "0", help="A figure")
        st.date_input("Dates", value=None, key=f"{KEY}_dates", label_visibility="collapsed")
        # Ops' log ("Every lender") and every export's options.
        st.checkbox("A box", key=f"{KEY}_box", label_visibility="collapsed")
