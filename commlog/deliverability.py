"""Deliverability metrics, health and findings, aggregated in SQL from the rollups
(commlog.rollups), never from the message table.

Definitions (deliverability reference, "Rate definitions"), units = messages (one per recipient):
  requests   every send request                       = all buckets
  sent       sent by our mail servers                 = requests − failed to send
  attempted  handed to the receiving side             = sent − not attempted (DROPPED)
  bounce     final BOUNCE (permanent)       / attempted
  block      final BLOCKED                  / attempted
  defer      deferred at least once         / attempted
  expired    deferred past the retry window / attempted
  failures   bounced + blocked + expired + provider-failed / attempted   ("all failures")
  delivery   DELIVERED                      / attempted
  not attempted (DROPPED) and failed to send: / requests, own buckets, never in the bounce rate.
  coverage   delivery outcome known (delivered or a final failure) / attempted
Messages are counted on their UTC send date (cohort): a late event changes the day it was sent.
Rates below `min_volume` attempted are flagged "low volume", never shown as a bare percentage.

Scoping: every function takes the Principal; the lender is chosen with Principal.lender_scope and
applied in SQL. A lender admin gets their own lender's figures; the platform median is an anonymous
benchmark (only a median, only over at least BENCHMARK_MIN_LENDERS lenders).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, Date, Integer, String, and_, case, cast, func, literal, select
from sqlalchemy import DateTime as SADateTime

from commlog import rollups as R
from commlog import tenancy
from commlog.models import DailyRollup, DomainRollup, Lender, LenderDayRollup
from commlog.principal import Principal

GRANULARITIES = ("day", "week", "month")
DEFAULT_MIN_VOLUME = 100
RECENT_DAYS = 7
BASELINE_DAYS = 28
PROVISIONAL_DAYS = 3  # the last 72 h: pending messages may still resolve
BENCHMARK_MIN_LENDERS = 5  # an anonymous median needs at least this many lenders (lender admins)
OPS_MEDIAN_MIN_LENDERS = 2
BENCHMARK_MIN_ATTEMPTED = 20  # a lender's period counts toward the median from this volume

FAMILY_SHORT = {"google": "Google", "microsoft": "Microsoft", "yahoo": "Yahoo/AOL", "apple": "Apple", "other": "Other-domain"}
# One family as the subject of a sentence ("Microsoft is blocking ..."; "other" is every other domain).
FAMILY_SUBJECT = {**FAMILY_SHORT, "other": "Other mailbox providers (ISPs and company domains)"}

METRICS: dict[str, str] = {
    "bounce": "Bounce rate",
    "block": "Block rate",
    "defer": "Defer rate",
    "expired": "Expired rate",
    "failures": "All failures",
    "delivery": "Delivered",
}
METRIC_HELP = {
    "bounce": "Permanent bounces (BOUNCE) ÷ attempted. The address is suppressed afterwards.",
    "block": "BLOCKED ÷ attempted: refused by the receiving server for reputation, content or policy; the address stays valid.",
    "defer": "Messages deferred at least once (DEFERRED) ÷ attempted. A deferral is not a failure until the 72 h retry window ends.",
    "expired": "Deferred past the 72 h retry window and never delivered ÷ attempted.",
    "failures": "All failures: bounced + blocked + expired + provider-failed ÷ attempted (GOV.UK Notify warns above 3 %).",
    "delivery": "Accepted by the recipient's mail server ÷ attempted. Not a guarantee of inbox placement.",
}
_EVENT_OF_METRIC = {"bounce": "BOUNCE", "block": "BLOCKED", "defer": "DEFERRED", "expired": None, "failures": None}
_OUTCOME_OF_METRIC = {"bounce": (R.BOUNCED,), "block": (R.BLOCKED,), "expired": (R.EXPIRED,), "failures": (R.BOUNCED, R.BLOCKED, R.EXPIRED, R.FAILED)}

HEALTHY, WATCH, AT_RISK, LOW_VOLUME = "Healthy", "Watch", "At risk", "Insufficient volume"
_SEVERITY = {AT_RISK: 3, WATCH: 2, HEALTHY: 1, LOW_VOLUME: 0}


# --- counts and rates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    n: int
    d: int
    min_volume: int = DEFAULT_MIN_VOLUME

    @property
    def value(self) -> float | None:
        """Percent, or None without a denominator."""
        return 100.0 * self.n / self.d if self.d else None

    @property
    def low_volume(self) -> bool:
        return self.d < self.min_volume

    @property
    def n_of_d(self) -> str:
        return f"{self.n:,} of {self.d:,}"

    def text(self) -> str:
        """'3.1 % (37 of 1,204)'; below the minimum volume: 'low volume: 3 of 41'."""
        if not self.d:
            return "no attempted messages"
        if self.low_volume:
            return f"low volume: {self.n_of_d} ({pct(self.value)})"
        return f"{pct(self.value)} ({self.n_of_d})"


def pct(value: float | None) -> str:
    if value is None:
        return "–"
    if 0 < value < 0.1:
        return "<0.1 %"
    return f"{value:.1f} %"


@dataclass(frozen=True)
class Counts:
    delivered: int = 0
    bounced: int = 0
    blocked: int = 0
    expired: int = 0
    failed: int = 0
    not_attempted: int = 0
    pending: int = 0
    unknown: int = 0
    failed_to_send: int = 0
    deferred: int = 0  # attempted messages deferred at least once

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})

    @property
    def requests(self) -> int:
        return sum(getattr(self, o) for o in R.OUTCOMES)

    @property
    def sent(self) -> int:
        return self.requests - self.failed_to_send

    @property
    def attempted(self) -> int:
        return self.sent - self.not_attempted

    @property
    def failures(self) -> int:
        return self.bounced + self.blocked + self.expired + self.failed

    @property
    def known(self) -> int:
        return self.delivered + self.failures

    def rate(self, metric: str, min_volume: int = DEFAULT_MIN_VOLUME) -> Rate:
        n = {
            "bounce": self.bounced,
            "block": self.blocked,
            "defer": self.deferred,
            "expired": self.expired,
            "failures": self.failures,
            "delivery": self.delivered,
            "coverage": self.known,
            "pending": self.pending,
            "unknown": self.unknown,
            "failed": self.failed,
        }.get(metric)
        if n is not None:
            return Rate(n, self.attempted, min_volume)
        if metric == "not_attempted":
            return Rate(self.not_attempted, self.requests, min_volume)
        if metric == "failed_to_send":
            return Rate(self.failed_to_send, self.requests, min_volume)
        raise KeyError(metric)

    def coverage_text(self) -> str:
        if not self.attempted:
            return "No attempted messages in this window."
        cov = 100.0 * self.known / self.attempted
        return (
            f"Delivery outcome known for {cov:.0f} % of attempted messages ({self.known:,} of {self.attempted:,}); "
            f"{self.pending:,} still pending, {self.unknown:,} not checked yet. Rates use all attempted messages as the "
            "denominator, so a low coverage understates them."
        )


def _sum_columns(table=DailyRollup) -> list:  # noqa: ANN001
    cols = [func.coalesce(func.sum(case((table.outcome == o, table.count), else_=0)), 0).label(o) for o in R.OUTCOMES]
    if hasattr(table, "deferred"):
        deferred = and_(table.deferred == 1, table.outcome.notin_([R.NOT_ATTEMPTED, R.FAILED_TO_SEND]))
        cols.append(func.coalesce(func.sum(case((deferred, table.count), else_=0)), 0).label("deferred"))
    return cols


def _counts(row) -> Counts:  # noqa: ANN001
    m = row._mapping
    return Counts(**{o: int(m[o]) for o in R.OUTCOMES}, deferred=int(m.get("deferred", 0) or 0))


# --- the question asked -------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsQuery:
    """What the page asks for. Days are UTC send dates, both ends inclusive. Frozen: a cache key."""

    start: date
    end: date
    lender_id: int | None = None  # ops: None = all lenders; lender admins: always their own
    granularity: str = "week"
    email_type: str | None = None
    audience: str | None = None
    provider_family: str | None = None
    min_volume: int = DEFAULT_MIN_VOLUME

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
        if self.start > self.end:
            raise ValueError("the start date is after the end date")
        if self.min_volume < 1:
            raise ValueError("minimum volume must be at least 1")


def _table(q: MetricsQuery, need: str | None = None):  # noqa: ANN202
    """lender_day_rollup when neither email type nor audience is filtered or grouped, else daily_rollup."""
    if q.email_type or q.audience or need in ("email_type", "audience"):
        return DailyRollup
    return LenderDayRollup


def _where(table, q: MetricsQuery, lender: int | None, family: bool = True, email_type: bool = True) -> list:  # noqa: ANN001
    cond = [table.day >= q.start, table.day <= q.end]
    if lender is not None:
        cond.append(table.lender_id == lender)
    if q.audience and hasattr(table, "audience"):
        cond.append(table.audience == q.audience)
    if family and q.provider_family:
        cond.append(table.provider_family == q.provider_family)
    if email_type and q.email_type and hasattr(table, "email_type"):
        cond.append(table.email_type == q.email_type)
    return cond


def period_start(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def periods(start: date, end: date, granularity: str) -> list[date]:
    out, p = [], period_start(start, granularity)
    while p <= end:
        out.append(p)
        if granularity == "day":
            p += timedelta(days=1)
        elif granularity == "week":
            p += timedelta(days=7)
        else:
            p = (p.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def period_end(p: date, granularity: str) -> date:
    if granularity == "day":
        return p
    if granularity == "week":
        return p + timedelta(days=6)
    return (p.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _period_sql(conn: Connection, granularity: str, table=DailyRollup):  # noqa: ANN001, ANN201
    if granularity == "day":
        return table.day
    if conn.dialect.name == "postgresql":
        return cast(func.date_trunc(granularity, cast(table.day, SADateTime())), Date)
    if granularity == "week":  # Monday
        back = (cast(func.strftime("%w", table.day), Integer) + 6) % 7
        return func.date(table.day, literal("-") + cast(back, String) + literal(" days"))
    return func.strftime("%Y-%m-01", table.day)


def _as_date(value) -> date:  # noqa: ANN001
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _scope(principal: Principal, q: MetricsQuery) -> int | None:
    return principal.lender_scope(q.lender_id)


# --- reads ------------------------------------------------------------------------------------


def lender_names(conn: Connection, principal: Principal) -> dict[int, str]:
    """The lenders the principal may see, by id (a lender admin: only their own)."""
    stmt = select(Lender.id, Lender.name).order_by(Lender.name)
    if not principal.is_ops:
        stmt = stmt.where(Lender.id == principal.require_lender(None))
    return {r.id: r.name for r in conn.execute(stmt)}


def email_types(conn: Connection, principal: Principal, lender_id: int | None = None) -> list[str]:
    lender = principal.lender_scope(lender_id)
    stmt = select(DailyRollup.email_type).distinct().order_by(DailyRollup.email_type)
    if lender is not None:
        stmt = stmt.where(DailyRollup.lender_id == lender)
    return list(conn.execute(stmt).scalars())


def data_range(conn: Connection, principal: Principal, lender_id: int | None = None) -> tuple[date, date] | None:
    lender = principal.lender_scope(lender_id)
    t = LenderDayRollup
    stmt = select(func.min(t.day), func.max(t.day)).where(t.count > 0)
    if lender is not None:
        stmt = stmt.where(t.lender_id == lender)
    lo, hi = conn.execute(stmt).one()
    return (_as_date(lo), _as_date(hi)) if lo is not None else None


def summary(conn: Connection, principal: Principal, q: MetricsQuery) -> Counts:
    """Bucket counts for the whole window."""
    lender = _scope(principal, q)
    t = _table(q)
    row = conn.execute(select(*_sum_columns(t)).where(*_where(t, q, lender))).one()
    return _counts(row)


def breakdown(conn: Connection, principal: Principal, q: MetricsQuery, dimension: str) -> list[tuple[str, Counts]]:
    """Counts per provider_family | email_type | audience | lender (lender: ops sees every lender,
    a lender admin only their own), largest volume first."""
    lender = _scope(principal, q)
    t = _table(q, dimension)
    col = {"provider_family": t.provider_family, "email_type": getattr(t, "email_type", None),
           "audience": getattr(t, "audience", None), "lender": t.lender_id}[dimension]
    rows = conn.execute(select(col.label("key"), *_sum_columns(t)).where(*_where(t, q, lender)).group_by(col)).all()
    out = [(r.key, _counts(r)) for r in rows]
    return sorted(out, key=lambda kv: (-kv[1].requests, str(kv[0])))


@dataclass(frozen=True)
class PeriodPoint:
    period: date
    period_end: date
    counts: Counts
    provisional: bool  # overlaps the last 72 h before `as_of`: may still change
    partial: bool  # the period extends beyond the chosen range


def series(conn: Connection, principal: Principal, q: MetricsQuery, as_of: date | None = None) -> list[PeriodPoint]:
    """Counts per period for the scoped lender (ops with no lender: all lenders together), every
    period of the range present (zeros where nothing was sent)."""
    return _series(conn, q, _scope(principal, q), as_of)


def _series(conn: Connection, q: MetricsQuery, lender: int | None, as_of: date | None) -> list[PeriodPoint]:
    t = _table(q)
    per = _period_sql(conn, q.granularity, t).label("period")
    rows = conn.execute(select(per, *_sum_columns(t)).where(*_where(t, q, lender)).group_by(per)).all()
    by_period = {_as_date(r.period): _counts(r) for r in rows}
    return [_point(p, by_period.get(p, Counts()), q, as_of) for p in periods(q.start, q.end, q.granularity)]


def _point(p: date, c: Counts, q: MetricsQuery, as_of: date | None) -> PeriodPoint:
    end = period_end(p, q.granularity)
    provisional = as_of is not None and end >= as_of - timedelta(days=PROVISIONAL_DAYS - 1)
    return PeriodPoint(p, end, c, provisional, p < q.start or end > q.end)


def lender_series(conn: Connection, principal: Principal, q: MetricsQuery, as_of: date | None = None) -> dict[int, list[PeriodPoint]]:
    """Per lender and period (ops: every lender or the chosen one; a lender admin: their own)."""
    lender = _scope(principal, q)
    t = _table(q)
    per = _period_sql(conn, q.granularity, t).label("period")
    rows = conn.execute(
        select(t.lender_id, per, *_sum_columns(t))
        .where(*_where(t, q, lender))
        .group_by(t.lender_id, per)
    ).all()
    by: dict[int, dict[date, Counts]] = defaultdict(dict)
    for r in rows:
        by[r.lender_id][_as_date(r.period)] = _counts(r)
    all_periods = periods(q.start, q.end, q.granularity)
    return {lid: [_point(p, d.get(p, Counts()), q, as_of) for p in all_periods] for lid, d in by.items()}


@dataclass(frozen=True)
class Benchmark:
    """The platform median per period: per-lender rates, the median across lenders. Anonymous:
    carries no lender ids, and a period with fewer than `min_lenders` lenders has no value."""

    metric: str
    values: dict[date, float | None]
    lenders: dict[date, int]  # how many lenders each median is over
    min_lenders: int


def platform_median(conn: Connection, principal: Principal, q: MetricsQuery, metric: str = "bounce") -> Benchmark:
    """Median across lenders of each lender's rate per period (lenders with at least
    BENCHMARK_MIN_ATTEMPTED attempted in the period). Filters other than the lender apply."""
    principal.lender_scope(q.lender_id)  # the caller must be allowed the query at all
    min_lenders = OPS_MEDIAN_MIN_LENDERS if principal.is_ops else BENCHMARK_MIN_LENDERS
    t = _table(q)
    per = _period_sql(conn, q.granularity, t).label("period")
    with tenancy.unscoped(conn):  # every lender, past row-level security: only the median leaves this function
        rows = conn.execute(
            select(t.lender_id, per, *_sum_columns(t))
            .where(*_where(t, q, None))
            .group_by(t.lender_id, per)
        ).all()
    rates: dict[date, list[float]] = defaultdict(list)
    for r in rows:
        c = _counts(r)
        if c.attempted >= BENCHMARK_MIN_ATTEMPTED:
            rates[_as_date(r.period)].append(c.rate(metric).value)
    values, lenders = {}, {}
    for p in periods(q.start, q.end, q.granularity):
        vals = rates.get(p, [])
        lenders[p] = len(vals)
        values[p] = statistics.median(vals) if len(vals) >= min_lenders else None
    return Benchmark(metric, values, lenders, min_lenders)


def window_median(conn: Connection, principal: Principal, q: MetricsQuery, metric: str) -> tuple[float | None, int]:
    """The platform median of `metric` over the whole window, and how many lenders it is over."""
    principal.lender_scope(q.lender_id)
    min_lenders = OPS_MEDIAN_MIN_LENDERS if principal.is_ops else BENCHMARK_MIN_LENDERS
    with tenancy.unscoped(conn):  # every lender, past row-level security: only the median leaves this function
        rows = conn.execute(
            select(_table(q).lender_id, *_sum_columns(_table(q))).where(*_where(_table(q), q, None)).group_by(_table(q).lender_id)
        ).all()
    vals = [c.rate(metric).value for c in map(_counts, rows) if c.attempted >= q.min_volume]
    return (statistics.median(vals) if len(vals) >= min_lenders else None), len(vals)


# --- one mailbox provider across the platform (the troubleshooter) ------------------------------

EPISODE_LOOKBACK_DAYS = 30
EPISODE_MIN_RATE = 3.0  # % of a day's attempted mail to the family blocked, platform-wide ...
EPISODE_FACTOR = 3.0  # ... and at least this many times the family's usual day (the median of the lookback)
EPISODE_MIN_ATTEMPTED = 50  # a day with less mail to the family says nothing


@dataclass(frozen=True)
class PlatformEpisode:
    """Days on which a mailbox provider blocked an unusual share of the platform's mail (every
    lender at once: a platform-side cause, not one lender's addresses)."""

    family: str
    start: date  # first UTC send day of the episode
    end: date  # last
    ongoing: bool  # it reaches yesterday or today
    counts: Counts  # the episode's days together

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    def sentence(self) -> str:
        who, rate = FAMILY_SUBJECT.get(self.family, self.family), pct(self.counts.rate("block").value)
        if self.ongoing:
            return f"{who} is blocking {rate} of mail from this platform since {_day_label(self.start)}."
        if self.start == self.end:
            return f"{who} blocked {rate} of mail from this platform on {_day_label(self.start)}; it has not happened since."
        first = str(self.start.day) if (self.start.year, self.start.month) == (self.end.year, self.end.month) else _day_label(self.start)
        return f"{who} blocked {rate} of mail from this platform between {first} and {_day_label(self.end)}; it has not happened since."


