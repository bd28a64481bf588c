"""Health over a period: one verdict per lender, from the findings of that period
(commlog.deliverability.findings scans every RECENT_DAYS window ending in it;
commlog.deliverability.assessment.verdict_of is the rule), each explained in one sentence, and the
findings themselves, so that the page's health cards and findings come from one scan and agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection

from commlog.deliverability.assessment import (
    EVERY_LENDER,
    AssessmentOptions,
    Finding,
    finding_order,
    verdict_of,
)
from commlog.deliverability.findings import MIN_FAMILY_FINDING_EVENTS, scan
from commlog.deliverability.grading import HEALTHY, SEVERITY
from commlog.deliverability.metrics import Counts
from commlog.deliverability.period import BASELINE_DAYS, RECENT_DAYS, window_start
from commlog.deliverability.wording import healthy_why, low_volume_why, period_words
from commlog.principal import Principal


@dataclass(frozen=True)
class Health:
    """One lender's verdict for the period, and its mail in the period's last RECENT_DAYS days."""

    lender_id: int
    lender_name: str
    level: str  # the verdict: the level of `finding`, else Healthy or Insufficient volume
    finding: Finding | None  # the worst finding behind the verdict
    findings: int  # how many findings the lender has in the period
    recent: Counts  # the last RECENT_DAYS send days of the period
    baseline: Counts  # the BASELINE_DAYS before them
    why: str  # the verdict explained: which rate, which band, which window


@dataclass(frozen=True)
class HealthReport:
    since: date  # the period judged: every RECENT_DAYS window ending from `first_end` to `as_of`
    as_of: date
    first_end: date
    recent_start: date  # the period's last RECENT_DAYS days
    baseline_start: date
    period: str  # the windows judged, in words ("the last 7 days", "every 7-day window ending 8 Oct–30 Nov")
    lenders: list[Health] = field(default_factory=list)  # one per lender with mail in the period
    findings: list[Finding] = field(default_factory=list)  # most severe first

    def lenders_by_severity(self) -> list[Health]:
        """Most severe first; within a level, the worst finding first (the order of the findings)."""
        return sorted(self.lenders, key=lambda h: (-SEVERITY[h.level], finding_order(h.finding) if h.finding else (), h.lender_name))

    def verdict(self, lender_id: int) -> str | None:
        return next((h.level for h in self.lenders if h.lender_id == lender_id), None)


def health(conn: Connection, principal: Principal, as_of: date, options: AssessmentOptions = EVERY_LENDER,
           since: date | None = None) -> HealthReport:
    """One verdict per lender for the period [since, as_of] (default: the RECENT_DAYS days up to
    `as_of`), with the findings it is the worst of."""
    s = scan(conn, principal, since or as_of, as_of, options)
    today = options.today or as_of
    bands = options.graded_by
    lenders = []
    for lid, name in s.names.items():
        if (lid, None) not in s.lines or not s.sent_in_range(lid):
            continue
        mine = [f for f in s.findings if f.lender_id == lid]
        level, worst = verdict_of(mine, s.graded(lid, options))
        if worst is not None:
            why = worst.why
        elif level == HEALTHY:
            why = healthy_why(s.first_end, as_of, today, bands, MIN_FAMILY_FINDING_EVENTS)
        else:
            why = low_volume_why(s.first_end, as_of, today, options.min_volume)
        line = s.lines[(lid, None)]
        lenders.append(Health(lid, name, level, worst, len(mine), line.days_to(as_of, RECENT_DAYS), line.baseline(as_of), why))
    recent_start = window_start(as_of)
    return HealthReport(
        since=since or as_of,
        as_of=as_of,
        first_end=s.first_end,
        recent_start=recent_start,
        baseline_start=recent_start - timedelta(days=BASELINE_DAYS),
        period=period_words(s.first_end, as_of, today),
        lenders=sorted(lenders, key=lambda h: h.lender_name),
        findings=s.findings,
    )
