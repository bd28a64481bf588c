"""Subjects as people read them: RFC 2047 encoded words decoded.

    decoded_subject(raw) -> str

A mailer may store a subject as it goes on the wire (`=?UTF-8?Q?Payment_reminder?=`). The stored
value stays exactly as received (`message.subject`); what the log shows, searches and exports is the
decoded text (`message.subject_text`, filled on insert by the model's default and by the demo
seeder, backfilled by migration 0005; NULL when the subject reads as stored, so every read goes
through `commlog.models.SUBJECT_TEXT`, i.e. coalesce(subject_text, subject)).

Never raises: a malformed encoded word (bad base64, bytes that are not in its charset, an unknown
charset) leaves the whole subject as received, rather than a guess with replacement characters.
"""

from __future__ import annotations

import re
from email.header import decode_header, make_header

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def decoded_subject(raw: str | None) -> str | None:
    """The subject with its RFC 2047 encoded words decoded (the raw text when there are none, or
    when any is malformed). Line breaks and other control characters a word encoded become spaces."""
    if not raw or not _ENCODED_WORD.search(raw):
        return raw
    try:
        text = str(make_header(decode_header(raw)))
    except Exception:  # noqa: BLE001 - anything a malformed word raises means "show it as received"
        return raw
    return " ".join(_CONTROL.sub(" ", text).split()) or raw


def stored_subject_text(raw: str | None) -> str | None:
    """What `message.subject_text` stores: the decoded subject when it differs from the raw one,
    else NULL (the log reads coalesce(subject_text, subject))."""
    text = decoded_subject(raw)
    return text if text != raw else None
