"""Why didn't they get it? One address, in plain words, with the evidence: the next step, the last
emails to it, the provider's suppression lists, the address checks and the mailbox provider's
health. /why?message=<id> (from an email) or /why?account=<id> (from a borrower)."""

from datetime import UTC, datetime

import streamlit as st

from commlog.troubleshoot.diagnosis import next_step_for
from commlog.ui.format import viewer_timezone
from commlog.ui.links import page_link
from commlog.ui.page import guarded
from commlog.ui.removal_request import render_removal_offer
from commlog.ui.resources import ensure_ready
from commlog.ui.troubleshooter import (
    read_evidence,
    render_address_checks,
    render_header,
    render_last_emails,
    render_mailbox_health,
    render_next_step,
    render_suppressions,
    subject_from_url,
    suppression_lists,
)

with guarded() as principal:
    engine = ensure_ready()
    tz = viewer_timezone()
    now = datetime.now(UTC)

    page_link("pages/log.py", "Back to the Communication Log", icon="⬅️")
    st.title("Why didn't they get it?")
    subject = subject_from_url(engine, principal)
    evidence = read_evidence(engine, principal, subject, now)
    lists = suppression_lists(engine, evidence)

    step = next_step_for(evidence, lists, now, tz)
    render_header(evidence, tz)
    render_next_step(engine, principal, step, evidence)
    render_last_emails(engine, principal, evidence, step, tz)
    left, right = st.columns(2)
    with left:
        render_suppressions(lists, tz)
        render_removal_offer(engine, principal, lists, evidence, tz)
    with right:
        render_address_checks(evidence.address_check)
        render_mailbox_health(evidence.mailbox_health)
