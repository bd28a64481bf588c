"""Deliverability metrics on hand-built data: exact rates, buckets, scoping, health and findings."""

from __future__ import annotations

import ast
import dataclasses
import statistics
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from commlog import deliverability as D
from commlog import rollups
from commlog.deliverability.wording import drill_sentence
from commlog.demo.seed import SeedConfig, seed_demo
from commlog.log_queries import count_log
from commlog.log_view import LogView
from commlog.models import Message
from commlog.principal import Principal, Role, ScopeError
from commlog.store import expire_pending
from tests.support import factories as f
from tests.support.deliverability_world import (
    AS_OF,
    BASE,
    EDGE_BLOCKED,
    EDGE_WINDOW,
    RECENT,
    build_health,
    build_midnight_edges,
    bulk,
    rollup_reads,
)

T0 = f.T0  # 2026-11-20 12:00 UTC
D1 = T0 - timedelta(days=10)  # 2026-11-10
D2 = T0 - timedelta(days=1)  # 2026-11-19
OPS = Principal(1, "ops@example.com", Role.OPS, None)


def admin(lender_id: int) -> Principal:
    return Principal(2, "admin@example.com", Role.LENDER_ADMIN, lender_id)


# --- a small data set through the real write paths ----------------------------------------------


def build_small(conn) -> dict:
    """Alpha: 17 send requests on D1/D2, one of every bucket; Bravo: 3 messages to stay apart."""
    alpha = f.lender(conn, "alpha", "Alpha Lending")
    bravo = f.lender(conn, "bravo", "Bravo Credit")
    ids: list[int] = []

    def msg(lender, to, sent_at=D1, **kw):
        mid = f.message(conn, lender, to, sent_at=sent_at, **kw)
        rollups.add_messages(conn, [mid])
        ids.append(mid)
        return mid

    def ev(mid, lender, *specs, now):
        # specs: (type, minutes after the send, reason)
        base = conn.execute(Message.__table__.select().where(Message.id == mid)).first().sent_at
        offset = (base - T0).total_seconds() / 60
        return f.events(conn, mid, lender, *[(t, offset + m, r) for t, m, r in specs], now=now)

    after = D1 + timedelta(hours=1)
    for i in range(5):
        m = msg(alpha, f"ok{i}@gmail.com")
        ev(m, alpha, ("PROCESSED", 0, None), ("DELIVERED", 1, "250 2.0.0 OK"), now=after)
    for i in range(2):  # deferred, then delivered
        m = msg(alpha, f"slow{i}@yahoo.com")
        ev(m, alpha, ("DEFERRED", 1, "421 4.7.0 try later"), ("DELIVERED", 30, "250 OK"), now=after)
    m = msg(alpha, "nobody@gmial.com")
    ev(m, alpha, ("BOUNCE", 1, "550 5.1.1 no such user"), now=after)
    late = msg(alpha, "late@gmail.com")  # PENDING first; the bounce arrives two days later
    ev(late, alpha, ("PROCESSED", 0, None), now=after)
    ev(late, alpha, ("BOUNCE", 60 * 50, "550 5.1.1 The email account does not exist"), now=D1 + timedelta(days=3))
    m = msg(alpha, "staff@outlook.com", audience="staff", email_type="password_reset")
    ev(m, alpha, ("BLOCKED", 1, "550 5.7.1 Service unavailable; client host blocked"), now=after)
    m = msg(alpha, "suppressed@gmail.com")
    ev(m, alpha, ("DROPPED", 0, "Bounced Address"), now=after)
    msg(alpha, "x@gmail.com", send_status="failed", send_error="SMTP connection refused")
    m = msg(alpha, "render@gmail.com")
    ev(m, alpha, ("FAILED", 0, "Template render error"), now=after)
    expiring = msg(alpha, "full@icloud.com")
    ev(expiring, alpha, ("DEFERRED", 5, "452 4.2.2 mailbox full"), now=after)
    pending = msg(alpha, "wait@gmail.com", sent_at=D2)
    ev(pending, alpha, ("PROCESSED", 0, None), now=D2 + timedelta(hours=1))
    for i in range(2):
        msg(alpha, f"unchecked{i}@gmail.com", sent_at=D2)
    expire_pending(conn, T0)  # the D1 deferral expires; the D2 message is still inside its window

    for i in range(3):
        m = msg(bravo, f"b{i}@hotmail.com")
        ev(m, bravo, ("BOUNCE", 1, "550 5.1.1 unknown"), now=after)
    return {"alpha": alpha, "bravo": bravo, "late": late, "expiring": expiring, "pending": pending}


