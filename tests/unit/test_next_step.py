"""The troubleshooter's next step, rule by rule, with the words a lender admin reads."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from commlog.deliverability import Counts, PlatformEpisode
from commlog.providers.base import SuppressionEntry, SuppressionReport
from commlog.troubleshoot.address import check_address
from commlog.troubleshoot.next_step import RULES, Focus, Situation, next_step

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
ADDRESS = "maya.lindqvist@gmail.com"
DEAD_REPLY = ("550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the "
              "recipient's email address for typos")
FULL_REPLY = "552 5.2.2 Mailbox full: the recipient's mailbox has exceeded its storage limit"


def focus(**kw) -> Focus:
    base = dict(sent_at=NOW - timedelta(days=1), send_status="sent", send_error=None, delivery_status="DELIVERED",
                last_event_type="DELIVERED", reason="250 2.0.0 OK", first_deferral_at=None, deferrals=0,
                complained=False, provider_family="google")
    return Focus(**{**base, **kw})


def entry(list_key="bounces", *, stops=True, asked=False, reason=None, since=NOW - timedelta(days=10)) -> SuppressionEntry:
    return SuppressionEntry(list_key, list_key.replace("_", " "), since, reason, stops, asked)


def report(*entries: SuppressionEntry) -> SuppressionReport:
    return SuppressionReport("SendGrid", ADDRESS, ("bounces", "blocks", "invalid_emails", "spam_reports", "unsubscribes"),
                             tuple(entries))


def situation(address=ADDRESS, **kw) -> Situation:
    base = dict(address=address, address_check=check_address(address), focus=focus(), suppression=report(),
                platform_episode=None, previous_bounce=None, now=NOW, tz=BERLIN)
    return Situation(**{**base, **kw})


def episode(ongoing: bool) -> PlatformEpisode:
    return PlatformEpisode("microsoft", date(2026, 11, 17), date(2026, 11, 20) if not ongoing else date(2026, 11, 30),
                           ongoing, Counts(delivered=940, blocked=60))


def test_no_email_to_the_address():
    step = next_step(situation(focus=None))
    assert step.kind == "no_email"
    assert step.title == "We have not emailed this address"
    assert "No email to this address is in your Communication Log" in step.detail
    assert "request the email again" in step.detail


def test_no_email_to_a_mistyped_address_says_so():
    step = next_step(situation("owen.hargrove@gmial.com", focus=None))
    assert step.kind == "no_email"
    assert "Did you mean owen.hargrove@gmail.com?" in step.detail


def test_a_typo_domain_is_corrected_even_before_any_bounce():
    step = next_step(situation("owen.hargrove@gmial.com", focus=focus(delivery_status=None, last_event_type=None)))
    assert (step.kind, step.title) == ("correct_address", "Correct the address")
    assert step.detail.startswith("gmial.com looks like a typo of gmail.com. Did you mean owen.hargrove@gmail.com?")


def test_a_placeholder_address_is_corrected():
    step = next_step(situation("jane@example.com"))
    assert step.kind == "correct_address"
    assert "example.com is a placeholder domain" in step.detail


def test_a_bounce_to_a_nonexistent_mailbox_means_correct_the_address():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="BOUNCE", reason=DEAD_REPLY)
    step = next_step(situation(focus=f, suppression=report(entry(reason=DEAD_REPLY))))
    assert step.kind == "correct_address"
    assert "said this address does not exist" in step.detail and "5.1.1" in step.detail
    assert "suppressed and will never receive email" in step.detail


def test_a_drop_after_a_nonexistent_bounce_means_correct_the_address_too():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="DROPPED", reason="Bounced Address")
    step = next_step(situation(focus=f, suppression=None, previous_bounce="554 5.1.1 delivery error: dd This user doesn't have a yahoo.com account"))
    assert step.kind == "correct_address"


def test_a_failed_send_is_sent_again():
    f = focus(send_status="failed", send_error="SMTP relay timed out", delivery_status=None, last_event_type=None)
    step = next_step(situation(focus=f))
    assert (step.kind, step.title) == ("resend", "Send it again")
    assert "Our mail servers could not send this email (SMTP relay timed out)" in step.detail


@pytest.mark.parametrize("how", ["spam_report_list", "complaint_event", "drop_reason"])
def test_the_recipient_asked_not_to_receive_email(how):
    f = focus()
    sup = report()
    if how == "spam_report_list":
        sup = report(entry("spam_reports", asked=True))
    elif how == "complaint_event":
        f = focus(complained=True)
    else:
        f = focus(delivery_status="NOT_DELIVERED", last_event_type="DROPPED", reason="Spam Reporting Address")
    step = next_step(situation(focus=f, suppression=sup))
    assert (step.kind, step.title) == ("recipient_asked", "The recipient asked not to get our email")
    assert "commlog never removes it for them" in step.detail
    if how == "spam_report_list":
        assert "it is on the provider's spam reports list" in step.detail


@pytest.mark.parametrize("ongoing", [True, False])
def test_a_block_during_a_platform_wide_episode_is_for_ops(ongoing):
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="BLOCKED", provider_family="microsoft",
              reason="550 5.7.1 ... part of their network is on our block list (S3150)")
    step = next_step(situation("ethan.brooks@hotmail.com", focus=f, platform_episode=episode(ongoing)))
    assert step.kind == "platform_block"
    assert step.title == ("Nothing for you to do: platform ops are on it" if ongoing
                          else "A block against the whole platform, now over: send it again")
    assert "Microsoft" in step.detail and "not this address or your lender" in step.detail
    assert ("It is over: ask the borrower to request the email again." in step.detail) is (not ongoing)
    assert ("is blocking 6.0 % of mail from this platform since 17 Nov" in step.detail) is ongoing


def test_suppressed_after_a_full_mailbox_asks_for_removal():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="DROPPED", reason="Bounced Address")
    step = next_step(situation("hannah.okafor@comcast.net", focus=f, suppression=report(entry(reason=FULL_REPLY)),
                               previous_bounce=FULL_REPLY))
    assert (step.kind, step.title) == ("request_removal", "Ask for the address to be taken off the suppression list")
    assert "on the provider's bounces list since 2026-11-20 13:00 (Europe/Berlin)" in step.detail
    assert "5.2.2 Mailbox full" in step.detail and "ask platform ops to remove the address" in step.detail


def test_a_blocks_list_entry_alone_is_no_reason_to_ask_for_removal():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="BLOCKED", reason="550 5.7.1 Message rejected as spam")
    step = next_step(situation(focus=f, suppression=report(entry("blocks", stops=False))))
    assert step.kind == "blocked"


def test_never_asking_to_unsuppress_a_nonexistent_mailbox():
    f = focus(delivery_status=None, last_event_type=None)
    step = next_step(situation(focus=f, suppression=report(entry(reason=DEAD_REPLY))))
    assert step.kind == "correct_address"


def test_an_unchecked_email_is_checked_first():
    step = next_step(situation(focus=focus(delivery_status=None, last_event_type=None)))
    assert (step.kind, step.title) == ("check_first", "Check delivery status first")
    assert "Use Check delivery status" in step.detail


def test_a_deferred_email_inside_the_retry_window_is_waited_for():
    first = NOW - timedelta(hours=2)
    f = focus(delivery_status="PENDING", last_event_type="DEFERRED", first_deferral_at=first, deferrals=4,
              reason="451 4.7.650 The mail server has been temporarily rate limited due to IP reputation")
    step = next_step(situation(focus=f))
    assert (step.kind, step.title) == ("wait_and_recheck", "Wait, then check again")
    assert "delayed this email 4 times" in step.detail
    assert "keeps retrying until 2026-12-03 11:00 (Europe/Berlin)" in step.detail  # first deferral + 72 h
    assert "check again after 2026-11-30 14:00 (Europe/Berlin)" in step.detail  # in an hour
    assert "4.7.650" in step.detail


def test_a_pending_email_without_deferrals_is_a_few_minutes_wait():
    step = next_step(situation(focus=focus(delivery_status="PENDING", last_event_type="PROCESSED")))
    assert (step.kind, step.title) == ("wait_and_recheck", "Wait a few minutes, then check again")


def test_delivered_means_look_in_spam():
    step = next_step(situation())
    assert (step.kind, step.title) == ("check_spam", "Ask them to look in their spam folder")
    assert "add our sender address to their contacts" in step.detail


def test_a_block_that_is_not_platform_wide():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="BLOCKED", reason="550 5.7.1 Message rejected as spam")
    step = next_step(situation(focus=f))
    assert step.kind == "blocked"
    assert "(550 5.7.1 Message rejected as spam)" in step.detail and "not suppressed" in step.detail


def test_expired_after_the_retry_window():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="DEFERRED", first_deferral_at=NOW - timedelta(days=4),
              reason="expired: not delivered within 72 h of retries")
    step = next_step(situation(focus=f))
    assert step.kind == "expired"
    assert "kept delaying this email for 72 hours" in step.detail


def test_a_provider_failure_goes_to_ops():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="FAILED", reason="template rendering failed")
    step = next_step(situation(focus=f))
    assert (step.kind, step.title) == ("ask_ops", "Ask platform ops")


def test_the_rules_run_in_the_documented_order():
    doc = next_step.__module__
    import importlib

    text = importlib.import_module(doc).__doc__
    kinds_in_doc = [line.split()[1] for line in text.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    fired = []
    for rule in RULES:
        fired.append(rule.__name__.lstrip("_"))
    assert kinds_in_doc == fired


def test_a_check_that_failed_to_reach_the_provider_still_gives_a_step():
    step = next_step(situation(suppression=replace(report(), error="SendGrid is not answering")))
    assert step.kind == "check_spam"


def test_a_drop_is_worded_as_the_providers_decision_not_a_servers_reply():
    f = focus(delivery_status="NOT_DELIVERED", last_event_type="DROPPED", reason="Bounced Address", provider="sendgrid",
              recipient_domain="gmail.com")
    step = next_step(situation(focus=f, suppression=None))
    assert step.kind == "ask_ops"
    assert step.detail.startswith("SendGrid did not send it: the address is on its bounce list")
    assert "(Bounced Address)" in step.detail and "The receiving server was never asked" in step.detail
    assert "server said" not in step.detail and "could not deliver" not in step.detail


def test_a_deferral_names_the_receiving_server_that_answered():
    f = focus(delivery_status="PENDING", last_event_type="DEFERRED", first_deferral_at=NOW - timedelta(hours=2),
              deferrals=1, reason="421 4.7.0 Try again later", provider="sendgrid", recipient_domain="gmail.com")
    step = next_step(situation(focus=f))
    assert "The receiving server (gmail.com) answered: 421 4.7.0 Try again later." in step.detail
