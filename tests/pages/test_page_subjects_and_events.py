"""What a lender admin reads (issue 12, points 3 and 7): subjects a mailer stored MIME-encoded read
as words in the log, its search and the email; each event says who said it, so a DROPPED email
reads as the provider's decision, never as a reply of the receiving server."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import factories as f
from tests.support.app import app, build_two_lenders, dialogs, page_text, tick

ENCODED = "=?UTF-8?Q?Payment_reminder=3A_your_instalment_is_due?="
DECODED = "Payment reminder: your instalment is due"


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    w = build_two_lenders(sqlite_engine)
    now = datetime.now(UTC).replace(microsecond=0)
    with sqlite_engine.begin() as c:
        w["ids"]["encoded"] = f.message(c, w["a"], "ana.souza@gmail.com", recipient_account_id=w["ana"],
                                        email_type="payment_reminder", subject=ENCODED, sent_at=now - timedelta(minutes=30))
        w["ids"]["dropped"] = f.message(c, w["a"], "bob.ng@outlook.com", recipient_account_id=w["bob"],
                                        subject="Confirm your new account with Alpha Lending",
                                        sent_at=now - timedelta(minutes=20))
        f.events(c, w["ids"]["dropped"], w["a"], ("PROCESSED", f.minutes(now - timedelta(minutes=20)), None),
                 ("DROPPED", f.minutes(now - timedelta(minutes=19)), "Bounced Address"), now=now)
    return w


def readable(at) -> str:
    """The page's text as a person reads it (Markdown's escapes of stored text removed)."""
    return page_text(at).replace("\\", "")


def test_the_log_grid_shows_a_mime_encoded_subject_decoded(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    subjects = list(at.dataframe[0].value["Subject"])
    assert DECODED in subjects
    assert not [s for s in subjects if "=?" in s]


def test_the_logs_search_finds_the_subject_by_its_words(world):
    at = app(user_id=world["users"]["admin_a"], params={"q": "your instalment"}).run()
    assert list(at.dataframe[0].value["Subject"]) == [DECODED]


def test_the_email_shows_the_decoded_subject_and_the_stored_one_in_small(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.switch_page("pages/message.py")
    at.query_params["id"] = str(world["ids"]["encoded"])
    at.run()
    assert at.subheader[0].value.replace("\\", "") == DECODED
    assert any(ENCODED in c.value for c in at.caption)


def test_a_dropped_email_reads_as_the_providers_decision_on_its_page(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.switch_page("pages/message.py")
    at.query_params["id"] = str(world["ids"]["dropped"])
    at.run()
    assert not at.exception
    text = readable(at)
    assert "SendGrid did not send it: the address is on its bounce list, after an earlier email to it bounced" in text
    assert "(Bounced Address)" in text
    assert "Receiving server said" not in text and "receiving server (outlook.com) answered" not in text


def test_a_bounce_in_the_dialog_reads_as_the_receiving_servers_answer(world):
    at = app(user_id=world["users"]["admin_a"], params={"event": "BOUNCE"}).run()
    tick(at, [0])
    assert dialogs(at) == ["Email"]
    text = readable(at)
    assert "The receiving server (outlook.com) answered:" in text
    assert "550 5.1.1 <bob.ng@outlook.com>: Recipient address rejected" in text
    # Its words quoted as a block quote, shown as themselves: the address as code, never a link.
    quotes = [md.value for md in at.markdown if md.value.startswith("> ")]
    assert quotes == ["> 550 5\\.1\\.1 \\<`bob.ng@outlook.com`\\>\\: Recipient address rejected\\: Access denied"], quotes
