"""How every page starts: its own login check, then its body inside the error boundary.

    with guarded() as principal:            # pages/log.py
        ...the page...

A `pages/` file can run without app.py (Streamlit's legacy pages mode on a fresh server), so each
page checks the login itself (`commlog.ui.guard.require_login`); an unexpected exception anywhere
in the page shows the calm message with an incident id (`commlog.ui.boundary`), below the menu
the login check has drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import streamlit as st

from commlog.principal import Principal, Role
from commlog.ui.boundary import error_boundary, report_incident, show_callback_incident
from commlog.ui.guard import require_login
from commlog.ui.style import apply_styles


def guarded(role: Role | None = None) -> AbstractContextManager[Principal]:
    """Log in (and, if given, check the role), then run the page's body inside the error boundary."""
    caller = Path(sys._getframe(1).f_code.co_filename).stem  # the page file, named in the incident log
    return _guarded(role, f"page {caller}")


@contextmanager
def _guarded(role: Role | None, where: str) -> Iterator[Principal]:
    apply_styles()
    try:
        principal = require_login(role)
        show_callback_incident()
    except Exception as exc:  # noqa: BLE001 - before the page's body: show the message and stop this run here
        report_incident(exc, where)
        st.stop()
    with error_boundary(where):
        yield principal
