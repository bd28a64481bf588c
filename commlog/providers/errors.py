"""Typed, user-safe provider errors.

Every message here may be shown on a page or printed by the CLI as is: it never contains an API
key, a request header, a response body or a traceback. Build them with the helpers below, never
from an exception's text.
"""

from __future__ import annotations

import math


class ProviderError(Exception):
    """A provider call that did not give an answer. `str(error)` is the user-facing sentence."""

    kind = "error"
    #: the provider refuses this account as a whole (bad key, missing scope/add-on) or is down: a bulk run or
    #: the CLI stops instead of repeating the same refusal for every message.
    stops_bulk = False

    def __init__(self, message: str, *, provider: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retry_after = retry_after

    def __str__(self) -> str:  # never anything but the safe sentence
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class NotConfigured(ProviderError):
    kind = "not_configured"
    stops_bulk = True


class KeyNotAccepted(ProviderError):
    """401: the provider did not accept the key itself (wrong, revoked or deleted)."""

    kind = "key_not_accepted"
    stops_bulk = True


class NotEntitled(ProviderError):
    """403 (and SendGrid Activity's 400 "authorization required"): a valid key that lacks the scope
    or the account's paid add-on."""

    kind = "not_entitled"
    stops_bulk = True


class NotFound(ProviderError):
    """404 (SendGrid) / ErrorCode 701 (Postmark): the provider has no record of the message."""

    kind = "not_found"


class RateLimited(ProviderError):
    kind = "rate_limited"


class Unavailable(ProviderError):
    """5xx, timeouts, dropped connections: the provider could not answer now."""

    kind = "unavailable"
    stops_bulk = True


class BadResponse(ProviderError):
    """The provider answered something we cannot read (malformed JSON, unexpected shape)."""

    kind = "bad_response"


class BadRequest(ProviderError):
    """400/422 other than not-found: the provider rejected the query itself."""

    kind = "bad_request"


class NotRemovable(ProviderError):
    """commlog will not ask the provider to take an address off this list: the recipient asked for it
    (spam report, unsubscribe, spam complaint), or commlog does not know the list. Raised before any
    request is sent."""

    kind = "not_removable"


def provider_label(provider: str | None) -> str:
    return {"sendgrid": "SendGrid", "postmark": "Postmark", "sandbox": "The sandbox email provider"}.get(
        provider or "", "The email provider"
    )


def provider_in_sentence(provider: str | None) -> str:
    """The provider's name inside a sentence: "SendGrid", "the sandbox email provider"."""
    label = provider_label(provider)
    return label[0].lower() + label[1:] if label.startswith("The ") else label


def seconds_text(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))} s"


def key_not_accepted(provider: str, status: int, setting_name: str, *, note: str = "") -> KeyNotAccepted:
    """HTTP 401: the key itself was refused. `setting_name` is where commlog reads it (never its value)."""
    who = provider_label(provider)
    what = "server token" if provider == "postmark" else "API key"
    return KeyNotAccepted(
        f"{who} did not accept the {what} (HTTP {status}): it is wrong, revoked or deleted. "
        f"Set {setting_name} to a valid {what}.{(' ' + note) if note else ''}",
        provider=provider,
    )


def not_entitled(provider: str, status: int, feature: str, fix: str) -> NotEntitled:
    """HTTP 403: the key was accepted but may not use `feature`; `fix` says what to change, and where."""
    who = provider_label(provider)
    return NotEntitled(
        f"{who} refused the request (HTTP {status}): the API key is not entitled to {feature}. "
        f"It lacks the scope or the paid add-on: {fix}",
        provider=provider,
    )


def not_configured(provider: str, setting_name: str) -> NotConfigured:
    return NotConfigured(
        f"{provider_label(provider)} is selected but {setting_name} is not set, so delivery status cannot be checked.",
        provider=provider,
    )


def rate_limited(provider: str, retry_after: float) -> RateLimited:
    return RateLimited(
        f"{provider_label(provider)} rate limited the request, try again in {seconds_text(retry_after)}.",
        provider=provider,
        retry_after=float(max(1, math.ceil(retry_after))),
    )


def unavailable(provider: str, what: str) -> Unavailable:
    return Unavailable(
        f"{provider_label(provider)} could not answer ({what}). The last known status is still shown; try again later.",
        provider=provider,
    )


def bad_response(provider: str, what: str = "malformed JSON") -> BadResponse:
    return BadResponse(
        f"{provider_label(provider)} sent an answer commlog cannot read ({what}). "
        "The last known status is still shown; try again later.",
        provider=provider,
    )


def bad_request(provider: str, status: int) -> BadRequest:
    return BadRequest(
        f"{provider_label(provider)} rejected the query (HTTP {status}). This is a commlog problem, please report it.",
        provider=provider,
    )


def not_removable(provider: str | None, list_label: str, *, recipient_asked: bool = True) -> NotRemovable:
    """Removal refused before asking the provider. `list_label` is the list as people read it
    ("spam reports", "global unsubscribes", "spam complaint (outbound stream)"); `recipient_asked`
    False: a list commlog does not know (or a provider that cannot remove at all)."""
    label = " ".join(str(list_label).split())[:80] or "this"
    if recipient_asked:
        return NotRemovable(
            f"{label[0].upper() + label[1:]} cannot be removed: the recipient asked not to receive email.",
            provider=provider,
        )
    return NotRemovable(
        f"commlog does not know {provider_in_sentence(provider)}'s “{label}” list, so it cannot "
        "remove an address from it.",
        provider=provider,
    )
