"""AppTest helpers: a small two-lender database, logins, and reading what a page shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.support import factories as f

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def build_two_lenders(engine) -> dict:
    """Lender A (admin + borrowers + a mix of outcomes, recent) and Lender B (foreign data)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as c:
        a = f.lender(c, "lender-a", "Alpha Lending")
        b = f.lender(c, "lender-b", "Bravo Credit")
        ana = f.account(c, a, "Ana Souza", "ana.souza@gmail.com")
        bob = f.account(c, a, "Bob Ng", "bob.ng@outlook.com")
        zed = f.account(c, b, "Zed Zulu", "zed.zulu@bravo-borrower.example")
        ids = {}
        ids["confirm_ana"] = f.message(c, a, "ana.souza@gmail.com", recipient_account_id=ana,
                                       subject="Confirm your new account with Alpha Lending", sent_at=now - timedelta(hours=5))
        ids["bounce_bob"] = f.message(c, a, "bob.ng@outlook.com", recipient_account_id=bob,
                                      subject="Confirm your new account with Alpha Lending", sent_at=now - timedelta(days=2))
        ids["reset_ana"] = f.message(c, a, "ana.souza@gmail.com", log_account_id=ana, recipient_account_id=ana,
                                     email_type="password_reset", subject="Reset your Alpha Lending password",
                                     sent_at=now - timedelta(hours=1))
        ids["failed"] = f.message(c, a, "bob.ng@outlook.com", send_status="failed", send_error="SMTP relay timed out",
                                  subject="Your statement is ready", email_type="statement_ready", sent_at=now - timedelta(days=3))
        ids["foreign"] = f.message(c, b, "zed.zulu@bravo-borrower.example", recipient_account_id=zed,
                                   subject="Bravo secret subject", sent_at=now - timedelta(hours=3))
        f.events(c, ids["confirm_ana"], a, ("PROCESSED", f.minutes(now - timedelta(hours=5)), None),
                 ("DELIVERED", f.minutes(now - timedelta(hours=4, minutes=59)), "250 2.0.0 OK gsmtp"), now=now)
        f.events(c, ids["bounce_bob"], a, ("PROCESSED", f.minutes(now - timedelta(days=2)), None),
                 ("BOUNCE", f.minutes(now - timedelta(days=2) + timedelta(minutes=1)),
                  "550 5.1.1 <bob.ng@outlook.com>: Recipient address rejected: Access denied"), now=now)
        f.events(c, ids["foreign"], b, ("PROCESSED", f.minutes(now - timedelta(hours=3)), None),
                 ("BOUNCE", f.minutes(now - timedelta(hours=3) + timedelta(minutes=1)), "550 5.1.1 bravo user unknown"), now=now)
        users = {
            "admin_a": f.user(c, "admin@alpha.example", "lender_admin", "lender-a", PASSWORD),
            "admin_b": f.user(c, "admin@bravo.example", "lender_admin", "lender-b", PASSWORD),
            "ops": f.user(c, "ops@commlog.example", "ops", None, PASSWORD),
        }
    return dict(a=a, b=b, ana=ana, bob=bob, zed=zed, ids=ids, users=users)


def app(path: str = "app.py", user_id: int | None = None, params: dict | None = None, timeout: float = 30) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=timeout)
    if user_id is not None:
        at.session_state["commlog_user_id"] = user_id
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at


def page_text(at: AppTest) -> str:
    """Everything a user can read on the page: text elements, tables, widget labels and values."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "code", "info", "warning", "error",
                 "success", "exception"):
        for el in at.get(kind):
            parts.append(str(getattr(el, "value", "")))
    for df in at.dataframe:
        parts.append(df.value.to_csv())
    for sb in at.selectbox:
        parts.append(f"{sb.label}: {sb.value}")
        parts.extend(str(o) for o in sb.options)
    for ti in at.text_input:
        parts.append(f"{ti.label}: {ti.value}")
    return "\n".join(parts)


def download(at: AppTest, deferred: dict) -> tuple[bytes, str, str]:
    """Run the page's one download button as a browser click would: (content, file name, mimetype)."""
    (button,) = at.get("download_button")
    file_id = button.proto.deferred_file_id
    assert file_id and not button.proto.url  # built only on click
    manager, name, mime = deferred[file_id]
    url = manager.execute_deferred(file_id)
    return manager._storage.get_file(Path(url).name).content, name, mime
