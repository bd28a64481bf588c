"""The Communication Log's view: what a bookmarkable view of the log holds, how it is read from and
written to the URL, and the query it runs. Pure: no database, no Streamlit.

    view, notices = LogView.from_query_params(st.query_params)    # invalid values dropped, with notices
    view.to_query_params()                                         # defaults left out: short URLs
    query = view.query(lender_id, tz, now)                         # what commlog.log_queries runs

URL parameters (all optional):
  lender=<id> (ops only) · account=<id> (a borrower; absent = the lender's own log; all = every log
  of the lender, lender and borrowers) · range=24h|7d|30d|custom · from=YYYY-MM-DD · to=YYYY-MM-DD
  (custom; dates in the viewer's zone) · sent_from=YYYY-MM-DDTHH:MMZ & sent_to=… (both: exact UTC
  bounds, half-open, as Deliverability's links carry them so the log counts the same messages in
  every zone; they replace range/from/to) · the choice filters of `commlog.log_filters` (status,
  delivery, event, type, audience, family, provider) · q=<recipient or subject text> ·
  domain=<domain> · sort=newest|oldest|recipient|status · page=<n> · size=25|50|100 ·
  find=<text> ("Find emails to…": every email to the matching recipients, across the lender's logs)
  · lenders=all (ops: that search across every lender).
Anything invalid is dropped with a short notice; it never reaches SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from commlog.log_filters import BY_PARAM, FILTERS

PRESETS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PRESET_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Custom dates"}
DEFAULT_RANGE = "30d"
# range=EXACT: exact UTC bounds [sent_from, sent_to) from a link (Deliverability counts UTC send
# days; the viewer's local days would count other messages). Never written as range= in the URL:
# the sent_from/sent_to parameters stand for it.
EXACT = "utc"
EXACT_LABEL = "Exact UTC times"
UTC_STAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}Z$")  # 2026-11-20T00:00Z, nothing else
ALL_LOGS_PARAM = "all"  # account=all: every log of the lender
ALL_LENDERS_PARAM = "all"  # lenders=all: the recipient search over every lender (ops)
PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE = 100_000
MAX_TEXT = 200  # longer search text is cut: no user needs more, and LIKE cost grows with it
MAX_DOMAIN = 255
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "recipient": "Recipient A–Z", "status": "Delivery status"}
DEFAULT_SORT = "newest"
DOMAIN_RE = re.compile(r"^[a-z0-9.-]{1,255}$")
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 1, 1)


@dataclass(frozen=True)
class LogView:
    """One view of the Communication Log, as its URL carries it."""

    lender_id: int | None = None
    account_id: int | None = None  # a borrower's log; None: the lender's own log (or every log)
    all_logs: bool = False  # every log of the lender (lender's own and all borrowers')
    range: str = DEFAULT_RANGE
    date_from: date | None = None  # custom range, days in the viewer's zone
    date_to: date | None = None
    sent_from: datetime | None = None  # range=EXACT: UTC, inclusive
    sent_to: datetime | None = None  # range=EXACT: UTC, exclusive
    # The choice filters set (commlog.log_filters): (param, value) pairs; a mapping is accepted too.
    choices: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    domain: str | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    search: str | None = None  # "Find emails to…" text: the page lists the search's results, not the log
    search_all_lenders: bool = False  # ops: the search spans every lender

    def __post_init__(self) -> None:
        # Frozen and hashable (a "did the filters change" signature): the choices as sorted pairs of
        # known filters with a value.
        pairs = self.choices.items() if isinstance(self.choices, Mapping) else self.choices
        object.__setattr__(self, "choices", tuple(sorted((k, v) for k, v in pairs if k in BY_PARAM and v)))
        # Exact bounds only with range=EXACT, and range=EXACT only with both bounds, in order.
        exact = self.sent_from is not None and self.sent_to is not None and self.sent_from < self.sent_to
        if self.range == EXACT and not exact:
            object.__setattr__(self, "range", DEFAULT_RANGE)
        if self.range != EXACT:
            object.__setattr__(self, "sent_from", None)
            object.__setattr__(self, "sent_to", None)

    def choice(self, param: str) -> str | None:
        return dict(self.choices).get(param)

    @property
    def filtered(self) -> bool:
        """Does anything beyond the log and the dates narrow it?"""
        return bool(self.choices or self.text or self.domain)

    # --- the URL ---------------------------------------------------------------------------------

    @classmethod
    def from_query_params(cls, params: Mapping[str, object]) -> tuple[LogView, list[str]]:
        """The view a URL asks for, and a notice for each value that was dropped or changed.
        Whether the lender and account ids are the principal's is checked later, against the
        database (`commlog.log_queries.resolve_view`)."""
        return _Parser(params).view()

    def to_query_params(self) -> dict[str, str]:
        """The URL parameters for this view; defaults are left out so URLs stay short."""
        out: dict[str, str] = {}
        if self.lender_id is not None:
            out["lender"] = str(self.lender_id)
        if self.all_logs:
            out["account"] = ALL_LOGS_PARAM
        elif self.account_id is not None:
            out["account"] = str(self.account_id)
        if self.range == EXACT:
            out["sent_from"], out["sent_to"] = utc_stamp(self.sent_from), utc_stamp(self.sent_to)
        elif self.range != DEFAULT_RANGE:
            out["range"] = self.range
        if self.range == "custom":
            if self.date_from:
                out["from"] = self.date_from.isoformat()
            if self.date_to:
                out["to"] = self.date_to.isoformat()
        out.update(self.choices)
        for key, value in (("q", self.text), ("domain", self.domain)):
            if value:
                out[key] = value
        if self.sort != DEFAULT_SORT:
            out["sort"] = self.sort
        if self.page != 1:
            out["page"] = str(self.page)
        if self.page_size != DEFAULT_PAGE_SIZE:
            out["size"] = str(self.page_size)
        if self.search:
            out["find"] = self.search
            if self.search_all_lenders:
                out["lenders"] = ALL_LENDERS_PARAM
        return out

    # --- the query -------------------------------------------------------------------------------

    def bounds(self, tz: ZoneInfo, now: datetime) -> tuple[datetime | None, datetime | None]:
        """UTC [since, until) of the view's dates; custom dates are whole days in the viewer's zone,
        exact bounds are what they say in every zone."""
        if self.range == EXACT:
            return self.sent_from, self.sent_to
        if self.range in PRESETS:
            return now - PRESETS[self.range], None
        return day_bounds(self.date_from, self.date_to, tz)

    def query(self, lender_id: int, tz: ZoneInfo, now: datetime) -> LogQuery:
        since, until = self.bounds(tz, now)
        return LogQuery(lender_id, self, since, until)


@dataclass(frozen=True)
class LogQuery:
    """What a log query runs with: one lender, a view, and the view's dates as UTC bounds."""

    lender_id: int
    view: LogView = field(default_factory=LogView)
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC

    @property
    def offset(self) -> int:
        return (self.view.page - 1) * self.view.page_size


