"""What health (commlog.deliverability.report) and findings (commlog.deliverability.findings) share.

Both judge windows of RECENT_DAYS send days, for every lender and every lender × mailbox-provider
family in scope, against the BASELINE_DAYS before each window:

    lines, names = timelines(conn, principal, first, last, options)   # one rollup query
    window = judge(lines[key], key, end, options)                      # graded: level and metric
    replies = replies_at(conn, principal, {window.end, ...}, options)  # one query per window end
    finding = finding_of(window, lines[key], names[lender], replies, options, today)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from operator import add, sub

from sqlalchemy import Connection

from commlog.deliverability.drilldown import log_link
from commlog.deliverability.grading import (
    CONCERNING,
    HEALTHY,
    LOW_VOLUME,
    SEVERITY,
    Bands,
    Grade,
    bands_for,
    grade,
)
from commlog.deliverability.metrics import (
    DEFAULT_MIN_VOLUME,
    OUTCOMES_OF_METRIC,
    Counts,
    Rate,
)
from commlog.deliverability.period import BASELINE_DAYS, RECENT_DAYS, window_start
from commlog.deliverability.queries import (
    MetricsQuery,
    daily_counts,
    failure_replies,
    lender_names,
)
from commlog.deliverability.wording import drill_sentence, finding_sentence, grade_why
from commlog.principal import Principal

Key = tuple[int, str | None]  # (lender id, provider family; None: the lender as a whole)


@dataclass(frozen=True)
class AssessmentOptions:
    """Whose mail health and findings judge, and how. Frozen: a cache key."""

    lender_id: int | None = None  # ops: None = every lender; lender admins: always their own
    email_type: str | None = None
    audience: str | None = None
    min_volume: int = DEFAULT_MIN_VOLUME
    bands: Bands | None = None  # None: bands_for(email_type)
    today: date | None = None  # None: the last day judged (a window ending today is "the last 7 days")

    @classmethod
    def of(cls, q: MetricsQuery, today: date | None = None) -> AssessmentOptions:
        """The page's query, judged with the bands of its email type."""
        return cls(q.lender_id, q.email_type, q.audience, q.min_volume, today=today)

    @property
    def graded_by(self) -> Bands:
        return self.bands or bands_for(self.email_type)


EVERY_LENDER = AssessmentOptions()  # every lender in scope, every email type and audience, default bands


@dataclass(frozen=True)
class Finding:
    level: str
    lender_id: int
    lender_name: str
    provider_family: str | None  # None: the lender as a whole
    metric: str  # bounce | block | expired | failures | defer
    recent: Rate
    baseline: Rate
    top_code: str
    top_code_share: float | None
    sentence: str
    recent_start: date
    recent_end: date
    measure: str = ""  # the rate its band is about: bounce, failures or defer
    measured: Rate | None = None  # that rate in the window
    threshold: float | None = None  # the band's lower edge it reached, percent
    why: str = ""  # the level explained: "At risk: bounce rate 8.0 % in the last 7 days (…; at risk from 5 %)"

    def log_params(self, email_type: str | None = None, audience: str | None = None) -> dict[str, str]:
        return log_link(self.lender_id, self.recent_start, self.recent_end, self.metric, email_type=email_type,
                        audience=audience, family=self.provider_family)

    @property
    def log_sentence(self) -> str:
        """What the log behind log_params lists, its filters named as the log names them."""
        return drill_sentence(self.provider_family, self.metric, self.recent.n, self.recent_start, self.recent_end)


def finding_order(f: Finding) -> tuple:
    """Most severe first, then the highest rate, then by lender and family."""
    return -SEVERITY[f.level], -(f.recent.value or 0), f.lender_name, f.provider_family or ""


# --- daily counts, as running totals ----------------------------------------------------------------


class Timeline:
    """One key's counts per UTC send day from `start`, kept as running totals, so that any window's
    Counts is one subtraction. Days before `start` count as nothing."""

    def __init__(self, start: date, totals: list[tuple[int, ...]]) -> None:
        self.start = start
        self._totals = totals  # totals[i]: the counts of the days before start + i, in Counts field order

    @classmethod
    def of_days(cls, start: date, days: int, by_day: Mapping[date, Counts]) -> Timeline:
        totals = [Counts().as_tuple()]
        for i in range(days):
            c = by_day.get(start + timedelta(days=i))
            totals.append(totals[-1] if c is None else tuple(map(add, totals[-1], c.as_tuple())))
        return cls(start, totals)

    def __add__(self, other: Timeline) -> Timeline:
        """Both keys' mail together (a lender's timeline is the sum of its families')."""
        return Timeline(self.start, [tuple(map(add, a, b)) for a, b in zip(self._totals, other._totals, strict=True)])

    def days_to(self, end: date, days: int) -> Counts:
        """The `days` send days ending `end`, both inclusive."""
        hi = (end - self.start).days + 1
        return Counts(*map(sub, self._totals[hi], self._totals[max(hi - days, 0)]))

    def baseline(self, end: date) -> Counts:
        """The BASELINE_DAYS before the RECENT_DAYS ending `end`."""
        return self.days_to(end - timedelta(days=RECENT_DAYS), BASELINE_DAYS)


