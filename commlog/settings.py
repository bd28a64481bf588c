"""Every commlog setting: its name, type, default and meaning, read and checked once per process.

Where a value comes from (the first found wins; an empty value counts as unset):

1. the environment variable of the setting's name;
2. `.streamlit/secrets.toml` (or the file `COMMLOG_SECRETS_FILE` names), a top-level key of that name;
3. the same key in that file's `[commlog]` table;
4. the default below.

`settings()` reads and checks them all on first use and keeps the result for the process.
`reload()` forgets it, so the next `settings()` reads again: tests after `monkeypatch.setenv`, the
soak bench after it points the environment at its own database. `load()` reads without keeping
anything (given an environment and a secrets file, for tests).

A value that cannot be used raises `SettingsError` naming each wrong setting, where it was set, the
value (never a secret's) and what is allowed. A failed read is not kept, so a corrected secrets file
is read on the next call. Where it surfaces: the command line prints it in one line and exits 2
(`commlog.cli`); the app shows it on every page instead of the page
(`commlog.ui.resources.ensure_ready`); the webhook receivers answer 503 and log it
(`commlog.webhooks.app`, `commlog.webhooks.postmark_receiver`); a check asked outside those reports
it as "not configured" (`commlog.providers.mode`).

Secret settings (API keys, the Postmark token, the webhook verification key, the Postmark webhook's
user name and password, database URLs with their password) are `Secret` / `DatabaseUrl`: repr, str
and f-strings show `***` (a URL: with its password masked); `.reveal()` gives the value to whatever
must send or compare it.

No Streamlit and no network here: the app, the CLI, the webhook receiver and the tests read
settings the same way.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger("commlog.settings")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
SECRETS_FILE_VARIABLE = "COMMLOG_SECRETS_FILE"  # where the secrets file is: read from the environment only
SECRETS_TABLE = "commlog"  # the secrets file's table that may hold the same keys

# Defaults other modules name.
DEFAULT_PROVIDER = "sandbox"
PROVIDERS = ("sandbox", "sendgrid", "postmark")
SENDGRID_APIS = ("logs", "activity")
DEFAULT_SENDGRID_BASE_URL = "https://api.sendgrid.com"
DEFAULT_POSTMARK_BASE_URL = "https://api.postmarkapp.com"
DEFAULT_RATE_PER_MIN = 600.0
DEFAULT_CHECK_CONCURRENCY = 16
MAX_CHECK_CONCURRENCY = 64
DEFAULT_PROVIDER_ATTEMPTS = 5
DEFAULT_SANDBOX_LATENCY_MS = (80.0, 300.0)
DEFAULT_SANDBOX_429_RATE = 0.03
DEFAULT_WEBHOOK_MAX_AGE_SECONDS = 300
DEFAULT_WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_WEBHOOK_MATCH_INTERVAL_SECONDS = 60.0
DEFAULT_SESSION_IDLE_MINUTES = 30.0
DEFAULT_SESSION_MAX_HOURS = 12.0
LOCAL_PG_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# --- secret values ---------------------------------------------------------------------------------


class Secret:
    """A secret setting's value. Printing, repr-ing or formatting it shows `***`; `.reveal()` gives
    the value; empty is false. Compared in constant time; never pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None = None) -> None:
        self._value = value or ""

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((type(self), self._value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return str(self)

    def __reduce__(self):  # never pickled into a cache or a session
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class DatabaseUrl(Secret):
    """A SQLAlchemy database URL: shown (repr, str, f-strings) with its password masked."""

    __slots__ = ()

    @property
    def masked(self) -> str:
        from commlog.config import masked_url

        return masked_url(self._value)

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


# --- errors ----------------------------------------------------------------------------------------


class SettingsError(ValueError):
    """One or more settings hold a value commlog cannot use. `problems`: one sentence per setting,
    each naming the setting, where it was set, the value (never a secret's) and what is allowed.
    `str()` is one line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(" ".join(self.problems))


class _Bad(ValueError):
    """Raised by a parser: `allowed` says what the setting takes."""

    def __init__(self, allowed: str) -> None:
        super().__init__(allowed)
        self.allowed = allowed


# --- parsers: raw text -> typed value, or _Bad(what is allowed) -------------------------------------


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise _Bad(f"it must be one of: {', '.join(options)}")
        return value

    return parse


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    allowed = f"a whole number from {low} to {high}" if high is not None else f"a whole number, {low} or more"

    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise _Bad(f"it must be {allowed}") from None
        if value < low or (high is not None and value > high):
            raise _Bad(f"it must be {allowed}")
        return value

    return parse


def _number(allowed: str, ok: Callable[[float], bool] = lambda _x: True) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Bad(f"it must be {allowed}") from None
        if not math.isfinite(value) or not ok(value):
            raise _Bad(f"it must be {allowed}")
        return value

    return parse


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Bad(f"it must be on ({', '.join(_TRUE)}) or off ({', '.join(_FALSE)})")


def _latency_ms(raw: str) -> tuple[float, float]:
    allowed = "milliseconds, one number or a range LOW-HIGH (e.g. 80-300; 0 for none)"
    parts = raw.strip().split("-")
    if len(parts) not in (1, 2):
        raise _Bad(f"it must be {allowed}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise _Bad(f"it must be {allowed}") from None
    low, high = values[0], values[-1]
    if not all(math.isfinite(v) for v in values) or low < 0 or high < low:
        raise _Bad(f"it must be {allowed}")
    return low, high


def _http_url(raw: str) -> str:
    from urllib.parse import urlsplit

    value = raw.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Bad("it must be an http:// or https:// URL")
    return value


def _networks(raw: str) -> tuple:
    """IP networks in CIDR notation (a bare address is its own /32 or /128), comma- or space-separated."""
    from ipaddress import ip_network

    parts = [p for p in raw.replace(",", " ").split() if p]
    try:
        return tuple(ip_network(p, strict=False) for p in parts)
    except ValueError:
        raise _Bad("it must be IP networks in CIDR notation, separated by commas (e.g. 10.0.0.0/8, 127.0.0.1/32)") from None


def _secret(raw: str) -> Secret:
    return Secret(raw.strip())


def _database_url(raw: str) -> DatabaseUrl:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    value = raw.strip()
    try:
        make_url(value)
    except (ArgumentError, ValueError):  # a port that is not a number, say: their text may quote the URL
        raise _Bad("it must be a SQLAlchemy database URL, e.g. postgresql+psycopg://USER:PASSWORD@HOST:5432/commlog") from None
    return DatabaseUrl(value)


def _default_database_url() -> DatabaseUrl:
    """The embedded SQLite file, read when made (tests move it)."""
    from commlog.config import default_database_url

    return DatabaseUrl(default_database_url())


def _about(env: str, meaning: str, parse: Callable[[str], Any], *, secret: bool = False) -> dict[str, Any]:
    """A setting's field metadata: its variable, meaning, parser, and whether its value is secret."""
    return {"env": env, "meaning": meaning, "parse": parse, "secret": secret}


# --- the settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every commlog setting, typed; `Settings()` holds the defaults. Each field's metadata names
    its variable (`env`, also its key in the secrets file), its `meaning`, its parser and whether
    its value is `secret` (never shown)."""

    database_url: DatabaseUrl = field(default_factory=_default_database_url, metadata=_about(
        "COMMLOG_DATABASE_URL", "SQLAlchemy URL of the database (default: the embedded SQLite file data/commlog.sqlite3)",
        _database_url, secret=True))
    provider: str = field(default=DEFAULT_PROVIDER, metadata=_about(
        "COMMLOG_PROVIDER", "where Check delivery status asks: sandbox, sendgrid or postmark", _choice(*PROVIDERS)))
    sendgrid_api_key: Secret = field(default_factory=Secret, metadata=_about(
        "SENDGRID_API_KEY", "SendGrid API key (Email Logs or Email Activity read access)", _secret, secret=True))
    sendgrid_api: str = field(default="logs", metadata=_about(
        "COMMLOG_SENDGRID_API", "logs (Email Logs API) or activity (the legacy Email Activity API)",
        _choice(*SENDGRID_APIS)))
    sendgrid_base_url: str = field(default=DEFAULT_SENDGRID_BASE_URL, metadata=_about(
        "COMMLOG_SENDGRID_BASE_URL", "SendGrid API base URL (tests and staging point it at a local server)", _http_url))
    sendgrid_rate_per_min: float = field(default=DEFAULT_RATE_PER_MIN, metadata=_about(
        "COMMLOG_SENDGRID_RATE_PER_MIN", "starting guess, per minute, of the SendGrid account's one rate budget "
        "(learned from X-RateLimit-* headers)",
        _number("a number of requests per minute above 0", lambda x: x > 0)))
    postmark_server_token: Secret = field(default_factory=Secret, metadata=_about(
        "POSTMARK_SERVER_TOKEN", "Postmark server token", _secret, secret=True))
    postmark_base_url: str = field(default=DEFAULT_POSTMARK_BASE_URL, metadata=_about(
        "COMMLOG_POSTMARK_BASE_URL", "Postmark API base URL", _http_url))
    postmark_rate_per_min: float = field(default=DEFAULT_RATE_PER_MIN, metadata=_about(
        "COMMLOG_POSTMARK_RATE_PER_MIN", "starting guess, per minute, of the Postmark account's one rate budget "
        "(learned from rate-limit headers)",
        _number("a number of requests per minute above 0", lambda x: x > 0)))
    check_concurrency: int = field(default=DEFAULT_CHECK_CONCURRENCY, metadata=_about(
        "COMMLOG_CHECK_CONCURRENCY", "parallel provider requests in a bulk check", _int(1, MAX_CHECK_CONCURRENCY)))
    provider_timeout: float | None = field(default=None, metadata=_about(
        "COMMLOG_PROVIDER_TIMEOUT", "per-request timeout to the provider, seconds (unset: connect 5, read 20, write 10, "
        "pool 30)", _number("a number of seconds above 0", lambda x: x > 0)))
    provider_attempts: int = field(default=DEFAULT_PROVIDER_ATTEMPTS, metadata=_about(
        "COMMLOG_PROVIDER_ATTEMPTS", "attempts per request for the command line's check and sync", _int(1)))
    sandbox_latency_ms: tuple[float, float] = field(default=DEFAULT_SANDBOX_LATENCY_MS, metadata=_about(
        "COMMLOG_SANDBOX_LATENCY_MS", "the demo sandbox's simulated latency, milliseconds (low, high)", _latency_ms))
    sandbox_429_rate: float = field(default=DEFAULT_SANDBOX_429_RATE, metadata=_about(
        "COMMLOG_SANDBOX_429_RATE", "the demo sandbox's share of 429 answers",
        _number("a share from 0 to 1 (e.g. 0.03)", lambda x: 0 <= x <= 1)))
    webhook_public_key: Secret = field(default_factory=Secret, metadata=_about(
        "SENDGRID_WEBHOOK_PUBLIC_KEY", "the Event Webhook's verification key (base64; unset: every post is refused)",
        _secret, secret=True))
    bench_floor_page: bool = field(default=False, metadata=_about(
        "COMMLOG_BENCH_FLOOR_PAGE", "benchmarks: serve /floor, a page that only checks the login and draws one button "
        "(the framework floor `bench --only browser` compares every interaction with), and /floor-grid and "
        "/floor-charts (the framework's own cost of a grid row's dialog, of a grid's next page and of a page of two "
        "charts)", _flag))
    webhook_insecure_no_signature: bool = field(default=False, metadata=_about(
        "COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE", "accept unsigned webhook posts (local testing only)", _flag))
    webhook_max_age_seconds: int = field(default=DEFAULT_WEBHOOK_MAX_AGE_SECONDS, metadata=_about(
        "COMMLOG_WEBHOOK_MAX_AGE_SECONDS", "the webhook's stale-timestamp window, seconds (0: no freshness check)",
        _int(0)))
    webhook_max_body_bytes: int = field(default=DEFAULT_WEBHOOK_MAX_BODY_BYTES, metadata=_about(
        "COMMLOG_WEBHOOK_MAX_BODY_BYTES", "the webhook's body limit, bytes", _int(1)))
    webhook_match_interval_seconds: float = field(default=DEFAULT_WEBHOOK_MATCH_INTERVAL_SECONDS, metadata=_about(
        "COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS",
        "how often the receiver matches kept events to messages that arrived since, seconds (negative: never)",
        _number("a number of seconds (negative: never)")))
    postmark_webhook_user: Secret = field(default_factory=Secret, metadata=_about(
        "COMMLOG_POSTMARK_WEBHOOK_USER", "the user name in Postmark's webhook URL (basic auth; unset: every Postmark "
        "webhook post is refused)", _secret, secret=True))
    postmark_webhook_password: Secret = field(default_factory=Secret, metadata=_about(
        "COMMLOG_POSTMARK_WEBHOOK_PASSWORD", "the password in Postmark's webhook URL (basic auth; unset: every Postmark "
        "webhook post is refused)", _secret, secret=True))
    trusted_proxies: tuple = field(default=(), metadata=_about(
        "COMMLOG_TRUSTED_PROXIES", "the reverse proxies (CIDRs) whose X-Forwarded-For names the client IP for sign-in "
        "throttling and the audit trail (unset: the header is ignored)", _networks))
    session_idle_minutes: float = field(default=DEFAULT_SESSION_IDLE_MINUTES, metadata=_about(
        "COMMLOG_SESSION_IDLE_MINUTES", "a signed-in session ends after this many minutes without activity "
        "(fractions allowed, e.g. 0.05 for 3 seconds in tests)",
        _number("a number of minutes above 0", lambda x: x > 0)))
    session_max_hours: float = field(default=DEFAULT_SESSION_MAX_HOURS, metadata=_about(
        "COMMLOG_SESSION_MAX_HOURS", "a signed-in session ends this many hours after its sign-in, active or not",
        _number("a number of hours above 0", lambda x: x > 0)))
    retain_months: int | None = field(default=None, metadata=_about(
        "COMMLOG_RETAIN_MONTHS", "PostgreSQL: keep this many months of messages and events (this month included); "
        "older months' partitions are dropped whole, the Deliverability rollups kept (unset: keep everything)",
        _int(1)))
    test_pg_url: DatabaseUrl = field(default_factory=lambda: DatabaseUrl(LOCAL_PG_SERVER_URL), metadata=_about(
        "COMMLOG_TEST_PG_URL", "developers: the PostgreSQL server the tests (and the deliverability bench) use",
        _database_url, secret=True))
    bench_pg_url: DatabaseUrl = field(default_factory=lambda: DatabaseUrl(LOCAL_PG_SERVER_URL), metadata=_about(
        "COMMLOG_BENCH_PG_URL", "developers: the PostgreSQL server the export and webhook benches use",
        _database_url, secret=True))
    secrets_file: Path = field(default=SECRETS_FILE, metadata=_about(
        SECRETS_FILE_VARIABLE, "the secrets file read after the environment (itself from the environment only)", Path))
    # Where each value came from ("environment", the secrets file's path, or that and "[commlog]"), by variable.
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def source(self, env: str) -> str:
        return self.sources.get(env, "default")


def specs() -> list:
    """The settings' dataclass fields (`.name`, `.type`, `.metadata["env" / "meaning" / "secret"]`)."""
    return [f for f in fields(Settings) if "env" in f.metadata]


SECRET_VARIABLES = tuple(f.metadata["env"] for f in specs() if f.metadata["secret"])


# --- reading ---------------------------------------------------------------------------------------


def _read_secrets_file(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:  # as before: ignored, but now said (its text quotes no value)
        log.warning("%s cannot be read (%s): using the environment and defaults only", path, exc)
        return {}


def _as_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _raw_values(environ: Mapping[str, str], path: Path) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Every set setting's text and where it came from ("environment", the secrets file's path, or
    that path and "[commlog]"), by variable; and the problems found on the way (a table or a list
    where a value should be)."""
    secrets = _read_secrets_file(path)
    table = secrets.get(SECRETS_TABLE)
    table = table if isinstance(table, Mapping) else {}
    raw: dict[str, str] = {}
    where: dict[str, str] = {}
    problems: list[str] = []
    for spec in specs():
        env = spec.metadata["env"]
        if env == SECRETS_FILE_VARIABLE:
            continue
        if environ.get(env):
            raw[env], where[env] = environ[env], "environment"
            continue
        for source, found in ((str(path), secrets.get(env)), (f"{path} [{SECRETS_TABLE}]", table.get(env))):
            if found is None or found == "":
                continue
            text = _as_text(found)
            if text is None:
                problems.append(f"{env} (in {source}) is a {type(found).__name__}: it must be a single value.")
            else:
                raw[env], where[env] = text, source
            break
    return raw, where, problems


def _problem(env: str, value: str, where: str, secret: bool, allowed: str) -> str:
    """One sentence: the setting, where it was set, its value (a secret's never), what it takes."""
    place = "the environment" if where == "environment" else where
    if secret:
        return f"{env} (in {place}) cannot be used (its value is not shown): {allowed}."
    shown = repr(value) if len(value) <= 60 else repr(value[:57]) + "…"
    return f"{env} is {shown} (in {place}): {allowed}."


def load(environ: Mapping[str, str] | None = None, secrets_file: Path | str | None = None) -> Settings:
    """Read and check every setting now (the process environment and its secrets file unless
    given). Raises SettingsError listing every value that cannot be used."""
    environ = os.environ if environ is None else environ
    path = Path(secrets_file or environ.get(SECRETS_FILE_VARIABLE) or SECRETS_FILE)
    raw, where, problems = _raw_values(environ, path)
    values: dict[str, Any] = {"secrets_file": path}
    for spec in specs():
        env = spec.metadata["env"]
        if env not in raw:
            continue
        try:
            values[spec.name] = spec.metadata["parse"](raw[env])
        except _Bad as bad:
            problems.append(_problem(env, raw[env], where[env], spec.metadata["secret"], bad.allowed))
    if problems:
        raise SettingsError(problems)
    return Settings(**values, sources=where)


_loaded: Settings | None = None
_lock = threading.Lock()


def settings() -> Settings:
    """The process's settings, read on first use (SettingsError when a value cannot be used; a
    failed read is not kept)."""
    global _loaded
    current = _loaded
    if current is None:
        with _lock:
            if _loaded is None:
                _loaded = load()
            current = _loaded
    return current


def reload() -> None:
    """Forget the settings read so far: the next `settings()` reads the environment and the
    secrets file again (tests after monkeypatch.setenv; a process that changed its environment)."""
    global _loaded
    with _lock:
        _loaded = None


def secret_values() -> list[Secret]:
    """Every configured secret (API keys, the token, the webhook key, database URLs), to mask them
    in text: from the settings, or, when those cannot be read, straight from where they are set."""
    try:
        current = settings()
    except SettingsError:
        environ = os.environ
        path = Path(environ.get(SECRETS_FILE_VARIABLE) or SECRETS_FILE)
        raw, _where, _problems = _raw_values(environ, path)
        return [
            (DatabaseUrl if spec.metadata["parse"] is _database_url else Secret)(raw[spec.metadata["env"]])
            for spec in specs() if spec.metadata["secret"] and spec.metadata["env"] in raw
        ]
    return [getattr(current, spec.name) for spec in specs() if spec.metadata["secret"]]
