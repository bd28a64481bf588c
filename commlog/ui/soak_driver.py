"""The soak bench's app sessions (`python -m commlog bench --only soak`, commlog.bench.soak): the
real app's scripts driven in-process through Streamlit's AppTest, as a browser session would.

Streamlit stays in commlog.ui: the soak bench imports this module only when it runs, and starts
`session_process` in worker processes of its own (AppTest keeps its script-runner state per
process, so concurrent sessions are separate processes, like replicas). Each session opens the log,
pages, filters, types ahead, checks one and several emails, builds the failures CSV, opens a
message page and Deliverability, and reports per action its latencies, errors and skips (`Stats`).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from streamlit.testing.v1 import AppTest

from commlog.browser_cookie import COOKIE
from commlog.ui.export_panel import EXPORT_OPEN

ROOT = Path(__file__).resolve().parents[2]  # where app.py and pages/ are
SKIP = "skip"  # an action with nothing to do on the current page (e.g. no rows to select)
APP_FAILURE_WORDS = ("database is not reachable", "Traceback", "could not be saved", "platform ops only")
ACTIONS = ("open log", "next page", "filter", "type-ahead", "check one", "bulk check", "export CSV", "message page",
           "deliverability")
CYCLE = ["open log", "next page", "filter", "check one", "type-ahead", "bulk check", "export CSV", "message page",
         "next page", "check one", "filter", "deliverability"]


@dataclass
class Stats:
    """One process's tally (latencies in seconds, by action); `as_dict` crosses to the soak bench,
    which `merge`s every process's."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    provider_refusals: Counter = field(default_factory=Counter)  # check outcomes with a provider error (not app errors)
    audited: Counter = field(default_factory=Counter)  # audit rows the actions must have written, by action
    skipped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"latencies": dict(self.latencies), "errors": dict(self.errors), "error_samples": self.error_samples,
                "provider_refusals": dict(self.provider_refusals), "audited": dict(self.audited), "skipped": dict(self.skipped)}

    def merge(self, d: dict) -> None:
        for k, v in d["latencies"].items():
            self.latencies[k].extend(v)
        for name in ("errors", "provider_refusals", "audited", "skipped"):
            getattr(self, name).update(d[name])
        self.error_samples.extend(d["error_samples"][: max(0, 10 - len(self.error_samples))])

    def ok(self, action: str, seconds: float) -> None:
        self.latencies[action].append(seconds)

    def error(self, action: str, what: str) -> None:
        self.errors[action] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{action}: {what}")


class _Downloads:
    """The browser side of the page's downloads: a `commlog_browser` cookie in every script run's
    st.context (as the launcher's middleware gives a real browser), and `fetch`, which GETs the
    `/export/<token>` URL a click draws from the launcher's own route with that cookie and returns
    the bytes served (and audited)."""

    def __init__(self) -> None:
        from starlette.applications import Starlette
        from starlette.testclient import TestClient
        from streamlit.runtime import context

        from commlog import config, export_route
        from commlog.db import make_engine

        cookie = secrets.token_urlsafe(32)
        client_context = SimpleNamespace(cookies={COOKIE: cookie}, headers=[("Cookie", f"{COOKIE}={cookie}")], remote_ip=None)
        self._context, self._real = context, context._get_client_context
        context._get_client_context = lambda: client_context
        engine = make_engine(config.database_url())
        self._client = TestClient(Starlette(routes=export_route.routes(lambda: engine)))
        self._client.cookies.set(COOKIE, cookie)

    @staticmethod
    def urls(at: AppTest) -> list[str]:
        return [e.proto.src for e in at.get("iframe") if e.proto.src.startswith("/export/")]

    def fetch(self, url: str) -> bytes:
        response = self._client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"the download answered {response.status_code}")
        return response.content

    def close(self) -> None:
        self._context._get_client_context = self._real


