"""What every bench shares (commlog.bench: `table`; commlog.bench.stats: `percentile`, `Timing`,
`timed`), and the rule that keeps Streamlit out of the domain (the soak's driver is commlog.ui's)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from commlog.bench import table
from commlog.bench.stats import Timing, percentile, timed

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("samples", "pct", "expected"),
    [
        (range(1, 21), 95, 19),  # rank ceil(19.0) = 19
        (range(1, 41), 95, 38),  # rank 38
        (range(1, 101), 95, 95),
        ([3.0, 1.0, 2.0], 95, 3.0),  # fewer than 20 runs: the slowest, unsorted input
        (range(1, 20), 95, 19),  # 19 runs: rank ceil(18.05) = 19, the slowest
        (range(1, 11), 50, 5),
        ([7.5], 95, 7.5),
        (range(1, 31), 95, 29),  # rank ceil(28.5) = 29 (no rounding half to even)
    ],
)
def test_percentile_is_the_nearest_rank(samples, pct, expected):
    assert percentile(samples, pct) == expected


@pytest.mark.parametrize(("samples", "pct"), [([], 95), ([1.0], 0), ([1.0], 101)])
def test_percentile_refuses_what_has_none(samples, pct):
    with pytest.raises(ValueError):
        percentile(samples, pct)


def test_timing_figures():
    t = Timing.of_seconds([0.004, 0.001, 0.003, 0.002])
    assert t.runs == 4
    assert t.median_ms == pytest.approx(2.5)
    assert t.p95_ms == pytest.approx(4.0) and t.max_ms == pytest.approx(4.0)
    assert t.seconds == pytest.approx(0.010)
    empty = Timing(())
    assert (empty.runs, empty.median_ms, empty.p95_ms, empty.max_ms) == (0, 0.0, 0.0, 0.0)


def test_timed_warms_up_then_times_and_keeps_the_last_result():
    calls = []
    t = timed(lambda: calls.append(len(calls)) or len(calls), repeat=3, warmup=2)
    assert len(calls) == 5 and t.runs == 3 and t.result == 5
    assert all(ms >= 0 for ms in t.samples_ms)
    assert timed(lambda: "once", repeat=0).runs == 1


def test_table_pads_columns_under_a_rule():
    out = table(["name", "n", "ms"], [["a", 1234, 1.5], ["bb", 5, 250.0]])
    assert out.splitlines() == [
        "name      n     ms",
        "----  -----  -----",
        "a     1,234   1.50",
        "bb        5  250.0",
    ]


def test_table_alignment_given_and_markdown():
    assert table(["q", "ms"], [["x", 1.5]], align="rl").splitlines() == ["q  ms", "-  ----", "x  1.50"]
    assert table(["q", "ms"], [["x", 1.5]], markdown=True).splitlines() == ["| q |   ms |", "|---|-----:|", "| x | 1.50 |"]


def test_only_the_ui_imports_streamlit():
    """Nothing under commlog/ but commlog/ui/ imports Streamlit (the soak's AppTest driver is
    commlog.ui.soak_driver)."""
    found = []
    for path in sorted((ROOT / "commlog").rglob("*.py")):
        if path.is_relative_to(ROOT / "commlog" / "ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert found == []


def test_listing_the_benches_loads_no_streamlit():
    """Every bench module imports without Streamlit (soak loads its driver only when it runs)."""
    code = "import sys; from commlog.bench import discover; print(sorted(discover())); print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['browser', 'checks', 'deliverability', 'export', 'log', 'soak', 'webhooks']"
    assert out[1] == "False"


def test_where_a_clicks_time_goes_is_the_median_of_each_part():
    from commlog.bench.browser import Click, where_the_time_goes

    clicks = [Click(0.30, 0.20, 0.04, 0.06), Click(0.20, 0.05, 0.05, 0.10), Click(0.25, 0.15, 0.03, 0.07),
              Click(9.0)]  # a click without its parts is left out, not counted as zeros
    assert where_the_time_goes(clicks) == (150, 40, 70)
    assert where_the_time_goes([Click(0.3)]) is None


def test_the_messages_a_page_took_in_are_the_median_count_per_click():
    from commlog.bench.browser import Click, messages_taken_in

    clicks = [Click(0.3, messages=75), Click(0.2, messages=70), Click(0.25, messages=146), Click(0.3)]  # one not counted
    assert messages_taken_in(clicks) == 75
    assert messages_taken_in([Click(0.3)]) is None


def test_each_interaction_is_set_beside_what_the_framework_alone_costs_for_that_kind_of_click():
    from commlog.bench.browser import FIRST_LOAD, FLOOR, FRAMEWORK, INTERACTIONS, against_framework_own

    p95 = {FLOOR: 100.0, FRAMEWORK[0]: 300.0, FRAMEWORK[1]: 150.0, FRAMEWORK[2]: 200.0, FRAMEWORK[3]: 120.0,
           FIRST_LOAD: 450.0, INTERACTIONS[1]: 180.0, INTERACTIONS[2]: 156.0, INTERACTIONS[3]: 210.0,
           INTERACTIONS[5]: 260.0, INTERACTIONS[6]: 170.0, INTERACTIONS[7]: 220.0}
    assert against_framework_own(FIRST_LOAD, p95) == (1.5, "sign-in to the floor page")  # 4.5x the floor
    assert against_framework_own(INTERACTIONS[3], p95) == (1.4, "a grid's Open button opening a dialog")
    assert against_framework_own(INTERACTIONS[5], p95) == (1.3, "opening a page of two charts")
    assert against_framework_own(INTERACTIONS[7], p95) == (1.1, "opening a page of two charts")
    assert against_framework_own(INTERACTIONS[1], p95) == (1.5, "a grid's next page")  # new rows in the grid
    assert against_framework_own(INTERACTIONS[2], p95) == (1.3, "a grid's next page")
    assert against_framework_own(INTERACTIONS[6], p95) == (1.7, "the floor")  # switching the rate: a rerun


def test_every_browser_cell_gets_enough_clicks_for_its_p95_to_be_a_percentile():
    # With fewer than 20 clicks a p95 is the slowest click: one session walks more rounds than many do.
    from commlog.bench.browser import rounds_per_session, sign_ins_per_session
    from commlog.bench.stats import percentile

    assert [rounds_per_session(6, n) for n in (1, 3, 4, 8)] == [20, 7, 6, 6]
    assert [sign_ins_per_session(n) for n in (1, 4, 8, 32)] == [20, 5, 3, 1]  # each session signs in once at least
    assert sign_ins_per_session(1, min_samples=0) == 1
    assert rounds_per_session(30, 1) == 30  # more rounds asked for: walked
    assert rounds_per_session(6, 1, min_samples=0) == 6  # the old way, when asked for
    clicks = [0.2] * 19 + [0.9]  # one session's 20 clicks, one of them unlucky
    assert percentile(clicks[: 6 - 1] + [0.9], 95) == 0.9  # six clicks: the p95 is the unlucky one
    assert percentile(clicks, 95) == 0.2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's idle scheduling class")
def test_the_bench_can_start_its_browsers_in_the_idle_scheduling_class(tmp_path):
    # The browsers stand in for people's own devices: started this way they take only the processor
    # time the servers leave. Chromium would reset a nice value; the class is inherited and kept.
    import os

    from commlog.bench.browser import _lowest_priority

    launcher = _lowest_priority(sys.executable, tmp_path)
    probe = "import os; print(os.sched_getscheduler(0) == os.SCHED_IDLE)"
    assert subprocess.run([launcher, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "True"
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the bench itself, and so the servers it starts, are not
