"""Postmark adapter: `GET /messages/outbound/{MessageID}/details` (header
`X-Postmark-Server-Token`), the suppression dump of the outbound stream, and the outbound
message search for sync, and removal of an address from the stream's suppressions
(`POST /message-streams/{stream}/suppressions/delete`).

Errors: 401 bad token; 422 with `ErrorCode` 701 = message not found; other 422 = a bad request.
Postmark publishes no per-minute limit for these endpoints: every request of one server token at
one base URL draws from the account's one budget (`commlog.providers.rate_limit`), whose starting
guess is `COMMLOG_POSTMARK_RATE_PER_MIN` (default 600 a minute) and which learns from any
X-RateLimit-* / Retry-After headers Postmark sends. Retention 45 days by default.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

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
from commlog.providers.http import Answer, ProviderHttp
from commlog.providers.normalize import (
    EventParseError,
    parse_postmark_details,
    parse_time,
)
from commlog.providers.rate_limit import account_limiter
from commlog.settings import Secret, settings

log = logging.getLogger("commlog.providers.postmark")

RETENTION = timedelta(days=45)
PAGE = 500
MAX_DEPTH = 10_000  # count + offset
FEATURE = "this Postmark server's messages"
REMOVAL_FEATURE = "removing addresses from this Postmark server's suppression lists"
SETTING = "POSTMARK_SERVER_TOKEN"
_ENTITLEMENT_FIX = (f"{SETTING} must be the Server API token of the server that sends these emails (Postmark: "
                    "Servers > the server > API Tokens), not the account token.")

# The SuppressionReason values one dump answers for (all of them: one request asks every "list").
SUPPRESSION_REASONS = ("HardBounce", "SpamComplaint", "ManualSuppression")
_REASON_WORDS = {"HardBounce": "hard bounce", "SpamComplaint": "spam complaint", "ManualSuppression": "manual suppression"}
# The reasons commlog may ask Postmark to delete. A ManualSuppression the recipient made (Origin
# "Recipient") must not be removed either, but the reason alone cannot tell: callers refuse entries
# whose `recipient_asked` is set. Postmark itself refuses to delete SpamComplaint suppressions.
REMOVABLE_REASONS = ("HardBounce", "ManualSuppression")
MESSAGE_MAX = 300  # Postmark's own words in a RemovalAnswer, at most


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
        self.limiter = account_limiter(self.name, self._token, self.base_url, per_minute)
        self.message_stream = message_stream

    def __repr__(self) -> str:
        return f"PostmarkProvider(base_url={self.base_url!r}, server_token=***)"

    def rate_wait(self) -> float:
        """Seconds until Postmark's rate limit lets the next request go (0: it does now)."""
        return self.limiter.closed_for()

    def _headers(self) -> dict[str, str]:
        if not self._token:
            raise errors.not_configured(self.name, SETTING)
        return {"X-Postmark-Server-Token": self._token.reveal(), "Accept": "application/json"}

    def _get(self, path: str, notes: list[str] | None = None) -> Answer:
        ans = self.http.request(self.name, "GET", self.base_url + path, headers=self._headers(), limiter=self.limiter)
        if notes is not None:
            notes.extend(ans.notes)
        return ans

    def _post(self, path: str, body: object, notes: list[str] | None = None) -> Answer:
        """A POST with a JSON body, on the same budget and retries as `_get`."""
        ans = self.http.request(
            self.name, "POST", self.base_url + path, headers=self._headers(), limiter=self.limiter, json_body=body
        )
        if notes is not None:
            notes.extend(ans.notes)
        return ans

    def _ok_json(self, ans: Answer, feature: str = FEATURE, *, not_found: str = "Postmark has no record of this email."):
        status = ans.status_code
        if 200 <= status < 300:
            return ans.json(self.name)
        if status == 401:
            raise errors.key_not_accepted(self.name, status, SETTING)
        if status == 403:
            raise errors.not_entitled(self.name, status, feature, _ENTITLEMENT_FIX)
        if status == 404:
            raise errors.NotFound(not_found, provider=self.name)
        if status == 422:
            code = None
            try:
                body = ans.json(self.name)
                code = body.get("ErrorCode") if isinstance(body, dict) else None
            except errors.ProviderError:
                pass
            if code == 701:
                raise errors.NotFound(not_found, provider=self.name)
            if code == 10:  # "Bad or missing API token"
                raise errors.key_not_accepted(self.name, status, SETTING)
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

    # --- removal ---------------------------------------------------------------------------------

    def can_remove(self, list_key: str) -> bool:
        """HardBounce and ManualSuppression (callers refuse a ManualSuppression the recipient made);
        never SpamComplaint."""
        return list_key in REMOVABLE_REASONS

    def _list_label(self, list_key: str) -> str:
        return f"{_REASON_WORDS.get(list_key, list_key)} ({self.message_stream} stream)"

    def remove_suppression(self, email: str, list_key: str) -> RemovalAnswer:
        """`POST /message-streams/{stream}/suppressions/delete` with this one address. Postmark
        answers per address: Deleted (removed; Postmark applies it within about a minute) or Failed
        with its reason. An answer without a row for the address: there was nothing to delete.
        Raises NotRemovable (no request sent) for SpamComplaint and unknown reasons, and the usual
        ProviderErrors when Postmark gave no answer."""
        label = self._list_label(list_key)
        if not self.can_remove(list_key):
            raise errors.not_removable(self.name, label, recipient_asked=list_key == "SpamComplaint")
        stream = quote(self.message_stream, safe="")
        ans = self._post(f"/message-streams/{stream}/suppressions/delete", {"Suppressions": [{"EmailAddress": email}]})
        body = self._ok_json(ans, REMOVAL_FEATURE,
                             not_found=f"Postmark has no message stream \u201c{self.message_stream}\u201d on this server.")
        rows = body.get("Suppressions") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise errors.bad_response(self.name, "no Suppressions list")
        row = next(
            (r for r in rows if isinstance(r, dict) and str(r.get("EmailAddress", "")).lower() == email.lower()), None
        )
        if row is None:
            return RemovalAnswer(True, True, f"It was not on Postmark's {label} list any more: there was nothing to delete.")
        status = str(row.get("Status") or "")
        if status == "Deleted":
            return RemovalAnswer(
                True, False, f"Postmark removed it from the {label} list (Postmark applies it within about a minute)."
            )
        if status == "Failed":
            said = plain_text(row.get("Message"))
            return RemovalAnswer(False, False, f"Postmark did not remove it: {said}" if said else
                                 "Postmark did not remove it, and gave no reason.")
        raise errors.bad_response(self.name, "an unknown removal status")

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


def plain_text(value: object, limit: int = MESSAGE_MAX) -> str:
    """A provider's message, fit to show: one line of plain text (control characters and markup
    dropped, spaces collapsed), at most `limit` characters."""
    if not isinstance(value, str):
        return ""
    text = re.sub(r"<[^>]{0,200}>", " ", value)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
