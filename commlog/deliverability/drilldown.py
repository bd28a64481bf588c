"""From a figure to the messages behind it: URL parameters for the Communication Log."""

from __future__ import annotations

from datetime import date

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
    """URL parameters for the Communication Log (commlog.filters) showing the messages behind a
    figure. `what`: a metric (bounce, block, defer, expired, failures) or an outcome bucket.
    The log reads from/to as dates in the viewer's zone; the rollup's days are UTC send dates."""
    # account=all: the rates count every log of the lender, so the drilldown shows them all.
    params = {"lender": str(lender_id), "account": "all", "range": "custom", "from": start.isoformat(), "to": end.isoformat()}
    if what in _NOT_DELIVERED:
        params["delivery"] = "NOT_DELIVERED"
    elif what in ("delivery", "delivered"):
        params["delivery"] = "DELIVERED"
    elif what == "pending":
        params["delivery"] = "PENDING"
    elif what == "unknown":
        params["delivery"] = "NOT_CHECKED"
    elif what == "failed_to_send":
        params["status"] = "failed"
    event = _EVENT.get(what or "")
    if event:
        params["event"] = event
    if domain:
        params["domain"] = domain
    if email_type:
        params["type"] = email_type
    if audience:
        params["audience"] = audience
    if family:
        params["family"] = family
    return params
