"""Health now: per lender and per lender × mailbox-provider family, the RECENT_DAYS send days up to
a day against the BASELINE_DAYS before them (commlog.deliverability.assessment judges the window)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection

from commlog.deliverability.assessment import (
    EVERY_LENDER,
    AssessmentOptions,
    Finding,
    Replies,
    Timeline,
    Window,
    finding_of,
    finding_order,
    judge,
    replies_at,
    timelines,
)
from commlog.deliverability.grading import CONCERNING, SEVERITY
from commlog.deliverability.metrics import Counts
from commlog.deliverability.period import BASELINE_DAYS, window_start
from commlog.deliverability.wording import health_why
from commlog.principal import Principal


@dataclass(frozen=True)
class Health:
    lender_id: int
    lender_name: str
    provider_family: str | None
    level: str
    recent: Counts
    baseline: Counts
    why: str  # the driving metric, in words
    finding: Finding | None


@dataclass(frozen=True)
class HealthReport:
    as_of: date
    recent_start: date
    baseline_start: date
    lenders: list[Health] = field(default_factory=list)  # one per lender
    families: list[Health] = field(default_factory=list)  # one per lender × provider family with mail

    @property
    def findings(self) -> list[Finding]:
        return sorted((h.finding for h in [*self.lenders, *self.families] if h.finding is not None), key=finding_order)

    def lenders_by_severity(self) -> list[Health]:
        return sorted(self.lenders, key=lambda h: (-SEVERITY[h.level], h.lender_name))

    def concerning_families(self, lender_id: int) -> list[Health]:
        """The lender's mailbox-provider families at Watch or At risk."""
        return [h for h in self.families if h.lender_id == lender_id and h.level in CONCERNING]


def health(conn: Connection, principal: Principal, as_of: date, options: AssessmentOptions = EVERY_LENDER) -> HealthReport:
    """Health per lender and per lender × provider family: the RECENT_DAYS send days up to `as_of`
    against the BASELINE_DAYS before them."""
    recent_start = window_start(as_of)
    lines, names = timelines(conn, principal, recent_start - timedelta(days=BASELINE_DAYS), as_of, options)
    windows = {key: judge(line, key, as_of, options) for key, line in lines.items()}
    replies = replies_at(conn, principal, [as_of] if any(w.concerning for w in windows.values()) else [], options)
    today = options.today or as_of
    now = [_health(w, lines[w.key], names[w.key[0]], replies, options, today) for w in windows.values()]
    return HealthReport(
        as_of=as_of,
        recent_start=recent_start,
        baseline_start=recent_start - timedelta(days=BASELINE_DAYS),
        lenders=_by_name(h for h in now if h.provider_family is None),
        families=_by_name(h for h in now if h.provider_family is not None),
    )


def _health(w: Window, line: Timeline, lender_name: str, replies: Replies, options: AssessmentOptions, today: date) -> Health:
    finding = finding_of(w, line, lender_name, replies, options, today) if w.concerning else None
    lid, family = w.key
    return Health(lid, lender_name, family, w.level, w.recent, line.baseline(w.end), health_why(w.metric, w.recent), finding)


def _by_name(items: Iterable[Health]) -> list[Health]:
    return sorted(items, key=lambda h: (h.lender_name, h.provider_family or ""))

