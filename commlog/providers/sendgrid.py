"""SendGrid adapter: the Email Logs API (default) or the legacy Email Activity API
(`COMMLOG_SENDGRID_API=activity`), plus read-only suppression lookups.

Suppressions: `suppression()` (for checks) stops at the first list that holds the address among
bounces, invalid_emails and spam_reports; `suppressions()` asks all five lists one after another
(`GET /v3/suppression/{bounces|blocks|invalid_emails|spam_reports}/{email}`, then
`GET /v3/asm/suppressions/global/{email}`) and reports every one that holds it. Both go through
`_call` and the one API limiter of the account; the first failure ends the lookup.

Message ids: commlog stores the full per-recipient id (`<X-Message-Id>.recvd-…`).
* Logs: a full id is fetched directly with `GET /v3/logs/{sg_message_id}` (one request). An id
  without the per-recipient suffix (only the X-Message-Id) is searched with `POST /v3/logs`
  (`to_email = … AND sg_message_id_created_at` around the send time; prefix match on
  `sg_message_id` is undocumented) and the row whose id starts with it is fetched.
* Activity: `GET /v3/messages?query=msg_id LIKE '<X-Message-Id>%'`, keep the row of this
  recipient, then `GET /v3/messages/{msg_id}` (two requests on a 6-a-minute budget).
Queries are pre-encoded with `quote(q, safe="")` (httpx would turn spaces into `+`).

Rate limits (client-side, per process, shared by all threads): Activity 6 requests a minute
(documented by SendGrid). Logs and suppressions: `COMMLOG_SENDGRID_RATE_PER_MIN`, default 600 a
minute — SendGrid publishes no number for these endpoints; 600/min/user is its long-standing
default v3 limit, and a 429 with `X-RateLimit-Reset` is honoured anyway.

`parse_sendgrid_webhook_event` (re-exported from `commlog.providers.normalize`) parses one Event
Webhook event.
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
    parse_activity_event,
    parse_sendgrid_logs_event,
    parse_sendgrid_webhook_event,  # noqa: F401 - re-exported for the webhook receiver
    parse_time,
    sendgrid_message_prefix,
)
from commlog.settings import SENDGRID_APIS, Secret, settings

log = logging.getLogger("commlog.providers.sendgrid")

ACTIVITY_PER_MIN = 6
SEARCH_LIMIT = 1000
RETENTION = timedelta(days=30)

LOGS_FEATURE = "the Email Logs API (it needs a key with Email Logs read access, and the Email Logs add-on where required)"
ACTIVITY_FEATURE = "Email Activity (it needs the paid Email Activity history add-on and a key with email_activity.read)"
SUPPRESSION_FEATURE = "suppression lists (it needs a key with Suppressions read access)"

# SendGrid's dropped-event reasons -> the suppression list that caused the drop.
_DROP_REASON_LISTS = (
    ("bounced", "bounces"),
    ("invalid", "invalid_emails"),
    ("spam", "spam_reports"),
    ("unsubscribed", "unsubscribes"),
)
_LIST_NAMES = {
    "bounces": "bounces",
    "invalid_emails": "invalid emails",
    "spam_reports": "spam reports",
    "blocks": "blocks",
    "unsubscribes": "global unsubscribes",
}
# Every list `suppressions()` asks, in order. "unsubscribes" is the global unsubscribe list (ASM).
SUPPRESSION_LISTS = ("bounces", "blocks", "invalid_emails", "spam_reports", "unsubscribes")
# SendGrid keeps sending to blocked addresses (official Blocks API doc): a block does not suppress.
_NOT_STOPPING = frozenset({"blocks"})
# The recipient asked for these: never offered for removal.
_RECIPIENT_ASKED = frozenset({"spam_reports", "unsubscribes"})


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _qstr(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _since(value: object) -> datetime | None:
    """A suppression's `created` (Unix seconds) as UTC, or None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except (EventParseError, OverflowError, OSError, ValueError):
        return None


