"""The provider interface: what every adapter (SendGrid Logs/Activity, Postmark, the sandbox) offers.

An adapter answers for one stored message (`fetch_events`), says whether an address is on the
provider's suppression list right now (`suppression`), and lists recent messages for `sync`
(`list_messages` + `fetch_remote`). Failures are `commlog.providers.errors.ProviderError`s whose
text is safe to show.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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

    def list_messages(self, since: datetime, until: datetime) -> Iterator[RemoteMessage]:
        raise NotImplementedError(f"{self.label} cannot list messages")

    def fetch_remote(self, remote: RemoteMessage) -> FetchResult:
        """Events of a listed message (for sync)."""
        raise NotImplementedError(f"{self.label} cannot fetch listed messages")

    def requests_per_check(self) -> int:
        return 1
