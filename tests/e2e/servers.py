"""The processes browser tests run against: a real `streamlit run` server on a free loopback port,
in its own process group, and the environment it gets (this machine's, minus commlog settings)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_env() -> dict[str, str]:
    """This machine's environment without anything that would point the app elsewhere."""
    drop = ("COMMLOG_", "SENDGRID_", "POSTMARK_", "STREAMLIT_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


LOGIN_LINE = re.compile(r"^\s+(\S+@\S+)\s+(ops|lender_admin)\s+(\S.*?)\s*$")


def parse_logins(out: str) -> tuple[str, dict[str, tuple[str, str | None]]]:
    password = re.search(r"password '([^']+)'", out)
    logins = {}
    for line in out.splitlines():
        m = LOGIN_LINE.match(line)
        if m:
            logins[m.group(1)] = (m.group(2), None if m.group(3) == "all lenders" else m.group(3))
    if not password or not logins:
        pytest.fail(f"seed-demo printed no demo logins:\n{out[-2000:]}")
    return password.group(1), logins


@contextlib.contextmanager
def seeded_pg_database(prefix: str, seed_args: list[str]):
    """A temporary PostgreSQL database (dropped afterwards) filled by `seed-demo` with `seed_args`;
    yields (the database, the demo password, the demo logins). Skips when no server answers."""
    from commlog.settings import settings
    from commlog.tempdb import ServerUnreachable, TempDatabase

    try:
        db = TempDatabase.create(settings().test_pg_url.reveal(), prefix=prefix)
    except ServerUnreachable as exc:
        pytest.skip(str(exc))
    try:
        run = subprocess.run([sys.executable, "-m", "commlog", "--database-url", db.url, "seed-demo", *seed_args, "--no-progress"],
                             cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            pytest.fail(f"seed-demo failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
        password, logins = parse_logins(run.stdout)
        yield db, password, logins
    finally:
        db.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`python -m streamlit run <script>` on a free loopback port, in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path, script: str = "launcher.py") -> None:
        self.env = env
        self.script = script  # launcher.py: what bin/start-demo serves (the app, the webhook, the last error net)
        self.log_path = log_path
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> StreamlitServer:
        cmd = [
            sys.executable, "-m", "streamlit", "run", self.script,
            "--server.headless", "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
            "--global.developmentMode", "false", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group only
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if getattr(self, "_log", None):
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def incidents(self) -> list[str]:
        """The error boundary's incident lines in the server log (commlog.ui.boundary)."""
        return [line for line in self.log_text().splitlines() if "incident" in line and " in " in line]

    def log_tail(self, n: int = 3000) -> str:
        return self.log_text()[-n:]

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def run_app_once(self, timeout: float = 60) -> None:
        """Open a session over the app's WebSocket, as the browser does, and have it run app.py once
        (what opening the README's address does), without a browser: the session asks for a run,
        and the server's messages are read until one finishes (a run cut short by `st.rerun` is
        followed by the next). The server then serves every page through st.navigation."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from websockets.sync.client import connect  # Streamlit's own dependency

        ask = BackMsg()
        ask.rerun_script.query_string = ""
        ask.rerun_script.page_script_hash = ""  # the main script: app.py
        deadline = time.monotonic() + timeout
        with connect(self.url("/_stcore/stream").replace("http://", "ws://", 1), subprotocols=["streamlit"],
                     max_size=None, open_timeout=timeout) as ws:
            ws.send(ask.SerializeToString())
            while True:
                msg = ForwardMsg()
                msg.ParseFromString(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
                if msg.WhichOneof("type") == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