class SendGridProvider(Provider):
    name = "sendgrid"
    label = "SendGrid"
    retention = RETENTION

    def __init__(
        self,
        api_key: str | Secret | None = None,
        *,
        base_url: str | None = None,
        api: str | None = None,
        http: ProviderHttp | None = None,
        logs_per_minute: float | None = None,
        activity_per_minute: float = ACTIVITY_PER_MIN,
        limiter_key: str | None = None,
        setting_name: str = "SENDGRID_API_KEY",
    ) -> None:
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        self.base_url = (base_url or settings().sendgrid_base_url).rstrip("/")
        api = (api or settings().sendgrid_api).strip().lower()
        if api not in SENDGRID_APIS:
            raise errors.NotConfigured(
                "COMMLOG_SENDGRID_API must be 'logs' or 'activity'.", provider=self.name
            )
        self.api = api
        self.http = http or ProviderHttp()
        self._setting_name = setting_name
        if logs_per_minute is None:
            logs_per_minute = settings().sendgrid_rate_per_min
        key = limiter_key or f"sendgrid:{self.base_url}"
        self.logs_limiter = limiter_for(f"{key}:logs", logs_per_minute)
        self.activity_limiter = limiter_for(f"{key}:activity", activity_per_minute)
        self.api_limiter = limiter_for(f"{key}:api", logs_per_minute)

    def __repr__(self) -> str:
        return f"SendGridProvider(api={self.api!r}, base_url={self.base_url!r}, api_key=***)"

    @property
    def feature(self) -> str:
        return LOGS_FEATURE if self.api == "logs" else ACTIVITY_FEATURE

    def requests_per_check(self) -> int:
        return 2 if self.api == "activity" else 1

    # --- plumbing -------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if not self._key:
            raise errors.not_configured(self.name, self._setting_name)
        return {"Authorization": f"Bearer {self._key.reveal()}", "Accept": "application/json"}

    def _call(self, method: str, path: str, *, limiter, json_body=None, notes: list[str] | None = None) -> Answer:
        ans = self.http.request(
            self.name, method, self.base_url + path, headers=self._headers(), limiter=limiter, json_body=json_body
        )
        if notes is not None:
            notes.extend(ans.notes)
        return ans

    def _ok_json(self, ans: Answer, feature: str, *, not_found: str | None = None):
        status = ans.status_code
        if 200 <= status < 300:
            return ans.json(self.name)
        if status in (401, 403):
            raise errors.not_entitled(self.name, status, feature)
        if status == 404:
            raise errors.NotFound(not_found or "SendGrid has no record of this email.", provider=self.name)
        if status == 400:
            text = self._error_text(ans)
            if "authorization required" in text.lower() or "access forbidden" in text.lower():
                raise errors.not_entitled(self.name, status, feature)
            raise errors.bad_request(self.name, status)
        raise errors.bad_request(self.name, status)

    def _error_text(self, ans: Answer) -> str:
        try:
            body = ans.json(self.name)
            return " ".join(str(e.get("message", "")) for e in body.get("errors", []) if isinstance(e, dict))
        except (errors.ProviderError, AttributeError):
            return ""

    def _events_or_bad(self, raw, parse) -> list:
        if not isinstance(raw, list):
            raise errors.bad_response(self.name, "no events list")
        out = []
        for item in raw:
            try:
                out.append(parse(item))
            except EventParseError:
                log.warning("sendgrid: skipped an unreadable event")
        return out

    # --- one message ------------------------------------------------------------------------------

    def fetch_events(self, message: StoredMessage) -> FetchResult:
        if not message.provider_message_id:
            raise errors.NotFound("No SendGrid message id is stored for this email.", provider=self.name)
        if self.api == "activity":
            return self._activity_fetch(message)
        return self._logs_fetch(message)

    def _logs_detail(self, sg_message_id: str, notes: list[str]) -> FetchResult:
        ans = self._call("GET", f"/v3/logs/{quote(sg_message_id, safe='')}", limiter=self.logs_limiter, notes=notes)
        body = self._ok_json(ans, LOGS_FEATURE)
        if not isinstance(body, dict):
            raise errors.bad_response(self.name, "not a message object")
        events = self._events_or_bad(body.get("events", []), lambda e: parse_sendgrid_logs_event(e, body))
        return FetchResult(events, body.get("status") if isinstance(body.get("status"), str) else None, notes)

    def _logs_fetch(self, message: StoredMessage) -> FetchResult:
        notes: list[str] = []
        pmid = message.provider_message_id.strip()
        if "." in pmid:
            return self._logs_detail(pmid, notes)
        # Only the X-Message-Id is stored: find this recipient's row around the send time.
        q = (
            f"to_email = {_qstr(message.recipient_email)} AND "
            f'sg_message_id_created_at >= TIMESTAMP "{_ts(message.sent_at - timedelta(hours=1))}" AND '
            f'sg_message_id_created_at <= TIMESTAMP "{_ts(message.sent_at + timedelta(days=1))}"'
        )
        rows = self._logs_search(q, notes)
        match = next((r for r in rows if sendgrid_message_prefix(r.provider_message_id) == pmid), None)
        if match is None:
            raise errors.NotFound("SendGrid has no record of this email.", provider=self.name)
        return self._logs_detail(match.provider_message_id, notes)

    def _logs_search(self, query: str, notes: list[str] | None = None) -> list[RemoteMessage]:
        ans = self._call(
            "POST", "/v3/logs", limiter=self.logs_limiter, json_body={"query": query, "limit": SEARCH_LIMIT}, notes=notes
        )
        body = self._ok_json(ans, LOGS_FEATURE)
        msgs = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(msgs, list):
            raise errors.bad_response(self.name, "no messages list")
        out = []
        for m in msgs:
            if isinstance(m, dict) and m.get("sg_message_id"):
                created = None
                with contextlib.suppress(EventParseError):
                    created = parse_time(m.get("sg_message_id_created_at")) if m.get("sg_message_id_created_at") else None
                out.append(RemoteMessage(str(m["sg_message_id"]), m.get("to_email"), created, m.get("status")))
        return out

    def _activity_find(self, message: StoredMessage, notes: list[str]) -> str:
        pmid = message.provider_message_id.strip()
        prefix = sendgrid_message_prefix(pmid)
        q = f"msg_id LIKE '{prefix}%'"
        ans = self._call(
            "GET", f"/v3/messages?limit=10&query={quote(q, safe='')}", limiter=self.activity_limiter, notes=notes
        )
        body = self._ok_json(ans, ACTIVITY_FEATURE)
        msgs = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(msgs, list):
            raise errors.bad_response(self.name, "no messages list")
        rows = [m for m in msgs if isinstance(m, dict) and m.get("msg_id")]
        exact = [m for m in rows if m["msg_id"] == pmid]
        mine = exact or [m for m in rows if str(m.get("to_email", "")).lower() == message.recipient_email.lower()]
        if not mine:
            raise errors.NotFound("SendGrid has no record of this email.", provider=self.name)
        return str(mine[0]["msg_id"])

    def _activity_detail(self, msg_id: str, notes: list[str]) -> FetchResult:
        ans = self._call("GET", f"/v3/messages/{quote(msg_id, safe='')}", limiter=self.activity_limiter, notes=notes)
        body = self._ok_json(ans, ACTIVITY_FEATURE)
        if not isinstance(body, dict):
            raise errors.bad_response(self.name, "not a message object")
        to_email = body.get("to_email")
        events = self._events_or_bad(body.get("events", []), lambda e: parse_activity_event(e, msg_id, to_email))
        return FetchResult(events, body.get("status") if isinstance(body.get("status"), str) else None, notes)

    def _activity_fetch(self, message: StoredMessage) -> FetchResult:
        notes: list[str] = []
        return self._activity_detail(self._activity_find(message, notes), notes)

    # --- suppressions -----------------------------------------------------------------------------

    def suppression(self, email: str, hint: str | None = None) -> Suppression | None:
        """Which SendGrid suppression list holds `email` now. `hint`: the event type that made us
        ask (BOUNCE / DROPPED) and, for drops, the reason text, to ask the likely list first."""
        lists = ["bounces", "invalid_emails", "spam_reports"]
        h = (hint or "").lower()
        for needle, lst in _DROP_REASON_LISTS:
            if needle in h:
                lists = [lst] + [x for x in lists if x != lst]
                break
        for lst in lists:
            try:
                if lst == "unsubscribes":
                    ans = self._call("GET", f"/v3/asm/suppressions/global/{quote(email, safe='')}", limiter=self.api_limiter)
                    if ans.status_code == 404:
                        continue
                    body = self._ok_json(ans, SUPPRESSION_FEATURE)
                    if isinstance(body, dict) and body.get("recipient_email"):
                        return Suppression(True, _LIST_NAMES[lst])
                    continue
                ans = self._call("GET", f"/v3/suppression/{lst}/{quote(email, safe='')}", limiter=self.api_limiter)
                if ans.status_code == 404:
                    continue
                body = self._ok_json(ans, SUPPRESSION_FEATURE)
            except errors.ProviderError as exc:
                return Suppression(False, error=str(exc))
            if isinstance(body, dict):
                body = [body] if body.get("email") else []
            if not isinstance(body, list):
                return Suppression(False, error=str(errors.bad_response(self.name)))
            for row in body:
                if isinstance(row, dict) and str(row.get("email", email)).lower() == email.lower():
                    since = None
                    with contextlib.suppress(EventParseError):
                        since = parse_time(row.get("created")) if row.get("created") is not None else None
                    return Suppression(True, _LIST_NAMES.get(lst, lst), since, row.get("reason"))
        return Suppression(False)

    def suppressions(self, email: str) -> SuppressionReport:
        """Every SendGrid suppression list that holds `email` now. The five lists are asked one
        after another; the first failure (refused key, rate limit, provider down, unreadable
        answer) is reported in `error` and the remaining lists are not asked."""
        asked: list[str] = []
        entries: list[SuppressionEntry] = []
        error = None
        for lst in SUPPRESSION_LISTS:
            try:
                entry = self._suppression_entry(lst, email)
            except errors.ProviderError as exc:
                error = str(exc)
                break
            asked.append(lst)
            if entry is not None:
                entries.append(entry)
        return SuppressionReport(self.label, email, tuple(asked), tuple(entries), error)

    def _suppression_entry(self, lst: str, email: str) -> SuppressionEntry | None:
        """Ask one list about `email`: its entry, or None when the list does not hold it (an empty
        answer or a 404). Raises ProviderError."""
        path = f"/v3/asm/suppressions/global/{quote(email, safe='')}" if lst == "unsubscribes" else f"/v3/suppression/{lst}/{quote(email, safe='')}"
        ans = self._call("GET", path, limiter=self.api_limiter)
        if ans.status_code == 404:
            return None
        body = self._ok_json(ans, SUPPRESSION_FEATURE)
        if lst == "unsubscribes":
            return self._global_unsubscribe_entry(body, email)
        if isinstance(body, dict) and (body.get("email") or not body):  # one row, or {} = not listed
            body = [body] if body else []
        if not isinstance(body, list):
            raise errors.bad_response(self.name, f"the {_LIST_NAMES[lst]} answer is not a list of addresses")
        row = next(
            (r for r in body if isinstance(r, dict) and str(r.get("email", email)).lower() == email.lower()), None
        )
        if row is None:
            return None
        reason = row.get("reason")
        return SuppressionEntry(
            list_key=lst,
            label=_LIST_NAMES[lst],
            since=_since(row.get("created")),
            reason=str(reason) if reason else None,
            stops_sending=lst not in _NOT_STOPPING,
            recipient_asked=lst in _RECIPIENT_ASKED,
        )

    def _global_unsubscribe_entry(self, body: object, email: str) -> SuppressionEntry | None:
        """`{"recipient_email": ...}` when the address is globally unsubscribed, `{}` when not. The
        answer says nothing about when, so `since` is None."""
        if not isinstance(body, dict):
            raise errors.bad_response(self.name, "the global unsubscribes answer is not an object")
        listed = body.get("recipient_email")
        if not listed or str(listed).lower() != email.lower():
            return None
        return SuppressionEntry(
            list_key="unsubscribes",
            label=_LIST_NAMES["unsubscribes"],
            since=None,
            reason=None,
            stops_sending=True,
            recipient_asked=True,
        )

    # --- sync -------------------------------------------------------------------------------------

    def list_messages(self, since: datetime, until: datetime) -> Iterator[RemoteMessage]:
        """Every message created in [since, until). No pagination exists: a window that returns
        `limit` rows is split in halves until each returns fewer."""
        stack = [(since, until)]
        while stack:
            a, b = stack.pop()
            if self.api == "logs":
                q = (
                    f'sg_message_id_created_at >= TIMESTAMP "{_ts(a)}" AND '
                    f'sg_message_id_created_at < TIMESTAMP "{_ts(b)}"'
                )
                rows = self._logs_search(q)
            else:
                rows = self._activity_search(a, b)
            if len(rows) >= SEARCH_LIMIT and (b - a) > timedelta(seconds=2):
                mid = a + (b - a) / 2
                stack.extend([(mid, b), (a, mid)])
                continue
            yield from rows

    def _activity_search(self, a: datetime, b: datetime) -> list[RemoteMessage]:
        q = f'last_event_time BETWEEN TIMESTAMP "{_ts(a)}" AND TIMESTAMP "{_ts(b)}"'
        ans = self._call("GET", f"/v3/messages?limit={SEARCH_LIMIT}&query={quote(q, safe='')}", limiter=self.activity_limiter)
        body = self._ok_json(ans, ACTIVITY_FEATURE)
        msgs = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(msgs, list):
            raise errors.bad_response(self.name, "no messages list")
        out = []
        for m in msgs:
            if isinstance(m, dict) and m.get("msg_id"):
                out.append(RemoteMessage(str(m["msg_id"]), m.get("to_email"), None, m.get("status")))
        return out

    def fetch_remote(self, remote: RemoteMessage) -> FetchResult:
        if self.api == "logs":
            return self._logs_detail(remote.provider_message_id, [])
        return self._activity_detail(remote.provider_message_id, [])