def test_exact_rates_on_small_data_set(engine):
    with engine.begin() as conn:
        ids = build_small(conn)
    q = D.MetricsQuery(start=D1.date(), end=D2.date(), lender_id=ids["alpha"], granularity="day")
    with engine.connect() as conn:
        c = D.summary(conn, OPS, q)
        days = D.series(conn, OPS, q, as_of=T0.date())
        domains = D.top_bouncing_domains(conn, OPS, q)
        classes = D.reason_classes(conn, OPS, q)
        by_family = dict(D.breakdown(conn, OPS, q, "provider_family"))
        by_audience = dict(D.breakdown(conn, OPS, q, "audience"))
    assert c == D.Counts(delivered=7, bounced=2, blocked=1, expired=1, failed=1, not_attempted=1, pending=1, unknown=2, failed_to_send=1, deferred=3)
    assert (c.requests, c.sent, c.attempted, c.known, c.failures) == (17, 16, 15, 12, 5)
    assert c.rate("bounce").n_of_d == "2 of 15"
    assert c.rate("bounce").value == pytest.approx(100 * 2 / 15)
    assert c.rate("block").value == pytest.approx(100 / 15)
    assert c.rate("defer").value == pytest.approx(20.0)
    assert c.rate("failures").value == pytest.approx(100 * 5 / 15)
    assert c.rate("not_attempted").n_of_d == "1 of 17"  # its own bucket, over all send requests
    assert c.rate("failed_to_send").n_of_d == "1 of 17"
    # Low volume: never a bare percentage.
    assert c.rate("bounce").low_volume
    assert c.rate("bounce").text() == "low volume: 2 of 15 (13.3 %)"
    assert D.Rate(37, 1204).text() == "3.1 % (37 of 1,204)"
    assert c.coverage_text().startswith("Delivery outcome known for 80 % of attempted messages (12 of 15)")
    # Cohort: the late bounce counts on its send day; D2 is provisional (last 72 h before as_of).
    assert [p.period for p in days][:1] == [D1.date()] and len(days) == 10
    assert days[0].counts.bounced == 2 and days[0].counts.pending == 0
    assert days[-1].counts == D.Counts(pending=1, unknown=2)
    assert days[-1].provisional and not days[0].provisional
    assert all(p.counts == D.Counts() for p in days[1:-1])
    # Breakdowns and reasons.
    assert [(d.domain, d.bounced, d.attempted, d.top_code) for d in domains] == [("gmail.com", 1, 10, "550 5.1.1"), ("gmial.com", 1, 1, "550 5.1.1")]
    assert classes[0].reason_class.startswith("5.1.x") and classes[0].count == 2
    assert {r.reason_class[:5]: r.count for r in classes} == {"5.1.x": 2, "5.7.x": 1, "4.x.x": 1, "no SM": 2}
    assert by_family["microsoft"] == D.Counts(blocked=1)
    assert by_audience["staff"].attempted == 1 and by_audience["borrower"].attempted == 14


def test_week_and_month_periods_sum_up(engine):
    with engine.begin() as conn:
        ids = build_small(conn)
    with engine.connect() as conn:
        for gran, first in (("week", date(2026, 11, 9)), ("month", date(2026, 11, 1))):
            q = D.MetricsQuery(start=D1.date(), end=D2.date(), lender_id=ids["alpha"], granularity=gran)
            points = D.series(conn, OPS, q)
            assert points[0].period == first and points[0].partial
            total = D.Counts()
            for p in points:
                total += p.counts
            assert total == D.summary(conn, OPS, q)


