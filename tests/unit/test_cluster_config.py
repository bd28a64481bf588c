"""haproxy's configuration for several replicas (commlog.cluster): haproxy itself accepts it, browsers
are pinned by a cookie, webhooks are not."""

import os
import re
import shutil
import subprocess

import pytest

from commlog.cluster import REPLICA_COOKIE, haproxy_config

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def backend(config: str, name: str) -> str:
    return re.search(rf"^backend {name}\n(.*?)(?:\n\n|\Z)", config, re.S | re.M).group(1)


def test_browsers_are_pinned_by_a_cookie_and_webhooks_spread_without_one():
    config = haproxy_config(8500, [8601, 8602, 8603])
    replicas, webhooks = backend(config, "replicas"), backend(config, "webhooks")
    assert f"cookie {REPLICA_COOKIE} insert" in replicas
    assert re.findall(r"server (app\d) 127\.0\.0\.1:(\d+) check cookie (app\d)", replicas) == [
        ("app1", "8601", "app1"), ("app2", "8602", "app2"), ("app3", "8603", "app3")]
    assert "cookie" not in webhooks
    assert re.findall(r"server (app\d) 127\.0\.0\.1:(\d+) check$", webhooks, re.M) == [
        ("app1", "8601"), ("app2", "8602"), ("app3", "8603")]
    assert "use_backend webhooks if { path_beg /webhooks/ }" in config
    assert "bind 127.0.0.1:8500" in config
    for line in ("option redispatch", "timeout tunnel 1h", "option forwardfor", "option httpchk GET /_stcore/health"):
        assert line in config


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="haproxy is not installed (apt-get install haproxy)")
def test_haproxy_accepts_the_configuration(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy_config(8500, [8601, 8602]))
    run = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_replica_reports_its_memory_and_processor_time_while_it_runs(tmp_path):
    """What `bench --only browser` prints per session count: a running replica's resident memory and
    the processor time it has used, growing as it works; nothing before it starts or once it stops."""
    import sys

    from commlog.cluster import Replica

    replica = Replica("app1", 0, tmp_path / "app1.log")
    assert replica.memory_mb() is None and replica.cpu_seconds() is None  # not started
    work = "import sys\nfor line in sys.stdin:\n    sum(range(5_000_000))\n    print('done', flush=True)"
    replica.proc = subprocess.Popen([sys.executable, "-c", work], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        replica.proc.stdin.write("work\n")
        replica.proc.stdin.flush()
        assert replica.proc.stdout.readline() == "done\n"
        assert replica.memory_mb() > 1  # a running Python: megabytes
        before = replica.cpu_seconds()
        for _ in range(5):
            replica.proc.stdin.write("work\n")
            replica.proc.stdin.flush()
            assert replica.proc.stdout.readline() == "done\n"
        assert replica.cpu_seconds() > before
        replica.proc.stdin.close()
        replica.proc.wait(timeout=60)
    finally:
        replica.proc.kill()
        replica.proc.wait()
    assert replica.cpu_seconds() is None and replica.memory_mb() is None  # stopped
