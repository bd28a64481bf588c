"""`python -m commlog suppressions list|approve|reject` over the domain (commlog.suppression_removals):
ops see open requests, filter by state and lender, as lines or JSON; approval needs an enabled ops
user who did not ask (four eyes), tells the provider once and says what happened; exit statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from commlog import suppression_removals as R
from commlog.cli import main
from commlog.commands import suppressions as cmd
from commlog.models import AppUser, SuppressionRemoval
from commlog.principal import Principal, Role
from commlog.providers import ProviderSet
from commlog.providers.base import RemovalAnswer, SuppressionEntry
from tests.support import factories as f
from tests.support.app import build_two_lenders
from tests.support.removal_provider import RecordingProvider

NOW = datetime.now(UTC).replace(microsecond=0)
BOUNCES = SuppressionEntry("bounces", "bounces", NOW - timedelta(days=2), "550 5.1.1 user unknown", True, False)
BLOCKS = SuppressionEntry("blocks", "blocks", NOW - timedelta(days=1), None, True, False)


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    monkeypatch.setenv("COMMLOG_SECRETS_FILE", "/nonexistent/secrets.toml")
    w = build_two_lenders(sqlite_engine)
    with sqlite_engine.begin() as c:
        w["users"]["ops2"] = f.user(c, "ops2@commlog.example", "ops", None)
    w["engine"], w["url"] = sqlite_engine, sqlite_url
    admin_a = Principal(w["users"]["admin_a"], "admin@alpha.example", Role.LENDER_ADMIN, w["a"])
    admin_b = Principal(w["users"]["admin_b"], "admin@bravo.example", Role.LENDER_ADMIN, w["b"])
    ops = Principal(w["users"]["ops"], "ops@commlog.example", Role.OPS, None)
    asker = RecordingProvider()

    def ask(principal, lender, address, entry=BOUNCES, **kw):
        return R.request_removal(sqlite_engine, principal, lender_id=lender, address=address, provider=asker,
                                 entry=entry, reason=kw.pop("reason", "corrected_mailbox"), now=NOW, **kw)

    w["bob"] = ask(admin_a, w["a"], "bob.ng@outlook.com")  # asked by Alpha's admin
    w["ana"] = ask(ops, w["a"], "ana.souza@gmail.com", BLOCKS, reason="other", reason_text="Mailbox\tfixed\nby IT")  # by ops
    w["zed"] = ask(admin_b, w["b"], "zed.zulu@bravo-borrower.example")
    w["stub"] = RecordingProvider()
    monkeypatch.setattr(cmd, "provider_set", lambda engine: ProviderSet.single(w["stub"]))
    return w


def run(w, *argv):
    return main(["--database-url", w["url"], "suppressions", *argv])


def state_of(w, request_id):
    with w["engine"].connect() as c:
        return c.execute(select(SuppressionRemoval.state).where(SuppressionRemoval.id == request_id)).scalar_one()


def test_list_shows_open_requests_of_every_lender_one_line_each(world, capsys):
    assert run(world, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {int(line.split("\t")[0]): line.split("\t") for line in lines}
    assert set(rows) == {world["bob"].id, world["ana"].id, world["zed"].id}
    bob = rows[world["bob"].id]
    assert bob[1:6] == ["lender-a", "bob.ng@outlook.com", "bounces", "Requested", "admin@alpha.example"]
    assert bob[6] == NOW.strftime("%Y-%m-%dT%H:%MZ") and bob[7] == "The borrower corrected their mailbox"
    assert rows[world["ana"].id][7] == "Other: Mailbox fixed by IT"  # one line, whatever was typed
    assert rows[world["zed"].id][1] == "lender-b"


def test_list_filters_by_lender_and_state(world, capsys):
    assert run(world, "list", "--lender", "lender-b") == 0
    assert [int(line.split("\t")[0]) for line in capsys.readouterr().out.splitlines()] == [world["zed"].id]
    assert run(world, "reject", str(world["zed"].id), "--as-user", "ops@commlog.example", "--reason", "Still bouncing") == 0
    assert "rejected (Still bouncing)" in capsys.readouterr().out
    assert run(world, "list", "--lender", "lender-b") == 0
    out, err = capsys.readouterr()
    assert out == "" and "no suppression removal requests match" in err
    assert run(world, "list", "--state", "rejected") == 0
    assert [int(line.split("\t")[0]) for line in capsys.readouterr().out.splitlines()] == [world["zed"].id]
    assert run(world, "list", "--state", "all") == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_list_json_lines_parse(world, capsys):
    assert run(world, "list", "--json", "--lender", "lender-a") == 0
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {i["id"] for i in items} == {world["bob"].id, world["ana"].id}
    bob = next(i for i in items if i["id"] == world["bob"].id)
    assert (bob["lender"], bob["address"], bob["state"], bob["state_words"], bob["list_label"]) == (
        "lender-a", "bob.ng@outlook.com", "requested", "Requested", "bounces")
    assert datetime.fromisoformat(bob["requested_at"]) == NOW and bob["requested_at"].endswith("+00:00")


def test_list_as_a_lender_admin_sees_their_lender_only(world, capsys):
    assert run(world, "list", "--as-user", "admin@bravo.example") == 0
    assert [int(line.split("\t")[0]) for line in capsys.readouterr().out.splitlines()] == [world["zed"].id]
    assert run(world, "list", "--as-user", "admin@bravo.example", "--lender", "lender-a") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "outside your access" in err


def test_unknown_lender_or_user_is_one_line_exit_2(world, capsys):
    assert run(world, "list", "--lender", "nope") == 2
    err = capsys.readouterr().err
    assert err == "error: no lender with slug 'nope'\n"
    assert run(world, "list", "--as-user", "nobody@x.example") == 2
    assert capsys.readouterr().err == "error: no enabled commlog user 'nobody@x.example'\n"


def test_approve_removes_prints_the_providers_words_and_exits_0(world, capsys):
    assert run(world, "approve", str(world["bob"].id), "--as-user", "ops2@commlog.example") == 0
    out = capsys.readouterr().out
    assert out == f"#{world['bob'].id} bob.ng@outlook.com: removed (SendGrid removed it from the bounces list.)\n"
    assert world["stub"].calls == [("bob.ng@outlook.com", "bounces")]
    assert state_of(world, world["bob"].id) == "removed"


def test_approve_own_request_is_refused_four_eyes_exit_1_provider_not_called(world, capsys):
    assert run(world, "approve", str(world["ana"].id), "--as-user", "ops@commlog.example") == 1
    out = capsys.readouterr().out
    assert out.startswith(f"#{world['ana'].id}: ") and "another ops user must approve it" in out
    assert world["stub"].calls == [] and state_of(world, world["ana"].id) == "requested"


def test_approve_many_says_each_outcome_and_exits_1_unless_all_removed(world, capsys):
    world["stub"].answers = [RemovalAnswer(False, words="SendGrid could not answer.")]
    ids = [world["bob"].id, world["ana"].id, world["zed"].id]
    assert run(world, "approve", *map(str, ids), "--as-user", "ops@commlog.example") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"#{ids[0]} bob.ng@outlook.com: approved, not removed (SendGrid could not answer.)"
    assert lines[1].startswith(f"#{ids[1]}: ") and "four eyes" in lines[1]
    assert lines[2].startswith(f"#{ids[2]} zed.zulu@bravo-borrower.example: removed (")
    assert [state_of(world, i) for i in ids] == ["failed", "requested", "removed"]


@pytest.mark.parametrize("who,words", [
    ("admin@alpha.example", "is a lender admin: only platform ops decide"),
    ("nobody@x.example", "no enabled commlog user"),
    (None, "approve needs --as-user EMAIL"),
])
def test_approve_needs_an_enabled_ops_user_exit_2_nothing_changed(world, capsys, who, words):
    argv = ["approve", str(world["bob"].id)] + (["--as-user", who] if who else [])
    assert run(world, *argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and words in err
    assert world["stub"].calls == [] and state_of(world, world["bob"].id) == "requested"


def test_a_disabled_ops_user_cannot_approve(world, capsys):
    with world["engine"].begin() as c:
        c.execute(update(AppUser).where(AppUser.email == "ops2@commlog.example").values(disabled=True))
    assert run(world, "approve", str(world["bob"].id), "--as-user", "ops2@commlog.example") == 2
    assert "no enabled commlog user" in capsys.readouterr().err
    assert world["stub"].calls == []


def test_reject_needs_a_reason_and_an_ops_user(world, capsys):
    bob = str(world["bob"].id)
    assert run(world, "reject", bob, "--as-user", "ops@commlog.example") == 2
    assert "reject needs --reason" in capsys.readouterr().err
    assert run(world, "reject", bob, "--as-user", "admin@alpha.example", "--reason", "no") == 2
    assert "lender admin" in capsys.readouterr().err
    assert state_of(world, world["bob"].id) == "requested"
    assert run(world, "reject", bob, "--as-user", "ops@commlog.example", "--reason", "Still bouncing") == 0
    assert capsys.readouterr().out == f"#{bob} bob.ng@outlook.com: rejected (Still bouncing)\n"
    assert run(world, "reject", bob, "--as-user", "ops@commlog.example", "--reason", "again") == 1
    assert "can no longer be rejected" in capsys.readouterr().err


def test_ids_must_be_numbers(world, capsys):
    with pytest.raises(SystemExit) as exc:
        run(world, "approve", "12a", "--as-user", "ops2@commlog.example")
    assert exc.value.code == 2 and "not a request id" in capsys.readouterr().err
    assert world["stub"].calls == []