def test_lender_admin_is_scoped_in_sql(engine):
    with engine.begin() as conn:
        ids = build_small(conn)
    who = admin(ids["bravo"])
    q_all = D.MetricsQuery(start=D1.date(), end=D2.date())
    with engine.connect() as conn:
        assert D.summary(conn, who, q_all) == D.Counts(bounced=3)  # own lender only, asked for "all"
        with pytest.raises(ScopeError):
            D.summary(conn, who, D.MetricsQuery(start=D1.date(), end=D2.date(), lender_id=ids["alpha"]))
        assert D.lender_names(conn, who) == {ids["bravo"]: "Bravo Credit"}
        assert set(D.family_matrix(conn, who, q_all)) == {(ids["bravo"], "microsoft")}
        assert [k for k, _ in D.breakdown(conn, who, q_all, "lender")] == [ids["bravo"]]
        assert set(D.lender_series(conn, who, q_all)) == {ids["bravo"]}
        assert {d.domain for d in D.top_bouncing_domains(conn, who, q_all)} == {"hotmail.com"}
        report = D.health(conn, who, T0.date(), D.AssessmentOptions(min_volume=1), since=D1.date())
        assert {h.lender_id for h in report.lenders} | {x.lender_id for x in report.findings} == {ids["bravo"]}
        # Two lenders only: no anonymous benchmark for a lender admin; ops get the median.
        bench = D.platform_median(conn, who, D.MetricsQuery(start=D1.date(), end=D1.date(), granularity="day"))
        assert bench.values == {D1.date(): None}
        assert D.platform_median(conn, OPS, D.MetricsQuery(start=D1.date(), end=D1.date(), granularity="day")).values == {D1.date(): None}


# --- a larger data set for health: bulk rows + rebuild, as the demo seeder does -------------------








def test_the_most_severe_lenders_come_first_and_within_a_level_the_worst_finding(engine):
    """Health draws cards for the most severe lenders only: within At risk the highest rate comes
    first, not the first name in the alphabet."""
    with engine.begin() as conn:
        build_health(conn)
        lid = f.lender(conn, "aardvark", "Aardvark Loans")
        bulk(conn, lid, RECENT, 188, "gmail.com")
        bulk(conn, lid, RECENT, 12, "gmial.com", "bounced", "550 5.1.1 user unknown")  # 6 %: At risk, under the others' 8 %
        rollups.rebuild_rollups(conn)
    with engine.connect() as conn:
        ranked = D.health(conn, OPS, AS_OF).lenders_by_severity()
    assert [h.lender_name for h in ranked][:3] == ["Alpha Lending", "Bravo Credit", "Aardvark Loans"]
    assert [h.level for h in ranked] == sorted((h.level for h in ranked), key=lambda level: -D.SEVERITY[level])
    assert ranked[-1].lender_name == "Tiny Loans"  # Insufficient volume: last


def test_health_levels_and_findings(engine):
    with engine.begin() as conn:
        ids = build_health(conn)
    with engine.connect() as conn:
        report = D.health(conn, OPS, AS_OF)
    levels = {h.lender_name: h.level for h in report.lenders}
    assert levels == {
        "Alpha Lending": D.AT_RISK,  # 16 blocked of 500 = 3.2 % all failures (Watch), but Microsoft: 16 of 200 = 8 %
        "Bravo Credit": D.AT_RISK,  # 12 of 150 bounced = 8 %
        "Other Lender 0": D.HEALTHY,
        "Other Lender 1": D.HEALTHY,
        "Other Lender 2": D.HEALTHY,  # 3 of 223 bounced = 1.3 %: under the 2 % watch level
        "Tiny Loans": D.LOW_VOLUME,  # 50 attempted (20 % bounced): never graded
    }
    why = {h.lender_name: h.why for h in report.lenders}
    assert why["Alpha Lending"] == ("At risk: all failures 8.0 % to Microsoft mailboxes in the last 7 days, mostly blocks "
                                    "(block rate 8.0 %); at risk from 6 % (16 of 200 attempted).")
    assert why["Bravo Credit"] == "At risk: bounce rate 8.0 % in the last 7 days; at risk from 5 % (12 of 150 attempted)."
    assert why["Other Lender 2"].startswith("Healthy: bounce under 2 %, all failures under 3 % and deferrals under 20 % in the last 7 days")
    assert why["Tiny Loans"].startswith("Insufficient volume: fewer than 100 attempted messages in the last 7 days")
    sentences = [x.sentence for x in report.findings]
    assert sentences[0] == (
        "Microsoft blocks for Alpha Lending rose from 0.3 % to 8.0 % in the last 7 days against the prior 28 "
        "(16 of 200 attempted); most replies are 550 5.7.1 (88 %)."
    )
    assert (
        "Bounces for Bravo Credit were 8.0 % in the last 7 days, about the same as the prior 28 (7.0 %) (12 of 150 attempted); "
        "most replies are 550 5.1.1." in sentences
    )
    # Alpha's lender-level block finding (Watch, 3.2 %) has one more severe family finding behind it: not repeated.
    assert not any(s.startswith("Blocks for Alpha Lending") for s in sentences)
    assert not any("Tiny Loans" in s for s in sentences)
    assert not any("Other Lender" in s for s in sentences)
    micro = next(x for x in report.findings if x.provider_family == "microsoft")
    assert micro.log_params() == {
        "lender": str(ids["alpha"]), "account": "all", "sent_from": "2026-11-14T00:00Z", "sent_to": "2026-11-21T00:00Z",
        "delivery": "NOT_DELIVERED", "event": "BLOCKED", "family": "microsoft",
    }


