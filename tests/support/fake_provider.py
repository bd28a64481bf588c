"""The fake provider server for tests (it lives in commlog.providers.fake_server so the bench can
use it too) and the recorded provider JSON in tests/support/recorded/."""

from __future__ import annotations

import json
from pathlib import Path

from commlog.providers.fake_server import FakeProvider, auto_logs_message

__all__ = ["FakeProvider", "auto_logs_message", "recorded", "RECORDED"]

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str):
    """A recorded provider answer (tests/support/recorded/<name>)."""
    return json.loads((RECORDED / name).read_text())