def timelines(conn: Connection, principal: Principal, first: date, last: date,
              options: AssessmentOptions) -> tuple[dict[Key, Timeline], dict[int, str]]:
    """A timeline from `first` to `last` for every lender and lender × family in scope with mail,
    and the names of the lenders."""
    q = MetricsQuery(start=first, end=last, lender_id=options.lender_id, granularity="day", email_type=options.email_type,
                     audience=options.audience, min_volume=options.min_volume)
    names = lender_names(conn, principal)
    lines: dict[Key, Timeline] = {}
    for (lid, family), days in daily_counts(conn, principal, q).items():
        if lid not in names:
            continue
        line = lines[(lid, family)] = Timeline.of_days(first, (last - first).days + 1, days)
        lines[(lid, None)] = lines[(lid, None)] + line if (lid, None) in lines else line
    return lines, names


# --- a judged window ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One key's RECENT_DAYS send days ending `end`, graded."""

    key: Key
    end: date
    grade: Grade
    recent: Counts

    @property
    def level(self) -> str:
        return self.grade.level

    @property
    def metric(self) -> str:
        """What drives the level; "" when Healthy or ungraded."""
        return self.grade.metric

    @property
    def concerning(self) -> bool:
        return self.level in CONCERNING


def judge(line: Timeline, key: Key, end: date, options: AssessmentOptions) -> Window:
    recent = line.days_to(end, RECENT_DAYS)
    return Window(key, end, grade(recent, options.graded_by, options.min_volume), recent)


# --- the SMTP replies behind failures -----------------------------------------------------------------


@dataclass(frozen=True)
class Replies:
    """Failed messages per (window end, lender, family or None for the lender, outcome) → reply code."""

    by: Mapping[tuple[date, int, str | None, str], Mapping[str, int]]

    def top(self, end: date, key: Key, metric: str) -> tuple[str, float | None]:
        """The most common reply code behind `metric` in the window ending `end`, and its share of
        those failures (replies without a code count in the share); ("", None) without any code."""
        merged: dict[str, int] = {}
        for outcome in OUTCOMES_OF_METRIC.get(metric, ()):
            for code, n in self.by.get((end, *key, outcome), {}).items():
                merged[code] = merged.get(code, 0) + n
        total = sum(merged.values())
        coded = [(n, code) for code, n in merged.items() if code]
        if not coded or not total:
            return "", None
        n, code = max(coded)
        return code, 100.0 * n / total


def replies_at(conn: Connection, principal: Principal, ends: Iterable[date], options: AssessmentOptions) -> Replies:
    """The replies of the RECENT_DAYS windows ending on each of `ends`: one query per end."""
    by: dict[tuple[date, int, str | None, str], dict[str, int]] = {}
    for end in sorted(set(ends)):
        q = MetricsQuery(start=window_start(end), end=end, lender_id=options.lender_id, granularity="day", audience=options.audience)
        for (lid, family, outcome), codes in failure_replies(conn, principal, q).items():
            for fam in (family, None):
                bucket = by.setdefault((end, lid, fam, outcome), {})
                for code, n in codes.items():
                    bucket[code] = bucket.get(code, 0) + n
    return Replies(by)


# --- a window put into words ----------------------------------------------------------------------


def finding_of(w: Window, line: Timeline, lender_name: str, replies: Replies, options: AssessmentOptions, today: date) -> Finding:
    """A concerning window as a finding: its rate against the baseline's, the main reply, a sentence."""
    lid, family = w.key
    recent, baseline = w.recent.rate(w.metric, options.min_volume), line.baseline(w.end).rate(w.metric, options.min_volume)
    code, share = replies.top(w.end, w.key, w.metric)
    sentence = finding_sentence(lender_name, family, w.metric, recent, baseline, reply=(code, share), bands=options.graded_by,
                                window_end=w.end, today=today)
    measured = w.recent.rate(w.grade.measure, options.min_volume)
    why = grade_why(w.level, w.grade.measure, measured, w.metric, recent, family, w.grade.threshold, window_end=w.end, today=today)
    return Finding(w.level, lid, lender_name, family, w.metric, recent, baseline, code, share, sentence, window_start(w.end), w.end,
                   w.grade.measure, measured, w.grade.threshold, why)


# --- one verdict per lender and period --------------------------------------------------------------


def verdict_of(found: Iterable[Finding], graded: bool) -> tuple[str, Finding | None]:
    """The one rule for a lender's verdict over a period: the level of its worst finding in that
    period (for the lender as a whole or for one mailbox provider), and that finding; without any,
    Healthy when at least one window of the period had enough mail to be graded, else Insufficient
    volume. Health cards and findings both read it, so they cannot disagree."""
    worst = min(found, key=finding_order, default=None)
    if worst is not None:
        return worst.level, worst
    return (HEALTHY if graded else LOW_VOLUME), None