class Session:
    """One user's Streamlit session of the real app, driven like a browser would."""

    def __init__(self, user_id: int, rnd: random.Random, downloads: _Downloads, stats: Stats) -> None:
        self.user_id, self.rnd, self.downloads, self.stats = user_id, rnd, downloads, stats
        self.at: AppTest | None = None

    def _new(self, path: str = "app.py", params: dict | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / path), default_timeout=120)
        at.session_state["commlog_user_id"] = self.user_id
        at.session_state[EXPORT_OPEN] = True  # the export panel opened, as by a user who exports
        for k, v in (params or {}).items():
            at.query_params[k] = v
        return at

    def _problems(self, at: AppTest) -> str | None:
        if at.exception:
            return "exception: " + "; ".join(str(e.value)[:200] for e in at.exception)
        # st.error also draws NOT_DELIVERED status boxes and provider refusals (by design): only the
        # app's own failure pages count.
        errors = [str(e.value) for e in at.error if any(w in str(e.value) for w in APP_FAILURE_WORDS)]
        if errors:
            return "error element: " + "; ".join(e[:200] for e in errors)
        return None

    def _grid(self) -> str:
        try:
            return f"log_table_{self.at.session_state['log_table_gen']}"
        except KeyError:
            return "log_table_0"

    def _rows(self) -> int:
        for df in self.at.dataframe:
            if "Sent" in df.value.columns:
                return len(df.value)
        return 0

    def run(self, action: str) -> None:
        t0 = time.perf_counter()
        try:
            problem = getattr(self, "_" + action.lower().replace(" ", "_").replace("-", "_"))()
        except Exception as exc:  # noqa: BLE001 - counted, the soak goes on
            self.stats.error(action, f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-400:]}")
            self.at: AppTest | None = None
            return
        if problem == SKIP:
            self.stats.skipped[action] += 1
            return
        if problem:
            self.stats.error(action, problem)
            return
        self.stats.ok(action, time.perf_counter() - t0)

    # -- actions (each returns a problem, or None) --

    def _open_log(self) -> str | None:
        self.at = self._new(params={"account": "all"} if self.rnd.random() < 0.5 else None).run()
        return self._problems(self.at)

    def _ensure(self) -> None:
        if self.at is None:
            self._open_log()

    def _next_page(self) -> str | None:
        self._ensure()
        self.at.session_state["log_page"] = self.rnd.randint(1, 5)
        return self._problems(self.at.run())

    def _filter(self) -> str | None:
        self._ensure()
        self.at.session_state["log_delivery"] = self.rnd.choice(["Any", "NOT_DELIVERED", "DELIVERED", "PENDING", "NOT_CHECKED"])
        self.at.session_state["log_range"] = self.rnd.choice(["7d", "30d"])
        return self._problems(self.at.run())

    def _type_ahead(self) -> str | None:
        """Type part of a name in "Find a borrower", then click one of the matches listed under it."""
        self._ensure()
        text = self.rnd.choice(["an", "ma", "jo", "li", "el", "sa"])
        self.at.text_input(key="log_borrower_search").input(text).run()
        problem = self._problems(self.at)
        if problem:
            return problem
        matches = [b for b in self.at.button if b.key and b.key.startswith("log_pick_")]
        if not matches:
            return None
        self.rnd.choice(matches).click().run()
        return self._problems(self.at)

    def _check_one(self) -> str | None:
        self._ensure()
        n = self._rows()
        if not n:
            return SKIP
        self.at.session_state[self._grid()] = {"selection": {"rows": [self.rnd.randrange(n)], "columns": [], "cells": []}}
        self.at.run()
        problem = self._problems(self.at)
        if problem:
            return problem
        buttons = [b for b in self.at.button if b.key and "_check_" in b.key]
        if not buttons:
            return SKIP  # a failed send: nothing to check
        mid = int(buttons[0].key.rsplit("_", 1)[1])
        buttons[0].click().run()
        self.stats.audited["check"] += 1
        outcome = self.at.session_state.get(f"check_outcome_{mid}", None)
        if outcome is not None and outcome.error:
            self.stats.provider_refusals[outcome.kind] += 1
        return self._problems_except_check(self.at)

    def _problems_except_check(self, at: AppTest) -> str | None:
        """A provider's refusal is shown as an error element by design; count only the rest."""
        if at.exception:
            return "exception: " + "; ".join(str(e.value)[:200] for e in at.exception)
        return None

    def _bulk_check(self) -> str | None:
        self._ensure()
        n = self._rows()
        if n < 2:
            return SKIP
        rows = sorted(self.rnd.sample(range(n), min(5, n)))
        self.at.session_state[self._grid()] = {"selection": {"rows": rows, "columns": [], "cells": []}}
        self.at.run()
        problem = self._problems(self.at)
        if problem:
            return problem
        self.at.button(key="bulk_check").click().run()
        self.stats.audited["check"] += 1
        last = self.at.session_state.get("bulk_outcomes")
        for o in last[1] if last else []:  # (ids, outcomes, names) of the check just run
            if o.error and o.kind not in ("never_sent", "no_provider_id"):
                self.stats.provider_refusals[o.kind] += 1
        return self._problems_except_check(self.at)

    def _export_csv(self) -> str | None:
        self._ensure()
        buttons = [b for b in self.at.button if b.label == "Download failures CSV"]
        if not buttons:
            return SKIP  # over the page's limit: the panel says so
        buttons[0].click().run()
        urls = self.downloads.urls(self.at)
        if len(urls) != 1:
            return f"a click drew {len(urls)} download URLs"
        data = self.downloads.fetch(urls[0])
        self.stats.audited["export"] += 1
        if not data.startswith(b"Lender,Log,"):
            return f"unexpected CSV start {data[:40]!r}"
        self.at.run()  # the next rerun draws no download
        return self._problems(self.at)

    def _message_page(self) -> str | None:
        self._ensure()
        ids = self._visible_ids()
        at = self._new("app.py").run()
        at.switch_page("pages/message.py")
        at.query_params["id"] = str(self.rnd.choice(ids)) if ids else "1"
        at.run()
        return self._problems(at)

    def _visible_ids(self) -> list[int]:
        try:
            return [int(i) for i in self.at.session_state["log_selected_ids"]]
        except KeyError:
            return []

    def _deliverability(self) -> str | None:
        at = self._new("app.py").run()
        at.switch_page("pages/deliverability.py").run()
        return self._problems(at)



