"""Several app servers behind Debian's haproxy, against one PostgreSQL: `bin/start-cluster`.

Each replica is `streamlit run launcher.py` (the app, the provider webhooks and the download route)
on its own loopback port. haproxy listens on the one public port:

- **Sticky sessions.** A Streamlit session lives in the memory of the replica that opened it, so
  haproxy pins a browser to one replica with a cookie (`commlog_replica`) set on the first answer;
  the page's WebSocket (`/_stcore/stream`) carries it and goes to the same replica.
- **WebSockets.** haproxy passes the upgrade through in HTTP mode; `timeout tunnel` keeps an idle
  page's socket open for an hour (a session also ends by its own idle limit, commlog.session_lifetime).
- **Failover.** Health checks on `/_stcore/health` every second take a dead replica out within two
  seconds; `option redispatch` sends a browser pinned to it to another one. Its Streamlit session
  is gone with the process, so the page reconnects to a new session on the other replica: the URL
  keeps the view, a local account signs in again, and nothing stored is lost (everything lives in
  PostgreSQL: the log, audit trail, sign-in throttle and download tokens).
- **Webhooks** (`/webhooks/…`) go to a backend of their own without the cookie: round robin over
  the live replicas. A post in flight on a replica that
  dies is answered 502 by haproxy, never 2xx, so the provider retries it; a replica answers 2xx only
  after its transaction committed, and events are stored once by their provider id.
- Every replica gets the same `server.cookieSecret` and reads the same `.streamlit/secrets.toml`
  (the `[auth]` cookie secret for single sign-on); X-Forwarded-For from haproxy is trusted for
  sign-in throttling and the audit trail (COMMLOG_TRUSTED_PROXIES=127.0.0.1/32).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from commlog.cpu_time import process_times

ROOT = Path(__file__).resolve().parents[1]
REPLICA_COOKIE = "commlog_replica"
DEFAULT_PORT = 8500
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/commlog_cluster"


def haproxy_config(port: int, replica_ports: Sequence[int], *, host: str = "127.0.0.1") -> str:
    """haproxy's configuration for `replica_ports` on loopback behind `host:port`."""
    servers = "\n".join(
        f"    server app{i} 127.0.0.1:{p} check cookie app{i}" for i, p in enumerate(replica_ports, start=1)
    )
    plain_servers = "\n".join(f"    server app{i} 127.0.0.1:{p} check" for i, p in enumerate(replica_ports, start=1))
    return f"""\
# Written by commlog.cluster (bin/start-cluster); started as `haproxy -db -f <this file>`.
global
    log stdout format raw local0 info
    maxconn 4096

defaults
    mode http
    log global
    option httplog
    option forwardfor
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout tunnel 1h
    timeout client-fin 5s

frontend commlog
    bind {host}:{port}
    use_backend webhooks if {{ path_beg /webhooks/ }}
    default_backend replicas

# Browsers: pinned to the replica that holds their Streamlit session.
backend replicas
    balance roundrobin
    cookie {REPLICA_COOKIE} insert indirect nocache httponly attr "SameSite=Lax"
    option httpchk GET /_stcore/health
    http-check expect string ok
    default-server inter 1s fall 2 rise 2
{servers}

# Provider webhooks: no session, no cookie; spread over every live replica.
backend webhooks
    balance roundrobin
    option httpchk GET /_stcore/health
    http-check expect string ok
    default-server inter 1s fall 2 rise 2
{plain_servers}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode().strip() == "ok"
    except OSError:
        return False


def _stop(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM the process's own group, SIGKILL after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@dataclass
class Replica:
    name: str  # app1, app2…: also its haproxy cookie value
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _proc_file(self, name: str) -> str | None:
        """The text of /proc/<its pid>/<name> (Linux), None when it is not running or cannot be read."""
        if not self.alive():
            return None
        try:
            return Path(f"/proc/{self.proc.pid}/{name}").read_text(encoding="ascii")
        except OSError:
            return None

    def memory_mb(self) -> float | None:
        """Its resident memory, None when unknown."""
        status = self._proc_file("status") or ""
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), None)
        return kb / 1024 if kb is not None else None

    def cpu_seconds(self) -> float | None:
        """The processor time it has used so far, user and system, None when unknown."""
        times = process_times(self.proc.pid) if self.alive() else None
        return times.own if times is not None else None


@dataclass
class Cluster:
    """N replicas of `launcher.py` and haproxy in front, all in process groups of their own."""

    database_url: str
    run_dir: Path
    replicas: int = 2
    port: int = 0  # 0: a free port
    replica_ports: Sequence[int] = ()
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    haproxy: str = "haproxy"
    members: list[Replica] = field(default_factory=list)
    proxy: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> Cluster:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        ports = list(self.replica_ports) or [free_port() for _ in range(self.replicas)]
        cookie_secret = secrets.token_urlsafe(32)  # one for every replica: their cookies are each other's
        env = {**self.env, "COMMLOG_DATABASE_URL": self.database_url, "COMMLOG_TRUSTED_PROXIES": "127.0.0.1/32",
               "STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret}  # Streamlit takes it from the environment only
        try:
            for i, port in enumerate(ports, start=1):
                member = Replica(f"app{i}", port, self.run_dir / f"app{i}.log")
                member.proc = subprocess.Popen(
                    [sys.executable, "-m", "streamlit", "run", "launcher.py", "--server.headless", "true",
                     "--server.port", str(port), "--server.address", "127.0.0.1",
                     "--global.developmentMode", "false", "--browser.gatherUsageStats", "false",
                     "--server.fileWatcherType", "none"],
                    cwd=ROOT, env=env, stdout=member.log_path.open("w"), stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
                self.members.append(member)
            deadline = time.monotonic() + timeout
            # haproxy only once every replica answers: it counts a server up from its start, and one
            # that failed its first health checks while it was still starting would take no requests
            # until it passed two more (`rise 2`), the first posts and browsers all going to the others.
            self._wait_for_replicas(deadline)
            config = self.run_dir / "haproxy.cfg"
            config.write_text(haproxy_config(self.port, ports), encoding="utf-8")
            self.proxy = subprocess.Popen(
                [self.haproxy, "-db", "-f", str(config)], stdout=(self.run_dir / "haproxy.log").open("w"),
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            self._wait_for_proxy(deadline, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_replicas(self, deadline: float) -> None:
        waiting = list(self.members)
        while waiting and time.monotonic() < deadline:
            for m in list(waiting):
                if not m.alive():
                    raise RuntimeError(f"replica {m.name} exited:\n{self.log_tail(m)}")
                if _answers_ok(m.url + "/_stcore/health"):
                    waiting.remove(m)
            time.sleep(0.2)
        if waiting:
            raise RuntimeError(f"replicas {[m.name for m in waiting]} did not answer in time")

    def _wait_for_proxy(self, deadline: float, timeout: float) -> None:
        while time.monotonic() < deadline:
            if self.proxy is not None and self.proxy.poll() is not None:
                raise RuntimeError(f"haproxy exited:\n{(self.run_dir / 'haproxy.log').read_text(errors='replace')[-2000:]}")
            if _answers_ok(self.url + "/_stcore/health"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the cluster did not answer within {timeout:.0f} s")

    def member(self, name: str) -> Replica:
        return next(m for m in self.members if m.name == name)

    def kill(self, name: str) -> None:
        """Stop one replica at once, as a crash would (SIGKILL: no goodbye to its browsers)."""
        m = self.member(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(m.proc.pid, signal.SIGKILL)
        m.proc.wait(timeout=10)

    def log_tail(self, m: Replica, n: int = 3000) -> str:
        return m.log_path.read_text(errors="replace")[-n:] if m.log_path.exists() else ""

    def stop(self) -> None:
        _stop(self.proxy)
        for m in self.members:
            _stop(m.proc)


def prepare_database(url: str, *, demo: bool) -> None:
    """Create the database if the server lacks it, migrate it once (before any replica starts, so
    they never race to migrate), and seed the demo data into an empty one when asked."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from commlog.db import make_engine
    from commlog.migrate import upgrade

    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as c:
            if not c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).scalar():
                c.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        server.dispose()
    engine = make_engine(url)
    try:
        upgrade(engine)
        if demo:
            with engine.connect() as c:
                empty = not c.execute(text("SELECT EXISTS (SELECT 1 FROM lender)")).scalar()
            if empty:
                subprocess.run([sys.executable, "-m", "commlog", "--database-url", url, "seed-demo"], cwd=ROOT, check=True)
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bin/start-cluster", description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=2, help="app servers to start (default 2)")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)), help="haproxy's port (default 8500)")
    p.add_argument("--first-replica-port", type=int, default=8601, help="replicas listen on this port and the next ones")
    p.add_argument("--database-url", default=os.environ.get("COMMLOG_DATABASE_URL", DEFAULT_DATABASE),
                   help="the one PostgreSQL database (created if missing)")
    p.add_argument("--no-demo", action="store_true", help="never seed demo data into an empty database")
    args = p.parse_args(argv)
    from commlog.db import is_postgresql

    if not is_postgresql(args.database_url):
        p.error("several app servers need one PostgreSQL database: --database-url postgresql+psycopg://…")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        p.error("haproxy is not installed (bin/start-cluster installs Debian's package when run as root)")
    from commlog.config import masked_url

    print(f"database {masked_url(args.database_url)}: preparing…", flush=True)
    prepare_database(args.database_url, demo=not args.no_demo)
    ports = [args.first_replica_port + i for i in range(args.replicas)]
    cluster = Cluster(args.database_url, ROOT / "data" / "cluster", replicas=args.replicas, port=args.port,
                      replica_ports=ports, haproxy=haproxy)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        cluster.start()
        print(f"commlog on {cluster.url}  (haproxy; replicas "
              + ", ".join(f"{m.name} :{m.port}" for m in cluster.members)
              + f"; logs in {cluster.run_dir}). Ctrl-C stops all.", flush=True)
        while not stopping:
            for m in cluster.members:
                if not m.alive():
                    print(f"replica {m.name} stopped (exit {m.proc.returncode}); haproxy sends its browsers to the others",
                          flush=True)
                    m.proc = None  # said once
            cluster.members = [m for m in cluster.members if m.proc is not None]
            if not cluster.members:
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
