"""Postmark adapter: `GET /messages/outbound/{MessageID}/details` (header
`X-Postmark-Server-Token`), the suppression dump of the outbound stream, and the outbound
message search for sync.

Errors: 401 bad token; 422 with `ErrorCode` 701 = message not found; other 422 = a bad request.
Postmark publishes no per-minute limit for these endpoints; the client-side limit is
`COMMLOG_POSTMARK_RATE_PER_MIN` (default 600 a minute). Retention 45 days by default.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from commlog.providers import errors
from commlog.providers.base import (
    FetchResult,
    Provider,
    RemoteMessage,
    StoredMessage,
    Suppression,
    SuppressionEntry,
    SuppressionReport,
)
from commlog.providers.http import Answer, ProviderHttp, limiter_for
from commlog.providers.normalize import (
    EventParseError,
    parse_postmark_details,
    parse_time,
)
from commlog.settings import Secret, settings

log = logging.getLogger("commlog.providers.postmark")

RETENTION = timedelta(days=45)
PAGE = 500
MAX_DEPTH = 10_000  # count + offset
FEATURE = "this Postmark server's messages (check POSTMARK_SERVER_TOKEN is the server's API token)"

# The SuppressionReason values one dump answers for (all of them: one request asks every "list").
SUPPRESSION_REASONS = ("HardBounce", "SpamComplaint", "ManualSuppression")
_REASON_WORDS = {"HardBounce": "hard bounce", "SpamComplaint": "spam complaint", "ManualSuppression": "manual suppression"}


class PostmarkProvider(Provider):
    name = "postmark"
    label = "Postmark"
    retention = RETENTION

    def __init__(
        self,
        server_token: str | Secret | None = None,
        *,
        base_url: str | None = None,
        http: ProviderHttp | None = None,
        per_minute: float | None = None,
        message_stream: str = "outbound",
    ) -> None:
        self._token = server_token if isinstance(server_token, Secret) else Secret(server_token)
        self.base_url = (base_url or settings().postmark_base_url).rstrip("/")
        self.http = http or ProviderHttp()
        if per_minute is None:
            per_minute = settings().postmark_rate_per_min
        self.limiter = limiter_for(f"postmark:{self.base_url}", per_minute)
        self.message_stream = message_stream

    def __repr__(self) -> str:
        return f"PostmarkProvider(base_url={self.base_url!r}, server_token=***)"

    def _headers(self) -> dict[str, str]:
        if not self._token:
            raise errors.not_configured(self.name, "POSTMARK_SERVER_TOKEN")
        return {"X-Postmark-Server-Token": self._token.reveal(), "Accept": "application/json"}

    def _get(self, path: str, notes: list[str] | None = None) -> Answer:
        ans = self.http.request(self.name, "GET", self.base_url + path, headers=self._headers(), limiter=self.limiter)
        if notes is not None:
            notes.extend(ans.notes)
        return ans

    def _ok_json(self, ans: Answer):
        status = ans.status_code
        if 200 <= status < 300:
            return ans.json(self.name)
        if status in (401, 403):
            raise errors.not_entitled(self.name, status, FEATURE)
        if status == 404:
            raise errors.NotFound("Postmark has no record of this email.", provider=self.name)
        if status == 422:
            code = None
            try:
                body = ans.json(self.name)
                code = body.get("ErrorCode") if isinstance(body, dict) else None
            except errors.ProviderError:
                pass
            if code == 701:
                raise errors.NotFound("Postmark has no record of this email.", provider=self.name)
            if code == 10:  # "Bad or missing API token"
                raise errors.not_entitled(self.name, status, FEATURE)
        raise errors.bad_request(self.name, status)

    def _details(self, message_id: str, recipient: str | None, notes: list[str]) -> FetchResult:
        ans = self._get(f"/messages/outbound/{quote(message_id, safe='')}/details", notes)
        body = self._ok_json(ans)
        if not isinstance(body, dict):
            raise errors.bad_response(self.name, "not a message object")
        try:
            events = parse_postmark_details(body, message_id, recipient)
        except EventParseError:
            raise errors.bad_response(self.name, "unreadable events") from None
        if recipient:
            events = [e for e in events if not e.recipient_email or e.recipient_email.lower() == recipient.lower()]
        return FetchResult(events, body.get("Status") if isinstance(body.get("Status"), str) else None, notes)

    def fetch_events(self, message: StoredMessage) -> FetchResult:
        if not message.provider_message_id:
            raise errors.NotFound("No Postmark message id is stored for this email.", provider=self.name)
        return self._details(message.provider_message_id.strip(), message.recipient_email, [])

    def suppression(self, email: str, hint: str | None = None) -> Suppression | None:
        try:
            body = self._ok_json(self._get(self._dump_path(email)))
        except errors.ProviderError as exc:
            return Suppression(False, error=str(exc))
        rows = body.get("Suppressions") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            return Suppression(False, error=str(errors.bad_response(self.name)))
        for row in rows:
            if isinstance(row, dict) and str(row.get("EmailAddress", "")).lower() == email.lower():
                since = None
                with contextlib.suppress(EventParseError):
                    since = parse_time(row.get("CreatedAt")) if row.get("CreatedAt") else None
                return Suppression(True, f"{self.message_stream} stream suppressions", since, row.get("SuppressionReason"))
        return Suppression(False)

    def _dump_path(self, email: str) -> str:
        stream = quote(self.message_stream, safe="")
        return f"/message-streams/{stream}/suppressions/dump?EmailAddress={quote(email, safe='')}"

    def suppressions(self, email: str) -> SuppressionReport:
        """Every suppression of the message stream that holds `email` now: one entry per row of
        the stream's suppression dump for that address (one request answers for every reason).
        Every Postmark suppression stops sending to the stream; a SpamComplaint, or a
        ManualSuppression the recipient made (Origin "Recipient": an unsubscribe), was asked for
        by the recipient."""
        try:
            body = self._ok_json(self._get(self._dump_path(email)))
            rows = body.get("Suppressions") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise errors.bad_response(self.name, "no Suppressions list")
        except errors.ProviderError as exc:
            return SuppressionReport(self.label, email, (), (), str(exc))
        entries = tuple(
            self._suppression_entry(row)
            for row in rows
            if isinstance(row, dict) and str(row.get("EmailAddress", "")).lower() == email.lower()
        )
        return SuppressionReport(self.label, email, SUPPRESSION_REASONS, entries)

    def _suppression_entry(self, row: dict) -> SuppressionEntry:
        """One dump row `{EmailAddress, SuppressionReason, Origin, CreatedAt}` as an entry."""
        key = str(row.get("SuppressionReason") or "Unknown")
        by_recipient = str(row.get("Origin") or "").lower() == "recipient"
        words = "unsubscribed by the recipient" if key == "ManualSuppression" and by_recipient else _REASON_WORDS.get(key, key)
        since = None
        with contextlib.suppress(EventParseError):
            since = parse_time(row.get("CreatedAt")) if row.get("CreatedAt") else None
        return SuppressionEntry(
            list_key=key,
            label=f"{words} ({self.message_stream} stream)",
            since=since,
            reason=None,  # the dump carries no reason text, only the SuppressionReason
            stops_sending=True,
            recipient_asked=key == "SpamComplaint" or (key == "ManualSuppression" and by_recipient),
        )

    def list_messages(self, since: datetime, until: datetime) -> Iterator[RemoteMessage]:
        """Outbound messages received in [since, until). Filter dates carry no zone: the window is
        widened by a day each side and filtered here; past 10,000 rows it is split."""
        stack = [(since, until)]
        while stack:
            a, b = stack.pop()
            fmt = "%Y-%m-%dT%H:%M:%S"
            lo = (a - timedelta(days=1)).astimezone(UTC).strftime(fmt)
            hi = (b + timedelta(days=1)).astimezone(UTC).strftime(fmt)
            offset = 0
            split = False
            while True:
                ans = self._get(f"/messages/outbound?count={PAGE}&offset={offset}&fromdate={quote(lo)}&todate={quote(hi)}")
                body = self._ok_json(ans)
                if not isinstance(body, dict) or not isinstance(body.get("Messages"), list):
                    raise errors.bad_response(self.name, "no Messages list")
                total = int(body.get("TotalCount") or 0)
                if total > MAX_DEPTH and (b - a) > timedelta(minutes=1) and offset == 0:
                    mid = a + (b - a) / 2
                    stack.extend([(mid, b), (a, mid)])
                    split = True
                    break
                for m in body["Messages"]:
                    if not isinstance(m, dict) or not m.get("MessageID"):
                        continue
                    try:
                        at = parse_time(m.get("ReceivedAt"))
                    except EventParseError:
                        continue
                    if not (a <= at < b):
                        continue
                    recipients = m.get("Recipients") or [t.get("Email") for t in m.get("To") or [] if isinstance(t, dict)]
                    for r in recipients or [None]:
                        yield RemoteMessage(str(m["MessageID"]), r, at, m.get("Status"))
                offset += PAGE
                if offset >= total or offset + PAGE > MAX_DEPTH or not body["Messages"]:
                    break
            if split:
                continue

    def fetch_remote(self, remote: RemoteMessage) -> FetchResult:
        return self._details(remote.provider_message_id, remote.recipient_email, [])
