"""commlog.settings: every setting typed, read once, the environment over the secrets file, a clear
error for a value it cannot use (on the command line, on the page, never a secret's value)."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import threading
import time
from dataclasses import Field
from datetime import timedelta
from pathlib import Path

import pytest

from commlog import checks, config
from commlog.cli import main
from commlog.principal import Principal, Role
from commlog.providers import ProviderSet
from commlog.providers.base import FetchResult, Provider, StoredMessage
from commlog.settings import (
    PROJECT_ROOT,
    DatabaseUrl,
    Secret,
    Settings,
    SettingsError,
    load,
    reload,
    settings,
    specs,
)
from commlog.ui.format import plain
from tests.support import factories as f
from tests.support.app import app, build_two_lenders, page_text

NO_FILE = "/nonexistent/secrets.toml"
PASSWORD = "s3cret-db-pw"
API_KEY = "SG.settings-test-key.never-shown-0123456789"


def secrets_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    return path


# --- the settings and their defaults ---------------------------------------------------------------


def _readme_configuration() -> dict[str, str]:
    """README's Configuration table: {setting: its default column}, several names per row allowed."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0])
        defaults = re.findall(r"`([^`]+)`", cells[2]) or [cells[2].split(" (")[0]]
        for i, name in enumerate(names):
            rows[name] = defaults[i] if len(defaults) == len(names) else defaults[0]
    return rows


def _shown_default(spec: Field) -> str:
    value = getattr(Settings(), spec.name)
    if isinstance(value, DatabaseUrl):
        return value.reveal().replace(f"sqlite:///{PROJECT_ROOT}/", "sqlite:///")
    if isinstance(value, Secret):
        return "—" if not value else "set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return "-".join(f"{v:g}" for v in value) if value else "—"
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:  # unset: the README says what that means
        return "—"
    return str(value)


# Settings the README's table may leave out (it names some of them in its text); any other must be in it.
NOT_IN_THE_TABLE = {
    "COMMLOG_POSTMARK_RATE_PER_MIN", "COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE", "COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS",
    "COMMLOG_TEST_PG_URL", "COMMLOG_BENCH_PG_URL", "COMMLOG_SECRETS_FILE",
}


def test_every_setting_in_the_readme_is_typed_here_with_the_readmes_default():
    readme = _readme_configuration()
    by_env = {spec.metadata["env"]: spec for spec in specs()}
    assert len(readme) >= 16 and set(readme) <= set(by_env)
    assert set(by_env) - set(readme) <= NOT_IN_THE_TABLE
    for name, default in readme.items():
        if name == "COMMLOG_PROVIDER_TIMEOUT":  # "see commlog/providers/http.py": unset means httpx's per-phase defaults
            assert Settings().provider_timeout is None
            continue
        assert _shown_default(by_env[name]) == default, name


def test_every_setting_has_a_meaning_and_the_secret_ones_are_typed_secret():
    for spec in specs():
        assert spec.metadata["meaning"] and spec.metadata["env"].isupper()
        assert spec.metadata["secret"] == (spec.type in ("Secret", "DatabaseUrl")), spec.name
    assert {s.metadata["env"] for s in specs() if s.metadata["secret"]} >= {
        "SENDGRID_API_KEY", "POSTMARK_SERVER_TOKEN", "SENDGRID_WEBHOOK_PUBLIC_KEY", "COMMLOG_DATABASE_URL"}


def test_nothing_set_gives_the_defaults():
    assert load({}, NO_FILE) == Settings(secrets_file=Path(NO_FILE))
    assert Settings().database_url.reveal() == config.default_database_url()


# --- where values come from ------------------------------------------------------------------------


def test_the_environment_wins_over_the_secrets_file(tmp_path):
    path = secrets_file(tmp_path, 'COMMLOG_PROVIDER = "postmark"\nCOMMLOG_CHECK_CONCURRENCY = 4\n')
    s = load({"COMMLOG_PROVIDER": "sendgrid"}, path)
    assert (s.provider, s.check_concurrency) == ("sendgrid", 4)
    assert (s.source("COMMLOG_PROVIDER"), s.source("COMMLOG_CHECK_CONCURRENCY")) == ("environment", str(path))
    assert s.source("COMMLOG_SANDBOX_429_RATE") == "default"