DEMO_LIKE = SeedConfig(lenders=5, borrowers=700, messages=5000, days=40, seed=7, now=f.NOW, users=False)


@pytest.mark.parametrize("days", [7, 40])
def test_every_lenders_verdict_is_the_worst_of_its_findings_in_a_demo_like_world(engine, days):
    """The demo's episodes (a Microsoft block at several lenders, a bounce spike) are over by the
    end of the range: each lender's one verdict for the period is still its worst finding, explained
    by that finding's rate and band, for ops and for the lender's own admin alike."""
    seed_demo(engine, DEMO_LIKE, progress=False)
    end = f.NOW.date()
    start, options = end - timedelta(days=days - 1), D.AssessmentOptions(today=end)
    with engine.connect() as conn:
        report = D.health(conn, OPS, end, options, since=start)
        assert report.findings == D.findings_in_range(conn, OPS, start, end, options)  # the page's findings, the same scan
        own = {h.lender_id: D.health(conn, admin(h.lender_id), end, options, since=start).lenders for h in report.lenders}
    worst: dict[int, str] = {}
    for x in report.findings:
        worst[x.lender_id] = max(worst.get(x.lender_id, D.HEALTHY), x.level, key=D.SEVERITY.get)
    assert len(report.lenders) == DEMO_LIKE.lenders
    for h in report.lenders:
        assert h.level == worst.get(h.lender_id, h.level), h
        if h.lender_id in worst:
            assert h.finding is not None and h.finding.level == h.level and h.why == h.finding.why
            assert h.why.startswith(f"{h.level}: ") and f"{h.level.lower()} from {h.finding.threshold:g} %" in h.why
        else:
            assert h.level in (D.HEALTHY, D.LOW_VOLUME) and h.finding is None
        assert [(x.level, x.why) for x in own[h.lender_id]] == [(h.level, h.why)]  # a lender admin reads the same verdict
    if days == 40:  # the demo's episodes are in the range: some lenders are not Healthy, one of them At risk
        assert D.AT_RISK in worst.values()
        assert any(x.provider_family for x in report.findings if x.level == D.AT_RISK)  # a mailbox provider's episode
    else:  # the last 7 days: the episodes are over
        assert all(h.level in (D.HEALTHY, D.LOW_VOLUME) for h in report.lenders)


