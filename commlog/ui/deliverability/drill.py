"""Links from a figure into the Communication Log, filtered through its URL parameters
(commlog.deliverability.log_link builds them; commlog.filters reads them)."""

from __future__ import annotations

from commlog.ui.links import page_link


def open_in_log(params: dict[str, str], label: str) -> None:
    page_link("pages/log.py", label, query_params=params, icon=":material/open_in_new:")
