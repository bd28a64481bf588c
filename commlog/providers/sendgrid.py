"""SendGrid adapter: the Email Logs API (default) or the legacy Email Activity API
(`COMMLOG_SENDGRID_API=activity`), plus suppression lookups and removal.

Suppressions: `suppression()` (for checks) stops at the first list that holds the address among
bounces, invalid_emails and spam_reports; `suppressions()` asks all five lists one after another
(`GET /v3/suppression/{bounces|blocks|invalid_emails|spam_reports}/{email}`, then
`GET /v3/asm/suppressions/global/{email}`) and reports every one that holds it. Both go through
`_call` and the account's one rate budget; the first failure ends the lookup.

Removal (`remove_suppression`): `DELETE /v3/suppression/{bounces|blocks|invalid_emails}/{email}`
through the same `_call` (same budget, Retry-After handling and bounded retries): 204 removed, 404
it was not on the list. Spam reports and global unsubscribes (the recipient asked for them) are
refused before any request (`errors.NotRemovable`).

Message ids: commlog stores the full per-recipient id (`<X-Message-Id>.recvd-…`).
* Logs: a full id is fetched directly with `GET /v3/logs/{sg_message_id}` (one request). An id
  without the per-recipient suffix (only the X-Message-Id) is searched with `POST /v3/logs`
  (`to_email = … AND sg_message_id_created_at` around the send time; prefix match on
  `sg_message_id` is undocumented) and the row whose id starts with it is fetched.
* Activity: `GET /v3/messages?query=msg_id LIKE '<X-Message-Id>%'`, keep the row of this
  recipient, then `GET /v3/messages/{msg_id}` (two requests on a 6-a-minute budget).
Queries are pre-encoded with `quote(q, safe="")` (httpx would turn spaces into `+`).

Rate limits (`commlog.providers.rate_limit`, per process, shared by all threads): every request of
one API key at one base URL (Email Logs, Email Activity, suppressions, global unsubscribes) draws
from the account's one budget, whose starting guess is `COMMLOG_SENDGRID_RATE_PER_MIN` (default
600 a minute: SendGrid publishes no number for these endpoints; 600/min/user is its long-standing
default v3 limit) and which learns the real limit from SendGrid's X-RateLimit-* headers. Email
Activity requests must also pass its documented 6-a-minute bucket.

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
    RemovalAnswer,
    StoredMessage,
    Suppression,
    SuppressionEntry,
    SuppressionReport,
)
from commlog.providers.http import Answer, ProviderHttp
from commlog.providers.normalize import (
    EventParseError,
    parse_activity_event,
    parse_sendgrid_logs_event,
    parse_sendgrid_webhook_event,  # noqa: F401 - re-exported for the webhook receiver
    parse_time,
    sendgrid_message_prefix,
)
from commlog.providers.rate_limit import RateLimiter, account_limiter, bucket_limiter, limiter_for
from commlog.settings import SENDGRID_APIS, Secret, settings

log = logging.getLogger("commlog.providers.sendgrid")

ACTIVITY_PER_MIN = 6
SEARCH_LIMIT = 1000
RETENTION = timedelta(days=30)

LOGS_FEATURE = "the Email Logs API (it needs a key with Email Logs read access, and the Email Logs add-on where required)"
ACTIVITY_FEATURE = "Email Activity (it needs the paid Email Activity history add-on and a key with email_activity.read)"
SUPPRESSION_FEATURE = "suppression lists (it needs a key with Suppressions read access)"
REMOVAL_FEATURE = "removing addresses from suppression lists (it needs a key with Suppressions write access)"
# What to change when a valid key may not use a feature (HTTP 403), per feature.
_ENTITLEMENT_FIX = {
    LOGS_FEATURE: "in SendGrid (Settings > API Keys) give the key in SENDGRID_API_KEY Email Logs read access, "
                  "or set COMMLOG_SENDGRID_API=activity if the account has the Email Activity add-on instead.",
    ACTIVITY_FEATURE: "in SendGrid (Settings > API Keys) give the key in SENDGRID_API_KEY Email Activity access and "
                      "add the Email Activity history add-on, or set COMMLOG_SENDGRID_API=logs.",
    SUPPRESSION_FEATURE: "in SendGrid (Settings > API Keys) give the key in SENDGRID_API_KEY Suppressions read access.",
    REMOVAL_FEATURE: "in SendGrid (Settings > API Keys) give the key in SENDGRID_API_KEY Suppressions full access.",
}
# SendGrid's Email Activity API answers 401 without its add-on too (providers.md, "Errors").
_ACTIVITY_401_NOTE = "(The Email Activity API also answers 401 when the account lacks its add-on.)"

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
# The lists commlog may take an address off (providers.md, "Suppression management").
REMOVABLE_LISTS = ("bounces", "blocks", "invalid_emails")


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
        # One budget per account (key fingerprint + base URL); `limiter_key` names a private one (tests).
        self.limiter: RateLimiter = (
            limiter_for(limiter_key, logs_per_minute) if limiter_key
            else account_limiter("sendgrid", self._key, self.base_url, logs_per_minute)
        )
        self.activity_bucket = bucket_limiter(self.limiter, "activity", activity_per_minute)

    def rate_wait(self) -> float:
        """Seconds until SendGrid's rate limit lets the next request go (0: it does now)."""
        return max(self.limiter.closed_for(), self.activity_bucket.closed_for() if self.api == "activity" else 0.0)

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

    def _call(self, method: str, path: str, *, bucket: RateLimiter | None = None, json_body=None,
              notes: list[str] | None = None) -> Answer:
        """One request on the account's budget (and `bucket`, a stricter one, when given)."""
        ans = self.http.request(
            self.name, method, self.base_url + path, headers=self._headers(), limiter=self.limiter, bucket=bucket,
            json_body=json_body,
        )
        if notes is not None:
            notes.extend(ans.notes)
        return ans

    def _ok_json(self, ans: Answer, feature: str, *, not_found: str | None = None):
        if 200 <= ans.status_code < 300:
            return ans.json(self.name)
        raise self._refusal(ans, feature, not_found=not_found)

    def _refusal(self, ans: Answer, feature: str, *, not_found: str | None = None) -> errors.ProviderError:
        """The error a non-2xx answer means (429s and 5xx never get here: the HTTP layer retries
        them, then raises)."""
        status = ans.status_code
        if status == 401:
            note = _ACTIVITY_401_NOTE if feature == ACTIVITY_FEATURE else ""
            return errors.key_not_accepted(self.name, status, self._setting_name, note=note)
        if status == 403:
            return errors.not_entitled(self.name, status, feature, _ENTITLEMENT_FIX[feature])
        if status == 404:
            return errors.NotFound(not_found or "SendGrid has no record of this email.", provider=self.name)
        if status == 400:
            text = self._error_text(ans)
            if "authorization required" in text.lower() or "access forbidden" in text.lower():
                return errors.not_entitled(self.name, status, feature, _ENTITLEMENT_FIX[feature])
        return errors.bad_request(self.name, status)

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
        ans = self._call("GET", f"/v3/logs/{quote(sg_message_id, safe='')}", notes=notes)
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
            "POST", "/v3/logs", json_body={"query": query, "limit": SEARCH_LIMIT}, notes=notes
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
            "GET", f"/v3/messages?limit=10&query={quote(q, safe='')}", bucket=self.activity_bucket, notes=notes
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
        ans = self._call("GET", f"/v3/messages/{quote(msg_id, safe='')}", bucket=self.activity_bucket, notes=notes)
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
                    ans = self._call("GET", f"/v3/asm/suppressions/global/{quote(email, safe='')}")
                    if ans.status_code == 404:
                        continue
                    body = self._ok_json(ans, SUPPRESSION_FEATURE)
                    if isinstance(body, dict) and body.get("recipient_email"):
                        return Suppression(True, _LIST_NAMES[lst])
                    continue
                ans = self._call("GET", f"/v3/suppression/{lst}/{quote(email, safe='')}")
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
        ans = self._call("GET", path)
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

    # --- removal ---------------------------------------------------------------------------------

    def can_remove(self, list_key: str) -> bool:
        """bounces, blocks and invalid_emails only: never spam reports or unsubscribes."""
        return list_key in REMOVABLE_LISTS

    def remove_suppression(self, email: str, list_key: str) -> RemovalAnswer:
        """`DELETE /v3/suppression/{list}/{email}` on the account's budget: 204 removed, 404 it was
        not on the list. Raises NotRemovable (no request sent) for any other list, and the usual
        ProviderErrors: 401 key refused, 403 a key without Suppressions write access, 429 rate
        limited (after the policy's waiting), 5xx / timeouts unavailable, anything else a bad request."""
        label = _LIST_NAMES.get(list_key, list_key)
        if not self.can_remove(list_key):
            raise errors.not_removable(self.name, label, recipient_asked=list_key in _RECIPIENT_ASKED)
        ans = self._call("DELETE", f"/v3/suppression/{list_key}/{quote(email, safe='')}")
        who = errors.provider_in_sentence(self.name)
        if ans.status_code == 404:
            return RemovalAnswer(True, True, f"It was not on {who}'s {label} list any more.")
        if 200 <= ans.status_code < 300:
            return RemovalAnswer(True, False, f"{self.label} removed it from the {label} list.")
        raise self._refusal(ans, REMOVAL_FEATURE)

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
        ans = self._call("GET", f"/v3/messages?limit={SEARCH_LIMIT}&query={quote(q, safe='')}", bucket=self.activity_bucket)
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
