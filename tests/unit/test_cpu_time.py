"""commlog.cpu_time: the processor time the cluster bench reports for each part of a run."""

from __future__ import annotations

import os
import time

import pytest

from commlog.cpu_time import Meter, parse_stat, pid_seconds


def test_a_stat_line_is_read_after_the_name_whatever_the_name_holds():
    # pid (name) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ...
    line = "4242 (postgres: app (x) ) S 17 4242 4242 0 -1 4194560 50 0 0 0 250 50 30 20 20 0 1 0 99 0 0"
    times = parse_stat(line)
    tick = os.sysconf("SC_CLK_TCK")
    assert times.name == "postgres: app (x) "
    assert times.parent == 17
    assert times.own == pytest.approx(300 / tick)
    assert times.children == pytest.approx(50 / tick)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux /proc only")
def test_the_meter_counts_the_work_done_between_its_readings():
    meter = Meter({"this process": lambda: pid_seconds(os.getpid()), "gone": lambda: None}).start()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    spent = meter.spent()
    assert spent.seconds["this process"] >= 0.2
    assert spent.seconds["gone"] is None  # a part that cannot be read says so, it is not zero
    assert spent.busy is not None and 0 < spent.busy <= 1 and spent.cores >= 1
