"""The provider interface: what every adapter (SendGrid Logs/Activity, Postmark, the sandbox) offers.

An adapter answers for one stored message (`fetch_events`), says whether an address is on the
provider's suppression list right now (`suppression`: the first list that holds it, for checks),
reports every suppression list that holds it (`suppressions`: for the "Why didn't they get it?"
panel), takes an address off one list when the provider lets commlog (`can_remove`,
`remove_suppression`: a `RemovalAnswer`), and lists recent messages for `sync` (`list_messages` +
`fetch_remote`). Failures are `commlog.providers.errors.ProviderError`s whose text is safe to show.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from commlog.providers import errors
from commlog.providers.normalize import ParsedEvent


@dataclass(frozen=True)
class StoredMessage:
    """What a provider needs of a stored message."""

    id: int
    lender_id: int
    provider: str
    provider_message_id: str | None
    recipient_email: str
    sent_at: datetime


@dataclass
class FetchResult:
    """The provider's events for one message (normalized), plus its own summary status (a fallback,
    shown but never used by the status rule), and any notes about the call (e.g. a retried 429)."""

    events: list[ParsedEvent]
    provider_status: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Suppression:
    """Is the address on the provider's suppression list right now? (read-only lookup)"""

    suppressed: bool
    list_name: str | None = None  # e.g. "bounces", "invalid_emails", "spam_reports", "HardBounce"
    since: datetime | None = None
    reason: str | None = None
    error: str | None = None  # the lookup itself failed (user-safe); suppressed is then False

    def describe(self) -> str:
        if self.error:
            return f"Could not check the suppression list: {self.error}"
        if not self.suppressed:
            return "The address is not on the provider's suppression list: future emails to it will be sent."
        since = f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else ""
        return (
            f"The address is on the provider's {self.list_name or 'suppression'} list{since}: "
            "future emails to it will not be sent until it is corrected or removed from the list."
        )


@dataclass(frozen=True)
class SuppressionEntry:
    """One provider suppression list that holds the address."""

    #: SendGrid: bounces | blocks | invalid_emails | spam_reports | unsubscribes;
    #: Postmark: the SuppressionReason (HardBounce | SpamComplaint | ManualSuppression)
    list_key: str
    #: for people: "bounces", "blocks", "invalid emails", "spam reports", "global unsubscribes",
    #: "hard bounce (outbound stream)" ...
    label: str
    since: datetime | None  # when it was added (UTC aware); None when the provider does not say
    reason: str | None  # the provider's reason text (often the receiving server's SMTP reply)
    #: False for SendGrid blocks: SendGrid does not suppress future messages to blocked addresses
    stops_sending: bool
    #: spam report, unsubscribe, Postmark SpamComplaint (or a ManualSuppression whose Origin is
    #: Recipient): the recipient asked for it, so commlog never offers to remove it
    recipient_asked: bool


@dataclass(frozen=True)
class SuppressionReport:
    """Every suppression list of one provider account that holds an address, as asked just now.

    `lists_asked` holds the list keys the provider answered for, in the order asked: when a lookup
    fails (`error`), the lists after it were not asked and are not in it, so "not on" is only ever
    said of lists that answered. Entries found before the failure are kept."""

    provider: str  # provider label, e.g. "SendGrid"
    address: str
    lists_asked: tuple[str, ...]
    entries: tuple[SuppressionEntry, ...]
    error: str | None = None  # user-safe text when a lookup failed

    @property
    def suppressed(self) -> bool:
        """On any list that stops sending (a SendGrid block alone does not)."""
        return any(e.stops_sending for e in self.entries)

    @property
    def not_on(self) -> tuple[str, ...]:
        """The list keys that answered and do not hold the address."""
        held = {e.list_key for e in self.entries}
        return tuple(k for k in self.lists_asked if k not in held)


@dataclass(frozen=True)
class RemovalAnswer:
    """What the provider said to a removal."""

    #: the address is off that list now: removed by this call, or it was not on it
    removed: bool
    #: it was not on the list (SendGrid 404; Postmark: nothing to delete)
    already_gone: bool = False
    #: user-safe sentence, e.g. "SendGrid removed it from the bounces list." or
    #: "Postmark did not remove it: <Postmark's Message>"
    words: str = ""


@dataclass(frozen=True)
class RemoteMessage:
    """One message as a provider's search lists it (for sync)."""

    provider_message_id: str
    recipient_email: str | None
    created_at: datetime | None = None
    status: str | None = None


class Provider(ABC):
    name: str  # stored in delivery_event.provider: "sendgrid" | "postmark"
    label: str  # for people
    retention: timedelta  # how far back the provider keeps events

    @abstractmethod
    def fetch_events(self, message: StoredMessage) -> FetchResult:
        """All events the provider knows for this message-recipient. Raises ProviderError
        (NotFound when the provider has no record of it)."""

    def suppression(self, email: str, hint: str | None = None) -> Suppression | None:
        """Suppression list status of an address; None when this provider cannot tell."""
        return None

    def suppressions(self, email: str) -> SuppressionReport | None:
        """Every suppression list of this provider account that holds `email` now, with since when
        and why; None when this provider cannot tell. Lookup failures are reported in the
        report's `error`, never raised."""
        return None

    def can_remove(self, list_key: str) -> bool:
        """Whether commlog may ask this provider to take an address off the list `list_key` (a
        `SuppressionEntry.list_key`). Never for lists the recipient asked for."""
        return False

    def remove_suppression(self, email: str, list_key: str) -> RemovalAnswer:
        """Ask the provider to take `email` off the list `list_key`. Raises NotRemovable (before any
        request) when `can_remove(list_key)` is False, else a ProviderError when the provider gave no
        answer; a provider that answered "not removed" is a RemovalAnswer(removed=False)."""
        raise errors.not_removable(self.name, list_key, recipient_asked=False)

    def list_messages(self, since: datetime, until: datetime) -> Iterator[RemoteMessage]:
        raise NotImplementedError(f"{self.label} cannot list messages")

    def fetch_remote(self, remote: RemoteMessage) -> FetchResult:
        """Events of a listed message (for sync)."""
        raise NotImplementedError(f"{self.label} cannot fetch listed messages")

    def requests_per_check(self) -> int:
        return 1

    def rate_wait(self) -> float:
        """Seconds until the provider's rate limit lets this account's next request go (0: now)."""
        return 0.0
