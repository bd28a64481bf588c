"""The checks bench runs end to end (tiny, no timing asserted: targets live in `bench`)."""

from commlog.bench import checks as bench


def test_bench_smoke():
    rows = {r.name.strip(): r for r in bench.measure(messages=6, latency=0.0, rate_per_min=6000, concurrency=4, quiet=True,
                                                     limited_messages=12, limit=5, window=1.0)}
    assert rows["server 429s"].value == 0 and rows["checks DELIVERED"].value == 12
    assert rows["max requests in any 60 s"].ok
    assert rows["checks DELIVERED (rate-limited)"].value == 12
    assert rows["requests the server saw"].value == 12 + rows["429s in total"].value
    # No storm of retries: at most one 429 a rate window on the whole (the bench's target, at most one
    # in every window, is a timing it reports; with 1 s windows on a loaded machine a request sent at
    # a window's end can count in the next one).
    assert "max 429s in one rate window" in rows
    assert rows["429s in total"].value <= rows["rate windows used"].value
    assert "speedup" in rows and "measure" in bench.format_table(list(rows.values()))
