"""Findings over a range: for every lender and lender × mailbox-provider family, its worst
RECENT_DAYS window ending in the range (commlog.deliverability.assessment judges each window), and
the platform patterns several lenders' findings make together."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection

from commlog.deliverability.assessment import (
    EVERY_LENDER,
    AssessmentOptions,
    Finding,
    Key,
    Timeline,
    Window,
    finding_of,
    finding_order,
    judge,
    replies_at,
    timelines,
)
from commlog.deliverability.grading import SEVERITY
from commlog.deliverability.period import BASELINE_DAYS, RECENT_DAYS, window_start
from commlog.deliverability.wording import pattern_sentence
from commlog.principal import Principal

MIN_FAMILY_FINDING_EVENTS = 10  # a lender × provider finding needs this many failures behind it
PATTERN_MIN_LENDERS = 3  # one family's finding at this many lenders at once points at the platform


@dataclass(frozen=True)
class Scan:
    """Every window of a range judged: the findings, and what a verdict needs besides them."""

    first_end: date  # the first window wholly in the range (or the range's end, for a short range)
    last_end: date
    lines: dict[Key, Timeline]
    names: dict[int, str]
    findings: list[Finding]  # most severe first (finding_order)

    def graded(self, lender_id: int, options: AssessmentOptions) -> bool:
        """Whether any of the lender's windows in the range had enough mail to be graded."""
        line = self.lines[(lender_id, None)]
        return any(not line.days_to(e, RECENT_DAYS).is_low_volume(options.min_volume) for e in _ends(self.first_end, self.last_end))

    def sent_in_range(self, lender_id: int) -> bool:
        line = self.lines[(lender_id, None)]
        return line.days_to(self.last_end, (self.last_end - window_start(self.first_end)).days + 1).requests > 0


def scan(conn: Connection, principal: Principal, start: date, end: date, options: AssessmentOptions = EVERY_LENDER) -> Scan:
    """Judge every RECENT_DAYS window ending in [start, end] for every lender and lender × family."""
    first_end = min(end, start + timedelta(days=RECENT_DAYS - 1))  # the first window wholly in the range
    lines, names = timelines(conn, principal, window_start(first_end) - timedelta(days=BASELINE_DAYS), end, options)
    worst = {key: w for key, line in lines.items() if (w := _worst_window(line, key, first_end, end, options))}
    replies = replies_at(conn, principal, [w.end for w in worst.values()], options)
    today = options.today or end
    episodes = {key: finding_of(w, lines[key], names[key[0]], replies, options, today) for key, w in worst.items()}
    return Scan(first_end, end, lines, names, sorted(_without_repeats(episodes), key=finding_order))


def findings_in_range(conn: Connection, principal: Principal, start: date, end: date,
                      options: AssessmentOptions = EVERY_LENDER) -> list[Finding]:
    """Episodes in [start, end]: for every lender and lender × family, its worst 7-day window
    ending in the range (Watch or At risk), against the 28 days before that window.

    A lender-level finding and family findings about the same metric are not repeated: one family
    behind it keeps the family finding (more precise); two or more keep the lender finding (never
    dropping a finding more severe than the one kept)."""
    return scan(conn, principal, start, end, options).findings


def _ends(first_end: date, last_end: date) -> Iterator[date]:
    return (first_end + timedelta(days=i) for i in range((last_end - first_end).days + 1))


def _worst_window(line: Timeline, key: Key, first_end: date, last_end: date, options: AssessmentOptions) -> Window | None:
    """The most severe window worth a finding among those ending in [first_end, last_end]; among
    equals the highest rate, then the latest."""
    worth = (w for w in (judge(line, key, e, options) for e in _ends(first_end, last_end)) if _worth_a_finding(w))
    return max(worth, key=lambda w: (SEVERITY[w.level], w.recent.rate(w.metric).value or 0.0, w.end), default=None)


def _worth_a_finding(w: Window) -> bool:
    """Watch or At risk; for one provider family, with enough failures behind it (a handful of
    failures at one provider is noise, not a finding)."""
    return w.concerning and (w.key[1] is None or w.recent.rate(w.metric).n >= MIN_FAMILY_FINDING_EVENTS)


def _without_repeats(episodes: Mapping[Key, Finding]) -> list[Finding]:
    """Drop a lender finding with exactly one family finding of the same metric behind it (at least
    as severe), and family findings of a metric when the lender finding covers two or more of them
    (and is at least as severe as each)."""
    def behind(lid: int, metric: str) -> list[Finding]:
        return [x for (l2, f2), x in episodes.items() if l2 == lid and f2 is not None and x.metric == metric]

    out = []
    for (lid, family), f in episodes.items():
        families = behind(lid, f.metric)
        if family is None:
            keep = not (len(families) == 1 and SEVERITY[families[0].level] >= SEVERITY[f.level])
        else:
            lender = episodes.get((lid, None))
            keep = not (lender is not None and lender.metric == f.metric and len(families) >= 2
                        and SEVERITY[lender.level] >= SEVERITY[f.level])
        if keep:
            out.append(f)
    return out


def platform_patterns(findings: Sequence[Finding], principal: Principal,
                      min_lenders: int = PATTERN_MIN_LENDERS) -> list[tuple[str, list[Finding]]]:
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
    for (family, metric), fs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        lenders = {f.lender_id for f in fs}
        if len(lenders) >= min_lenders:
            codes: dict[str, int] = defaultdict(int)
            for f in fs:
                if f.top_code:
                    codes[f.top_code] += f.recent.n
            code = max(codes, key=codes.get) if codes else None
            first, last = min(f.recent_start for f in fs), max(f.recent_end for f in fs)
            out.append((pattern_sentence(family, metric, len(lenders), first, last, code), list(fs)))
    return out
