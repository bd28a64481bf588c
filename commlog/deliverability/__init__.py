"""Deliverability: bounce, block and defer rates, health and findings, aggregated in SQL from the
rollups (commlog.rollups), never from the message table. Every read takes the Principal and scopes
by lender in SQL; the platform median is an anonymous benchmark.

The rooms, each importing only those above it in this list:
  period             UTC send days, periods (day, week, month), the health windows
  metrics            Counts and Rate: the one definition of every rate (and of attempted, failures)
  grading            Bands, bands_for, grade (the one grading rule: level, metric, the rate and band behind it), SEVERITY
  wording            metric and family names, the sentences of findings and episodes
  queries            MetricsQuery and the reads of the rollups
  drilldown          log_link: the Communication Log's URL parameters behind a figure
  assessment         what health and findings share: options, Finding, judged windows, replies, verdict_of
  findings           scan(), findings_in_range(), platform_patterns()
  report             health() → HealthReport: one verdict per lender and period, from that period's findings
  mailbox_providers  mailbox_provider_health(): one provider across the platform (troubleshooter)

Everything public is importable from `commlog.deliverability` itself.
"""

from commlog.deliverability.assessment import (
    EVERY_LENDER,
    AssessmentOptions,
    Finding,
    finding_order,
    verdict_of,
)
from commlog.deliverability.drilldown import log_link
from commlog.deliverability.findings import (
    MIN_FAMILY_FINDING_EVENTS,
    PATTERN_MIN_LENDERS,
    Scan,
    findings_in_range,
    platform_patterns,
    scan,
)
from commlog.deliverability.grading import (
    AT_RISK,
    CONCERNING,
    DEFAULT_BANDS,
    EMAIL_TYPE_BANDS,
    HEALTHY,
    LOW_VOLUME,
    SEVERITY,
    WATCH,
    Bands,
    Grade,
    bands_for,
    grade,
    level_of,
)
from commlog.deliverability.mailbox_providers import (
    EPISODE_FACTOR,
    EPISODE_LOOKBACK_DAYS,
    EPISODE_MIN_ATTEMPTED,
    EPISODE_MIN_RATE,
    MailboxProviderHealth,
    PlatformEpisode,
    mailbox_provider_health,
)
from commlog.deliverability.metrics import (
    DEFAULT_MIN_VOLUME,
    LOW_VOLUME_RATE,
    MIN_VOLUME_LIMITS,
    RATES,
    Counts,
    Rate,
    pct,
)
from commlog.deliverability.period import (
    BASELINE_DAYS,
    DEFAULT_GRANULARITY,
    GRANULARITIES,
    PROVISIONAL_DAYS,
    RECENT_DAYS,
    period_end,
    period_start,
    periods,
)
from commlog.deliverability.queries import (
    BENCHMARK_MIN_ATTEMPTED,
    BENCHMARK_MIN_LENDERS,
    OPS_MEDIAN_MIN_LENDERS,
    Benchmark,
    DomainRow,
    MetricsQuery,
    PeriodPoint,
    PlatformMedians,
    ReasonClassRow,
    breakdown,
    breakdowns,
    data_range,
    email_types,
    family_matrix,
    lender_names,
    lender_series,
    platform_median,
    platform_medians,
    reason_classes,
    series,
    summary,
    top_bouncing_domains,
    window_median,
    window_medians,
)
from commlog.deliverability.report import Health, HealthReport, health
from commlog.deliverability.wording import (
    FAMILY_LABEL,
    FAMILY_SHORT,
    FAMILY_SUBJECT,
    METRIC_HELP,
    METRIC_SHORT,
    METRICS,
)

__all__ = [
    # period
    "BASELINE_DAYS", "DEFAULT_GRANULARITY", "GRANULARITIES", "PROVISIONAL_DAYS", "RECENT_DAYS", "period_end", "period_start",
    "periods",
    # metrics
    "DEFAULT_MIN_VOLUME", "LOW_VOLUME_RATE", "MIN_VOLUME_LIMITS", "RATES", "Counts", "Rate", "pct",
    # grading
    "AT_RISK", "CONCERNING", "DEFAULT_BANDS", "EMAIL_TYPE_BANDS", "HEALTHY", "LOW_VOLUME", "SEVERITY", "WATCH", "Bands", "Grade", "bands_for",
    "grade", "level_of",
    # wording
    "FAMILY_LABEL", "FAMILY_SHORT", "FAMILY_SUBJECT", "METRICS", "METRIC_HELP", "METRIC_SHORT",
    # queries
    "BENCHMARK_MIN_ATTEMPTED", "BENCHMARK_MIN_LENDERS", "OPS_MEDIAN_MIN_LENDERS", "Benchmark", "DomainRow", "MetricsQuery",
    "PeriodPoint", "PlatformMedians", "ReasonClassRow", "breakdown", "breakdowns", "data_range", "email_types", "family_matrix",
    "lender_names", "lender_series", "platform_median", "platform_medians", "reason_classes", "series", "summary",
    "top_bouncing_domains", "window_median", "window_medians",
    # drilldown
    "log_link",
    # assessment, findings, report
    "EVERY_LENDER", "AssessmentOptions", "Finding", "finding_order", "verdict_of",
    "MIN_FAMILY_FINDING_EVENTS", "PATTERN_MIN_LENDERS", "Scan", "findings_in_range", "platform_patterns", "scan",
    "Health", "HealthReport", "health",
    # mailbox_providers
    "EPISODE_FACTOR", "EPISODE_LOOKBACK_DAYS", "EPISODE_MIN_ATTEMPTED", "EPISODE_MIN_RATE", "MailboxProviderHealth", "PlatformEpisode",
    "mailbox_provider_health",
]
