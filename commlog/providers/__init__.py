"""Email providers: where "Check delivery status" gets its answers.

`COMMLOG_PROVIDER` selects the mode:
* `sandbox` (default): every message is answered by the in-process sandbox (SendGrid Email Logs
  JSON over the demo's ground truth), through the real SendGrid adapter.
* `sendgrid` / `postmark`: real APIs. Each message goes to the adapter of its own `provider` column
  (a deployment may hold both); the setting names the adapter for messages of any other provider.
  Keys: `SENDGRID_API_KEY`, `POSTMARK_SERVER_TOKEN`; base URLs `COMMLOG_SENDGRID_BASE_URL`,
  `COMMLOG_POSTMARK_BASE_URL`; SendGrid API family `COMMLOG_SENDGRID_API=logs|activity`.
  All readable from `.streamlit/secrets.toml` too, typed and checked in `commlog.settings`.

`get_providers(engine)` returns a `ProviderSet`; `ProviderSet.for_message(stored_message)` the
adapter to ask. Modules: `base` (interface), `errors` (user-safe typed errors), `http` (shared
client, retries), `rate_limit` (one adaptive rate budget per provider account), `normalize` (THE
event-name mapping and parsers), `sendgrid`, `postmark`, `sandbox`.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Engine

from commlog.providers import errors
from commlog.providers.base import (
    FetchResult,
    Provider,
    RemoteMessage,
    RemovalAnswer,
    StoredMessage,
    Suppression,
    SuppressionEntry,
    SuppressionReport,
)
from commlog.providers.http import ProviderHttp, RetryPolicy
from commlog.providers.normalize import ParsedEvent, parse_sendgrid_webhook_event
from commlog.settings import SettingsError, settings

__all__ = [
    "FetchResult",
    "ParsedEvent",
    "Provider",
    "ProviderSet",
    "RemoteMessage",
    "RemovalAnswer",
    "StoredMessage",
    "Suppression",
    "SuppressionEntry",
    "SuppressionReport",
    "errors",
    "get_providers",
    "mode",
    "parse_sendgrid_webhook_event",
]


def mode() -> str:
    """COMMLOG_PROVIDER. Settings that cannot be used make every check "not configured", with
    the settings' own sentence (which names the setting, and never a secret's value)."""
    try:
        return settings().provider
    except SettingsError as exc:
        raise errors.NotConfigured(str(exc), provider=None) from None


class ProviderSet:
    """The adapters of one mode; picks the adapter for each message."""

    def __init__(self, mode_name: str, adapters: dict[str, Provider], default: str) -> None:
        self.mode = mode_name
        self.adapters = adapters
        self.default = default

    def __repr__(self) -> str:
        return f"ProviderSet(mode={self.mode!r}, adapters={sorted(self.adapters)})"

    def for_message(self, message: StoredMessage) -> Provider:
        if self.mode == "sandbox":
            return self.adapters["sandbox"]
        return self.adapters.get(message.provider) or self.adapters[self.default]

    def for_name(self, name: str | None = None) -> Provider:
        if self.mode == "sandbox":
            return self.adapters["sandbox"]
        return self.adapters.get(name or self.default) or self.adapters[self.default]

    def rate_wait(self) -> tuple[str, float] | None:
        """The provider whose rate limit holds requests back longest now, and for how many
        seconds; None when none does."""
        label, seconds = max(((a.label, a.rate_wait()) for a in self.adapters.values()), key=lambda x: x[1],
                             default=("", 0.0))
        return (label, seconds) if seconds > 0 else None

    @classmethod
    def single(cls, provider: Provider) -> ProviderSet:
        """Every message to this one adapter (tests, benches)."""
        key = "sandbox" if provider.name == "sandbox" else provider.name
        return cls("sandbox" if key == "sandbox" else key, {key: provider}, key)


_sandbox_cache: dict[int, Provider] = {}
_cache_lock = threading.Lock()


def get_providers(
    engine: Engine | None = None,
    *,
    now: datetime | None = None,
    http: ProviderHttp | None = None,
    policy: RetryPolicy | None = None,
) -> ProviderSet:
    """The adapters for the configured mode. `engine` is needed by the sandbox (it reads the demo
    truth); `now` pins the sandbox's clock (tests); `policy` changes retry/wait bounds (the CLI
    waits longer than a page)."""
    m = mode()
    if m == "sandbox":
        from commlog.providers.sandbox import SandboxProvider

        if engine is None:
            raise errors.NotConfigured("The sandbox provider needs the database.", provider="sandbox")
        if now is not None or policy is not None:
            return ProviderSet(m, {"sandbox": SandboxProvider(engine, now=now, policy=policy)}, "sandbox")
        with _cache_lock:
            sb = _sandbox_cache.get(id(engine))
            if sb is None:
                sb = _sandbox_cache[id(engine)] = SandboxProvider(engine)
        return ProviderSet(m, {"sandbox": sb}, "sandbox")
    from commlog.providers.postmark import PostmarkProvider
    from commlog.providers.sendgrid import SendGridProvider

    http = http or ProviderHttp(policy=policy)
    s = settings()
    adapters: dict[str, Provider] = {
        "sendgrid": SendGridProvider(s.sendgrid_api_key, http=http),
        "postmark": PostmarkProvider(s.postmark_server_token, http=http),
    }
    return ProviderSet(m, adapters, m)