def test_platform_median_is_anonymous_and_needs_enough_lenders(engine):
    with engine.begin() as conn:
        ids = build_health(conn)
    q = D.MetricsQuery(start=RECENT, end=RECENT, granularity="day")
    with engine.connect() as conn:
        bench = D.platform_median(conn, admin(ids["alpha"]), q, "bounce")
        # Lenders with >= 20 attempted that day: alpha 0 %, bravo 8 %, others 1/201, 2/212, 3/223, tiny 20 %.
        assert bench.lenders[RECENT] == 6
        assert bench.values[RECENT] == pytest.approx((100 * 2 / 212 + 100 * 3 / 223) / 2)
        assert set(vars(bench)) == {"metric", "values", "lenders", "min_lenders"}  # no lender ids inside
        med, n = D.window_median(conn, admin(ids["alpha"]), q, "bounce")
        assert n == 5 and med == pytest.approx(100 * 2 / 212)  # tiny is below the minimum volume
        # The headline's four medians come from one read of every lender's counts, each the median
        # of that metric over the same five lenders.
        medians = D.window_medians(conn, admin(ids["alpha"]), q, ("bounce", "block", "failures"))
        assert medians["bounce"] == (med, 5)
        lenders = [ids["alpha"], ids["bravo"], *ids["others"], ids["tiny"]]
        each = [D.summary(conn, OPS, dataclasses.replace(q, lender_id=lid)) for lid in lenders]
        counted = [c for c in each if not c.is_low_volume(q.min_volume)]
        for metric in ("block", "failures"):
            assert medians[metric] == (pytest.approx(statistics.median(c.rate(metric).value for c in counted)), 5)
    with engine.connect() as conn:
        few = D.platform_median(conn, admin(ids["alpha"]), D.MetricsQuery(start=BASE, end=BASE, granularity="day"))
        assert few.values[BASE] is None and few.lenders[BASE] == 2  # two lenders: no benchmark for an admin


def test_every_rates_platform_medians_come_from_one_read(engine):
    """The headline's medians, the rate chart's dashed line and every switch of its Rate take their
    figures from one read of every lender's counts: each rate's median per week and over the
    window is the median of the lenders' own counts (each lender's summary read on its own here)."""
    with engine.begin() as conn:
        ids = build_health(conn)
    q = D.MetricsQuery(start=BASE, end=RECENT, granularity="week")
    lenders = [ids["alpha"], ids["bravo"], *ids["others"], ids["tiny"]]
    with engine.connect() as conn, rollup_reads(conn) as reads:
        medians = D.platform_medians(conn, admin(ids["alpha"]), q)
        assert len(reads) == 1
        assert set(vars(medians)) == {"per_period", "window"}  # medians and how many lenders: no lender inside
        weeks = list(D.periods(q.start, q.end, "week"))
        assert len(weeks) > 1
        for metric in D.METRIC_SHORT:
            bench = medians.per_period[metric]
            assert (bench.metric, bench.min_lenders, list(bench.values)) == (metric, D.BENCHMARK_MIN_LENDERS, weeks)
            for week in weeks:
                days = dataclasses.replace(q, start=max(week, q.start), end=min(D.period_end(week, "week"), q.end))
                each = [D.summary(conn, OPS, dataclasses.replace(days, lender_id=lid)) for lid in lenders]
                rates = [c.rate(metric).value for c in each if c.attempted >= D.BENCHMARK_MIN_ATTEMPTED]
                assert bench.lenders[week] == len(rates)
                expected = statistics.median(rates) if len(rates) >= D.BENCHMARK_MIN_LENDERS else None
                assert bench.values[week] == (pytest.approx(expected) if expected is not None else None), (metric, week)
            whole = [D.summary(conn, OPS, dataclasses.replace(q, lender_id=lid)) for lid in lenders]
            graded = [c.rate(metric).value for c in whole if not c.is_low_volume(q.min_volume)]
            assert medians.window[metric] == (pytest.approx(statistics.median(graded)), len(graded))
        # The busy week has six lenders with enough mail, the earlier one two, two weeks none: only the
        # busy week has a median for an admin.
        assert sorted(medians.per_period["bounce"].lenders.values()) == [0, 0, 2, 6]
        assert sum(v is not None for v in medians.per_period["bounce"].values.values()) == 1


def test_the_breakdowns_tab_reads_its_three_breakdowns_at_once(engine):
    """By mailbox provider, by audience, by email type: one read grouped by all three gives each
    what its own read gives (the provider's from the other rollup table, without email types)."""
    with engine.begin() as conn:
        ids = build_small(conn)
    dimensions = ("provider_family", "audience", "email_type")
    for who, lender in ((OPS, ids["alpha"]), (OPS, None), (admin(ids["bravo"]), ids["bravo"])):
        q = D.MetricsQuery(start=D1.date(), end=D2.date(), lender_id=lender, granularity="day")
        with engine.connect() as conn, rollup_reads(conn) as reads:
            together = D.breakdowns(conn, who, q, dimensions)
            assert len(reads) == 1
            for dimension in dimensions:
                assert together[dimension] == D.breakdown(conn, who, q, dimension), dimension
            assert len(reads) == 4
        assert sum(c.requests for _, c in together["email_type"]) == sum(c.requests for _, c in together["provider_family"]) > 0


