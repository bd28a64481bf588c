"""Deliverability: bounce, block and defer rates per lender, from the rollups (commlog.deliverability).

Ops see every lender; a lender admin sees their own lender, with the platform median as an
anonymous benchmark only. Days are UTC send dates (the rollup's unit); the page says so and names
the viewer's time zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from commlog import deliverability as D
from commlog.domains import FAMILIES
from commlog.principal import Principal
from commlog.ui import charts
from commlog.ui.links import page_link
from commlog.ui.page import guarded
from commlog.ui.resources import database_url, ensure_ready

with guarded() as principal:
    engine = ensure_ready()
    URL = database_url()
    TTL = 60  # seconds; the rollups change with every check and webhook

    RATE_METRICS = {"bounce": "Bounce", "block": "Block", "defer": "Defer", "failures": "All failures", "expired": "Expired"}
    THRESHOLDS = {"bounce": (2.0, 5.0, 10.0), "failures": (3.0, 6.0)}
    LEVEL_BADGE = {D.AT_RISK: ("At risk", "red"), D.WATCH: ("Watch", "orange"), D.HEALTHY: ("Healthy", "green"), D.LOW_VOLUME: ("Insufficient volume", "gray")}
    AUDIENCES = {None: "Staff and borrowers", "borrower": "Borrowers", "staff": "Lender staff"}


    # --- cached reads: the principal and every filter are ordinary, hashed parameters ---------------


    @st.cache_data(ttl=TTL, show_spinner=False, max_entries=200)
    def _read(url: str, who: Principal, fn: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with engine.connect() as conn:
            return getattr(D, fn)(conn, who, *args, **kwargs)


    def read(fn: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return _read(URL, principal, fn, *args, **kwargs)


    def log_link(params: dict[str, str], label: str, key: str | None = None) -> None:
        """A link into the Communication Log, filtered through its URL parameters (commlog.filters)."""
        try:
            page_link("pages/log.py", label, query_params=params, icon=":material/open_in_new:")
        except Exception:  # noqa: BLE001 - the page runs without st.navigation (tests, legacy mode)
            st.markdown(f"[{label}](/log?{urlencode(params)})")


    # --- controls --------------------------------------------------------------------------------

    tz_name = st.context.timezone or "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        tz_name, tz = "UTC", ZoneInfo("UTC")
    now = datetime.now(timezone.utc)
    today_utc = now.date()

    st.title("Deliverability")
    names: dict[int, str] = read("lender_names")

    lender_id: int | None
    if principal.is_ops:
        options = [None, *names]
        lender_id = st.selectbox(
            "Lender", options, format_func=lambda i: "All lenders" if i is None else names[i], key="dlv_lender",
            help="Platform ops see every lender; a lender admin sees only their own.",
        )
    else:
        lender_id = principal.lender_id
        st.caption(f"Lender: **{names.get(lender_id, '')}** · the platform median is an anonymous benchmark over at least "
                   f"{D.BENCHMARK_MIN_LENDERS} lenders.")

    span = read("data_range", lender_id)
    if span is None:
        st.info(
            "**No messages yet.** Once emails are sent (or the demo data is seeded), their delivery rates appear here. "
            "If messages exist but this stays empty, the rollups need building: `python -m commlog rebuild-rollups`."
        )
        st.stop()

    default_end = min(span[1], today_utc)
    default_start = max(span[0], default_end - timedelta(days=59))
    c1, c2, c3, c4 = st.columns([2.2, 1.4, 1.4, 1.4])
    with c1:
        picked = st.date_input(
            "Send dates (UTC days)", value=(default_start, default_end), min_value=span[0] - timedelta(days=365),
            max_value=today_utc, key="dlv_dates", format="YYYY-MM-DD",
        )
    with c2:
        granularity = st.segmented_control("Granularity", ["day", "week", "month"], default="day" if (default_end - default_start).days <= 45 else "week",
                                           format_func=str.capitalize, key="dlv_gran") or "week"
    with c3:
        audience = st.selectbox("Audience", list(AUDIENCES), format_func=AUDIENCES.get, key="dlv_audience")
    with c4:
        types = read("email_types", lender_id)
        email_type = st.selectbox("Email type", [None, *types], format_func=lambda t: "All email types" if t is None else t.replace("_", " "), key="dlv_type")

    with st.popover("Settings", icon=":material/tune:"):
        min_volume = int(st.number_input("Minimum volume (attempted messages) before a rate is graded", min_value=1, max_value=100_000,
                                         value=D.DEFAULT_MIN_VOLUME, step=50, key="dlv_min_volume"))
        st.caption("Below it a rate is shown greyed and flagged \"low volume\", and health is \"Insufficient volume\".")

    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick an end date as well to see the rates.")
        st.stop()
    start, end = picked
    q = D.MetricsQuery(start=start, end=end, lender_id=lender_id, granularity=granularity, email_type=email_type, audience=audience, min_volume=min_volume)
    offset = datetime.now(tz).strftime("%z")
    st.caption(
        f"Messages count on their **UTC send date**, so late events (a bounce two days later) update the day it was sent; "
        f"the last 3 days are provisional (◆). Your time zone is **{tz_name}** (UTC{offset[:3]}:{offset[3:]}): a day here runs "
        f"from UTC midnight. Rates use *attempted* messages (sent by our servers, minus those the provider did not attempt)."
    )

    summary: D.Counts = read("summary", q)
    if summary.requests == 0:
        st.info(f"**Nothing was sent between {start:%d %b %Y} and {end:%d %b %Y}** with these filters. Widen the dates or clear a filter.")
        st.stop()

    # --- headline ------------------------------------------------------------------------------------

    bench_metric = {m: read("window_median", q, m) for m in ("bounce", "block", "defer", "failures")}
    cols = st.columns(5)
    for col, metric in zip(cols, ("bounce", "block", "defer", "failures", "delivery")):
        r = summary.rate(metric, min_volume)
        with col:
            value = "low volume" if r.low_volume else D.pct(r.value)
            st.metric(D.METRICS[metric], value, help=D.METRIC_HELP[metric], border=True)
            line = f"{r.n_of_d} attempted"
            if r.low_volume:
                line = f"{r.n_of_d} attempted: under the minimum of {min_volume:,} · {D.pct(r.value)}"
            med, n = bench_metric.get(metric, (None, 0))
            if med is not None:
                line += f" · platform median {D.pct(med)}"
            st.caption(line)
    st.caption(
        f"{summary.coverage_text()} Not attempted by the provider (suppressed): {summary.rate('not_attempted').n_of_d} send requests · "
        f"failed to send from our servers: {summary.rate('failed_to_send').n_of_d}."
    )

    # --- findings and health ------------------------------------------------------------------------

    options = D.AssessmentOptions.of(q, today=today_utc)
    found: list[D.Finding] = read("findings_in_range", start, end, options)
    patterns = D.platform_patterns(found, principal)
    report: D.HealthReport = read("health", end, options)

    st.subheader("Findings in this period")
    if not found:
        st.success(f"No lender or mailbox provider crossed a threshold in any 7-day window between {start:%d %b} and {end:%d %b} "
                   f"(bounce {D.Bands().bounce_watch:g} %, all failures {D.Bands().failures_watch:g} %; at least {min_volume:,} attempted).")


    def finding_card(f: D.Finding, key: str) -> None:
        label, color = LEVEL_BADGE[f.level]
        with st.container(border=True):
            a, b = st.columns([5, 2], vertical_alignment="center")
            with a:
                st.badge(label, color=color)
                st.markdown(f.sentence)
            with b:
                log_link(f.log_params(email_type, audience), "Open these messages in the log", key=key)
                if f.provider_family:
                    st.caption(f"The log lists all of the lender's {f.metric} messages of those days (the log has no provider filter).")


    grouped = set()
    for n, (text, members) in enumerate(patterns):
        st.warning(text, icon=":material/hub:")
        with st.expander(f"The {len(members)} lenders behind it"):
            for i, f in enumerate(members):
                finding_card(f, f"p{n}-{i}")
        grouped |= {id(f) for f in members}
    rest = [f for f in found if id(f) not in grouped]
    for i, f in enumerate(rest[:10]):
        finding_card(f, f"f{i}")
    if len(rest) > 10:
        with st.expander(f"{len(rest) - 10} more findings"):
            for f in rest[10:]:
                st.markdown(f"- **{f.level}** · {f.sentence}")

    st.subheader(f"Health on {report.as_of:%d %b %Y}")
    st.caption(f"Last {D.RECENT_DAYS} send days ({report.recent_start:%d %b}–{report.as_of:%d %b}) against the {D.BASELINE_DAYS} before. "
               f"Bounce: Watch from {D.Bands().bounce_watch:g} %, At risk from {D.Bands().bounce_at_risk:g} % "
               f"({D.Bands().bounce_severe:g} %: sending pause risk). All failures: Watch from {D.Bands().failures_watch:g} %, "
               f"At risk from {D.Bands().failures_at_risk:g} %.")
    cards = report.lenders_by_severity()
    if not cards:
        st.info("No mail in the last 7 days of the range.")
    grid = st.columns(min(4, max(1, len(cards))))
    for i, h in enumerate(cards):
        label, color = LEVEL_BADGE[h.level]
        with grid[i % len(grid)]:
            with st.container(border=True):
                st.markdown(f"**{h.lender_name}**")
                st.badge(label, color=color)
                b, fl = h.recent.rate("bounce", min_volume), h.recent.rate("failures", min_volume)
                st.caption(f"Bounce {b.text()}  \nAll failures {fl.text()}")
                fams = [x for x in report.families if x.lender_id == h.lender_id and x.level in (D.WATCH, D.AT_RISK)]
                if fams:
                    st.caption("Providers: " + ", ".join(f"{D.FAMILY_SHORT[x.provider_family]} {x.level.lower()} ({x.why})" for x in fams))

    # --- charts ----------------------------------------------------------------------------------------

    tabs = st.tabs(["Rates over time", "Lenders × providers" if principal.is_ops else "Providers", "Breakdowns", "Domains and reasons"])

    with tabs[0]:
        metric = st.segmented_control("Rate", list(RATE_METRICS), default="bounce", format_func=RATE_METRICS.get, key="dlv_metric") or "bounce"
        points: list[D.PeriodPoint] = read("series", q, as_of=today_utc)
        bench: D.Benchmark = read("platform_median", q, metric)
        own_name = "All lenders" if lender_id is None else names[lender_id]
        frame = charts.series_frame({own_name: points}, metric, min_volume, bench)
        thresholds = THRESHOLDS.get(metric, ())
        event = st.altair_chart(
            charts.rate_chart(frame, metric_label=RATE_METRICS[metric] + " rate", granularity=granularity, thresholds=thresholds),
            width="stretch", on_select="rerun", key="dlv_rate_chart",
        )
        st.caption(
            f"Dashed: platform median (per period, over lenders with at least {D.BENCHMARK_MIN_ATTEMPTED} attempted; shown only when "
            f"{bench.min_lenders} or more lenders qualify). Faded points: under {min_volume:,} attempted. Click a point to open that period in the log."
        )
        picked_rows = (event.selection.get("pick") if event and event.selection else None) or []
        if picked_rows:
            raw = picked_rows[0].get("period")
            period_start = (datetime.fromtimestamp(raw / 1000, timezone.utc).date() if isinstance(raw, (int, float))
                            else date.fromisoformat(str(raw)[:10]))
            period_end = D.period_end(period_start, granularity)
            target = lender_id
            if target is None:
                st.info("Choose a lender above to open its messages for this period in the log (the log shows one lender at a time).")
            else:
                log_link(D.log_link(target, period_start, period_end, metric, email_type=email_type, audience=audience),
                         f"Open {RATE_METRICS[metric].lower()} messages from {period_start:%d %b} to {period_end:%d %b} in the log")
        st.altair_chart(charts.volume_chart(charts.volume_frame(points), granularity=granularity), width="stretch")
        if principal.is_ops and lender_id is None and len(names) > 1:
            st.markdown(f"**{RATE_METRICS[metric]} rate per lender**")
            per_lender = read("lender_series", q, as_of=today_utc)
            named = {names[lid]: pts for lid, pts in sorted(per_lender.items(), key=lambda kv: names.get(kv[0], "")) if lid in names}
            st.altair_chart(charts.small_multiples(charts.series_frame(named, metric, min_volume), metric_label=RATE_METRICS[metric],
                                                   granularity=granularity, thresholds=thresholds), width="content")

    with tabs[1]:
        hm_metric = st.segmented_control("Rate", ["block", "bounce", "defer", "failures"], default="block", format_func=RATE_METRICS.get, key="dlv_hm_metric") or "block"
        matrix = read("family_matrix", q)
        hm = charts.heatmap_frame(matrix, names, hm_metric, min_volume)
        if hm.empty:
            st.info("No messages for this selection.")
        else:
            st.altair_chart(charts.heatmap(hm, metric_label=RATE_METRICS[hm_metric], thresholds=THRESHOLDS.get(hm_metric, (2.0, 5.0, 10.0))), width="stretch")
            st.caption(f"Grey cells: under {min_volume:,} attempted in the period (not graded). Microsoft = consumer Outlook, Hotmail, Live, MSN; "
                       "Microsoft 365 and Google Workspace tenants are in Other.")
        if principal.is_ops:
            st.markdown("**Lender comparison** · click a column header to sort; select a row to open its failures in the log")
            rows = []
            for lid, c in read("breakdown", q, "lender"):
                if lid not in names:
                    continue
                h = next((x for x in report.lenders if x.lender_id == lid), None)
                rows.append({
                    "id": lid, "Lender": names[lid], "Health": h.level if h else "–", "Attempted": c.attempted,
                    "Bounce %": c.rate("bounce").value, "Bounced": c.bounced, "Block %": c.rate("block").value, "Blocked": c.blocked,
                    "Defer %": c.rate("defer").value, "All failures %": c.rate("failures").value,
                    "Outcome known %": 100.0 * c.known / c.attempted if c.attempted else None,
                    "Not attempted": c.not_attempted, "Failed to send": c.failed_to_send,
                    "Volume": "low volume" if c.attempted < min_volume else "",
                })
            table = pd.DataFrame(rows)
            if not table.empty:
                styled = table.drop(columns=["id"]).style.apply(
                    lambda row: ["color: #9e9e9e" if row["Volume"] else "" for _ in row], axis=1
                ).format({k: "{:.2f}" for k in ("Bounce %", "Block %", "Defer %", "All failures %", "Outcome known %")}, na_rep="–")
                ev = st.dataframe(styled, hide_index=True, on_select="rerun", selection_mode="single-row", key="dlv_lender_table",
                                  column_config={"Attempted": st.column_config.NumberColumn(format="localized")})
                sel = ev.selection.rows if ev and ev.selection else []
                if sel:
                    lid = int(table.iloc[sel[0]]["id"])
                    c1, c2, c3 = st.columns(3)
                    with c1:
                        log_link(D.log_link(lid, start, end, "bounce", email_type=email_type, audience=audience), f"{names[lid]}: bounces")
                    with c2:
                        log_link(D.log_link(lid, start, end, "block", email_type=email_type, audience=audience), f"{names[lid]}: blocks")
                    with c3:
                        log_link(D.log_link(lid, start, end, "defer", email_type=email_type, audience=audience), f"{names[lid]}: deferrals")

    with tabs[2]:
        bd_metric = st.segmented_control("Rate", ["bounce", "block", "defer", "failures"], default="bounce", format_func=RATE_METRICS.get, key="dlv_bd_metric") or "bounce"
        left, right = st.columns(2)
        with left:
            fam = charts.breakdown_frame(read("breakdown", q, "provider_family"), bd_metric, min_volume, {f: D.FAMILY_SHORT[f].replace("Other-domain", "Other") for f in FAMILIES})
            st.markdown("**By mailbox provider**")
            if not fam.empty:
                st.altair_chart(charts.breakdown_bars(fam, metric_label=RATE_METRICS[bd_metric], category_title="Provider"), width="stretch")
            aud = charts.breakdown_frame(read("breakdown", q, "audience"), bd_metric, min_volume, {"staff": "Lender staff", "borrower": "Borrowers"})
            st.markdown("**By audience**")
            if not aud.empty:
                st.altair_chart(charts.breakdown_bars(aud, metric_label=RATE_METRICS[bd_metric], category_title="Audience"), width="stretch")
        with right:
            et = charts.breakdown_frame(read("breakdown", q, "email_type"), bd_metric, min_volume, None)
            et["category"] = et["category"].str.replace("_", " ")
            st.markdown("**By email type**")
            if not et.empty:
                st.altair_chart(charts.breakdown_bars(et, metric_label=RATE_METRICS[bd_metric], category_title="Email type"), width="stretch")
            st.caption("Account confirmations go to addresses nobody has verified yet, so they bounce more: their bands are "
                       f"{D.EMAIL_TYPE_BANDS['account_confirmation'].bounce_watch:g} / {D.EMAIL_TYPE_BANDS['account_confirmation'].bounce_at_risk:g} % "
                       "when that email type is selected.")

    with tabs[3]:
        left, right = st.columns(2)
        with left:
            st.markdown("**Top bouncing recipient domains**")
            doms: list[D.DomainRow] = read("top_bouncing_domains", q, 10)
            if email_type:
                st.caption("All email types (domains are not split by email type).")
            if not doms:
                st.info("No permanent bounces in this period.")
            else:
                dt = pd.DataFrame([{
                    "Domain": d.domain, "Provider": D.FAMILY_SHORT.get(d.provider_family, d.provider_family), "Bounced": d.bounced,
                    "Bounce %": d.rate(min_volume).value, "Attempted": d.attempted, "Blocked": d.blocked, "Most common reply": d.top_code or "–",
                } for d in doms])
                ev = st.dataframe(dt, hide_index=True, on_select="rerun", selection_mode="single-row", key="dlv_domains",
                                  column_config={"Bounce %": st.column_config.NumberColumn(format="%.2f")})
                sel = ev.selection.rows if ev and ev.selection else []
                if sel:
                    d = doms[sel[0]]
                    if lender_id is None:
                        st.info("Choose a lender above to open these messages in the log.")
                    else:
                        log_link(D.log_link(lender_id, start, end, "bounce", domain=d.domain, audience=audience), f"Open bounces to {d.domain} in the log")
                else:
                    st.caption("Select a row to open its bounces in the log. Typo domains (gmial.com) mean addresses to correct.")
        with right:
            st.markdown("**Why messages failed: SMTP reason classes**")
            classes: list[D.ReasonClassRow] = read("reason_classes", q)
            if not classes:
                st.info("No failures in this period.")
            else:
                outcome_words = {"bounced": "bounced", "blocked": "blocked", "expired": "expired", "failed": "provider failed", "not_attempted": "not attempted"}
                st.dataframe(pd.DataFrame([{
                    "Reason class": c.reason_class, "Messages": c.count,
                    "Outcomes": ", ".join(f"{outcome_words.get(k, k)} {v:,}" for k, v in sorted(c.by_outcome.items(), key=lambda kv: -kv[1])),
                    "Most common replies": ", ".join(f"{code} ({n:,})" for code, n in c.top_codes) or "–",
                } for c in classes]), hide_index=True)
                st.caption("5.x.x: permanent; 4.x.x: temporary, retried for 72 h, then expired. 5.1.x: the address or domain does not "
                           "exist (correct it). 5.7.x: policy or reputation (platform or the recipient's IT). Not attempted: the provider "
                           "suppressed the address after an earlier bounce or complaint.")
