"""How deliverability reads: names of metrics and mailbox-provider families, and the sentences of
findings, platform patterns and block episodes. Percentages through `pct` (commlog.deliverability.metrics)."""

from __future__ import annotations

from datetime import date

from commlog.deliverability.grading import Bands
from commlog.deliverability.metrics import Counts, Rate, pct
from commlog.deliverability.period import BASELINE_DAYS, RECENT_DAYS

FAMILY_SHORT = {"google": "Google", "microsoft": "Microsoft", "yahoo": "Yahoo/AOL", "apple": "Apple", "other": "Other-domain"}
# One family as the subject of a sentence ("Microsoft is blocking ..."; "other" is every other domain).
FAMILY_SUBJECT = {**FAMILY_SHORT, "other": "Other mailbox providers (ISPs and company domains)"}
# One family as a column or bar of a chart.
FAMILY_LABEL = {**FAMILY_SHORT, "other": "Other"}

METRICS: dict[str, str] = {
    "bounce": "Bounce rate",
    "block": "Block rate",
    "defer": "Defer rate",
    "expired": "Expired rate",
    "failures": "All failures",
    "delivery": "Delivered",
}
# The same rates as a chart's choice of line ("Bounce", with "rate" on the axis).
METRIC_SHORT = {"bounce": "Bounce", "block": "Block", "defer": "Defer", "failures": "All failures", "expired": "Expired"}
METRIC_HELP = {
    "bounce": "Permanent bounces (BOUNCE) ÷ attempted. The address is suppressed afterwards.",
    "block": "BLOCKED ÷ attempted: refused by the receiving server for reputation, content or policy; the address stays valid.",
    "defer": "Messages deferred at least once (DEFERRED) ÷ attempted. A deferral is not a failure until the 72 h retry window ends.",
    "expired": "Deferred past the 72 h retry window and never delivered ÷ attempted.",
    "failures": "All failures: bounced + blocked + expired + provider-failed ÷ attempted (GOV.UK Notify warns above 3 %).",
    "delivery": "Accepted by the recipient's mail server ÷ attempted. Not a guarantee of inbox placement.",
}
NOUN = {"bounce": "bounces", "block": "blocks", "expired": "expiries", "failures": "delivery failures", "defer": "deferrals"}
REPLY_CLASSES_HELP = (
    "5.x.x: permanent; 4.x.x: temporary, retried for 72 h, then expired. 5.1.x: the address or domain does not "
    "exist (correct it). 5.7.x: policy or reputation (platform or the recipient's IT). Not attempted: the provider "
    "suppressed the address after an earlier bounce or complaint."
)


def day_label(d: date) -> str:
    return f"{d.day} {d.strftime('%b')}"


def health_why(metric: str, recent: Counts) -> str:
    """The metric driving a health level, in words ('bounce rate 8.0 %'); "" when none does."""
    return f"{METRICS[metric].lower()} {pct(recent.rate(metric).value)}" if metric else ""


def finding_sentence(lender_name: str, family: str | None, metric: str, recent: Rate, baseline: Rate, *,
                     reply: tuple[str, float | None], bands: Bands, window_end: date, today: date) -> str:
    """'Microsoft blocks for Alpha Lending rose from 0.3 % to 8.0 % in the last 7 days against the
    prior 28 (16 of 200 attempted); most replies are 550 5.7.1 (88 %).'"""
    subject = f"{FAMILY_SHORT.get(family, family)} {NOUN[metric]}" if family else NOUN[metric].capitalize()
    text = f"{subject} for {lender_name} {_trend(recent, baseline, _when(window_end, today))} ({recent.n_of_d} attempted)"
    if metric == "bounce" and (recent.value or 0.0) >= bands.bounce_severe:
        text += f", above the {bands.bounce_severe:g} % level where mail services pause sending"
    code, share = reply
    if code:
        text += f"; most replies are {code}" + (f" ({share:.0f} %)" if share is not None and share < 99.5 else "")
    return text + "."


# The rate a band is about, as a verdict names it.
MEASURE = {"bounce": "bounce rate", "failures": "all failures", "defer": "defer rate"}


def grade_why(level: str, measure: str, measured: Rate, metric: str, part: Rate, family: str | None, threshold: float | None, *,
              window_end: date, today: date) -> str:
    """A level explained: which rate, to which mailboxes, in which window, against which band.
    'At risk: all failures 8.0 % to Microsoft mailboxes in the last 7 days, mostly blocks (block
    rate 8.0 %); at risk from 6 % (16 of 200 attempted).'"""
    text = f"{level}: {MEASURE[measure]} {pct(measured.value)}"
    if family:
        text += f" to {FAMILY_SHORT.get(family, family)} mailboxes"
    text += f" in {_when(window_end, today)}"
    if measure == "failures" and metric in ("bounce", "block", "expired"):
        text += f", mostly {NOUN[metric]} ({METRICS[metric].lower()} {pct(part.value)})"
    return text + f"; {level.lower()} from {threshold:g} % ({measured.n_of_d} attempted)."


