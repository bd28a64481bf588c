"""Smoke test of the webhook ingestion bench: it runs and counts rows right (no timing asserted)."""

from __future__ import annotations

from commlog.bench import webhooks


def test_bench_smoke_counts_rows():
    rows, notes = webhooks.run_all(n_events=200, batch_size=50, single_events=20, pg_url=None, http_clients=2)
    assert [r.mode for r in rows] == ["batched (50/tx)", "replay (all duplicates)", "1 event/tx", "http, 2 clients"]
    assert all(r.lost == 0 and r.doubled == 0 for r in rows)
    assert rows[0].stored == 200 and rows[2].stored == 20
    assert "PostgreSQL" in notes[0]
    table = webhooks.format_table(rows)
    assert "events/s" in table and "sqlite" in table
