"""The page's reads of commlog.deliverability: each a direct call through the unit of work
(commlog.unit_of_work.reading), cached for TTL seconds. Who reads and from which database (a
Reader) is an ordinary, hashed argument of every cached read, like every filter.

A Reader's part of a cache key is what the reads' results depend on: the database and the
principal's scope (ops, or one lender), not who the person is, so the lender's other admins (and
every ops engineer) find the figures one of them read in the last minute. And the keys are made
from each argument's repr, not by Streamlit's generic hashing of the objects: that took 4–16 ms
of a Deliverability run whose figures were cached (27–39 ms in all), 1.6–3.7 ms since (1M messages
on PostgreSQL, 2026-12-05)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import streamlit as st

from commlog import deliverability as D
from commlog.principal import Principal
from commlog.ui.resources import database_url, engine
from commlog.unit_of_work import reading

TTL = 60  # seconds; the rollups change with every check and webhook


@dataclass(frozen=True)
class Reader:
    url: str
    principal: Principal

    @classmethod
    def of(cls, principal: Principal) -> Reader:
        return cls(database_url(), principal)

    def cache_key(self) -> str:
        """What every read's result depends on: the database and the principal's scope (its role and
        lender; ops have none)."""
        return repr((self.url, str(self.principal.role), self.principal.lender_id))


# A query and the assessment's options are frozen dataclasses of dates, strings and numbers (the
# options' bands too): their reprs name every field's value.
_cached = st.cache_data(ttl=TTL, show_spinner=False, max_entries=200,
                        hash_funcs={Reader: Reader.cache_key, D.MetricsQuery: repr, D.AssessmentOptions: repr})


@_cached
def lender_names(r: Reader) -> dict[int, str]:
    with reading(engine(), r.principal) as conn:
        return D.lender_names(conn, r.principal)


@_cached
def data_range(r: Reader, lender_id: int | None) -> tuple[date, date] | None:
    with reading(engine(), r.principal) as conn:
        return D.data_range(conn, r.principal, lender_id)


@_cached
def email_types(r: Reader, lender_id: int | None) -> list[str]:
    with reading(engine(), r.principal) as conn:
        return D.email_types(conn, r.principal, lender_id)


@_cached
def summary(r: Reader, q: D.MetricsQuery) -> D.Counts:
    with reading(engine(), r.principal) as conn:
        return D.summary(conn, r.principal, q)


def window_medians(r: Reader, q: D.MetricsQuery, metrics: tuple[str, ...]) -> dict[str, tuple[float | None, int]]:
    window = platform_medians(r, q).window
    return {metric: window[metric] for metric in metrics}


@_cached
def findings_in_range(r: Reader, start: date, end: date, options: D.AssessmentOptions) -> list[D.Finding]:
    with reading(engine(), r.principal) as conn:
        return D.findings_in_range(conn, r.principal, start, end, options)


@_cached
def health(r: Reader, since: date, as_of: date, options: D.AssessmentOptions) -> D.HealthReport:
    """One verdict per lender for the period, and the findings it is the worst of."""
    with reading(engine(), r.principal) as conn:
        return D.health(conn, r.principal, as_of, options, since=since)


@_cached
def series(r: Reader, q: D.MetricsQuery, as_of: date) -> list[D.PeriodPoint]:
    with reading(engine(), r.principal) as conn:
        return D.series(conn, r.principal, q, as_of=as_of)


@_cached
def lender_series(r: Reader, q: D.MetricsQuery, as_of: date) -> dict[int, list[D.PeriodPoint]]:
    with reading(engine(), r.principal) as conn:
        return D.lender_series(conn, r.principal, q, as_of=as_of)


@_cached
def platform_medians(r: Reader, q: D.MetricsQuery) -> D.PlatformMedians:
    """Every rate's platform medians in one read: the headline, the rate chart and each switch of
    its Rate take theirs from it."""
    with reading(engine(), r.principal) as conn:
        return D.platform_medians(conn, r.principal, q)


def platform_median(r: Reader, q: D.MetricsQuery, metric: str) -> D.Benchmark:
    return platform_medians(r, q).per_period[metric]


@_cached
def family_matrix(r: Reader, q: D.MetricsQuery) -> dict[tuple[int, str], D.Counts]:
    with reading(engine(), r.principal) as conn:
        return D.family_matrix(conn, r.principal, q)


@_cached
def breakdown(r: Reader, q: D.MetricsQuery, dimension: str) -> list[tuple[str, D.Counts]]:
    with reading(engine(), r.principal) as conn:
        return D.breakdown(conn, r.principal, q, dimension)


@_cached
def breakdowns(r: Reader, q: D.MetricsQuery, dimensions: tuple[str, ...]) -> dict[str, list[tuple[str, D.Counts]]]:
    """Several breakdowns in one read (the Breakdowns tab's three)."""
    with reading(engine(), r.principal) as conn:
        return D.breakdowns(conn, r.principal, q, dimensions)


@_cached
def top_bouncing_domains(r: Reader, q: D.MetricsQuery, limit: int) -> list[D.DomainRow]:
    with reading(engine(), r.principal) as conn:
        return D.top_bouncing_domains(conn, r.principal, q, limit)


@_cached
def reason_classes(r: Reader, q: D.MetricsQuery) -> list[D.ReasonClassRow]:
    with reading(engine(), r.principal) as conn:
        return D.reason_classes(conn, r.principal, q)
