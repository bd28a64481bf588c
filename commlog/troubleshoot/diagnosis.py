"""The answer to "Why didn't they get it?" for one address: the evidence read from the database,
the provider's suppression lists asked now, and the one next step.

    evidence = gather(conn, principal, subject, today)          # commlog.troubleshoot.evidence
    lists = ask_suppression_lists(engine, evidence)              # the provider, over HTTP
    step = next_step_for(evidence, lists, now, tz)               # commlog.troubleshoot.next_step
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from commlog.providers import errors as provider_errors
from commlog.providers import get_providers
from commlog.providers.base import SuppressionReport
from commlog.troubleshoot.evidence import Evidence, focus_of
from commlog.troubleshoot.next_step import NextStep, Situation, next_step


def ask_suppression_lists(engine: Engine, evidence: Evidence) -> SuppressionReport | None:
    """Every suppression list of the provider that sent the address's emails that holds it now;
    None when that provider cannot tell. A provider that refuses or fails gives a report whose
    `error` says so in plain words."""
    address = evidence.subject.address
    name = evidence.focus.message["provider"] if evidence.focus is not None else None
    try:
        provider = get_providers(engine).for_name(name)
    except provider_errors.ProviderError as exc:
        return SuppressionReport(provider_errors.provider_label(name), address, (), (), error=str(exc))
    return provider.suppressions(address)


def situation(evidence: Evidence, lists: SuppressionReport | None, now: datetime, tz: ZoneInfo) -> Situation:
    focus = evidence.focus
    episode = evidence.mailbox_health.episode
    covers = focus is not None and episode is not None and episode.covers(focus.message["sent_at"].date())
    return Situation(
        address=evidence.subject.address,
        address_check=evidence.address_check,
        focus=focus_of(focus),
        suppression=lists,
        platform_episode=episode if covers else None,
        previous_bounce=evidence.previous_bounce,
        now=now,
        tz=tz,
    )


def next_step_for(evidence: Evidence, lists: SuppressionReport | None, now: datetime, tz: ZoneInfo) -> NextStep:
    return next_step(situation(evidence, lists, now, tz))