def _quiet_streamlit() -> None:
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("streamlit", "commlog", "httpx", "httpcore")):
            logging.getLogger(name).setLevel(logging.ERROR)


def session_process(i: int, user_id: int, actions_per_session: int, seed: int, ready, go, deadline, results) -> None:
    """One worker process: app sessions one after another until the deadline. `ready`, `go`:
    multiprocessing Events (set when warm; wait for the start); `deadline`: a shared time.time()
    value; `results`: a multiprocessing Queue that gets this process's `Stats.as_dict()`."""
    stats = Stats()
    downloads = _Downloads()
    try:
        rnd = random.Random(seed * 1000 + i)
        Session(user_id, rnd, downloads, Stats())._open_log()  # warm: imports, engine, caches
        _quiet_streamlit()
        ready.set()
        go.wait(600)
        k = 0
        while time.time() < deadline.value:
            s = Session(user_id, rnd, downloads, stats)
            for _ in range(max(1, actions_per_session)):
                if time.time() >= deadline.value:
                    break
                s.run(CYCLE[k % len(CYCLE)])
                k += 1
    except BaseException as exc:  # noqa: BLE001 - reported, never a hang
        stats.error("session", f"{type(exc).__name__}: {exc}")
        ready.set()
    finally:
        downloads.close()
        results.put(stats.as_dict())
