"""Download tokens: what a page's click mints and the launcher's `GET /export/<token>` serves once.

A token is `secrets.token_urlsafe(32)`, handed to the browser once and stored only as its SHA-256
(table export_token, migration 0008), with:

- who minted it (user id, role, their lender), re-checked against app_user before serving;
- the browser: the SHA-256 of its `commlog_browser` cookie (commlog.browser_cookie), so the URL is
  worthless in another browser, a proxy log or a screen share;
- what to export (`DownloadSpec`: the log's query as its URL parameters plus exact UTC bounds, the
  span, DEFERRED, BOM, file name, the page's audit extras);
- `expires_at` (at most TOKEN_LIFETIME after minting) and `used_at`.

`claim` is one conditional UPDATE (… WHERE used_at IS NULL AND expires_at > now AND browser matches
… RETURNING), atomic on PostgreSQL and SQLite alike: of any number of concurrent fetches, from any
number of app replicas sharing the database, at most one gets the spec. A fetch from another
browser does not burn the token (it never matches); a second fetch, an expired or unknown token get
None, and `why_refused` says which, for the server's log only.

Tokens live in the database, not in a process, so a token minted on one replica behind haproxy is
honoured by another. Both functions take the connection of an unscoped (platform) unit of work: the
table holds no lender-owned rows, and at claim time nobody is known yet.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from commlog.export import FailureExport
from commlog.log_view import LogQuery, LogView
from commlog.models import ExportToken
from commlog.principal import Principal
from commlog.unit_of_work import platform_writing

TOKEN_LIFETIME = timedelta(seconds=60)
KEEP_FOR = timedelta(hours=1)  # spent and expired rows are deleted this long after expiring (at mint)
HASH_PREFIX = 12  # how much of a token's hash a log line may show


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def log_name(token: str) -> str:
    """How a log line names a token: a prefix of its hash, never the token."""
    return "sha256:" + sha256_hex(token)[:HASH_PREFIX]


def _moment(value: datetime | None) -> str | None:
    """An exact UTC bound (to the microsecond: a "Last 7 days" view's start is now minus 7 days)."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse_moment(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw).astimezone(UTC) if raw else None


@dataclass(frozen=True)
class DownloadSpec:
    """What one download serves: the export, the file's options and name, the audit's extras."""

    export: FailureExport
    file_name: str
    bom: bool = False
    audit_extra: dict | None = None

    def to_json(self) -> str:
        q = self.export.query
        return json.dumps(
            {
                "lender_id": q.lender_id,
                "view": q.view.to_query_params(),
                "since": _moment(q.since),
                "until": _moment(q.until),
                "span": self.export.span,
                "include_deferred": self.export.include_deferred,
                "file_name": self.file_name,
                "bom": self.bom,
                "audit_extra": self.audit_extra,
            },
            sort_keys=True,
            default=str,
        )

    @classmethod
    def from_json(cls, raw: str) -> DownloadSpec:
        data = json.loads(raw)
        view, _ = LogView.from_query_params(data["view"])
        query = LogQuery(int(data["lender_id"]), view, _parse_moment(data["since"]), _parse_moment(data["until"]))
        export = FailureExport(query, span=data["span"], include_deferred=bool(data["include_deferred"]))
        return cls(export, file_name=data["file_name"], bom=bool(data["bom"]), audit_extra=data["audit_extra"])


@dataclass(frozen=True)
class Claim:
    """A token claimed: who minted it (as they were then) and what to serve."""

    user_id: int
    role: str
    principal_lender_id: int | None
    spec: DownloadSpec

    def still_matches(self, principal: Principal) -> bool:
        """Is the principal re-read now the one who minted it (same role, same lender)?"""
        return (
            principal.user_id == self.user_id
            and principal.role.value == self.role
            and principal.lender_id == self.principal_lender_id
        )


def mint(conn: Connection, principal: Principal, spec: DownloadSpec, browser: str, now: datetime,
         lifetime: timedelta = TOKEN_LIFETIME) -> str:
    """A new token for this principal, spec and browser cookie, valid `lifetime` (≤ TOKEN_LIFETIME)
    from `now`. Returns the token; only its hash is stored. Deletes rows long expired."""
    if not browser:
        raise ValueError("a download token needs the browser's cookie")
    lifetime = min(lifetime, TOKEN_LIFETIME)
    raw = spec.to_json()
    if DownloadSpec.from_json(raw) != spec:  # what is served must be exactly what the page counted
        raise ValueError("this export cannot be carried by a download token")
    conn.execute(delete(ExportToken).where(ExportToken.expires_at < now - KEEP_FOR))
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(ExportToken).values(
            token_sha256=sha256_hex(token),
            browser_sha256=sha256_hex(browser),
            user_id=principal.user_id,
            role=principal.role.value,
            principal_lender_id=principal.lender_id,
            spec=raw,
            created_at=now,
            expires_at=now + lifetime,
            used_at=None,
        )
    )
    return token


def issue(engine: Engine, principal: Principal, spec: DownloadSpec, browser: str, now: datetime) -> str:
    """`mint` in its own unscoped transaction: what a page's click calls."""
    with platform_writing(engine) as conn:  # the platform's bookkeeping, not lender data (see the module)
        return mint(conn, principal, spec, browser, now)


def claim(conn: Connection, token: str, browser: str | None, now: datetime) -> Claim | None:
    """Mark the token used and return what it carries, if it is known, unused, unexpired and
    minted for this browser; else None (and nothing changes). Atomic: one UPDATE … RETURNING."""
    if not token or not browser or len(token) > 200:
        return None
    row = conn.execute(
        update(ExportToken)
        .where(
            and_(
                ExportToken.token_sha256 == sha256_hex(token),
                ExportToken.browser_sha256 == sha256_hex(browser),
                ExportToken.used_at.is_(None),
                ExportToken.expires_at > now,
            )
        )
        .values(used_at=now)
        .returning(ExportToken.user_id, ExportToken.role, ExportToken.principal_lender_id, ExportToken.spec)
    ).first()
    if row is None:
        return None
    return Claim(row.user_id, row.role, row.principal_lender_id, DownloadSpec.from_json(row.spec))


def why_refused(conn: Connection, token: str, browser: str | None, now: datetime) -> str:
    """Why `claim` returned None, for the server's log (never for the response)."""
    if not token or len(token) > 200:
        return "malformed"
    row = conn.execute(
        select(ExportToken.browser_sha256, ExportToken.used_at, ExportToken.expires_at).where(
            ExportToken.token_sha256 == sha256_hex(token)
        )
    ).first()
    if row is None:
        return "unknown"
    if row.used_at is not None:
        return "already used"
    if row.expires_at <= now:
        return "expired"
    if not browser:
        return "no browser cookie"
    if row.browser_sha256 != sha256_hex(browser):
        return "another browser"
    return "refused"
