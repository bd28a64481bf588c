"""`python -m commlog webhook`: argument parsing and the one-shot matching of kept events (SendGrid's and
Postmark's)."""

from __future__ import annotations

from sqlalchemy import select

from commlog import cli
from commlog.models import Message
from commlog.webhooks import postmark
from commlog.webhooks.ingest import ingest_sendgrid_batch
from tests.support import factories
from tests.support.fake_provider import recorded


def test_webhook_command_parses():
    args = cli.build_parser().parse_args(["webhook", "--port", "9123", "--host", "0.0.0.0"])
    assert (args.port, args.host, args.match_unmatched) == (9123, "0.0.0.0", False)
    assert cli.build_parser().parse_args(["webhook"]).port == 8502


def test_match_unmatched_once(sqlite_engine, sqlite_url, now, capsys):
    event = {"email": "x@example.com", "timestamp": int(now.timestamp()), "event": "delivered",
             "sg_event_id": "cli-1", "sg_message_id": "CLI1.f.0"}
    assert ingest_sendgrid_batch(sqlite_engine, [event], now).unmatched == 1
    assert cli.main(["--database-url", sqlite_url, "webhook", "--match-unmatched"]) == 0
    assert "matched 0 kept webhook events; 1 still wait" in capsys.readouterr().out
    with sqlite_engine.begin() as conn:
        factories.message(conn, factories.lender(conn, "cli-lender"), "x@example.com", provider_message_id="CLI1")
    assert cli.main(["--database-url", sqlite_url, "webhook", "--match-unmatched"]) == 0
    assert "matched 1 kept webhook events; 0 still wait" in capsys.readouterr().out


def test_unreachable_database_is_one_line(capsys):
    code = cli.main(["--database-url", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none", "webhook", "--match-unmatched"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: cannot open database") and "pw" not in err and "Traceback" not in err


def test_match_unmatched_moves_kept_postmark_events_too(sqlite_engine, sqlite_url, now, capsys):
    bounce = recorded("postmark_webhook_bounce.json")
    assert postmark.ingest_record(sqlite_engine, postmark.parse_record(bounce), now).unmatched == 1
    assert cli.main(["--database-url", sqlite_url, "webhook", "--match-unmatched"]) == 0
    assert "matched 0 kept webhook events; 1 still wait" in capsys.readouterr().out
    with sqlite_engine.begin() as conn:
        mid = factories.message(conn, factories.lender(conn, "cli-pm"), bounce["Email"], provider="postmark",
                                provider_message_id=bounce["MessageID"])
    assert cli.main(["--database-url", sqlite_url, "webhook", "--match-unmatched"]) == 0
    assert "matched 1 kept webhook events; 0 still wait" in capsys.readouterr().out
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(Message.delivery_status).where(Message.id == mid)).scalar_one() == "NOT_DELIVERED"
