"""How a window of counts is graded: the bands (thresholds in percent, per email type), the level
they give and the metric that drives it, and how severe each level is."""

from __future__ import annotations

from dataclasses import dataclass

from commlog.deliverability.metrics import Counts

HEALTHY, WATCH, AT_RISK, LOW_VOLUME = "Healthy", "Watch", "At risk", "Insufficient volume"
SEVERITY = {AT_RISK: 3, WATCH: 2, HEALTHY: 1, LOW_VOLUME: 0}  # higher is worse
CONCERNING = frozenset({WATCH, AT_RISK})  # the levels a finding is about


@dataclass(frozen=True)
class Bands:
    """Thresholds in percent (deliverability reference, "Bands for commlog")."""

    bounce_watch: float = 2.0
    bounce_at_risk: float = 5.0
    bounce_severe: float = 10.0  # SES: sending pause risk
    failures_watch: float = 3.0  # GOV.UK Notify: all failures over 7 days
    failures_at_risk: float = 6.0
    defer_watch: float = 20.0

    def thresholds(self, metric: str) -> tuple[float, ...]:
        """The levels drawn as bands behind a chart of `metric`, lowest first: bounce (Watch, At
        risk, sending pause risk) and all failures (Watch, At risk). Block and expired count in all
        failures; deferrals are graded at `defer_watch` but drawn without a band (a 20 % band would
        flatten the usual few percent)."""
        return {
            "bounce": (self.bounce_watch, self.bounce_at_risk, self.bounce_severe),
            "failures": (self.failures_watch, self.failures_at_risk),
        }.get(metric, ())

    def darkest(self, metric: str) -> float:
        """The rate a heat map draws darkest: the metric's highest band; for a rate without bands,
        the bounce rate where mail services pause sending."""
        return (self.thresholds(metric) or (self.bounce_severe,))[-1]


DEFAULT_BANDS = Bands()
# Account confirmations go to unverified addresses and bounce more (reference): per-type overrides.
EMAIL_TYPE_BANDS: dict[str, Bands] = {"account_confirmation": Bands(bounce_watch=3.0, bounce_at_risk=6.0)}


def bands_for(email_type: str | None) -> Bands:
    """The bands mail of `email_type` (None: every type) is graded with."""
    return EMAIL_TYPE_BANDS.get(email_type or "", DEFAULT_BANDS)


@dataclass(frozen=True)
class Grade:
    """A window's level, the metric it is about, and the rule behind it: which rate (`measure`:
    bounce, failures or defer) reached which band (`threshold`, percent)."""

    level: str
    metric: str = ""  # what the level is about ("" when Healthy or ungraded)
    measure: str = ""  # the rate compared with the band
    threshold: float | None = None  # the lower edge of the band that rate reached


def grade(c: Counts, bands: Bands, min_volume: int) -> Grade:
    """The one grading rule. Bounces first, then all failures (about their largest part), then
    deferrals; below `min_volume` attempted: Insufficient volume."""
    if c.is_low_volume(min_volume) or not c.attempted:
        return Grade(LOW_VOLUME)
    bounce, failures = c.percent("bounce"), c.percent("failures")
    if bounce >= bands.bounce_at_risk:
        return Grade(AT_RISK, "bounce", "bounce", bands.bounce_at_risk)
    if failures >= bands.failures_at_risk:
        return Grade(AT_RISK, largest_failure(c), "failures", bands.failures_at_risk)
    if bounce >= bands.bounce_watch:
        return Grade(WATCH, "bounce", "bounce", bands.bounce_watch)
    if failures >= bands.failures_watch:
        return Grade(WATCH, largest_failure(c), "failures", bands.failures_watch)
    if c.percent("defer") >= bands.defer_watch:
        return Grade(WATCH, "defer", "defer", bands.defer_watch)
    return Grade(HEALTHY)


def level_of(c: Counts, bands: Bands, min_volume: int) -> tuple[str, str]:
    """(level, the metric driving it; "" when Healthy or ungraded): `grade` without its rule."""
    g = grade(c, bands, min_volume)
    return g.level, g.metric


def largest_failure(c: Counts) -> str:
    """What an all-failures level is about: the failure bucket with the most messages (ties: block,
    expired, bounce, then provider-failed, which keeps the name "failures")."""
    parts = (("block", c.blocked), ("expired", c.expired), ("bounce", c.bounced), ("failures", c.failed))
    return max(parts, key=lambda kv: kv[1])[0]
