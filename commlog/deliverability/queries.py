"""Reads of the rollups (commlog.rollups), never of the message table. Every read takes the
Principal and scopes by lender in SQL (Principal.lender_scope: a lender admin gets their own
lender, ops the chosen one or all). The anonymous cross-lender reads (the platform median, the
platform's mail to one mailbox provider) read past row-level security with `tenancy.unscoped` and
let only anonymous aggregates leave.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, case, func, select

from commlog import rollups as R
from commlog import tenancy
from commlog.deliverability.metrics import (
    DEFAULT_MIN_VOLUME,
    FAILURE_OUTCOMES,
    FIELDS,
    MIN_VOLUME_LIMITS,
    RATES,
    UNATTEMPTED_OUTCOMES,
    Counts,
    Rate,
)
from commlog.deliverability.period import (
    DEFAULT_GRANULARITY,
    GRANULARITIES,
    PROVISIONAL_DAYS,
    as_date,
    period_end,
    period_sql,
    periods,
)
from commlog.models import DailyRollup, DomainRollup, Lender, LenderDayRollup
from commlog.principal import Principal

BENCHMARK_MIN_LENDERS = 5  # an anonymous median needs at least this many lenders (lender admins)
OPS_MEDIAN_MIN_LENDERS = 2
BENCHMARK_MIN_ATTEMPTED = 20  # a lender's period counts toward the median from this volume

Rollup = type[DailyRollup] | type[LenderDayRollup] | type[DomainRollup]


@dataclass(frozen=True)
class MetricsQuery:
    """What the page asks for. Days are UTC send dates, both ends inclusive. Frozen: a cache key."""

    start: date
    end: date
    lender_id: int | None = None  # ops: None = all lenders; lender admins: always their own
    granularity: str = DEFAULT_GRANULARITY
    email_type: str | None = None
    audience: str | None = None
    provider_family: str | None = None
    min_volume: int = DEFAULT_MIN_VOLUME

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
        if self.start > self.end:
            raise ValueError("the start date is after the end date")
        if self.min_volume < MIN_VOLUME_LIMITS[0]:
            raise ValueError(f"minimum volume must be at least {MIN_VOLUME_LIMITS[0]}")


# --- building blocks -----------------------------------------------------------------------------


def _table(q: MetricsQuery, need: str | None = None) -> type[DailyRollup] | type[LenderDayRollup]:
    """lender_day_rollup when neither email type nor audience is filtered or grouped, else daily_rollup."""
    if q.email_type or q.audience or need in ("email_type", "audience"):
        return DailyRollup
    return LenderDayRollup


def _where(t: Rollup, q: MetricsQuery, lender: int | None) -> list[ColumnElement[bool]]:
    """The query's days, lender and filters, as far as the table has the column (domain_rollup
    has no email type, lender_day_rollup no email type or audience)."""
    cond = [t.day >= q.start, t.day <= q.end]
    if lender is not None:
        cond.append(t.lender_id == lender)
    if q.audience and hasattr(t, "audience"):
        cond.append(t.audience == q.audience)
    if q.provider_family:
        cond.append(t.provider_family == q.provider_family)
    if q.email_type and hasattr(t, "email_type"):
        cond.append(t.email_type == q.email_type)
    return cond


def _sum_columns(t: type[DailyRollup] | type[LenderDayRollup]) -> list[ColumnElement[Any]]:
    """One summed column per Counts field: the outcome buckets, then attempted messages deferred."""
    cols = [func.coalesce(func.sum(case((t.outcome == o, t.count), else_=0)), 0).label(o) for o in R.OUTCOMES]
    deferred = and_(t.deferred == 1, t.outcome.notin_(UNATTEMPTED_OUTCOMES))
    cols.append(func.coalesce(func.sum(case((deferred, t.count), else_=0)), 0).label("deferred"))
    return cols


def _counts(row: Row[Any]) -> Counts:
    """The Counts of a row whose last columns are _sum_columns (every select here puts them last)."""
    return Counts(*map(int, row[-len(FIELDS):]))


def _scope(principal: Principal, q: MetricsQuery) -> int | None:
    return principal.lender_scope(q.lender_id)


# --- what the principal may see -------------------------------------------------------------------


def lender_names(conn: Connection, principal: Principal) -> dict[int, str]:
    """The lenders the principal may see, by id (a lender admin: only their own)."""
    stmt = select(Lender.id, Lender.name).order_by(Lender.name)
    if not principal.is_ops:
        stmt = stmt.where(Lender.id == principal.require_lender(None))
    return {r.id: r.name for r in conn.execute(stmt)}


def email_types(conn: Connection, principal: Principal, lender_id: int | None = None) -> list[str]:
    return R.email_types(conn, principal.lender_scope(lender_id))


def data_range(conn: Connection, principal: Principal, lender_id: int | None = None) -> tuple[date, date] | None:
    lender = principal.lender_scope(lender_id)
    t = LenderDayRollup
    stmt = select(func.min(t.day), func.max(t.day)).where(t.count > 0)
    if lender is not None:
        stmt = stmt.where(t.lender_id == lender)
    lo, hi = conn.execute(stmt).one()
    return (as_date(lo), as_date(hi)) if lo is not None else None


# --- counts -------------------------------------------------------------------------------------


def summary(conn: Connection, principal: Principal, q: MetricsQuery) -> Counts:
    """Bucket counts for the whole window."""
    t = _table(q)
    return _counts(conn.execute(select(*_sum_columns(t)).where(*_where(t, q, _scope(principal, q)))).one())


def breakdown(conn: Connection, principal: Principal, q: MetricsQuery, dimension: str) -> list[tuple[str, Counts]]:
    """Counts per provider_family | email_type | audience | lender (lender: ops sees every lender,
    a lender admin only their own), largest volume first."""
    return breakdowns(conn, principal, q, (dimension,))[dimension]


def breakdowns(conn: Connection, principal: Principal, q: MetricsQuery,
               dimensions: Sequence[str]) -> dict[str, list[tuple[str, Counts]]]:
    """`breakdown` for each of `dimensions`, from one read grouped by all of them (a few dozen rows:
    the Breakdowns tab's three charts cost one query, not three)."""
    t = _table(q, next((d for d in dimensions if d in ("email_type", "audience")), None))
    columns = {"provider_family": t.provider_family, "email_type": getattr(t, "email_type", None),
               "audience": getattr(t, "audience", None), "lender": t.lender_id}
    cols = [columns[d] for d in dimensions]
    rows = conn.execute(select(*cols, *_sum_columns(t)).where(*_where(t, q, _scope(principal, q))).group_by(*cols)).all()
    counted = [(r, _counts(r)) for r in rows]
    out = {}
    for i, dimension in enumerate(dimensions):
        totals: dict[Any, Counts] = {}
        for r, c in counted:
            totals[r[i]] = totals[r[i]] + c if r[i] in totals else c
        out[dimension] = sorted(totals.items(), key=lambda kv: (-kv[1].requests, str(kv[0])))
    return out


def family_matrix(conn: Connection, principal: Principal, q: MetricsQuery) -> dict[tuple[int, str], Counts]:
    """Counts per lender × provider family (ops: all lenders; a lender admin: their own)."""
    t = _table(q)
    rows = conn.execute(
        select(t.lender_id, t.provider_family, *_sum_columns(t))
        .where(*_where(t, q, _scope(principal, q)))
        .group_by(t.lender_id, t.provider_family)
    ).all()
    return {(r.lender_id, r.provider_family): _counts(r) for r in rows}


def daily_counts(conn: Connection, principal: Principal, q: MetricsQuery) -> dict[tuple[int, str], dict[date, Counts]]:
    """Counts per lender × provider family × UTC send day (what health and findings judge)."""
    t = _table(q)
    rows = conn.execute(
        select(t.lender_id, t.provider_family, t.day, *_sum_columns(t))
        .where(*_where(t, q, _scope(principal, q)))
        .group_by(t.lender_id, t.provider_family, t.day)
    ).all()
    out: dict[tuple[int, str], dict[date, Counts]] = defaultdict(dict)
    for r in rows:
        out[(r.lender_id, r.provider_family)][as_date(r.day)] = _counts(r)
    return out


# --- over time ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodPoint:
    period: date
    period_end: date
    counts: Counts
    provisional: bool  # overlaps the last 72 h before `as_of`: may still change
    partial: bool  # the period extends beyond the chosen range


def _point(p: date, c: Counts, q: MetricsQuery, as_of: date | None) -> PeriodPoint:
    end = period_end(p, q.granularity)
    provisional = as_of is not None and end >= as_of - timedelta(days=PROVISIONAL_DAYS - 1)
    return PeriodPoint(p, end, c, provisional, p < q.start or end > q.end)


def series(conn: Connection, principal: Principal, q: MetricsQuery, as_of: date | None = None) -> list[PeriodPoint]:
    """Counts per period for the scoped lender (ops with no lender: all lenders together), every
    period of the range present (zeros where nothing was sent)."""
    t = _table(q)
    per = period_sql(conn, q.granularity, t.day).label("period")
    rows = conn.execute(select(per, *_sum_columns(t)).where(*_where(t, q, _scope(principal, q))).group_by(per)).all()
    by_period = {as_date(r.period): _counts(r) for r in rows}
    return [_point(p, by_period.get(p, Counts()), q, as_of) for p in periods(q.start, q.end, q.granularity)]


def lender_series(conn: Connection, principal: Principal, q: MetricsQuery, as_of: date | None = None) -> dict[int, list[PeriodPoint]]:
    """Per lender and period (ops: every lender or the chosen one; a lender admin: their own)."""
    t = _table(q)
    per = period_sql(conn, q.granularity, t.day).label("period")
    rows = conn.execute(
        select(t.lender_id, per, *_sum_columns(t))
        .where(*_where(t, q, _scope(principal, q)))
        .group_by(t.lender_id, per)
    ).all()
    by: dict[int, dict[date, Counts]] = defaultdict(dict)
    for r in rows:
        by[r.lender_id][as_date(r.period)] = _counts(r)
    all_periods = periods(q.start, q.end, q.granularity)
    return {lid: [_point(p, d.get(p, Counts()), q, as_of) for p in all_periods] for lid, d in by.items()}


# --- the anonymous platform median ----------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """The platform median per period: per-lender rates, the median across lenders. Anonymous:
    carries no lender ids, and a period with fewer than `min_lenders` lenders has no value."""

    metric: str
    values: dict[date, float | None]
    lenders: dict[date, int]  # how many lenders each median is over
    min_lenders: int


def _median_min_lenders(principal: Principal, q: MetricsQuery) -> int:
    principal.lender_scope(q.lender_id)  # the caller must be allowed the query at all
    return OPS_MEDIAN_MIN_LENDERS if principal.is_ops else BENCHMARK_MIN_LENDERS


@dataclass(frozen=True)
class PlatformMedians:
    """The platform medians of every rate (RATES) for one query: per period (the rate chart's dashed
    line) and over the whole window (the headline's "platform median"), with how many lenders each
    is over. Anonymous: no lender ids, no lender's counts."""

    per_period: dict[str, Benchmark]
    window: dict[str, tuple[float | None, int]]


def platform_medians(conn: Connection, principal: Principal, q: MetricsQuery) -> PlatformMedians:
    """Every rate's platform medians from one read of every lender's counts per period: a period's
    median is over the lenders with at least BENCHMARK_MIN_ATTEMPTED attempted in it, the window's
    over the lenders not under the query's minimum volume in the whole window. Filters other than
    the lender apply. One read serves the headline, the rate chart and every switch of its Rate."""
    min_lenders = _median_min_lenders(principal, q)
    t = _table(q)
    per = period_sql(conn, q.granularity, t.day).label("period")
    with tenancy.unscoped(conn):  # every lender, past row-level security: only the medians leave this function
        rows = conn.execute(select(t.lender_id, per, *_sum_columns(t)).where(*_where(t, q, None)).group_by(t.lender_id, per)).all()
    in_period: dict[date, list[Counts]] = defaultdict(list)
    totals: dict[int, Counts] = {}
    for r in rows:
        c = _counts(r)
        if c.attempted >= BENCHMARK_MIN_ATTEMPTED:
            in_period[as_date(r.period)].append(c)
        totals[r.lender_id] = totals[r.lender_id] + c if r.lender_id in totals else c
    graded = [c for c in totals.values() if not c.is_low_volume(q.min_volume)]
    shown = list(periods(q.start, q.end, q.granularity))

    def median(counts: list[Counts], metric: str) -> float | None:
        return statistics.median(c.rate(metric).value for c in counts) if len(counts) >= min_lenders else None

    per_period = {
        metric: Benchmark(metric, {p: median(in_period.get(p, []), metric) for p in shown},
                          {p: len(in_period.get(p, [])) for p in shown}, min_lenders)
        for metric in RATES
    }
    window = {metric: (median(graded, metric), len(graded)) for metric in RATES}
    return PlatformMedians(per_period, window)


def platform_median(conn: Connection, principal: Principal, q: MetricsQuery, metric: str = "bounce") -> Benchmark:
    """Median across lenders of each lender's rate per period (lenders with at least
    BENCHMARK_MIN_ATTEMPTED attempted in the period). Filters other than the lender apply."""
    return platform_medians(conn, principal, q).per_period[metric]


def window_medians(conn: Connection, principal: Principal, q: MetricsQuery,
                   metrics: Sequence[str]) -> dict[str, tuple[float | None, int]]:
    """The platform median of each of `metrics` over the whole window, and how many lenders each is over."""
    window = platform_medians(conn, principal, q).window
    return {metric: window[metric] for metric in metrics}


def window_median(conn: Connection, principal: Principal, q: MetricsQuery, metric: str) -> tuple[float | None, int]:
    """The platform median of `metric` over the whole window, and how many lenders it is over."""
    return window_medians(conn, principal, q, (metric,))[metric]


def platform_family_days(conn: Connection, principal: Principal, family: str, start: date, end: date) -> dict[date, Counts]:
    """The platform's mail to one mailbox-provider family per UTC send day, every lender together
    (anonymous: no lender leaves this function). Any logged-in principal may ask."""
    principal.lender_scope(None if principal.is_ops else principal.lender_id)
    t = LenderDayRollup
    with tenancy.unscoped(conn):
        rows = conn.execute(
            select(t.day, *_sum_columns(t)).where(t.day >= start, t.day <= end, t.provider_family == family).group_by(t.day)
        ).all()
    return {as_date(r.day): _counts(r) for r in rows}


# --- recipient domains and SMTP replies -------------------------------------------------------------


@dataclass(frozen=True)
class DomainRow:
    domain: str
    provider_family: str
    bounced: int
    blocked: int
    attempted: int
    top_code: str

    def rate(self, min_volume: int = DEFAULT_MIN_VOLUME) -> Rate:
        """The domain's bounce rate: bounced ÷ attempted, as metrics.RATES defines it."""
        return Rate(self.bounced, self.attempted, min_volume)


def top_bouncing_domains(conn: Connection, principal: Principal, q: MetricsQuery, limit: int = 10) -> list[DomainRow]:
    """Recipient domains with the most permanent bounces (email type filter does not apply)."""
    lender = _scope(principal, q)
    t = DomainRollup
    attempted = func.sum(case((t.outcome.notin_(UNATTEMPTED_OUTCOMES), t.count), else_=0))
    bounced = func.sum(case((t.outcome == R.BOUNCED, t.count), else_=0))
    blocked = func.sum(case((t.outcome == R.BLOCKED, t.count), else_=0))
    rows = conn.execute(
        select(t.recipient_domain, t.provider_family, bounced.label("bounced"), blocked.label("blocked"), attempted.label("attempted"))
        .where(*_where(t, q, lender))
        .group_by(t.recipient_domain, t.provider_family)
        .having(bounced > 0)
        .order_by(bounced.desc(), t.recipient_domain)
        .limit(max(1, min(limit, 100)))
    ).all()
    if not rows:
        return []
    domains = [r.recipient_domain for r in rows]
    codes = conn.execute(
        select(t.recipient_domain, t.smtp_code, func.sum(t.count).label("n"))
        .where(*_where(t, q, lender), t.outcome == R.BOUNCED, t.recipient_domain.in_(domains))
        .group_by(t.recipient_domain, t.smtp_code)
    ).all()
    top: dict[str, tuple[int, str]] = {}
    for c in codes:
        if c.recipient_domain not in top or (c.n, c.smtp_code) > top[c.recipient_domain]:
            top[c.recipient_domain] = (int(c.n), c.smtp_code)
    return [
        DomainRow(r.recipient_domain, r.provider_family, int(r.bounced), int(r.blocked), int(r.attempted), top.get(r.recipient_domain, (0, ""))[1])
        for r in rows
    ]


@dataclass(frozen=True)
class ReasonClassRow:
    reason_class: str
    count: int
    by_outcome: dict[str, int]
    top_codes: list[tuple[str, int]]


def reason_classes(conn: Connection, principal: Principal, q: MetricsQuery,
                   outcomes: Sequence[str] = (*FAILURE_OUTCOMES, R.NOT_ATTEMPTED)) -> list[ReasonClassRow]:
    """Failures by SMTP reason class (5.1.x address, 5.7.x policy / block, 4.x.x temporary, …)."""
    t = DomainRollup
    rows = conn.execute(
        select(t.outcome, t.smtp_code, func.sum(t.count).label("n"))
        .where(*_where(t, q, _scope(principal, q)), t.outcome.in_(list(outcomes)))
        .group_by(t.outcome, t.smtp_code)
    ).all()
    classes: dict[str, dict] = {}
    for r in rows:
        cls = R.reason_class(r.smtp_code)
        entry = classes.setdefault(cls, {"count": 0, "by_outcome": defaultdict(int), "codes": defaultdict(int)})
        entry["count"] += int(r.n)
        entry["by_outcome"][r.outcome] += int(r.n)
        if r.smtp_code:
            entry["codes"][r.smtp_code] += int(r.n)
    out = [
        ReasonClassRow(cls, e["count"], dict(e["by_outcome"]), sorted(e["codes"].items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        for cls, e in classes.items()
    ]
    return sorted(out, key=lambda r: (-r.count, r.reason_class))


def failure_replies(conn: Connection, principal: Principal, q: MetricsQuery) -> dict[tuple[int, str, str], dict[str, int]]:
    """Failed messages per lender × provider family × outcome × SMTP reply code (the email type
    filter does not apply: replies are kept per domain)."""
    t = DomainRollup
    rows = conn.execute(
        select(t.lender_id, t.provider_family, t.outcome, t.smtp_code, func.sum(t.count).label("n"))
        .where(*_where(t, q, _scope(principal, q)), t.outcome.in_(FAILURE_OUTCOMES))
        .group_by(t.lender_id, t.provider_family, t.outcome, t.smtp_code)
    ).all()
    out: dict[tuple[int, str, str], dict[str, int]] = defaultdict(dict)
    for r in rows:
        out[(r.lender_id, r.provider_family, r.outcome)][r.smtp_code] = int(r.n)
    return out