def test_the_commlog_table_of_the_secrets_file_is_read_after_its_top_level(tmp_path):
    path = secrets_file(tmp_path, 'COMMLOG_PROVIDER = "postmark"\n[commlog]\nCOMMLOG_PROVIDER = "sendgrid"\n'
                                  'COMMLOG_SANDBOX_LATENCY_MS = "0"\nCOMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE = true\n')
    s = load({}, path)
    assert (s.provider, s.sandbox_latency_ms, s.webhook_insecure_no_signature) == ("postmark", (0.0, 0.0), True)
    assert s.source("COMMLOG_SANDBOX_LATENCY_MS") == f"{path} [commlog]"


def test_an_empty_value_counts_as_unset(tmp_path):
    path = secrets_file(tmp_path, 'COMMLOG_PROVIDER = "postmark"\n')
    assert load({"COMMLOG_PROVIDER": ""}, path).provider == "postmark"
    assert load({"COMMLOG_CHECK_CONCURRENCY": ""}, NO_FILE).check_concurrency == 16


def test_the_secrets_file_is_named_by_the_environment(tmp_path):
    path = secrets_file(tmp_path, "COMMLOG_PROVIDER_ATTEMPTS = 2\n")
    assert load({"COMMLOG_SECRETS_FILE": str(path)}).provider_attempts == 2


def test_an_unreadable_secrets_file_is_ignored_as_before_and_said(tmp_path, caplog):
    path = secrets_file(tmp_path, f'SENDGRID_API_KEY = "{API_KEY}\n')  # unterminated string
    assert load({}, path) == Settings(secrets_file=path)
    assert any("cannot be read" in r.getMessage() for r in caplog.records)
    assert API_KEY not in caplog.text


# --- read once per process -------------------------------------------------------------------------


def test_read_once_until_reloaded(env):
    env(COMMLOG_SECRETS_FILE=NO_FILE, COMMLOG_PROVIDER_ATTEMPTS="3")
    first = settings()
    assert first.provider_attempts == 3 and settings() is first
    env(COMMLOG_PROVIDER_ATTEMPTS="4")  # the env fixture reloads
    assert settings().provider_attempts == 4


def test_without_reload_a_changed_environment_is_not_read(monkeypatch):
    monkeypatch.setenv("COMMLOG_SECRETS_FILE", NO_FILE)
    monkeypatch.setenv("COMMLOG_PROVIDER_ATTEMPTS", "3")
    assert settings().provider_attempts == 3
    monkeypatch.setenv("COMMLOG_PROVIDER_ATTEMPTS", "4")
    assert settings().provider_attempts == 3
    reload()
    assert settings().provider_attempts == 4


def test_a_failed_read_is_not_kept_so_a_corrected_file_is_read(env, tmp_path):
    path = secrets_file(tmp_path, 'COMMLOG_CHECK_CONCURRENCY = "lots"\n')
    env(COMMLOG_SECRETS_FILE=str(path), COMMLOG_CHECK_CONCURRENCY=None)
    with pytest.raises(SettingsError):
        settings()
    path.write_text("COMMLOG_CHECK_CONCURRENCY = 5\n")
    assert settings().check_concurrency == 5


# --- a value it cannot use -------------------------------------------------------------------------


BAD = [
    ("COMMLOG_CHECK_CONCURRENCY", "lots", "a whole number from 1 to 64"),
    ("COMMLOG_CHECK_CONCURRENCY", "0", "a whole number from 1 to 64"),
    ("COMMLOG_CHECK_CONCURRENCY", "100", "a whole number from 1 to 64"),
    ("COMMLOG_PROVIDER", "mailgun", "one of: sandbox, sendgrid, postmark"),
    ("COMMLOG_SENDGRID_API", "v2", "one of: logs, activity"),
    ("COMMLOG_SANDBOX_LATENCY_MS", "fast", "one number or a range LOW-HIGH"),
    ("COMMLOG_SANDBOX_LATENCY_MS", "300-80", "one number or a range LOW-HIGH"),
    ("COMMLOG_SANDBOX_429_RATE", "2", "a share from 0 to 1"),
    ("COMMLOG_SENDGRID_RATE_PER_MIN", "0", "above 0"),
    ("COMMLOG_POSTMARK_RATE_PER_MIN", "many", "above 0"),
    ("COMMLOG_PROVIDER_TIMEOUT", "-1", "a number of seconds above 0"),
    ("COMMLOG_PROVIDER_ATTEMPTS", "0", "a whole number, 1 or more"),
    ("COMMLOG_SENDGRID_BASE_URL", "api.sendgrid.com", "an http:// or https:// URL"),
    ("COMMLOG_POSTMARK_BASE_URL", "ftp://api.postmarkapp.com", "an http:// or https:// URL"),
    ("COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE", "maybe", "on (1, true, yes, on) or off (0, false, no, off)"),
    ("COMMLOG_WEBHOOK_MAX_AGE_SECONDS", "5m", "a whole number, 0 or more"),
    ("COMMLOG_WEBHOOK_MAX_BODY_BYTES", "0", "a whole number, 1 or more"),
    ("COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS", "nan", "a number of seconds"),
]


