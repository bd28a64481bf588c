"""The Communication Log's view state: what the URL carries, how it is validated, and the
LogFilter that queries run with. Pure: no database, no Streamlit.

URL parameters (all optional):
  lender=<id> (ops only) · account=<id> (a borrower; absent = the lender's own log; all = every
  log of the lender, lender and borrowers) · family=google|microsoft|yahoo|apple|other
  range=24h|7d|30d|custom · from=YYYY-MM-DD · to=YYYY-MM-DD (custom; dates in the viewer's zone)
  status=sent|failed · delivery=DELIVERED|NOT_DELIVERED|PENDING|NOT_CHECKED · event=<EVENT TYPE>
  type=<email type> · audience=staff|borrower · q=<recipient or subject text> · domain=<domain>
  sort=newest|oldest|recipient|status · page=<n> · size=25|50|100
  find=<text> ("Find emails to…": every email to the matching recipients, across the lender's logs)
  lenders=all (ops: that search across every lender)
Anything invalid is dropped with a short notice; it never reaches SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from commlog.domains import FAMILIES
from commlog.vocabulary import NOT_CHECKED, Audience, DeliveryStatus, EventType, SendStatus

PRESETS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PRESET_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Custom dates"}
DEFAULT_RANGE = "30d"
ALL_LOGS_PARAM = "all"  # account=all: every log of the lender
ALL_LENDERS_PARAM = "all"  # lenders=all: the recipient search over every lender (ops)
PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE = 100_000
MAX_TEXT = 200  # longer search text is cut: no user needs more, and LIKE cost grows with it
MAX_DOMAIN = 255
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "recipient": "Recipient A–Z", "status": "Delivery status"}
DEFAULT_SORT = "newest"
DELIVERY_CHOICES = (*[s.value for s in DeliveryStatus], NOT_CHECKED)
EMAIL_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DOMAIN_RE = re.compile(r"^[a-z0-9.-]{1,255}$")


@dataclass(frozen=True)
class ViewState:
    """What a bookmarkable log view holds; mirrors the URL parameters."""

    lender_id: int | None = None
    account_id: int | None = None
    all_logs: bool = False  # every log of the lender (lender's own and all borrowers')
    range: str = DEFAULT_RANGE
    date_from: date | None = None
    date_to: date | None = None
    send_status: str | None = None
    delivery_status: str | None = None
    event_type: str | None = None
    email_type: str | None = None
    audience: str | None = None
    text: str | None = None
    domain: str | None = None
    provider_family: str | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    search: str | None = None  # "Find emails to…" text: the page lists the search's results, not the log
    search_all_lenders: bool = False  # ops: the search spans every lender


@dataclass(frozen=True)
class LogFilter:
    """What a log query runs with: UTC bounds, validated values, one lender."""

    lender_id: int
    account_id: int | None = None  # None: the lender's own log (or every log with all_logs)
    all_logs: bool = False
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    send_status: str | None = None
    delivery_status: str | None = None
    event_type: str | None = None
    email_type: str | None = None
    audience: str | None = None
    text: str | None = None
    domain: str | None = None
    provider_family: str | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass
class ParseResult:
    view: ViewState
    notices: list[str] = field(default_factory=list)


def _first(value) -> str | None:  # noqa: ANN001 - query params arrive as str or list of str
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _positive_int(raw: str | None, name: str, notices: list[str], maximum: int = 2**53) -> int | None:
    if raw is None:
        return None
    # ASCII digits only: str.isdigit() is also true for '²' or '¹²', which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 16 or not (1 <= int(raw) <= maximum):
        notices.append(f"Ignored {name}={_show(raw)}: not a valid {name}.")
        return None
    return int(raw)


def _show(raw: str) -> str:
    return repr(raw[:40] + ("…" if len(raw) > 40 else ""))


def _choice(raw: str | None, name: str, allowed, notices: list[str], transform=str) -> str | None:  # noqa: ANN001
    if raw is None:
        return None
    value = transform(raw)
    if value not in allowed:
        notices.append(f"Ignored {name}={_show(raw)}: not one of {', '.join(sorted(allowed))}.")
        return None
    return value


def clean_text(raw: str | None) -> str | None:
    if raw is None:
        return None
    # NUL never reaches SQL: PostgreSQL refuses it in text (a DataError, not a notice).
    text = " ".join(raw.replace("\x00", " ").split())[:MAX_TEXT]
    return text or None


def parse_query_params(params: Mapping[str, object]) -> ParseResult:
    """Validate URL parameters into a ViewState. Ownership of lender/account ids is checked later,
    against the database and the principal (commlog.log_queries.resolve_view)."""
    notices: list[str] = []
    get = lambda k: _first(params.get(k))  # noqa: E731

    lender_id = _positive_int(get("lender"), "lender", notices)
    raw_account = get("account")
    all_logs = raw_account is not None and raw_account.lower() == ALL_LOGS_PARAM
    account_id = None if all_logs else _positive_int(raw_account, "account", notices)
    rng = _choice(get("range"), "range", set(PRESET_LABELS), notices) or DEFAULT_RANGE
    date_from = _parse_date(get("from"), "from", notices)
    date_to = _parse_date(get("to"), "to", notices)
    if rng == "custom":
        if date_from is None and date_to is None:
            notices.append("Custom range without dates: showing the last 30 days.")
            rng = DEFAULT_RANGE
        elif date_from and date_to and date_from > date_to:
            notices.append("The 'from' date is after the 'to' date: swapped them.")
            date_from, date_to = date_to, date_from
    else:
        date_from = date_to = None

    send_status = _choice(get("status"), "status", {s.value for s in SendStatus}, notices, str.lower)
    delivery = _choice(get("delivery"), "delivery", set(DELIVERY_CHOICES), notices, str.upper)
    event = _choice(get("event"), "event", {e.value for e in EventType}, notices, str.upper)
    audience = _choice(get("audience"), "audience", {a.value for a in Audience}, notices, str.lower)
    family = _choice(get("family"), "family", set(FAMILIES), notices, str.lower)
    email_type = get("type")
    if email_type is not None:
        email_type = email_type.lower()
        if not EMAIL_TYPE_RE.match(email_type):
            notices.append(f"Ignored type={_show(email_type)}: not an email type.")
            email_type = None
    domain = get("domain")
    if domain is not None:
        domain = domain.lower().lstrip("@")
        if not DOMAIN_RE.match(domain):
            notices.append(f"Ignored domain={_show(domain)}: not a domain name.")
            domain = None
    raw_text = get("q")
    text = clean_text(raw_text)
    if raw_text and len(raw_text) > MAX_TEXT:
        notices.append(f"Search text was cut to {MAX_TEXT} characters.")
    raw_search = get("find")
    search = clean_text(raw_search)
    if raw_search and len(raw_search) > MAX_TEXT:
        notices.append(f"Search text was cut to {MAX_TEXT} characters.")
    raw_lenders = get("lenders")
    search_all = raw_lenders is not None and raw_lenders.lower() == ALL_LENDERS_PARAM
    if raw_lenders is not None and not search_all:
        notices.append(f"Ignored lenders={_show(raw_lenders)}: the only choice is lenders=all.")
    sort = _choice(get("sort"), "sort", set(SORTS), notices, str.lower) or DEFAULT_SORT
    page = _positive_int(get("page"), "page", notices, MAX_PAGE) or 1
    size_raw = _positive_int(get("size"), "size", notices)
    page_size = DEFAULT_PAGE_SIZE
    if size_raw is not None:
        if size_raw in PAGE_SIZES:
            page_size = size_raw
        else:
            notices.append(f"Ignored size={size_raw}: page size is one of {', '.join(map(str, PAGE_SIZES))}.")
    view = ViewState(
        lender_id=lender_id,
        account_id=account_id,
        all_logs=all_logs,
        range=rng,
        date_from=date_from,
        date_to=date_to,
        send_status=send_status,
        delivery_status=delivery,
        event_type=event,
        email_type=email_type,
        audience=audience,
        text=text,
        domain=domain,
        provider_family=family,
        sort=sort,
        page=page,
        page_size=page_size,
        search=search,
        search_all_lenders=search_all and search is not None,
    )
    return ParseResult(view, notices)


def _parse_date(raw: str | None, name: str, notices: list[str]) -> date | None:
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        value = date.fromisoformat(raw)
    except ValueError:
        notices.append(f"Ignored {name}={_show(raw)}: dates are written YYYY-MM-DD.")
        return None
    if not (date(2000, 1, 1) <= value <= date(2100, 1, 1)):
        notices.append(f"Ignored {name}={_show(raw)}: date out of range.")
        return None
    return value


def to_query_params(view: ViewState) -> dict[str, str]:
    """The URL parameters for a view; defaults are left out so URLs stay short."""
    out: dict[str, str] = {}
    if view.lender_id is not None:
        out["lender"] = str(view.lender_id)
    if view.all_logs:
        out["account"] = ALL_LOGS_PARAM
    elif view.account_id is not None:
        out["account"] = str(view.account_id)
    if view.range != DEFAULT_RANGE:
        out["range"] = view.range
    if view.range == "custom":
        if view.date_from:
            out["from"] = view.date_from.isoformat()
        if view.date_to:
            out["to"] = view.date_to.isoformat()
    for key, value in (
        ("status", view.send_status),
        ("delivery", view.delivery_status),
        ("event", view.event_type),
        ("type", view.email_type),
        ("audience", view.audience),
        ("q", view.text),
        ("domain", view.domain),
        ("family", view.provider_family),
    ):
        if value:
            out[key] = value
    if view.sort != DEFAULT_SORT:
        out["sort"] = view.sort
    if view.page != 1:
        out["page"] = str(view.page)
    if view.page_size != DEFAULT_PAGE_SIZE:
        out["size"] = str(view.page_size)
    if view.search:
        out["find"] = view.search
        if view.search_all_lenders:
            out["lenders"] = ALL_LENDERS_PARAM
    return out


def time_bounds(view: ViewState, tz: ZoneInfo, now: datetime) -> tuple[datetime | None, datetime | None]:
    """UTC [since, until) for the view's range; custom dates are whole days in the viewer's zone."""
    if view.range in PRESETS:
        return now - PRESETS[view.range], None
    since = datetime.combine(view.date_from, time.min, tz).astimezone(ZoneInfo("UTC")) if view.date_from else None
    until = (
        datetime.combine(view.date_to + timedelta(days=1), time.min, tz).astimezone(ZoneInfo("UTC")) if view.date_to else None
    )
    return since, until


def to_log_filter(view: ViewState, lender_id: int, tz: ZoneInfo, now: datetime) -> LogFilter:
    since, until = time_bounds(view, tz, now)
    return LogFilter(
        lender_id=lender_id,
        account_id=None if view.all_logs else view.account_id,
        all_logs=view.all_logs,
        since=since,
        until=until,
        send_status=view.send_status,
        delivery_status=view.delivery_status,
        event_type=view.event_type,
        email_type=view.email_type,
        audience=view.audience,
        text=view.text,
        domain=view.domain,
        provider_family=view.provider_family,
        sort=view.sort,
        page=view.page,
        page_size=view.page_size,
    )


def view_dict(view: ViewState) -> dict:
    """For the audit trail."""
    return {k: v for k, v in asdict(view).items() if v not in (None, "")}


__all__ = [
    "LogFilter",
    "ViewState",
    "parse_query_params",
    "to_query_params",
    "to_log_filter",
    "time_bounds",
]