def test_levels_read_the_rates_of_counts_with_the_bands_of_the_email_type():
    c = D.Counts(delivered=195, bounced=5)  # 2.5 % bounced of 200 attempted
    assert D.level_of(c, D.bands_for(None), 100) == (D.WATCH, "bounce")
    assert D.level_of(c, D.bands_for("account_confirmation"), 100) == (D.HEALTHY, "")  # they bounce more: watch from 3 %
    assert D.level_of(c, D.bands_for(None), 201) == (D.LOW_VOLUME, "")
    # All failures at 7 %, mostly blocks: At risk, about blocks.
    assert D.level_of(D.Counts(delivered=93, blocked=4, expired=1, failed=2), D.DEFAULT_BANDS, 100) == (D.AT_RISK, "block")
    assert D.level_of(D.Counts(delivered=100, deferred=20), D.DEFAULT_BANDS, 100) == (D.WATCH, "defer")
    assert D.bands_for("account_confirmation").thresholds("bounce") == (3.0, 6.0, 10.0)


def test_each_room_of_the_package_imports_only_the_rooms_above_it():
    rooms = ["period", "metrics", "grading", "wording", "queries", "drilldown", "assessment", "findings", "report", "mailbox_providers"]
    package = Path(D.__file__).parent
    assert {p.stem for p in package.glob("*.py")} - {"__init__"} == set(rooms)
    for i, room in enumerate(rooms):
        tree = ast.parse((package / f"{room}.py").read_text())
        imported = {node.module.rsplit(".", 1)[1] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("commlog.deliverability.")}
        assert imported <= set(rooms[:i]), f"{room} imports {sorted(imported - set(rooms[:i]))}, below it"


def test_bad_queries_are_refused():
    with pytest.raises(ValueError):
        D.MetricsQuery(start=D2.date(), end=D1.date())
    with pytest.raises(ValueError):
        D.MetricsQuery(start=D1.date(), end=D2.date(), granularity="year")


def test_log_link_for_each_bucket():
    start, end = date(2026, 11, 1), date(2026, 11, 7)
    assert D.log_link(3, start, end, "bounce", domain="gmial.com") == {
        "lender": "3", "account": "all", "sent_from": "2026-11-01T00:00Z", "sent_to": "2026-11-08T00:00Z",
        "delivery": "NOT_DELIVERED", "event": "BOUNCE", "domain": "gmial.com",
    }
    assert D.log_link(3, start, end, "defer")["event"] == "DEFERRED" and "delivery" not in D.log_link(3, start, end, "defer")
    assert D.log_link(3, start, end, "failed_to_send")["status"] == "failed"
    assert D.log_link(3, start, end, "not_attempted")["event"] == "DROPPED"
    assert D.log_link(3, start, end, "unknown")["delivery"] == "NOT_CHECKED"


