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


class NotEntitled(ProviderError):
    """401/403: the key lacks the scope or the paid add-on."""

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


def provider_label(provider: str | None) -> str:
    return {"sendgrid": "SendGrid", "postmark": "Postmark", "sandbox": "The sandbox email provider"}.get(
        provider or "", "The email provider"
    )


def seconds_text(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))} s"


def not_entitled(provider: str, status: int, feature: str) -> NotEntitled:
    who = provider_label(provider)
    return NotEntitled(
        f"{who} refused the request (HTTP {status}): the API key is not entitled to {feature}. "
        "It lacks the scope or the paid add-on; ask whoever manages the account to grant it.",
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
