"""commlog.cpu_time: the processor time the cluster bench reports for each part of a run."""

from __future__ import annotations

import os
import time

import pytest

from commlog.cpu_time import Meter, NamedWatch, parse_stat, pid_seconds


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


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux /proc only")
def test_a_watch_counts_processes_that_begin_and_end_while_it_watches():
    # Chromium's page processes start and exit during a browser walk, and their time never reaches
    # an ancestor the bench could read: the watch keeps each one's last reading.
    import subprocess
    import sys

    name = "cpu-burner-test"  # 15 bytes: all of it is the name /proc shows
    burn = f"import time, ctypes; ctypes.CDLL(None).prctl(15, b'{name}', 0, 0, 0)\n" \
           "end = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(1.0)"
    watch = NamedWatch(name, every=0.1).start()
    subprocess.run([sys.executable, "-c", burn], check=True)
    subprocess.run([sys.executable, "-c", burn], check=True)
    seconds = watch.stop()
    assert 1.0 <= seconds <= 1.8  # two processes, 0.6 s each (and their start), both ended before stop()
    assert NamedWatch(name, every=0.1).start().stop() == 0.0  # nothing of that name runs now
