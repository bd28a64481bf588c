"""The Communication Log's choice filters, each defined once: its URL parameter, its label, the
values it takes (and how each reads), and the SQL condition it adds.

The log view (`commlog.log_view`) reads and writes them in the URL, the log's queries
(`commlog.log_queries`) add their conditions, and the log page draws one selectbox per filter
(`commlog.ui.log_controls`). A new filter is one entry in FILTERS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement

from commlog.domains import FAMILIES, FAMILY_LABELS
from commlog.models import Message
from commlog.vocabulary import (
    EVENT_BIT,
    NOT_CHECKED,
    NOT_CHECKED_LABEL,
    Audience,
    DeliveryStatus,
    EventType,
    SendStatus,
)

DELIVERY_CHOICES = (*[s.value for s in DeliveryStatus], NOT_CHECKED)
EMAIL_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ChoiceFilter:
    """One filter whose value is one of a list (or, for `values=None`, any value `pattern` allows:
    the email types a lender sends are read from its data)."""

    param: str  # URL parameter; also the key of the value in a LogView
    label: str
    condition: Callable[[str], ColumnElement[bool]]
    values: tuple[str, ...] | None = None
    pattern: re.Pattern | None = None  # for values=None
    normalize: Callable[[str], str] = str.lower
    reads_as: Callable[[str], str] = str  # how a value reads on the page
    help: str | None = None

    def parse(self, raw: str) -> str | None:
        """The value `raw` stands for, or None when it is not one this filter takes."""
        value = self.normalize(raw.strip())
        if self.values is not None:
            return value if value in self.values else None
        return value if self.pattern is not None and self.pattern.match(value) else None

    def allowed(self) -> str:
        """What the filter takes, for a notice about a value it does not."""
        return ", ".join(sorted(self.values)) if self.values is not None else "a known value"



def _readable(values: Mapping[str, str]) -> Callable[[str], str]:
    return lambda v: values.get(v, v)


def _not_checked() -> ColumnElement[bool]:
    """Sent, and no delivery information fetched yet: what a check can still answer. A failed send
    never left our servers, so there is nothing to ask the provider about it."""
    return Message.delivery_status.is_(None) & (Message.send_status == SendStatus.SENT.value)


FILTERS: tuple[ChoiceFilter, ...] = (
    ChoiceFilter("status", "Status", lambda v: Message.send_status == v,
                 values=tuple(s.value for s in SendStatus), help="Did our mail servers send it?"),
    ChoiceFilter("delivery", "Delivery status",
                 lambda v: _not_checked() if v == NOT_CHECKED else Message.delivery_status == v,
                 values=DELIVERY_CHOICES, normalize=str.upper, reads_as=_readable({NOT_CHECKED: NOT_CHECKED_LABEL}),
                 help="Did the receiving mail server take it? *Not checked yet*: sent, and not asked of the provider "
                 "yet (an email our servers failed to send has nothing to check: see Status *failed*)."),
    ChoiceFilter("event", "Event type", lambda v: Message.event_mask.op("&")(EVENT_BIT[EventType(v)]) != 0,
                 values=tuple(e.value for e in EventType), normalize=str.upper,
                 help="Messages that had at least one event of this type."),
    ChoiceFilter("type", "Email type", lambda v: Message.email_type == v, pattern=EMAIL_TYPE_RE,
                 reads_as=lambda v: v.replace("_", " ").capitalize()),
    ChoiceFilter("audience", "Audience", lambda v: Message.audience == v, values=tuple(a.value for a in Audience)),
    ChoiceFilter("family", "Mailbox provider", lambda v: Message.provider_family == v, values=FAMILIES,
                 reads_as=_readable(FAMILY_LABELS)),
    ChoiceFilter("provider", "Sending provider", lambda v: Message.provider == v, values=("sendgrid", "postmark"),
                 reads_as=_readable({"sendgrid": "SendGrid", "postmark": "Postmark"}),
                 help="The email provider that sent it for the portal."),
)
BY_PARAM: dict[str, ChoiceFilter] = {f.param: f for f in FILTERS}
