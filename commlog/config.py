"""Where settings come from: the environment first, then `.streamlit/secrets.toml`.

No Streamlit import: the CLI, the webhook receiver and the tests read settings the same way.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_SQLITE_PATH = DATA_DIR / "commlog.sqlite3"
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"


def _secrets() -> dict:
    path = Path(os.environ.get("COMMLOG_SECRETS_FILE", SECRETS_FILE))
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return {}


def setting(name: str, default: str | None = None) -> str | None:
    """A setting by its environment name; `.streamlit/secrets.toml` may hold the same key."""
    value = os.environ.get(name)
    if value:
        return value
    secret = _secrets().get(name)
    if secret is None:
        secret = _secrets().get("commlog", {}).get(name)
    return str(secret) if secret not in (None, "") else default


def database_url() -> str:
    return setting("COMMLOG_DATABASE_URL") or default_database_url()


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


# Settings whose values must never reach a page or a log line.
SECRET_SETTINGS = ("SENDGRID_API_KEY", "POSTMARK_SERVER_TOKEN", "SENDGRID_WEBHOOK_PUBLIC_KEY")
_KEY_SHAPES = re.compile(r"SG\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")  # a SendGrid API key, configured or not


def redact(text: str) -> str:
    """`text` (a traceback, say) with every configured secret and the database password masked."""
    text = without_password(text, database_url())
    for name in SECRET_SETTINGS:
        value = setting(name)
        if value and len(value) >= 6:
            text = text.replace(value, "***")
    return _KEY_SHAPES.sub("SG.***", text)