@dataclass(frozen=True)
class MailboxProviderHealth:
    """How one mailbox provider (Google, Microsoft, ...) treats mail from the whole platform lately:
    an anonymous aggregate over every lender, like the platform median."""

    family: str
    recent: Counts  # the last RECENT_DAYS send days, every lender
    episode: PlatformEpisode | None  # the latest block episode of the last EPISODE_LOOKBACK_DAYS

    def sentence(self) -> str:
        who = FAMILY_SUBJECT.get(self.family, self.family)
        if self.episode is not None and self.episode.ongoing:
            return self.episode.sentence()
        block, defer = self.recent.rate("block"), self.recent.rate("defer")
        if not self.recent.attempted:
            return f"No mail from this platform to {who} addresses in the last {RECENT_DAYS} days."
        now = (f"In the last {RECENT_DAYS} days {who} blocked {pct(block.value)} and delayed {pct(defer.value)} "
               f"of mail from this platform ({self.recent.attempted:,} attempted).")
        return f"{self.episode.sentence()} {now}" if self.episode is not None else now


def mailbox_provider_health(conn: Connection, principal: Principal, family: str, today: date) -> MailboxProviderHealth:
    """The platform's recent mail to one mailbox-provider family, and its latest block episode.
    Reads every lender's rollups, past row-level security; only anonymous totals leave."""
    principal.lender_scope(None if principal.is_ops else principal.lender_id)  # any logged-in principal
    start = today - timedelta(days=EPISODE_LOOKBACK_DAYS - 1)
    t = LenderDayRollup
    with tenancy.unscoped(conn):
        rows = conn.execute(
            select(t.day, *_sum_columns(t)).where(t.day >= start, t.day <= today, t.provider_family == family).group_by(t.day)
        ).all()
    by_day = {_as_date(r.day): _counts(r) for r in rows}
    recent = sum((c for d, c in by_day.items() if d > today - timedelta(days=RECENT_DAYS)), Counts())
    return MailboxProviderHealth(family, recent, _latest_block_episode(family, by_day, today))


