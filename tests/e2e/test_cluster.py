"""Two app servers behind Debian's haproxy, against one PostgreSQL database (commlog.cluster, what
bin/start-cluster runs): webhook posts spread over both replicas are stored once each; a browser
pinned to the replica that dies reconnects to the other one, signs in again and finds the same log
in the same view, while a provider keeps posting events (none lost, none doubled).

Needs haproxy (bin/run-tests installs Debian's package as root, as it does chromium) and the local
PostgreSQL server; skips with the reason otherwise."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from commlog.cluster import REPLICA_COOKIE, Cluster
from commlog.webhooks.app import SENDGRID_PATH
from commlog.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, public_key_b64, sign_for_tests
from tests.e2e.servers import clean_env, seeded_pg_database
from tests.e2e.support import expect_no_error, login, main_text, open_app, screenshot, url_params

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
SEED_ARGS = ["--lenders", "2", "--borrowers", "300", "--messages", "3000", "--days", "30", "--seed", "11"]
COUNT = re.compile(r"([\d,]+) emails? in ")
BATCH = 25


@pytest.fixture(scope="module")
def cluster_db():
    if not os.access(HAPROXY, os.X_OK):
        pytest.skip("the cluster test needs Debian's haproxy (apt-get install haproxy; bin/run-tests installs it as root)")
    with seeded_pg_database("commlog_cluster", SEED_ARGS) as seeded:
        yield seeded


@pytest.fixture(scope="module")
def cluster(cluster_db, tmp_path_factory):
    db, password, logins = cluster_db
    key = ec.generate_private_key(ec.SECP256R1())
    env = clean_env() | {"COMMLOG_PROVIDER": "sandbox", "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key_b64(key),
                         "PYTHONUNBUFFERED": "1"}
    c = Cluster(db.url, tmp_path_factory.mktemp("cluster"), replicas=2, env=env, haproxy=HAPROXY).start()
    yield c, key, db, password, logins
    c.stop()


class Provider:
    """A SendGrid-like sender: signed batches of `open` events to the proxy, each batch posted again
    until it is answered 2xx (SendGrid retries anything else), `threads` at a time."""

    def __init__(self, url: str, key, messages: list[tuple[str, str]], tag: str) -> None:
        self.url, self.key, self.tag = url + SENDGRID_PATH, key, tag
        now = int(time.time())
        events = [{"email": email, "sg_message_id": sg_id, "event": "open", "timestamp": now,
                   "sg_event_id": f"{tag}-{i}"} for i, (sg_id, email) in enumerate(messages)]
        self.batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
        self.answers: list[int | str] = []  # every attempt's status, or the error that ended it
        self._lock = threading.Lock()

    def post(self, client: httpx.Client, batch: list[dict]) -> None:
        body = json.dumps(batch).encode()
        for _ in range(60):
            ts = str(int(time.time()))
            headers = {SIGNATURE_HEADER: sign_for_tests(self.key, ts, body), TIMESTAMP_HEADER: ts,
                       "Content-Type": "application/json"}
            try:
                status: int | str = client.post(self.url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            with self._lock:
                self.answers.append(status)
            if isinstance(status, int) and 200 <= status < 300:
                return
            time.sleep(0.5)
        raise AssertionError(f"a batch was never accepted: {self.answers[-5:]}")

    def send_all(self, threads: int = 4, pace: float = 0.0) -> None:
        work = list(self.batches)
        lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(timeout=10) as client:
                while True:
                    with lock:
                        if not work:
                            return
                        batch = work.pop()
                    self.post(client, batch)
                    time.sleep(pace)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()


def _messages(db_url: str, n: int, *, not_of: str = "") -> list[tuple[str, str]]:
    """`n` emails SendGrid sent (its message id, the address), none of lender `not_of`'s (its log
    must not change under the browser's eyes while the events arrive)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(
                "SELECT provider_message_id, recipient_email FROM message WHERE provider_message_id IS NOT NULL "
                "AND provider = 'sendgrid' AND lender_id NOT IN (SELECT id FROM lender WHERE slug = :slug) "
                "ORDER BY id DESC LIMIT :n"), {"n": n, "slug": not_of})]
    finally:
        engine.dispose()


