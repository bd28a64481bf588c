"""Each event worded by who said it: the receiving server, the email provider, the recipient, or our
own mail servers; never "the receiving server said" for what only the provider decided."""

import pytest

from commlog.event_wording import (
    OUR_SERVERS,
    PROVIDER,
    RECEIVING_SERVER,
    RECIPIENT,
    event_voice,
    match_note,
    send_failure_voice,
    status_reason_text,
)
from commlog.store import MATCHED_BY_ADDRESS_AND_TIME

GMAIL_DEAD = "550 5.1.1 The email account that you tried to reach does not exist."


def voice(event_type, provider="sendgrid", reason=None, raw_type=None, domain="gmail.com"):
    return event_voice(event_type, provider=provider, reason=reason, raw_type=raw_type, domain=domain)


@pytest.mark.parametrize(
    ("event_type", "reason", "lead"),
    [
        ("BOUNCE", GMAIL_DEAD, "The receiving server (gmail.com) answered:"),
        ("BLOCKED", "554 5.7.1 Message rejected as spam", "The receiving server (gmail.com) answered:"),
        ("DEFERRED", "421 4.7.0 Try again later", "The receiving server (gmail.com) answered:"),
        ("DELIVERED", "250 2.0.0 OK 1700000000", "The receiving server (gmail.com) accepted it, answering:"),
    ],
)
def test_smtp_replies_are_the_receiving_servers_words(event_type, reason, lead):
    v = voice(event_type, reason=reason)
    assert (v.speaker, v.lead, v.quote) == (RECEIVING_SERVER, lead, reason)


def test_without_a_domain_the_receiving_server_is_not_named():
    assert voice("BOUNCE", reason=GMAIL_DEAD, domain=None).lead == "The receiving server answered:"


def test_a_providers_summary_of_a_bounce_is_the_providers_words():
    v = voice("BOUNCE", "postmark", "The server was unable to deliver your message (ex: unknown user).", "HardBounce")
    assert (v.speaker, v.lead) == (PROVIDER, "Postmark reported:")


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("Bounced Address", "the address is on its bounce list, after an earlier email to it bounced (Bounced Address)"),
        ("Unsubscribed Address", "the recipient unsubscribed, so the address is on its unsubscribe list"),
        ("Spam Reporting Address", "the recipient reported an earlier email as spam"),
        ("Invalid", "the address is on its invalid address list (Invalid)"),
        (None, "the address is on its suppression list"),
    ],
)
def test_a_sendgrid_drop_is_sendgrids_decision(reason, why):
    v = voice("DROPPED", reason=reason, raw_type="dropped")
    assert v.speaker == PROVIDER
    assert v.lead.startswith("SendGrid did not send it: ") and why in v.lead
    assert "receiving server" not in v.sentence().lower()


@pytest.mark.parametrize(
    ("raw_type", "why"),
    [
        ("Inactive", "the address is marked inactive on its suppression list"),
        ("Status Blocked", "the address is marked inactive on its suppression list"),
        ("BadEmailAddress", "the address is not a valid email address"),
        ("ManuallyDeactivated", "the address was deactivated by hand"),
    ],
)
def test_a_postmark_drop_is_postmarks_decision(raw_type, why):
    v = voice("DROPPED", "postmark", None, raw_type)
    assert v.speaker == PROVIDER
    assert v.lead.startswith(f"Postmark did not send it: {why}") and v.lead.endswith(f"({raw_type})")


def test_a_provider_failure_is_the_providers():
    v = voice("FAILED", reason="Template rendering failed: missing variable")
    assert (v.speaker, v.sentence()) == (PROVIDER, "SendGrid could not send it: Template rendering failed: missing variable.")
    assert voice("FAILED").sentence() == "SendGrid could not send it (a failure at the provider)."


def test_complaints_and_unsubscribes_are_the_recipients():
    assert voice("COMPLAINT", "postmark").speaker == RECIPIENT
    assert voice("COMPLAINT", "postmark").sentence() == (
        "The recipient reported it as spam, and their mailbox provider told Postmark.")
    assert voice("UNSUBSCRIBE").sentence() == "The recipient unsubscribed, through SendGrid."


@pytest.mark.parametrize("event_type", ["PROCESSED", "OPEN", "CLICK", "DELIVERED", "BOUNCE", "DEFERRED"])
def test_events_that_carry_no_words_get_no_line(event_type):
    assert voice(event_type) is None


def test_a_note_on_a_neutral_event_is_the_providers():
    assert voice("PROCESSED", reason="queued for delivery").lead == "SendGrid reported:"


def test_our_own_send_failure_is_our_mail_servers():
    v = send_failure_voice("TLS handshake with provider API failed")
    assert v.speaker == OUR_SERVERS
    assert v.sentence() == ("Our mail servers could not send it, so it never reached the email provider: "
                            "TLS handshake with provider API failed.")
    assert send_failure_voice(None).quote is None


def test_the_status_reason_is_said_by_the_deciding_events_source():
    dropped = {"status_reason": "Bounced Address", "last_event_type": "DROPPED", "provider": "sendgrid",
               "recipient_domain": "gmail.com"}
    assert status_reason_text(dropped).startswith("SendGrid did not send it: the address is on its bounce list")
    bounced = {**dropped, "status_reason": GMAIL_DEAD, "last_event_type": "BOUNCE"}
    assert status_reason_text(bounced) == f"The receiving server (gmail.com) answered: {GMAIL_DEAD}"
    expired = {**dropped, "status_reason": "expired: not delivered within 72 h of retries", "last_event_type": "DEFERRED"}
    assert status_reason_text(expired) == expired["status_reason"]


def test_an_event_matched_by_address_and_time_says_so_and_one_the_provider_named_says_nothing():
    assert match_note(MATCHED_BY_ADDRESS_AND_TIME) == (
        "Matched to this email by address and time: the provider sent no message id, and this is the newest "
        "email to the address sent before the event.")
    assert match_note(None) is None