def test_findings_in_range_name_the_episode_and_the_platform_pattern(engine):
    with engine.begin() as conn:
        ids = build_health(conn)
        # The same Microsoft block episode at two more lenders: a platform pattern for ops.
        for lid in ids["others"][:2]:
            bulk(conn, lid, BASE, 300, "outlook.com")
            bulk(conn, lid, RECENT, 100, "hotmail.com")
            bulk(conn, lid, RECENT, 20, "hotmail.com", "blocked", "550 5.7.1 Service unavailable")
        rollups.rebuild_rollups(conn)
    later = AS_OF + timedelta(days=10)  # the episode is now in the past
    with engine.connect() as conn:
        found = D.findings_in_range(conn, OPS, AS_OF - timedelta(days=30), later, D.AssessmentOptions(today=later))
        patterns = D.platform_patterns(found, OPS)
        assert D.platform_patterns(found, admin(ids["alpha"])) == []
        mine = D.findings_in_range(conn, admin(ids["alpha"]), AS_OF - timedelta(days=30), later, D.AssessmentOptions(today=later))
    micro = [x for x in found if x.provider_family == "microsoft" and x.metric == "block"]
    assert {x.lender_name for x in micro} == {"Alpha Lending", "Other Lender 0", "Other Lender 1"}
    alpha = next(x for x in micro if x.lender_name == "Alpha Lending")
    assert "in the 7 days to 23 Nov against the prior 28" in alpha.sentence  # ties: the latest window
    # Alpha's lender-level block finding has one family behind it: only the family finding is kept.
    assert not any(x.lender_name == "Alpha Lending" and x.provider_family is None for x in found)
    assert patterns and patterns[0][0].startswith("Microsoft blocks went up for 3 lenders at once")
    assert {x.lender_name for x in patterns[0][1]} == {"Alpha Lending", "Other Lender 0", "Other Lender 1"}
    assert {x.lender_id for x in mine} == {ids["alpha"]}


def test_a_findings_utc_bounds_count_exactly_its_messages_in_every_zone(engine):
    """The finding's link carries exact UTC bounds: the log counts the rollup's messages whatever
    the viewer's zone, with messages at the window's edges that local days would move."""
    with engine.begin() as conn:
        ids = build_midnight_edges(conn)
    with engine.connect() as conn:
        found = D.findings_in_range(conn, OPS, EDGE_WINDOW[0] - timedelta(days=10), EDGE_WINDOW[1] + timedelta(days=1))
        micro = next(x for x in found if x.lender_id == ids["alpha"] and x.provider_family == "microsoft")
        assert (micro.metric, micro.recent_start, micro.recent_end, micro.recent.n) == ("block", *EDGE_WINDOW, EDGE_BLOCKED)
        params = micro.log_params()
        assert (params["sent_from"], params["sent_to"]) == ("2026-11-17T00:00Z", "2026-11-24T00:00Z")
        assert params["family"] == "microsoft" and micro.log_sentence == (
            "The log lists the 18 blocked (BLOCKED) emails to Microsoft mailboxes (Mailbox provider: Microsoft) "
            "sent 17–23 Nov, whole UTC days: the ones counted here.")
        for zone in ("America/Los_Angeles", "UTC", "Asia/Tokyo"):
            view, notices = LogView.from_query_params(params)
            q = view.query(ids["alpha"], ZoneInfo(zone), datetime(2026, 11, 30, tzinfo=UTC))
            assert notices == [] and count_log(conn, OPS, q) == EDGE_BLOCKED, zone
            # The viewer's local days of the same dates would have counted other messages.
            local = LogView(all_logs=True, range="custom", date_from=EDGE_WINDOW[0], date_to=EDGE_WINDOW[1], choices=view.choices)
            if zone != "UTC":
                assert count_log(conn, OPS, local.query(ids["alpha"], ZoneInfo(zone), datetime.now(UTC))) != EDGE_BLOCKED, zone


def test_a_findings_log_sentence_says_what_its_link_lists_for_every_metric():
    start, end = date(2026, 11, 28), date(2026, 12, 4)
    assert drill_sentence("other", "bounce", 70, start, end) == (
        "The log lists the 70 bounced (BOUNCE) emails to ISP and company-domain mailboxes (Mailbox provider: Other) "
        "sent 28 Nov–4 Dec, whole UTC days: the ones counted here.")
    # All failures: the log's NOT_DELIVERED also holds what the provider never attempted; the sentence says so.
    assert drill_sentence(None, "failures", 9, start, start + timedelta(days=6)) == (
        "The log lists the NOT_DELIVERED emails sent 28 Nov–4 Dec, whole UTC days: the 9 failures counted here, "
        "and any the provider did not attempt (DROPPED).")
    for metric in ("bounce", "block", "defer", "expired", "failures"):
        link = D.log_link(3, start, end, metric, family="microsoft")
        assert link["family"] == "microsoft"
        assert "Mailbox provider: Microsoft" in drill_sentence("microsoft", metric, 5, start, end)
        assert "no provider filter" not in drill_sentence("microsoft", metric, 5, start, end)
