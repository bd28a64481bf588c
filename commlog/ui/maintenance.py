"""Keep stored statuses truthful as time passes: a PENDING message whose retry window ended is
NOT_DELIVERED (expired). Run from the log page and before Deliverability's export, at most once a
minute per lender (or all lenders) and process."""

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


def expire_pending_now_and_then(engine: Engine, principal: Principal, lender_id: int | None, now: datetime) -> None:
    """`lender_id` None: every lender (ops only, as Deliverability's all-lenders export)."""
    if lender_id is None and not principal.is_ops:
        lender_id = principal.lender_id
    key = (str(engine.url), 0 if lender_id is None else lender_id)
    with _lock:
        if time.monotonic() - _last_run.get(key, -INTERVAL_S) < INTERVAL_S:
            return
        _last_run[key] = time.monotonic()
    with writing(engine, principal) as conn:
        expire_pending(conn, now, None if lender_id is None else principal.require_lender(lender_id))