def period_words(first_end: date, last_end: date, today: date) -> str:
    """The windows a verdict judged: 'the last 7 days', or 'every 7-day window ending 8 Oct–30 Nov'."""
    if first_end == last_end:
        return _when(last_end, today)
    return f"every {RECENT_DAYS}-day window ending {day_label(first_end)}–{day_label(last_end)}"


def healthy_why(first_end: date, last_end: date, today: date, bands: Bands, min_family_failures: int) -> str:
    return (f"Healthy: bounce under {bands.bounce_watch:g} %, all failures under {bands.failures_watch:g} % and deferrals under "
            f"{bands.defer_watch:g} % in {period_words(first_end, last_end, today)}, for the lender and for every mailbox "
            f"provider with {min_family_failures} or more failures.")


def low_volume_why(first_end: date, last_end: date, today: date, min_volume: int) -> str:
    return (f"Insufficient volume: fewer than {min_volume:,} attempted messages in {period_words(first_end, last_end, today)}, "
            "too few to grade.")


def _when(window_end: date, today: date) -> str:
    return f"the last {RECENT_DAYS} days" if window_end >= today else f"the {RECENT_DAYS} days to {day_label(window_end)}"


def _trend(recent: Rate, baseline: Rate, when: str) -> str:
    r, b = recent.value or 0.0, baseline.value
    if baseline.low_volume or b is None:
        return f"were {pct(r)} in {when}, with too little mail in the prior {BASELINE_DAYS} days to compare"
    if r >= 1.5 * b and r - b >= 0.5:
        return f"rose from {pct(b)} to {pct(r)} in {when} against the prior {BASELINE_DAYS}"
    if r <= b / 1.5 and b - r >= 0.5:
        return f"fell from {pct(b)} to {pct(r)} in {when} but are still high"
    return f"were {pct(r)} in {when}, about the same as the prior {BASELINE_DAYS} ({pct(b)})"


# What the log lists for a metric's drilldown (commlog.deliverability.drilldown sets its filters).
_LOG_LISTS = {"bounce": "bounced (BOUNCE)", "block": "blocked (BLOCKED)", "defer": "deferred at least once (DEFERRED)"}


def drill_sentence(family: str | None, metric: str, n: int, start: date, end: date) -> str:
    """What the log a finding links to lists, filters named as the log names them: 'The log lists
    the 16 blocked (BLOCKED) emails to Microsoft mailboxes (Mailbox provider: Microsoft) sent
    17–23 Nov, whole UTC days: the ones counted here.'"""
    mailboxes = "ISP and company-domain mailboxes" if family == "other" else f"{FAMILY_SHORT.get(family, family)} mailboxes"
    to = f" to {mailboxes} (Mailbox provider: {FAMILY_LABEL.get(family, family)})" if family else ""
    first = str(start.day) if (start.year, start.month) == (end.year, end.month) else day_label(start)
    sent = f"sent {first}–{day_label(end)}, whole UTC days"
    if metric in _LOG_LISTS:
        return f"The log lists the {n:,} {_LOG_LISTS[metric]} emails{to} {sent}: the ones counted here."
    counted = "expired emails" if metric == "expired" else "failures"
    return (f"The log lists the NOT_DELIVERED emails{to} {sent}: the {n:,} {counted} counted here"
            f"{' and the other failures' if metric == 'expired' else ''}, and any the provider did not attempt (DROPPED).")


def pattern_sentence(family: str, metric: str, lenders: int, first: date, last: date, code: str | None) -> str:
    """One family's metric going wrong for several lenders at once."""
    most = f" (most replies {code})" if code else ""
    return (
        f"{FAMILY_SHORT.get(family, family)} {NOUN[metric]} went up for {lenders} lenders at once between "
        f"{day_label(first)} and {day_label(last)}{most}: more likely a platform-side cause (sending "
        "reputation, IPs or authentication) than any one lender's address list."
    )


def episode_sentence(family: str, block: Rate, start: date, end: date, ongoing: bool) -> str:
    """A mailbox provider blocking the platform's mail, now or on past days."""
    who, rate = FAMILY_SUBJECT.get(family, family), pct(block.value)
    if ongoing:
        return f"{who} is blocking {rate} of mail from this platform since {day_label(start)}."
    if start == end:
        return f"{who} blocked {rate} of mail from this platform on {day_label(start)}; it has not happened since."
    first = str(start.day) if (start.year, start.month) == (end.year, end.month) else day_label(start)
    return f"{who} blocked {rate} of mail from this platform between {first} and {day_label(end)}; it has not happened since."


def platform_mail_sentence(family: str, recent: Counts) -> str:
    """The platform's mail to one family over the last RECENT_DAYS days."""
    who = FAMILY_SUBJECT.get(family, family)
    if not recent.attempted:
        return f"No mail from this platform to {who} addresses in the last {RECENT_DAYS} days."
    block, defer = recent.rate("block"), recent.rate("defer")
    return (f"In the last {RECENT_DAYS} days {who} blocked {pct(block.value)} and delayed {pct(defer.value)} "
            f"of mail from this platform ({recent.attempted:,} attempted).")