@pytest.mark.parametrize("name,value,allowed", BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_value_names_the_setting_the_value_and_what_it_takes(name, value, allowed):
    with pytest.raises(SettingsError) as caught:
        load({name: value}, NO_FILE)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{name} is {value!r} (in the environment): it must be ")
    assert allowed in problem and problem.endswith(".") and str(caught.value) == problem and "\n" not in problem


def test_every_bad_value_is_reported_at_once_and_where_it_was_set(tmp_path):
    path = secrets_file(tmp_path, '[commlog]\nCOMMLOG_SANDBOX_LATENCY_MS = "fast"\n')
    with pytest.raises(SettingsError) as caught:
        load({"COMMLOG_CHECK_CONCURRENCY": "lots", "COMMLOG_PROVIDER": "mailgun"}, path)
    assert [p.split(" is ")[0] for p in caught.value.problems] == [
        "COMMLOG_PROVIDER", "COMMLOG_CHECK_CONCURRENCY", "COMMLOG_SANDBOX_LATENCY_MS"]
    assert f"'fast' (in {path} [commlog])" in str(caught.value)


def test_a_table_where_a_value_belongs_is_a_clear_error_without_the_value(tmp_path):
    path = secrets_file(tmp_path, f'SENDGRID_API_KEY = ["{API_KEY}"]\n')
    with pytest.raises(SettingsError, match=r"SENDGRID_API_KEY \(in .*\) is a list: it must be a single value") as caught:
        load({}, path)
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://commlog:{PASSWORD}@db.internal:port/commlog",  # a port that is not a number
    f"commlog:{PASSWORD}@db.internal/commlog",  # no scheme
])
def test_a_bad_database_url_never_shows_its_password(url, tmp_path):
    for environ, file_text in (({"COMMLOG_DATABASE_URL": url}, ""), ({}, f'COMMLOG_DATABASE_URL = "{url}"\n')):
        with pytest.raises(SettingsError) as caught:
            load(environ, secrets_file(tmp_path, file_text))
        text = str(caught.value)
        assert text.startswith("COMMLOG_DATABASE_URL (in ") and "its value is not shown" in text
        assert "SQLAlchemy database URL" in text
        assert PASSWORD not in text and "db.internal" not in text


