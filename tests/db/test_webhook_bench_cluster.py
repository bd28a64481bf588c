"""Smoke test of the webhook bench's cluster mode: two replicas of launcher.py behind haproxy on a
temporary PostgreSQL database take signed posts and their replay; the rows are counted right and
each replica's share adds up (no timing asserted). Skips without haproxy or PostgreSQL."""

from __future__ import annotations

import pytest

from commlog.bench import webhooks
from commlog.settings import settings
from commlog.tempdb import ServerUnreachable

pytestmark = pytest.mark.cluster  # starts two app servers and haproxy, like tests/e2e/test_cluster.py


def test_cluster_mode_counts_rows_and_replica_shares():
    if webhooks._haproxy() is None:
        pytest.skip("the cluster mode needs Debian's haproxy (apt-get install haproxy)")
    try:
        rows, notes = webhooks.bench_cluster(settings().test_pg_url.reveal(), n_events=400, batch_size=50, clients=2,
                                             replicas=2)
    except ServerUnreachable as exc:
        pytest.skip(str(exc))
    sent, replay, together = (r for r in rows if not r.share)
    assert (sent.stored, sent.lost, sent.doubled) == (400, 0, 0)
    assert replay.mode.startswith("replay") and (replay.stored, replay.lost, replay.doubled) == (400, 0, 0)
    assert together.mode == webhooks.TOGETHER and (together.stored, together.lost, together.doubled) == (800, 0, 0)
    for phase in (sent, replay, together):
        after = rows[rows.index(phase) + 1 :]
        shares = after[: next((i for i, r in enumerate(after) if not r.share), len(after))]
        assert sum(s.events for s in shares) == 400  # round robin: both, unless a health check took one out
        assert {s.mode.split(":")[0].strip() for s in shares} <= {"app1", "app2"}
    assert not [n for n in notes if "haproxy's log shows" in n]
