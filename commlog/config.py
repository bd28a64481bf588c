"""Paths, the database URL and masking: what the app, the CLI and the webhook share.

Every setting is read, typed and checked once in `commlog.settings` (the environment first, then
`.streamlit/secrets.toml`); this module keeps the helpers around the database URL and `redact`.
No Streamlit import.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

from commlog.settings import PROJECT_ROOT, DatabaseUrl, secret_values, settings

DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_SQLITE_PATH = DATA_DIR / "commlog.sqlite3"


def database_url() -> str:
    """COMMLOG_DATABASE_URL, else the embedded default (commlog.settings)."""
    return settings().database_url.reveal()


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def is_default_database(url: str) -> bool:
    """The embedded default is the only database the app fills with demo data by itself."""
    return url == default_database_url()


def masked_url(url: str) -> str:
    """The URL with its password replaced, fit for a page or a log line."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    host = netloc[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def without_password(text: str, url: str) -> str:
    """`text` (a driver's error message, say) with the URL's password masked, should it be echoed."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    if not password:
        return text
    for form in sorted({password, unquote(password)}, key=len, reverse=True):  # as in the URL, and as the driver got it
        text = text.replace(form, "***")
    return text


_KEY_SHAPES = re.compile(r"SG\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")  # a SendGrid API key, configured or not


def redact(text: str) -> str:
    """`text` (a traceback, say) with every configured secret and the database password masked.
    Works when the settings themselves cannot be read (their secret values are still masked)."""
    for secret in secret_values():
        value = secret.reveal()
        if isinstance(secret, DatabaseUrl):
            text = without_password(text, value)
        elif len(value) >= 6:
            text = text.replace(value, "***")
    return _KEY_SHAPES.sub("SG.***", text)
