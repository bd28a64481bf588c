"""Keep stored statuses truthful as time passes: a PENDING message whose retry window ended is
NOT_DELIVERED (expired). Run from the log page, at most once a minute per lender and process."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import Engine

from commlog.principal import Principal
from commlog.store import expire_pending
from commlog.unit_of_work import writing

_last_run: dict[tuple[str, int], float] = {}
_lock = threading.Lock()
INTERVAL_S = 60.0


def expire_pending_now_and_then(engine: Engine, principal: Principal, lender_id: int, now: datetime) -> None:
    key = (str(engine.url), lender_id)
    with _lock:
        if time.monotonic() - _last_run.get(key, -INTERVAL_S) < INTERVAL_S:
            return
        _last_run[key] = time.monotonic()
    with writing(engine, principal) as conn:
        expire_pending(conn, now, principal.require_lender(lender_id))