def test_secrets_never_show_in_a_repr_or_a_format():
    s = load({"COMMLOG_DATABASE_URL": f"postgresql+psycopg://commlog:{PASSWORD}@db.internal:5432/commlog",
              "SENDGRID_API_KEY": API_KEY, "POSTMARK_SERVER_TOKEN": "pm-token-never-shown",
              "SENDGRID_WEBHOOK_PUBLIC_KEY": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwebhook"}, NO_FILE)
    shown = f"{s!r} {s} {s.sendgrid_api_key} {s.database_url} {s.webhook_public_key!r}"
    for secret in (PASSWORD, API_KEY, "pm-token-never-shown", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwebhook"):
        assert secret not in shown
    assert "postgresql+psycopg://commlog:***@db.internal:5432/commlog" in shown
    assert s.sendgrid_api_key.reveal() == API_KEY and f"{s.sendgrid_api_key}" == "***"
    with pytest.raises(TypeError):
        pickle.dumps(s.sendgrid_api_key)


def test_redact_masks_secrets_even_when_another_setting_is_bad(env):
    env(COMMLOG_SECRETS_FILE=NO_FILE, SENDGRID_API_KEY=API_KEY, COMMLOG_CHECK_CONCURRENCY="lots",
        COMMLOG_DATABASE_URL=f"postgresql+psycopg://commlog:{PASSWORD}@db.internal:5432/commlog")
    text = config.redact(f"request with {API_KEY} to postgresql+psycopg://commlog:{PASSWORD}@db.internal failed")
    assert API_KEY not in text and PASSWORD not in text and "db.internal" in text


# --- COMMLOG_CHECK_CONCURRENCY from the secrets file (was: the environment only) --------------------


class _Slow(Provider):
    """Answers after a short wait and counts how many calls ran at once."""

    name = "sendgrid"
    label = "SendGrid"
    retention = timedelta(days=30)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def fetch_events(self, message: StoredMessage) -> FetchResult:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return FetchResult(events=[])


def test_check_concurrency_from_the_secrets_file_bounds_a_bulk_check(env, tmp_path, sqlite_engine, now):
    env(COMMLOG_SECRETS_FILE=str(secrets_file(tmp_path, "COMMLOG_CHECK_CONCURRENCY = 2\n")), COMMLOG_CHECK_CONCURRENCY=None)
    with sqlite_engine.begin() as conn:
        lender = f.lender(conn, "lender-a")
        ids = [f.message(conn, lender, f"r{i}@example.com", sent_at=now, provider_message_id=f"C{i}.recvd-x.0")
               for i in range(8)]
    slow = _Slow()
    ops = Principal(1, "ops@commlog.example", Role.OPS, None)
    outcomes = checks.check_messages(sqlite_engine, ops, ids, now=now, client=ProviderSet.single(slow))
    assert len(outcomes) == 8 and slow.peak <= 2


# --- where the error surfaces ----------------------------------------------------------------------


def test_cli_says_which_setting_in_one_line_and_exits_2(env, capsys):
    env(COMMLOG_SECRETS_FILE=NO_FILE, COMMLOG_CHECK_CONCURRENCY="lots",
        COMMLOG_DATABASE_URL=f"postgresql+psycopg://commlog:{PASSWORD}@db.internal:port/commlog")
    assert main(["users", "list"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: COMMLOG_DATABASE_URL (in the environment) cannot be used")
    assert "COMMLOG_CHECK_CONCURRENCY is 'lots' (in the environment): it must be a whole number from 1 to 64." in lines[0]
    assert PASSWORD not in out + err and "Traceback" not in err


def test_python_m_commlog_exits_2(tmp_path):
    environ = {"PATH": "/usr/bin:/bin", "COMMLOG_SECRETS_FILE": NO_FILE, "COMMLOG_SANDBOX_LATENCY_MS": "fast",
               "COMMLOG_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    done = subprocess.run([sys.executable, "-m", "commlog", "init-db"], cwd=PROJECT_ROOT, env=environ,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: COMMLOG_SANDBOX_LATENCY_MS is 'fast' (in the environment): it must be "
                                   "milliseconds, one number or a range LOW-HIGH (e.g. 80-300; 0 for none).")
    assert not (tmp_path / "x.sqlite3").exists()  # nothing ran


@pytest.mark.parametrize("path", ["app.py", "pages/log.py"])
def test_the_page_says_which_setting_and_shows_nothing_else(env, sqlite_engine, sqlite_url, path):
    world = build_two_lenders(sqlite_engine)
    env(COMMLOG_SECRETS_FILE=NO_FILE, COMMLOG_DATABASE_URL=sqlite_url, COMMLOG_SANDBOX_LATENCY_MS="fast",
        SENDGRID_API_KEY=API_KEY)
    at = app(path, user_id=world["users"]["admin_a"]).run()
    assert not at.exception
    assert len(at.error) == 1
    text = at.error[0].value
    assert "a setting has a value it cannot use" in text
    assert plain("COMMLOG_SANDBOX_LATENCY_MS is 'fast' (in the environment): it must be milliseconds") in text
    assert not at.dataframe and not at.text_input and not at.button  # no log, no login form
    assert API_KEY not in page_text(at)


def test_the_page_never_shows_a_bad_database_urls_password(env):
    env(COMMLOG_SECRETS_FILE=NO_FILE, COMMLOG_DATABASE_URL=f"postgresql+psycopg://commlog:{PASSWORD}@db.internal:port/x")
    at = app().run()
    assert not at.exception and len(at.error) == 1
    assert plain("COMMLOG_DATABASE_URL (in the environment) cannot be used (its value is not shown)") in at.error[0].value
    assert PASSWORD not in page_text(at) and "db.internal" not in page_text(at)