def day_bounds(first: date | None, last: date | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """UTC [since, until) of whole days `first`..`last` in the viewer's zone (an open end: None)."""
    utc = ZoneInfo("UTC")
    since = datetime.combine(first, time.min, tz).astimezone(utc) if first else None
    until = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(utc) if last else None
    return since, until


def utc_stamp(moment: datetime) -> str:
    """A UTC bound as the URL writes it: '2026-11-20T00:00Z'."""
    return f"{moment.astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%M}Z"


def parse_utc_stamp(raw: str) -> datetime | None:
    """'2026-11-20T00:00Z' as an aware UTC datetime; None for anything else (no other form, no
    other zone, no date out of EARLIEST..LATEST)."""
    if not UTC_STAMP_RE.fullmatch(raw):
        return None
    try:
        moment = datetime.fromisoformat(raw[:-1]).replace(tzinfo=ZoneInfo("UTC"))
    except ValueError:
        return None
    return moment if EARLIEST <= moment.date() <= LATEST else None


def exact_label(since: datetime, until: datetime, tz: ZoneInfo) -> str:
    """How the log names exact bounds: 'Sent 20 Nov 00:00 – 27 Nov 00:00 UTC (in America/Los_Angeles:
    19 Nov 16:00 – 26 Nov 16:00)'. The year is written when the two differ."""
    def moment(m: datetime, year: bool) -> str:
        return f"{m.day} {m:%b}{f' {m.year}' if year else ''} {m:%H:%M}"

    utc = ZoneInfo("UTC")
    a, b = since.astimezone(utc), until.astimezone(utc)
    text = f"Sent {moment(a, a.year != b.year)} – {moment(b, a.year != b.year)} UTC"
    if tz.key != "UTC":
        la, lb = since.astimezone(tz), until.astimezone(tz)
        text += f" (in {tz.key}: {moment(la, la.year != lb.year)} – {moment(lb, la.year != lb.year)})"
    return text


def exact_days(since: datetime, until: datetime) -> str | None:
    """The whole UTC days exact bounds cover ('20–26 Nov', '30 Nov – 2 Dec'), or None when a bound
    is not a UTC midnight."""
    utc = ZoneInfo("UTC")
    a, b = since.astimezone(utc), until.astimezone(utc)
    if a.time() != time.min or b.time() != time.min:
        return None
    last = (b - timedelta(days=1)).date()
    first = a.date()
    if first == last:
        return f"{last.day} {last:%b}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b}"
    return f"{first.day} {first:%b} – {last.day} {last:%b}"


def clean_text(raw: str | None) -> str | None:
    """Search text as it is searched: whitespace collapsed, NUL dropped (PostgreSQL refuses it), cut."""
    if raw is None:
        return None
    text = " ".join(raw.replace("\x00", " ").split())[:MAX_TEXT]
    return text or None


class _Parser:
    """Reads a LogView from URL parameters, collecting a notice for every value it drops."""

    def __init__(self, params: Mapping[str, object]) -> None:
        self.params = params
        self.notices: list[str] = []

    def get(self, key: str) -> str | None:
        value = self.params.get(key)
        if isinstance(value, (list, tuple)):  # query params arrive as str or list of str
            value = value[0] if value else None
        if value is None:
            return None
        return str(value).strip() or None

    def drop(self, key: str, raw: str, why: str) -> None:
        self.notices.append(f"Ignored {key}={_show(raw)}: {why}.")

    def number(self, key: str, maximum: int = 2**53) -> int | None:
        raw = self.get(key)
        if raw is None:
            return None
        # ASCII digits only: str.isdigit() is also true for '²' or '¹²', which int() refuses.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 16 or not (1 <= int(raw) <= maximum):
            self.drop(key, raw, f"not a valid {key}")
            return None
        return int(raw)

    def one_of(self, key: str, allowed: Mapping[str, str], transform: Callable[[str], str] = str.lower) -> str | None:
        raw = self.get(key)
        if raw is None:
            return None
        value = transform(raw)
        if value not in allowed:
            self.drop(key, raw, f"not one of {', '.join(sorted(allowed))}")
            return None
        return value

    def day(self, key: str) -> date | None:
        raw = self.get(key)
        if raw is None:
            return None
        try:
            if len(raw) != 10:
                raise ValueError
            value = date.fromisoformat(raw)
        except ValueError:
            self.drop(key, raw, "dates are written YYYY-MM-DD")
            return None
        if not (EARLIEST <= value <= LATEST):
            self.drop(key, raw, "date out of range")
            return None
        return value

    def exact(self) -> tuple[datetime | None, datetime | None]:
        """sent_from and sent_to, both valid and in order, or neither (with one notice)."""
        raw_from, raw_to = self.get("sent_from"), self.get("sent_to")
        if raw_from is None and raw_to is None:
            return None, None
        since = parse_utc_stamp(raw_from) if raw_from else None
        until = parse_utc_stamp(raw_to) if raw_to else None
        if since is not None and until is not None and since < until:
            return since, until
        self.notices.append(
            f"Ignored sent_from={_show(raw_from or '')} and sent_to={_show(raw_to or '')}: exact send times need both, "
            "written like 2026-11-20T00:00Z (UTC), the first before the second."
        )
        return None, None

    def text(self, key: str) -> str | None:
        raw = self.get(key)
        if raw and len(raw) > MAX_TEXT:
            self.notices.append(f"Search text was cut to {MAX_TEXT} characters.")
        return clean_text(raw)

    def view(self) -> tuple[LogView, list[str]]:
        lender_id = self.number("lender")
        raw_account = self.get("account")
        all_logs = raw_account is not None and raw_account.lower() == ALL_LOGS_PARAM
        account_id = None if all_logs else self.number("account")
        rng = self.one_of("range", PRESET_LABELS) or DEFAULT_RANGE
        date_from, date_to = self.day("from"), self.day("to")
        sent_from, sent_to = self.exact()
        if sent_from is not None:
            rng = EXACT
        if rng == "custom":
            if date_from is None and date_to is None:
                self.notices.append("Custom range without dates: showing the last 30 days.")
                rng = DEFAULT_RANGE
            elif date_from and date_to and date_from > date_to:
                self.notices.append("The 'from' date is after the 'to' date: swapped them.")
                date_from, date_to = date_to, date_from
        else:
            date_from = date_to = None
        choices = {}
        for f in FILTERS:
            raw = self.get(f.param)
            if raw is not None:
                value = f.parse(raw)
                if value is None:
                    self.drop(f.param, raw, f"not one of {f.allowed()}" if f.values else f"not {_a(f.label.lower())}")
                choices[f.param] = value
        domain = self.get("domain")
        if domain is not None:
            domain = domain.lower().lstrip("@")
            if not DOMAIN_RE.match(domain):
                self.drop("domain", domain, "not a domain name")
                domain = None
        text = self.text("q")
        search = self.text("find")
        raw_lenders = self.get("lenders")
        search_all = raw_lenders is not None and raw_lenders.lower() == ALL_LENDERS_PARAM
        if raw_lenders is not None and not search_all:
            self.drop("lenders", raw_lenders, "the only choice is lenders=all")
        sort = self.one_of("sort", SORTS) or DEFAULT_SORT
        page = self.number("page", MAX_PAGE) or 1
        size = self.number("size")
        if size is not None and size not in PAGE_SIZES:
            self.notices.append(f"Ignored size={size}: page size is one of {', '.join(map(str, PAGE_SIZES))}.")
            size = None
        view = LogView(
            lender_id=lender_id, account_id=account_id, all_logs=all_logs, range=rng, date_from=date_from,
            date_to=date_to, sent_from=sent_from, sent_to=sent_to, choices=choices, text=text, domain=domain, sort=sort, page=page,
            page_size=size or DEFAULT_PAGE_SIZE, search=search, search_all_lenders=search_all and search is not None,
        )
        return view, self.notices


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _show(raw: str) -> str:
    return repr(raw[:40] + ("…" if len(raw) > 40 else ""))
