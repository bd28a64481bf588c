"""One mailbox provider across the whole platform (the troubleshooter's "mailbox provider health"):
the platform's recent mail to it and its latest block episode. Anonymous aggregates over every
lender, like the platform median."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection

from commlog.deliverability.metrics import Counts
from commlog.deliverability.period import window_start
from commlog.deliverability.queries import platform_family_days
from commlog.deliverability.wording import episode_sentence, platform_mail_sentence
from commlog.principal import Principal

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
        return episode_sentence(self.family, self.counts.rate("block"), self.start, self.end, self.ongoing)


@dataclass(frozen=True)
class MailboxProviderHealth:
    """How one mailbox provider (Google, Microsoft, ...) treats mail from the whole platform lately:
    an anonymous aggregate over every lender, like the platform median."""

    family: str
    recent: Counts  # the last RECENT_DAYS send days, every lender
    episode: PlatformEpisode | None  # the latest block episode of the last EPISODE_LOOKBACK_DAYS

    def sentence(self) -> str:
        if self.episode is not None and self.episode.ongoing:
            return self.episode.sentence()
        now = platform_mail_sentence(self.family, self.recent)
        if self.episode is None or not self.recent.attempted:
            return now
        return f"{self.episode.sentence()} {now}"


def mailbox_provider_health(conn: Connection, principal: Principal, family: str, today: date) -> MailboxProviderHealth:
    """The platform's recent mail to one mailbox-provider family, and its latest block episode."""
    by_day = platform_family_days(conn, principal, family, window_start(today, EPISODE_LOOKBACK_DAYS), today)
    recent = sum((c for d, c in by_day.items() if d >= window_start(today)), Counts())
    return MailboxProviderHealth(family, recent, latest_block_episode(family, by_day, today))


def latest_block_episode(family: str, by_day: dict[date, Counts], today: date) -> PlatformEpisode | None:
    """The last run of days blocking at least EPISODE_MIN_RATE % and EPISODE_FACTOR times the usual
    day; a day with too little mail to judge does not end a run."""
    rates = {d: c.rate("block").value or 0.0 for d, c in by_day.items() if c.attempted >= EPISODE_MIN_ATTEMPTED}
    if not rates:
        return None
    usual = statistics.median(rates.values())
    bad = sorted(d for d, r in rates.items() if r >= max(EPISODE_MIN_RATE, EPISODE_FACTOR * usual))
    if not bad:
        return None
    end = start = bad[-1]
    while True:  # back over the episode's days
        before = start - timedelta(days=1)
        if before in bad:
            start = before
        elif before not in rates and before - timedelta(days=1) in bad:
            start = before - timedelta(days=1)
        else:
            break
    days = [d for d in by_day if start <= d <= end]
    return PlatformEpisode(family, start, end, end >= today - timedelta(days=1), sum((by_day[d] for d in days), Counts()))
