"""The webhook bench's cluster mode without starting it: each replica's share read from haproxy's
request log, the table's share rows, the verdict on the 10,000 events/s target."""

from __future__ import annotations

from datetime import datetime

from commlog.bench import webhooks
from commlog.bench.webhooks import CLUSTER_BACKEND, Row, batches_of, format_table, replica_shares, verdict

LOG = """\
127.0.0.1:41234 [30/Nov/2026:18:05:00.123] commlog webhooks/app1 0/0/0/120/121 200 173 - - ---- 5/5/4/2/0 0/0 "POST /webhooks/sendgrid HTTP/1.1"
127.0.0.1:41236 [30/Nov/2026:18:05:00.125] commlog webhooks/app2 0/0/1/80/81 200 173 - - ---- 5/5/4/2/0 0/0 "POST /webhooks/sendgrid HTTP/1.1"
127.0.0.1:41238 [30/Nov/2026:18:05:00.300] commlog webhooks/app1 0/0/0/40/40 200 173 - - ---- 5/5/4/2/0 0/0 "POST /webhooks/sendgrid HTTP/1.1"
127.0.0.1:41240 [30/Nov/2026:18:05:00.400] commlog webhooks/app2 0/0/0/-1/5 503 100 - - SC-- 5/5/4/2/0 0/0 "POST /webhooks/sendgrid HTTP/1.1"
127.0.0.1:41242 [30/Nov/2026:18:05:00.500] commlog replicas/app1 0/0/0/3/3 200 10 - - --NI 5/5/4/2/0 0/0 "GET /_stcore/health HTTP/1.1"
[WARNING]  (8) : Server webhooks/app2 is DOWN, reason: Layer7 wrong status
"""


def test_each_replica_share_is_read_from_haproxy_log():
    shares = replica_shares(LOG)
    assert list(shares) == ["app1", "app2"]
    assert (shares["app1"].posts, shares["app1"].refused, shares["app1"].mean_ms) == (2, 0, 80.0)
    assert (shares["app2"].posts, shares["app2"].refused, shares["app2"].mean_ms) == (1, 1, 80.0)


def test_a_post_accepted_before_the_phase_is_not_its_own_even_when_logged_after():
    phase_began = datetime(2026, 11, 30, 18, 5, 0, 200_000).timestamp()  # haproxy's local time, as the bench's
    shares = replica_shares(LOG, phase_began)
    assert {k: (v.posts, v.refused) for k, v in shares.items()} == {"app1": (1, 0), "app2": (0, 1)}


def test_share_rows_have_no_counts_and_the_verdict_judges_the_combined_rate():
    rows = [
        Row(CLUSTER_BACKEND, "http, 2 replicas via haproxy, 4 clients", 20_000, 1.6, 20_000, 20_000, 20_000),
        Row(CLUSTER_BACKEND, "  app1: 20 posts, 80 ms mean answer", 10_000, 1.6, 0, 0, 0, share=True),
        Row(CLUSTER_BACKEND, "replay via haproxy (all duplicates)", 20_000, 1.0, 20_000, 20_000, 20_000),
    ]
    table = format_table(rows)
    share_line = next(line for line in table.splitlines() if "app1" in line)
    assert share_line.rstrip().endswith("6,250")  # events/s, then nothing: the rows are counted once, above
    ok, lines = verdict(rows)
    assert ok and any(line.startswith("PASS PostgreSQL cluster") and "12,500 events/s" in line for line in lines)

    slow = [Row(CLUSTER_BACKEND, "http", 20_000, 4.0, 20_000, 20_000, 20_000)]
    ok, lines = verdict(slow)
    assert not ok and lines[-1].startswith("FAIL PostgreSQL cluster") and "target >= 10,000" in lines[-1]

    doubled = [Row(CLUSTER_BACKEND, "http", 20_000, 1.0, 20_001, 20_000, 20_000)]
    ok, lines = verdict(doubled)
    assert not ok and "1 doubled" in lines[0]


def test_replicas_flag_reaches_the_bench_and_zero_skips_the_cluster(monkeypatch):
    import argparse

    parser = argparse.ArgumentParser()
    webhooks.add_arguments(parser)
    args = parser.parse_args(["--replicas", "3", "--http-clients", "8", "--pg-url", ""])
    assert (args.replicas, args.http_clients) == (3, 8)
    called = []
    monkeypatch.setattr(webhooks, "bench_cluster", lambda *a, **k: called.append(a) or ([], []))
    monkeypatch.setattr(webhooks, "bench_backend", lambda *a, **k: [])
    webhooks.run_all(pg_url="postgresql+psycopg://nowhere/x", replicas=0, http_clients=0)
    assert called == []
    webhooks.run_all(pg_url="postgresql+psycopg://nowhere/x", replicas=2, http_clients=4, n_events=100, batch_size=10)
    assert [a[:5] for a in called] == [("postgresql+psycopg://nowhere/x", 100, 10, 4, 2)]


def test_a_missed_speed_target_does_not_read_as_lost_events():
    rows = [Row("sqlite", "batched (500/tx)", 20_000, 10.0, 20_000, 20_000, 20_000)]
    ok, lines = verdict(rows)
    assert not ok and lines == [
        "FAIL SQLite batched ingestion 2,000 events/s (target >= 5,000), zero lost or doubled: yes"]


def test_the_together_phase_posts_each_emails_events_at_once_and_for_other_emails():
    spread = batches_of(webhooks.make_events(400), 40)
    together = batches_of(webhooks.make_events(400, first_message=100, together=True), 40)

    def posts_per_email(batches):
        seen: dict[str, set[int]] = {}
        for n, batch in enumerate(batches):
            for ev in batch:
                seen.setdefault(ev["email"], set()).add(n)
        return seen

    assert all(len(posts) == 1 for posts in posts_per_email(together).values())
    assert sum(len(posts) > 1 for posts in posts_per_email(spread).values()) > 90  # of 100 emails
    assert not {e["sg_event_id"] for b in spread for e in b} & {e["sg_event_id"] for b in together for e in b}
    assert len({e["email"] for b in together for e in b}) == 100


def test_processor_time_per_event_and_the_cores_the_target_takes():
    from commlog.cpu_time import Spent

    spent = Spent({"replicas": 1.22, "PostgreSQL": 0.76, "haproxy": 0.01, "senders (this bench)": None}, busy=0.89, cores=2)
    line = webhooks.cpu_per_event("http", spent, 10_000, 1.3)
    assert "replicas 122 µs, PostgreSQL 76 µs, haproxy 1 µs, senders (this bench) unknown" in line
    assert "89% busy on its 2 cores" in line
    assert "10,000 events/s take 2.0 cores for the replicas and PostgreSQL alone" in line  # (122 + 76) µs × 10,000/s
    unread = webhooks.cpu_per_event("http", Spent({"replicas": None, "PostgreSQL": 0.76}, busy=None, cores=2), 10_000, 1.3)
    assert "cores for" not in unread and "busy" not in unread  # nothing said that was not measured
