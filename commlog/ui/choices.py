"""Choice widgets whose options can change under them: a remembered value that is no longer an
option falls back to a valid one, and never raises.

Streamlit keeps a keyed widget's value across runs and the browser sends it back as its *label*.
When the options or their labels change (another Account is picked, so the export's "Rows from"
reads "Billy Nasser's log" instead of "The lender's own log"; ops switch lender, so the lender's
email types change), that label may match no option any more. Streamlit then hands the raw label
back as the widget's value unless `format_func` refuses it, and the page receives a value it never
offered. `choose` closes that hole for every selectbox and radio of the app:

* options are a mapping value -> label, and labels are looked up strictly, so an unknown value
  makes Streamlit's own check fail and reset the widget;
* a remembered value that is no longer an option is reset before the widget is drawn;
* the value returned is checked once more against the options.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import streamlit as st

T = TypeVar("T")


def choose(widget: Callable[..., Any], label: str, options: Mapping[T, str], *, key: str,
           default: T | None = None, **kwargs: Any) -> T:
    """Draw `widget` (st.selectbox, st.radio, or a column's) over `options` and return a value that
    is one of them. `default` (else the first option) replaces a remembered value that is no longer
    offered."""
    values = list(options)
    if not values:
        raise ValueError(f"{label!r} has no options")
    fallback = default if default in options else values[0]
    remembered = st.session_state.get(key, fallback)
    if remembered not in options:
        st.session_state[key] = fallback
    value = widget(label, options=values, format_func=options.__getitem__, key=key, **kwargs)
    # Streamlit gave back something it never offered: fall back (the next run resets the widget).
    return value if value in options else fallback


def remembered(key: str, options: Collection[T], default: T) -> T:
    """The value a widget drawn later in the run holds now (the page reads "Rows per page" before
    the table it sits under), or `default` when that is no longer one of `options`."""
    value = st.session_state.get(key, default)
    return value if value in options else default


def same_labels(values: list[T]) -> dict[T, str]:
    """Options whose label is the value itself."""
    return {v: str(v) for v in values}


def one_of(label: str, options: Mapping[T, str], *, key: str, default: T, **kwargs: Any) -> T:
    """A segmented control that always shows the value in force, and returns it.

    Streamlit's control clears its choice when the chosen option is clicked again; the page then
    fell back to a default while the control showed nothing chosen (a click on the chosen "Day"
    turned the charts weekly). Here that click keeps the option chosen. The last choice also
    outlives the runs that do not draw the control (Streamlit forgets a widget's value then: a tab
    left and opened again), and a remembered value that is no longer offered falls back to
    `default` (else the first option)."""
    ss, kept, restored = st.session_state, f"{key}_kept", f"{key}_restored"
    if ss.get(kept) not in options:
        ss[kept] = default if default in options else next(iter(options))
    if ss.get(key) is not None and ss[key] not in options:
        del ss[key]

    def keep_one() -> None:
        if ss.get(key) is None:  # the chosen option clicked again: it stays chosen
            ss[key], ss[restored] = ss[kept], True

    # The run after keep_one draws the control from the value it set (a default beside it would be
    # a second source); every other run from the last choice, also after runs that did not draw it.
    value = st.segmented_control(label, list(options), default=None if ss.pop(restored, False) else ss[kept],
                                 format_func=options.__getitem__, key=key, on_change=keep_one, **kwargs)
    if value not in options:
        value = ss[kept]
    ss[kept] = value
    return value