def _latest_block_episode(family: str, by_day: dict[date, Counts], today: date) -> PlatformEpisode | None:
    rates = {d: c.rate("block").value or 0.0 for d, c in by_day.items() if c.attempted >= EPISODE_MIN_ATTEMPTED}
    if not rates:
        return None
    usual = statistics.median(rates.values())
    bad = sorted(d for d, r in rates.items() if r >= max(EPISODE_MIN_RATE, EPISODE_FACTOR * usual))
    if not bad:
        return None
    end = start = bad[-1]
    while True:  # back over the episode's days; a day with too little mail to judge does not end it
        before = start - timedelta(days=1)
        if before in bad:
            start = before
        elif before not in rates and before - timedelta(days=1) in bad:
            start = before - timedelta(days=1)
        else:
            break
    days = [d for d in by_day if start <= d <= end]
    return PlatformEpisode(family, start, end, end >= today - timedelta(days=1), sum((by_day[d] for d in days), Counts()))


def family_matrix(conn: Connection, principal: Principal, q: MetricsQuery) -> dict[tuple[int, str], Counts]:
    """Counts per lender × provider family (ops: all lenders; a lender admin: their own)."""
    lender = _scope(principal, q)
    t = _table(q)
    rows = conn.execute(
        select(t.lender_id, t.provider_family, *_sum_columns(t))
        .where(*_where(t, q, lender))
        .group_by(t.lender_id, t.provider_family)
    ).all()
    return {(r.lender_id, r.provider_family): _counts(r) for r in rows}