def _stored(db_url: str, tag: str) -> tuple[int, int]:
    """Events with this tag stored: (rows, distinct provider event ids)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            return tuple(c.execute(text("SELECT count(*), count(DISTINCT provider_event_id) FROM delivery_event "
                                        "WHERE provider_event_id LIKE :t"), {"t": f"{tag}-%"}).one())
    finally:
        engine.dispose()


def _served_webhooks(c: Cluster, posts: int) -> dict[str, int]:
    """haproxy's log: webhook posts answered by each replica (waiting, up to 10 s, until haproxy has
    logged all `posts`: it writes a line once the answer is sent)."""
    deadline = time.monotonic() + 10
    while True:
        log = (c.run_dir / "haproxy.log").read_text(errors="replace")
        served = {m.name: len(re.findall(rf"webhooks/{m.name} .*POST {re.escape(SENDGRID_PATH)}", log)) for m in c.members}
        if sum(served.values()) >= posts or time.monotonic() > deadline:
            return served
        time.sleep(0.1)


def test_webhook_posts_spread_over_both_replicas_are_stored_once_each(cluster):
    c, key, db, _, _ = cluster
    messages = _messages(db.url, 500)
    sender = Provider(c.url, key, messages, "spread")
    sender.send_all()
    assert _stored(db.url, "spread") == (len(messages), len(messages))
    served = _served_webhooks(c, len(sender.answers))
    assert all(n > 0 for n in served.values()), served  # round robin: both replicas took posts
    sender.send_all()  # the provider sends every batch again (a retry storm): nothing doubles
    assert _stored(db.url, "spread") == (len(messages), len(messages))


def test_a_browser_on_a_replica_that_dies_carries_on_on_the_other_and_no_event_is_lost(cluster, page):
    c, key, db, password, logins = cluster
    admin, lender = next((e, slug) for e, (role, slug) in logins.items() if role == "lender_admin")
    open_app(page, c.url + "/log?account=all&delivery=NOT_DELIVERED")
    login(page, admin, password)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    before = COUNT.search(main_text(page)).group(1)
    screenshot(page, "cluster-log-before-failover")
    pinned = next(k["value"] for k in page.context.cookies() if k["name"] == REPLICA_COOKIE)

    # A provider posts events the whole time; the replica serving this browser dies in the middle.
    sender = Provider(c.url, key, _messages(db.url, 600, not_of=lender), "failover")
    posting = threading.Thread(target=sender.send_all, kwargs={"threads": 2, "pace": 0.4})
    posting.start()
    deadline = time.monotonic() + 30
    while len(sender.answers) < 4 and time.monotonic() < deadline:  # some batches in, most still to come
        time.sleep(0.05)
    c.kill(pinned)
    killed_at = datetime.now(UTC)

    # The page reconnects through haproxy to the other replica: a new session there, so the
    # sign-in form, on the same URL (the view lives in it).
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    now_on = next(k["value"] for k in page.context.cookies() if k["name"] == REPLICA_COOKIE)
    assert now_on != pinned
    assert url_params(page) == {"account": "all", "delivery": "NOT_DELIVERED"}
    screenshot(page, "cluster-sign-in-after-failover")
    login(page, admin, password)
    expect(page.get_by_test_id("stMain")).to_contain_text(f"{before} emails in ")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    expect_no_error(page)
    screenshot(page, "cluster-log-after-failover")

    posting.join(timeout=180)
    assert not posting.is_alive(), "the provider's posts did not finish"
    n = sum(len(b) for b in sender.batches)
    assert _stored(db.url, "failover") == (n, n), (sender.answers, killed_at)  # none lost, none doubled
