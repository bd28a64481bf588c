"""One server for the app and the webhook: `streamlit run launcher.py` answers both."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from commlog.models import Message
from commlog.webhooks.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    public_key_b64,
    sign_for_tests,
)
from tests.support import factories as f

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def server(sqlite_engine, sqlite_url):
    port = _free_port()
    env = {**os.environ, "COMMLOG_DATABASE_URL": sqlite_url, "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key_b64(KEY)}
    env.pop("COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "launcher.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not become healthy")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_app_and_webhook_share_one_server(server, sqlite_engine):
    with sqlite_engine.begin() as c:
        lender = f.lender(c, "lender-a")
        mid = f.message(c, lender, "ana@gmail.com", provider_message_id="AbCdEf.recvd-1")
    assert httpx.get(f"{server}/", timeout=10).status_code == 200
    body = json.dumps([{"email": "ana@gmail.com", "timestamp": int(time.time()), "event": "bounce", "type": "bounce",
                        "sg_event_id": "ev-1", "sg_message_id": "AbCdEf.recvd-1", "reason": "550 5.1.1 user unknown"}]).encode()
    ts = str(int(time.time()))
    unsigned = httpx.post(f"{server}/webhooks/sendgrid", content=body, timeout=10)
    assert unsigned.status_code == 401
    signed = httpx.post(f"{server}/webhooks/sendgrid", content=body, timeout=10,
                        headers={SIGNATURE_HEADER: sign_for_tests(KEY, ts, body), TIMESTAMP_HEADER: ts})
    assert signed.status_code == 200, signed.text
    with sqlite_engine.connect() as c:
        assert c.execute(select(Message.delivery_status).where(Message.id == mid)).scalar() == "NOT_DELIVERED"
