"""`suppressions list|approve|reject`: suppression removal requests (commlog.suppression_removals)
for ops' scripts.

    python -m commlog suppressions list [--state open] [--lender SLUG] [--json] [--as-user EMAIL]
    python -m commlog suppressions approve 12 13 --as-user ops2@example.com
    python -m commlog suppressions reject 14 --as-user ops2@example.com --reason "Still bouncing"

`list` runs as ops (every lender) unless --as-user names a commlog user (then with that user's
scope). `approve` and `reject` run as the enabled ops user --as-user names, so that four eyes holds
(nobody approves their own request). `approve` tells the configured provider (COMMLOG_PROVIDER),
waiting for its rate limit as the command line does; exit status 0 only when every request ended
removed. Arguments that cannot be used: one line, exit status 2, nothing changed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from commlog import auth
from commlog import suppression_removals as R
from commlog.cli import CommandError, UsageError
from commlog.commands import engine_from_args, utcnow
from commlog.commands.check import cli_policy
from commlog.log_queries import lender_by_slug
from commlog.models import Lender
from commlog.principal import Principal, Role, ScopeError
from commlog.providers import ProviderSet, get_providers
from commlog.providers import errors as perr
from commlog.unit_of_work import platform_reading

STATE_CHOICES = [R.REQUESTED, R.APPROVED, R.REMOVED, R.FAILED, R.REJECTED, R.CANCELLED, "open", "all"]


def request_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a request id: {value!r}") from None
    if not 0 < number < 2**63:
        raise argparse.ArgumentTypeError(f"not a request id: {value!r}")
    return number


def register(subparsers) -> None:
    p = subparsers.add_parser("suppressions", help="suppression removal requests: list, approve, reject")
    sub = p.add_subparsers(dest="suppressions_command", required=True)

    ls = sub.add_parser("list", help="list removal requests (default: open ones: requested, approved, failed)")
    ls.add_argument("--state", choices=STATE_CHOICES, default="open", help="which requests (default open)")
    ls.add_argument("--lender", metavar="SLUG", help="one lender's requests")
    ls.add_argument("--json", action="store_true", help="one JSON object a line (times ISO 8601, UTC)")
    ls.add_argument("--limit", type=int, default=500, help="at most this many, newest first (default 500)")
    ls.add_argument("--as-user", metavar="EMAIL", help="with this commlog user's scope (default: ops, every lender)")
    ls.set_defaults(func=run_list)

    ap = sub.add_parser("approve", help="approve requests and tell the provider (as an ops user, not the requester)")
    ap.add_argument("ids", type=request_id, nargs="+", metavar="ID", help="request ids")
    ap.add_argument("--as-user", metavar="EMAIL", help="the ops user who approves (required)")
    ap.set_defaults(func=run_approve)

    rj = sub.add_parser("reject", help="reject a request, saying why (the lender admin reads it)")
    rj.add_argument("id", type=request_id, metavar="ID", help="request id")
    rj.add_argument("--as-user", metavar="EMAIL", help="the ops user who rejects (required)")
    rj.add_argument("--reason", metavar="TEXT", help="why (required; the lender admin reads it)")
    rj.set_defaults(func=run_reject)


# --- who ---------------------------------------------------------------------------------------------


def _user(conn, email: str) -> Principal:
    principal = auth.principal_for_email(conn, email)
    if principal is None:
        raise UsageError(f"no enabled commlog user {email!r}")
    return principal


def _reader(conn, as_user: str | None) -> Principal:
    if as_user:
        return _user(conn, as_user)
    return Principal(user_id=0, email=f"cli:{getpass.getuser()}@{socket.gethostname()}", role=Role.OPS, lender_id=None)


def _need_user(args, verb: str) -> None:
    if not (args.as_user or "").strip():
        raise UsageError(f"{verb} needs --as-user EMAIL: the ops user who decides (not the one who asked)")


def _decider(engine: Engine, args) -> Principal:
    """The enabled ops user --as-user names: four eyes are checked against that user."""
    with platform_reading(engine) as conn:
        principal = _user(conn, args.as_user)
    if not principal.is_ops:
        raise UsageError(f"{principal.email} is a lender admin: only platform ops decide on suppression removals")
    return principal


def provider_set(engine: Engine) -> ProviderSet:
    """The configured providers, waiting for rate limits as the command line does (tests patch this)."""
    return get_providers(engine, policy=cli_policy())


# --- list --------------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return value.isoformat() if value else None


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split()) or "-"


def as_json(r: R.RemovalRequest, slug: str) -> dict:
    return {
        "id": r.id, "lender": slug, "lender_name": r.lender_name, "address": r.address, "provider": r.provider,
        "list_key": r.list_key, "list_label": r.list_label, "state": r.state, "state_words": r.state_words,
        "requested_by": r.requested_by, "requested_at": _iso(r.requested_at), "reason": r.reason,
        "reason_words": r.reason_words, "note": r.note, "listed_since": _iso(r.listed_since),
        "message_id": r.message_id, "decided_by": r.decided_by, "decided_at": _iso(r.decided_at),
        "reject_reason": r.reject_reason, "provider_answer": r.provider_answer, "attempts": r.attempts,
        "removed_at": _iso(r.removed_at),
    }


def as_line(r: R.RemovalRequest, slug: str) -> str:
    at = _utc(r.requested_at)
    return "\t".join([str(r.id), slug, r.address, _one_line(r.list_label), r.state_words, r.requested_by,
                      at.strftime("%Y-%m-%dT%H:%MZ"), _one_line(r.reason_words)])


def run_list(args) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    states = None if args.state == "all" else (R.OPEN_STATES if args.state == "open" else (args.state,))
    engine = engine_from_args(args)
    with platform_reading(engine) as conn:
        principal = _reader(conn, args.as_user)
        lender_id = None
        if args.lender:
            lender = lender_by_slug(conn, args.lender)
            if lender is None:
                raise UsageError(f"no lender with slug {args.lender!r}")
            lender_id = lender.id
        slugs = dict(conn.execute(select(Lender.id, Lender.slug)).all())
    try:
        requests = R.read_requests(engine, principal, lender_id=lender_id, states=states, limit=args.limit)
    except ScopeError as exc:
        raise UsageError(f"--lender {args.lender}: {exc}") from None
    for r in requests:
        slug = slugs.get(r.lender_id, str(r.lender_id))
        print(json.dumps(as_json(r, slug), ensure_ascii=False) if args.json else as_line(r, slug))
    if not requests:
        print("no suppression removal requests match", file=sys.stderr)
    engine.dispose()
    return 0


# --- approve and reject ------------------------------------------------------------------------------


def outcome_line(o: R.Outcome) -> str:
    r = o.request
    if o.removed:
        return f"#{r.id} {r.address}: removed ({o.words})"
    return f"#{r.id} {r.address}: approved, not removed ({o.words})"


def run_approve(args) -> int:
    from tqdm import tqdm

    _need_user(args, "approve")
    engine = engine_from_args(args)
    principal = _decider(engine, args)
    ids = list(dict.fromkeys(args.ids))
    try:
        providers = provider_set(engine)
    except perr.ProviderError as exc:
        raise CommandError(str(exc)) from None
    done: list[R.Outcome | None] = []  # in order; None: refused (its words are the next refusal)
    bar = tqdm(total=len(ids), unit="req", desc="approving", file=sys.stderr, disable=None)

    def progress(i: int, total: int, outcome: R.Outcome | None) -> None:
        done.append(outcome)
        bar.update(1)

    try:
        _, refusals = R.approve_many(engine, principal, ids, providers, clock=utcnow, on_progress=progress)
    finally:
        bar.close()
    refused = iter(refusals)
    for outcome in done:
        print(outcome_line(outcome) if outcome is not None else next(refused))
    for rest in refused:  # "Stopped: …": the provider refused the account or is down
        print(rest)
    removed = sum(1 for o in done if o is not None and o.removed)
    engine.dispose()
    return 0 if removed == len(ids) else 1


def run_reject(args) -> int:
    _need_user(args, "reject")
    if not (args.reason or "").strip():
        raise UsageError("reject needs --reason TEXT: the lender admin will read it")
    engine = engine_from_args(args)
    principal = _decider(engine, args)
    try:
        r = R.reject(engine, principal, args.id, args.reason, utcnow())
    except R.RemovalRefused as exc:
        raise CommandError(f"#{args.id}: {exc}") from None
    print(f"#{r.id} {r.address}: {r.state_words.lower()} ({r.reject_reason})")
    engine.dispose()
    return 0
