"""What is counted, and the one definition of every rate (deliverability reference, "Rate
definitions"). Units are messages, one per recipient; every message is in one outcome bucket
(commlog.rollups):

  requests   every send request                       = all buckets
  sent       sent by our mail servers                 = requests − failed to send
  attempted  handed to the receiving side             = sent − not attempted (DROPPED)
  failures   bounced + blocked + expired + provider-failed ("all failures")
  known      delivery outcome known                   = delivered + failures

  bounce     final BOUNCE (permanent)       / attempted
  block      final BLOCKED                  / attempted
  defer      deferred at least once         / attempted
  expired    deferred past the retry window / attempted
  failures   all failures                   / attempted
  delivery   DELIVERED                      / attempted
  coverage   known                          / attempted
  not attempted (DROPPED) and failed to send: / requests, own buckets, never in the bounce rate.

Rates below a minimum volume of attempted messages are "low volume" (LOW_VOLUME_RATE), never a bare
percentage.
Summary, health, findings and charts all read their rates through `Counts.rate`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import add, attrgetter

from commlog import rollups as R

DEFAULT_MIN_VOLUME = 100
MIN_VOLUME_LIMITS = (1, 100_000)  # the minimum volume a person may choose
LOW_VOLUME_RATE = "low volume"  # what a rate under the minimum volume says instead of a figure

# Buckets that never reached the receiving side: outside "attempted".
UNATTEMPTED_OUTCOMES: tuple[str, ...] = (R.NOT_ATTEMPTED, R.FAILED_TO_SEND)
# Buckets that are a failure to deliver ("all failures").
FAILURE_OUTCOMES: tuple[str, ...] = (R.BOUNCED, R.BLOCKED, R.EXPIRED, R.FAILED)
# The buckets behind each failure rate, for the SMTP replies that explain it.
OUTCOMES_OF_METRIC: dict[str, tuple[str, ...]] = {
    "bounce": (R.BOUNCED,),
    "block": (R.BLOCKED,),
    "expired": (R.EXPIRED,),
    "failures": FAILURE_OUTCOMES,
}


def percent(n: int, d: int) -> float | None:
    """n ÷ d in percent; None without a denominator."""
    return 100.0 * n / d if d else None


def pct(value: float | None) -> str:
    """A percentage as the page writes it: '3.1 %', '<0.1 %', '–' for none."""
    if value is None:
        return "–"
    if 0 < value < 0.1:
        return "<0.1 %"
    return f"{value:.1f} %"


@dataclass(frozen=True)
class Rate:
    n: int
    d: int
    min_volume: int = DEFAULT_MIN_VOLUME

    @property
    def value(self) -> float | None:
        """Percent, or None without a denominator."""
        return percent(self.n, self.d)

    @property
    def low_volume(self) -> bool:
        return self.d < self.min_volume

    @property
    def n_of_d(self) -> str:
        return f"{self.n:,} of {self.d:,}"

    def text(self) -> str:
        """'3.1 % (37 of 1,204)'; below the minimum volume: 'low volume: 3 of 41 (7.3 %)'."""
        if not self.d:
            return "no attempted messages"
        if self.low_volume:
            return f"{LOW_VOLUME_RATE}: {self.n_of_d} ({pct(self.value)})"
        return f"{pct(self.value)} ({self.n_of_d})"


@dataclass(frozen=True)
class Counts:
    """Messages per outcome bucket (commlog.rollups.OUTCOMES), and how many attempted ones were
    deferred at least once."""

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

    def as_tuple(self) -> tuple[int, ...]:
        """The counts in field order: Counts(*c.as_tuple()) == c."""
        return _fields_of(self)

    def __add__(self, other: Counts) -> Counts:
        return Counts(*map(add, _fields_of(self), _fields_of(other)))

    @property
    def requests(self) -> int:
        return sum(_outcomes_of(self))

    @property
    def sent(self) -> int:
        return self.requests - self.failed_to_send

    @property
    def attempted(self) -> int:
        """sent − not attempted: every bucket but UNATTEMPTED_OUTCOMES."""
        return sum(_attempted_of(self))

    @property
    def failures(self) -> int:
        return sum(_failures_of(self))

    @property
    def known(self) -> int:
        return self.delivered + self.failures

    def is_low_volume(self, min_volume: int = DEFAULT_MIN_VOLUME) -> bool:
        """Too few attempted messages for their rates to be graded."""
        return self.attempted < min_volume

    def rate(self, metric: str, min_volume: int = DEFAULT_MIN_VOLUME) -> Rate:
        """One of RATES (KeyError for any other name)."""
        numerator, denominator = RATES[metric]
        return Rate(getattr(self, numerator), getattr(self, denominator), min_volume)

    def percent(self, metric: str) -> float | None:
        """rate(metric).value, without building the Rate (grading reads thousands of windows)."""
        numerator, denominator = RATES[metric]
        return percent(getattr(self, numerator), getattr(self, denominator))

    def coverage_text(self) -> str:
        if not self.attempted:
            return "No attempted messages in this window."
        return (
            f"Delivery outcome known for {self.rate('coverage').value:.0f} % of attempted messages "
            f"({self.known:,} of {self.attempted:,}); {self.pending:,} still pending, {self.unknown:,} not checked yet. "
            "Rates use all attempted messages as the denominator, so a low coverage understates them."
        )


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Counts))
_fields_of = attrgetter(*FIELDS)
_outcomes_of = attrgetter(*R.OUTCOMES)
_attempted_of = attrgetter(*(o for o in R.OUTCOMES if o not in UNATTEMPTED_OUTCOMES))
_failures_of = attrgetter(*FAILURE_OUTCOMES)

# Every rate: (numerator, denominator), both Counts attributes.
RATES: dict[str, tuple[str, str]] = {
    "bounce": ("bounced", "attempted"),
    "block": ("blocked", "attempted"),
    "defer": ("deferred", "attempted"),
    "expired": ("expired", "attempted"),
    "failures": ("failures", "attempted"),
    "delivery": ("delivered", "attempted"),
    "coverage": ("known", "attempted"),
    "pending": ("pending", "attempted"),
    "unknown": ("unknown", "attempted"),
    "failed": ("failed", "attempted"),
    "not_attempted": ("not_attempted", "requests"),
    "failed_to_send": ("failed_to_send", "requests"),
}