@dataclass(frozen=True)
class DomainRow:
    domain: str
    provider_family: str
    bounced: int
    blocked: int
    attempted: int
    top_code: str

    def rate(self, min_volume: int = DEFAULT_MIN_VOLUME) -> Rate:
        return Rate(self.bounced, self.attempted, min_volume)


def top_bouncing_domains(conn: Connection, principal: Principal, q: MetricsQuery, limit: int = 10) -> list[DomainRow]:
    """Recipient domains with the most permanent bounces (email type filter does not apply)."""
    lender = _scope(principal, q)
    t = DomainRollup
    attempted = func.sum(case((t.outcome.notin_([R.NOT_ATTEMPTED, R.FAILED_TO_SEND]), t.count), else_=0))
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


def reason_classes(conn: Connection, principal: Principal, q: MetricsQuery, outcomes: Sequence[str] = (R.BOUNCED, R.BLOCKED, R.EXPIRED, R.FAILED, R.NOT_ATTEMPTED)) -> list[ReasonClassRow]:
    """Failures by SMTP reason class (5.1.x address, 5.7.x policy / block, 4.x.x temporary, …)."""
    lender = _scope(principal, q)
    t = DomainRollup
    rows = conn.execute(
        select(t.outcome, t.smtp_code, func.sum(t.count).label("n"))
        .where(*_where(t, q, lender), t.outcome.in_(list(outcomes)))
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


# --- health and findings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bands:
    """Thresholds in percent (deliverability reference, "Bands for commlog")."""

    bounce_watch: float = 2.0
    bounce_at_risk: float = 5.0
    bounce_severe: float = 10.0  # SES: sending pause risk
    failures_watch: float = 3.0  # GOV.UK Notify: all failures over 7 days
    failures_at_risk: float = 6.0
    defer_watch: float = 20.0


# Account confirmations go to unverified addresses and bounce more (reference): per-type overrides.
EMAIL_TYPE_BANDS: dict[str, Bands] = {"account_confirmation": Bands(bounce_watch=3.0, bounce_at_risk=6.0)}


def bands_for(email_type: str | None) -> Bands:
    return EMAIL_TYPE_BANDS.get(email_type or "", Bands())


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

    def log_params(self, email_type: str | None = None, audience: str | None = None) -> dict[str, str]:
        return log_link(self.lender_id, self.recent_start, self.recent_end, self.metric, email_type=email_type,
                        audience=audience, family=self.provider_family)


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
        found = [h.finding for h in [*self.lenders, *self.families] if h.finding is not None]
        return sorted(found, key=lambda f: (-_SEVERITY[f.level], -(f.recent.value or 0), f.lender_name, f.provider_family or ""))


MIN_FAMILY_FINDING_EVENTS = 10  # a lender × provider finding needs this many failures behind it


def _level_of(v: Sequence[int], bands: Bands, min_volume: int) -> tuple[str, str]:
    """(level, driving metric) from a counts vector in Counts field order: delivered, bounced,
    blocked, expired, failed, not_attempted, pending, unknown, failed_to_send, deferred."""
    delivered, bounced, blocked, expired, failed, _na, pending, unknown, _fts, deferred = v
    attempted = delivered + bounced + blocked + expired + failed + pending + unknown
    if attempted < min_volume or attempted == 0:
        return LOW_VOLUME, ""
    bounce = 100.0 * bounced / attempted
    failures = 100.0 * (bounced + blocked + expired + failed) / attempted
    # The failure component that contributes most decides what a failures finding is about.
    component = max((("block", blocked), ("expired", expired), ("bounce", bounced), ("failures", failed)), key=lambda kv: kv[1])[0]
    if bounce >= bands.bounce_at_risk:
        return AT_RISK, "bounce"
    if failures >= bands.failures_at_risk:
        return AT_RISK, component
    if bounce >= bands.bounce_watch:
        return WATCH, "bounce"
    if failures >= bands.failures_watch:
        return WATCH, component
    if 100.0 * deferred / attempted >= bands.defer_watch:
        return WATCH, "defer"
    return HEALTHY, ""


def _level(c: Counts, bands: Bands, min_volume: int) -> tuple[str, str]:
    return _level_of([getattr(c, f) for f in Counts.__dataclass_fields__], bands, min_volume)


_NOUN = {"bounce": "bounces", "block": "blocks", "expired": "expiries", "failures": "delivery failures", "defer": "deferrals"}


def _day_label(d: date) -> str:
    return f"{d.day} {d.strftime('%b')}"


def _sentence(lender_name: str, family: str | None, metric: str, recent: Rate, baseline: Rate, code: str, share: float | None,
              bands: Bands, window_end: date, today: date) -> str:
    who = f"{FAMILY_SHORT.get(family, family)} {_NOUN[metric]}" if family else _NOUN[metric].capitalize()
    when = f"the last {RECENT_DAYS} days" if window_end >= today else f"the {RECENT_DAYS} days to {_day_label(window_end)}"
    r, b = recent.value or 0.0, baseline.value
    if baseline.low_volume or b is None:
        trend = f"were {pct(r)} in {when}, with too little mail in the prior {BASELINE_DAYS} days to compare"
    elif r >= 1.5 * b and r - b >= 0.5:
        trend = f"rose from {pct(b)} to {pct(r)} in {when} against the prior {BASELINE_DAYS}"
    elif r <= b / 1.5 and b - r >= 0.5:
        trend = f"fell from {pct(b)} to {pct(r)} in {when} but are still high"
    else:
        trend = f"were {pct(r)} in {when}, about the same as the prior {BASELINE_DAYS} ({pct(b)})"
    text = f"{who} for {lender_name} {trend} ({recent.n_of_d} attempted)"
    if metric == "bounce" and r >= bands.bounce_severe:
        text += f", above the {bands.bounce_severe:g} % level where mail services pause sending"
    if code:
        text += f"; most replies are {code}" + (f" ({share:.0f} %)" if share is not None and share < 99.5 else "")
    return text + "."


def _scan(conn: Connection, principal: Principal, lender_id: int | None, first_end: date, last_end: date, *,
          email_type: str | None, audience: str | None, min_volume: int, bands: Bands, today: date) -> tuple[dict, dict]:
    """For every lender and lender × family in scope: the health of the window ending `last_end`,
    and the worst 7-day window ending in [first_end, last_end] (an episode), each against the 28
    days before it. One rollup query, grouped by lender × family × day."""
    lender = principal.lender_scope(lender_id)
    span_start = first_end - timedelta(days=RECENT_DAYS + BASELINE_DAYS - 1)
    q = MetricsQuery(start=span_start, end=last_end, lender_id=lender, granularity="day", email_type=email_type, audience=audience, min_volume=min_volume)
    t = _table(q)
    rows = conn.execute(
        select(t.lender_id, t.provider_family, t.day, *_sum_columns(t))
        .where(*_where(t, q, lender))
        .group_by(t.lender_id, t.provider_family, t.day)
    ).all()
    names = lender_names(conn, principal)
    # Count vectors in Counts field order (the outcome sums, then deferred), per key and day.
    daily: dict[tuple[int, str | None], dict[int, list[int]]] = defaultdict(dict)
    for r in rows:
        if r.lender_id not in names:
            continue
        vec, d = [int(x) for x in r[3:]], (_as_date(r.day) - span_start).days
        for key in ((r.lender_id, r.provider_family), (r.lender_id, None)):
            cur = daily[key].get(d)
            if cur is None:
                daily[key][d] = list(vec)
            else:
                for j, x in enumerate(vec):
                    cur[j] += x

    current: dict[tuple[int, str | None], tuple] = {}
    worst: dict[tuple[int, str | None], tuple] = {}
    n_ends = (last_end - first_end).days + 1
    fields = list(Counts.__dataclass_fields__)
    n_days = (last_end - span_start).days + 1
    for key, by_day in daily.items():
        # Prefix sums per field over the span: any window's counts in O(fields).
        prefix = [[0] * len(fields)]
        for d in range(n_days):
            v = by_day.get(d)
            row = prefix[-1]
            prefix.append([x + y for x, y in zip(row, v)] if v is not None else row)

        def window(lo: int, hi: int) -> list[int]:  # day indexes [lo, hi)
            a, b = prefix[max(lo, 0)], prefix[hi]
            return [b[j] - a[j] for j in range(len(fields))]

        for i in range(n_ends):
            end = last_end - timedelta(days=i)
            hi = (end - span_start).days + 1
            recent = window(hi - RECENT_DAYS, hi)
            level, metric = _level_of(recent, bands, min_volume)
            if i == 0:
                base = window(hi - RECENT_DAYS - BASELINE_DAYS, hi - RECENT_DAYS)
                current[key] = (level, metric, Counts(*recent), Counts(*base), end)
            if level in (WATCH, AT_RISK):
                rc = Counts(*recent)
                r = rc.rate(metric)
                if key[1] is not None and r.n < MIN_FAMILY_FINDING_EVENTS:
                    continue  # a handful of failures at one provider is noise, not a finding
                score = (_SEVERITY[level], r.value or 0.0, end)
                if key not in worst or score > worst[key][0]:
                    base = Counts(*window(hi - RECENT_DAYS - BASELINE_DAYS, hi - RECENT_DAYS))
                    worst[key] = (score, level, metric, rc, base, end)

    # Dominant SMTP replies: one query per distinct window end, for every key at once.
    ends = {v[4] for v in current.values() if v[0] in (WATCH, AT_RISK)} | {w[5] for w in worst.values()}
    codes: dict[tuple, dict[str, int]] = {}
    t = DomainRollup
    for end in sorted(ends):
        start = end - timedelta(days=RECENT_DAYS - 1)
        cond = [t.day >= start, t.day <= end, t.outcome.in_([R.BOUNCED, R.BLOCKED, R.EXPIRED, R.FAILED])]
        if lender is not None:
            cond.append(t.lender_id == lender)
        if audience:
            cond.append(t.audience == audience)
        rows = conn.execute(
            select(t.lender_id, t.provider_family, t.outcome, t.smtp_code, func.sum(t.count).label("n"))
            .where(*cond).group_by(t.lender_id, t.provider_family, t.outcome, t.smtp_code)
        ).all()
        for r in rows:
            for fam in (r.provider_family, None):
                bucket = codes.setdefault((end, r.lender_id, fam, r.outcome), {})
                bucket[r.smtp_code] = bucket.get(r.smtp_code, 0) + int(r.n)

    def top_code(lid: int, fam: str | None, metric: str, end: date) -> tuple[str, float | None]:
        merged: dict[str, int] = defaultdict(int)
        for outcome in _OUTCOME_OF_METRIC.get(metric, ()):
            for code, n in codes.get((end, lid, fam, outcome), {}).items():
                merged[code] += n
        total = sum(merged.values())
        coded = [(n, code) for code, n in merged.items() if code]
        if not coded or not total:
            return "", None
        n, code = max(coded)
        return code, 100.0 * n / total

    def finding(key, level, metric, recent, baseline, end) -> Finding:  # noqa: ANN001
        lid, fam = key
        rr, br = recent.rate(metric, min_volume), baseline.rate(metric, min_volume)
        start = end - timedelta(days=RECENT_DAYS - 1)
        code, share = top_code(lid, fam, metric, end)
        return Finding(level, lid, names[lid], fam, metric, rr, br, code, share,
                       _sentence(names[lid], fam, metric, rr, br, code, share, bands, end, today), start, end)

    health_now = {}
    for key, (level, metric, recent, baseline, end) in current.items():
        f = finding(key, level, metric, recent, baseline, end) if level in (WATCH, AT_RISK) else None
        why = f"{METRICS[metric].lower()} {pct(recent.rate(metric).value)}" if metric else ""
        health_now[key] = Health(key[0], names[key[0]], key[1], level, recent, baseline, why, f)
    episodes = {key: finding(key, *w[1:]) for key, w in worst.items()}
    return health_now, episodes


def _order(items: Iterable[Health]) -> list[Health]:
    return sorted(items, key=lambda h: (h.lender_name, h.provider_family or ""))


def health(
    conn: Connection,
    principal: Principal,
    as_of: date,
    lender_id: int | None = None,
    *,
    email_type: str | None = None,
    audience: str | None = None,
    min_volume: int = DEFAULT_MIN_VOLUME,
    bands: Bands | None = None,
    today: date | None = None,
) -> HealthReport:
    """Health per lender and per lender × provider family: the RECENT_DAYS send days up to `as_of`
    against the BASELINE_DAYS before them."""
    bands = bands or bands_for(email_type)
    now_map, _ = _scan(conn, principal, lender_id, as_of, as_of, email_type=email_type, audience=audience,
                       min_volume=min_volume, bands=bands, today=today or as_of)
    recent_start = as_of - timedelta(days=RECENT_DAYS - 1)
    return HealthReport(
        as_of=as_of,
        recent_start=recent_start,
        baseline_start=recent_start - timedelta(days=BASELINE_DAYS),
        lenders=_order(h for k, h in now_map.items() if k[1] is None),
        families=_order(h for k, h in now_map.items() if k[1] is not None),
    )


def findings_in_range(
    conn: Connection,
    principal: Principal,
    start: date,
    end: date,
    lender_id: int | None = None,
    *,
    email_type: str | None = None,
    audience: str | None = None,
    min_volume: int = DEFAULT_MIN_VOLUME,
    bands: Bands | None = None,
    today: date | None = None,
) -> list[Finding]:
    """Episodes in [start, end]: for every lender and lender × family, its worst 7-day window
    ending in the range (Watch or At risk), against the 28 days before that window.

    A lender-level finding and family findings about the same metric are not repeated: one family
    behind it keeps the family finding (more precise); two or more keep the lender finding."""
    bands = bands or bands_for(email_type)
    first_end = min(end, start + timedelta(days=RECENT_DAYS - 1))
    _, episodes = _scan(conn, principal, lender_id, first_end, end, email_type=email_type, audience=audience,
                        min_volume=min_volume, bands=bands, today=today or end)
    out: list[Finding] = []
    for (lid, fam), f in episodes.items():
        if fam is None:
            fams = [x for (l2, f2), x in episodes.items() if l2 == lid and f2 is not None and x.metric == f.metric]
            if len(fams) == 1:
                continue
            out.append(f)
        else:
            lender_f = episodes.get((lid, None))
            siblings = [x for (l2, f2), x in episodes.items() if l2 == lid and f2 is not None and x.metric == f.metric]
            if lender_f is not None and lender_f.metric == f.metric and len(siblings) >= 2:
                continue
            out.append(f)
    return sorted(out, key=lambda f: (-_SEVERITY[f.level], -(f.recent.value or 0), f.lender_name, f.provider_family or ""))


def platform_patterns(findings: Sequence[Finding], principal: Principal, min_lenders: int = 3) -> list[tuple[str, list[Finding]]]:
    """Ops only: one family's metric going wrong for several lenders at once points at the platform
    (sending IPs, authentication), not at one lender's address list. Returns (sentence, the findings
    it groups)."""
    if not principal.is_ops:
        return []
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        if f.provider_family:
            groups[(f.provider_family, f.metric)].append(f)
    out = []
    for (fam, metric), fs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        lenders = {f.lender_id for f in fs}
        if len(lenders) >= min_lenders:
            first, last = min(f.recent_start for f in fs), max(f.recent_end for f in fs)
            codes = defaultdict(int)
            for f in fs:
                if f.top_code:
                    codes[f.top_code] += f.recent.n
            code = f" (most replies {max(codes, key=codes.get)})" if codes else ""
            out.append((
                f"{FAMILY_SHORT.get(fam, fam)} {_NOUN[metric]} went up for {len(lenders)} lenders at once between "
                f"{_day_label(first)} and {_day_label(last)}{code}: more likely a platform-side cause (sending "
                "reputation, IPs or authentication) than any one lender's address list.",
                list(fs),
            ))
    return out


# --- drilldown --------------------------------------------------------------------------------


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
    event = {"bounce": "BOUNCE", "bounced": "BOUNCE", "block": "BLOCKED", "blocked": "BLOCKED", "defer": "DEFERRED",
             "not_attempted": "DROPPED", "failed": "FAILED"}.get(what or "")
    if what in ("bounce", "bounced", "block", "blocked", "not_attempted", "failed", "expired", "failures"):
        params["delivery"] = "NOT_DELIVERED"
    elif what in ("delivery", "delivered"):
        params["delivery"] = "DELIVERED"
    elif what == "pending":
        params["delivery"] = "PENDING"
    elif what == "unknown":
        params["delivery"] = "NOT_CHECKED"
    elif what == "failed_to_send":
        params["status"] = "failed"
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


__all__ = [
    "Bands",
    "MailboxProviderHealth",
    "PlatformEpisode",
    "mailbox_provider_health",
    "Benchmark",
    "Counts",
    "DomainRow",
    "Finding",
    "Health",
    "HealthReport",
    "MetricsQuery",
    "Rate",
    "breakdown",
    "data_range",
    "family_matrix",
    "findings_in_range",
    "health",
    "lender_names",
    "lender_series",
    "log_link",
    "platform_median",
    "platform_patterns",
    "reason_classes",
    "series",
    "summary",
    "top_bouncing_domains",
    "window_median",
]
