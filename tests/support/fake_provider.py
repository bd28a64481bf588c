"""The fake provider server for tests (it lives in commlog.providers.fake_server so the bench can
use it too) and the recorded provider JSON in tests/support/recorded/."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from commlog.providers.fake_server import FakeProvider, auto_logs_message

__all__ = ["FakeProvider", "auto_logs_message", "private_limiter_key", "recorded", "RECORDED"]

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str):
    """A recorded provider answer (tests/support/recorded/<name>)."""
    return json.loads((RECORDED / name).read_text())


_PRIVATE_KEYS = itertools.count(1)


def private_limiter_key(prefix: str) -> str:
    """A rate budget no other provider object in this process shares. Never id() of an object: a
    collected object's id comes back for the next one, and the limiter registry would hand that
    one the old budget (a Retry-After of 120 s from an earlier test, say)."""
    return f"{prefix}-{next(_PRIVATE_KEYS)}"
