"""Subjects stored RFC 2047 encoded read as words: the decoder never raises and never guesses."""

import pytest

from commlog.demo.subjects import mime_encoded
from commlog.mime_subject import decoded_subject, stored_subject_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("=?UTF-8?Q?Payment_reminder=3A_due_on_3_December?=", "Payment reminder: due on 3 December"),
        ("=?utf-8?q?Caf=C3=A9_cr=C3=A8me?=", "Café crème"),
        ("=?UTF-8?B?UGF5bWVudCByZW1pbmRlcg==?=", "Payment reminder"),
        ("=?UTF-8?B?8J+UkiBZb3VyIGNvZGU=?=", "🔒 Your code"),
        ("Re: =?ISO-8859-1?Q?caf=E9?= tomorrow", "Re: café tomorrow"),  # plain and encoded words mixed
        ("=?windows-1252?Q?=93Quoted=94_offer?=", "“Quoted” offer"),  # not UTF-8
        ("=?KOI8-R?B?8NLJ18XU?=", "Привет"),
        ("=?UTF-8?Q?Your_loan_?= =?UTF-8?Q?is_approved?=", "Your loan is approved"),  # adjacent words join
        ("=?UTF-8?Q?Line_one=0D=0ALine_two?=", "Line one Line two"),  # no line breaks in a subject line
    ],
)
def test_encoded_words_are_decoded(raw, shown):
    assert decoded_subject(raw) == shown
    assert stored_subject_text(raw) == shown


@pytest.mark.parametrize(
    "raw",
    [
        "=?UTF-8?B?!!!not-base64?=",  # bad base64
        "=?UTF-8?Q?bad_=FF_byte?=",  # not UTF-8 in a UTF-8 word
        "=?x-no-such-charset?Q?abc?=",  # unknown charset
        "=?UTF-8?Q?never_closed",  # not an encoded word at all
        "Plain subject = ?not encoded?",
        "=SUM(1+1)",
        "",
    ],
)
def test_malformed_or_plain_subjects_read_as_received(raw):
    assert decoded_subject(raw) == raw
    assert stored_subject_text(raw) is None  # NULL: the log reads the subject itself


def test_nothing_stored_stays_nothing():
    assert decoded_subject(None) is None
    assert stored_subject_text(None) is None


def test_the_demo_mailers_encoding_round_trips():
    subject = "Payment reminder: 50% of your = balance? due_soon"
    assert decoded_subject(mime_encoded(subject)) == subject
