"""The error boundary every page, fragment and callback runs in.

An unexpected exception never reaches the browser as Streamlit's own error box (with its "Ask
Google" links) or as a traceback. Instead the user reads one calm sentence in the product's words
with an incident id, the menu and Sign out keep working, and the server log gets the traceback
under the same id, with secrets masked (`commlog.config.redact`).

* `error_boundary(where)`: a `with` block around a page body (used by `commlog.ui.page.guarded`).
* `fragment`: `st.fragment` whose body runs inside the boundary (a fragment rerun runs alone,
  outside the page's `with` block).
* `safe_callback`: widget callbacks run before the page script, outside every `with` block.
* `on_script_error`: the last net for `st.App` (launcher.py), should anything escape the others.

Streamlit's control flow (`st.stop`, `st.rerun`, `st.switch_page`) raises BaseExceptions, which pass
through untouched.
"""

from __future__ import annotations

import functools
import logging
import secrets
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st

from commlog import config
from commlog.ui.links import page_link

MESSAGE = "Something went wrong showing this view. Reload, or go back to the log."
log = logging.getLogger("commlog.incident")

F = TypeVar("F", bound=Callable[..., Any])

def new_incident_id() -> str:
    """A short id a user can read out on the phone, e.g. 'K7Q2-9XMD' (about 40 random bits)."""
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
    chars = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def record_incident(exc: BaseException, where: str) -> str:
    """Log the traceback (secrets masked) under a new incident id; return the id."""
    incident = new_incident_id()
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("incident %s in %s: %s", incident, where, config.redact(text))
    return incident


def show_incident(incident: str) -> None:
    """The calm message, a way back, and (when the menu was not drawn yet) Sign out."""
    st.error(f"{MESSAGE}\n\nIncident `{incident}`: quote it if you contact support.", icon="⚠️")
    page_link("pages/log.py", "Back to the Communication Log", icon="⬅️")
    from commlog.ui.menu import menu_drawn, sign_out_button  # the menu links pages: imported when needed

    if not menu_drawn.get():
        sign_out_button()


def report_incident(exc: BaseException, where: str) -> str:
    incident = record_incident(exc, where)
    try:
        show_incident(incident)
    except Exception as nested:  # noqa: BLE001 - drawing the message failed too: the log still has both
        log.error("incident %s: the message could not be shown either (%s)", incident, type(nested).__name__)
    return incident


@contextmanager
def error_boundary(where: str) -> Iterator[None]:
    """Run a block; an unexpected exception becomes the calm message and a log entry."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the boundary; control flow (st.stop, st.rerun) is a BaseException and passes
        report_incident(exc, where)


def fragment(func: F | None = None, **fragment_kwargs: Any) -> Any:
    """`st.fragment`, with its body inside the error boundary. A fragment's own run (a click in it)
    is activity of the session, and runs only while the session lasts (commlog.ui.guard.fragment_gate)."""

    def wrap(f: F) -> Any:
        @functools.wraps(f)
        def body(*args: Any, **kwargs: Any) -> Any:
            from commlog.ui.guard import fragment_gate  # guard draws pages that use fragments: imported here

            fragment_gate()
            with error_boundary(f"fragment {f.__module__}.{f.__qualname__}"):
                return f(*args, **kwargs)
            return None

        return st.fragment(body, **fragment_kwargs)

    return wrap(func) if func is not None else wrap


def safe_callback(func: F) -> F:
    """A widget callback that logs an incident instead of raising (the page then runs as usual;
    the incident id is shown at the top of it)."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a callback's failure becomes an incident, never Streamlit's box
            st.session_state["_commlog_callback_incident"] = record_incident(exc, f"callback {func.__qualname__}")
            return None

    return run  # type: ignore[return-value]


def show_callback_incident() -> None:
    """Show, once, the incident of a callback that failed before this run."""
    incident = st.session_state.pop("_commlog_callback_incident", None)
    if incident:
        show_incident(incident)


def on_script_error(exc: Exception) -> bool:
    """`st.App(on_script_error=...)`: whatever escaped every boundary gets the same treatment;
    True tells Streamlit not to draw its own error box."""
    report_incident(exc, "script")
    return True
