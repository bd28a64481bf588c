"""From a figure to the messages behind it: URL parameters for the Communication Log."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from commlog.log_view import EXACT, LogView, day_bounds

# The event each metric or bucket is about, as the log filters it.
_EVENT = {"bounce": "BOUNCE", "bounced": "BOUNCE", "block": "BLOCKED", "blocked": "BLOCKED", "defer": "DEFERRED",
          "not_attempted": "DROPPED", "failed": "FAILED"}
_NOT_DELIVERED = ("bounce", "bounced", "block", "blocked", "not_attempted", "failed", "expired", "failures")


def log_link(
    lender_id: int,
    start: date,
    end: date,
    what: str | None = None,
    *,
    domain: str | None = None,
    email_type: str | None = None,
    audience: str | None = None,
    family: str | None = None,
) -> dict[str, str]:
    """URL parameters for the Communication Log (commlog.log_view.LogView) showing the messages
    behind a figure. `what`: a metric (bounce, block, defer, expired, failures) or an outcome bucket.
    The rollups count UTC send days, so the link carries the exact UTC bounds of `start`..`end`
    (sent_from/sent_to, half-open): the log lists the same messages in every viewer's zone."""
    choices = {"event": _EVENT.get(what or ""), "type": email_type, "audience": audience, "family": family}
    if what in _NOT_DELIVERED:
        choices["delivery"] = "NOT_DELIVERED"
    elif what in ("delivery", "delivered"):
        choices["delivery"] = "DELIVERED"
    elif what == "pending":
        choices["delivery"] = "PENDING"
    elif what == "unknown":
        choices["delivery"] = "NOT_CHECKED"
    elif what == "failed_to_send":
        choices["status"] = "failed"
    # all_logs: the rates count every log of the lender, so the drilldown shows them all.
    since, until = day_bounds(start, end, ZoneInfo("UTC"))  # the UTC send days the rollups count
    view = LogView(lender_id=lender_id, all_logs=True, range=EXACT, sent_from=since, sent_to=until,
                   choices={k: v for k, v in choices.items() if v}, domain=domain)
    return view.to_query_params()

