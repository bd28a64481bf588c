"""`users add|list|disable|enable|clear-throttle`: local logins for ops and lender admins."""

from __future__ import annotations

import sys

from commlog import auth, throttle
from commlog.cli import CommandError
from commlog.client_address import parse_address
from commlog.commands import engine_from_args, utcnow
from commlog.unit_of_work import platform_reading, platform_writing


def register(subparsers) -> None:
    p = subparsers.add_parser("users", help="manage who can log in")
    sub = p.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="add a user; the password is read from standard input "
                                      "(without --password-stdin: a single sign-on only user, no local password)")
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, choices=["ops", "lender_admin"])
    add.add_argument("--lender", help="lender slug (lender_admin only)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input; omit for a single sign-on only user")
    add.set_defaults(func=run_add)
    ls = sub.add_parser("list", help="list users")
    ls.set_defaults(func=run_list)
    for name, flag in (("disable", True), ("enable", False)):
        d = sub.add_parser(name, help=f"{name} a user's login")
        d.add_argument("--email", required=True)
        d.set_defaults(func=lambda a, flag=flag: run_disable(a, flag))
    clear = sub.add_parser("clear-throttle", help="forget the failed sign-ins that slow an address, an IP, or both "
                                                  "(commlog.throttle)")
    clear.add_argument("--email", help="the address (from every IP unless --ip)")
    clear.add_argument("--ip", help="the client IP (for every address unless --email); 'local' for local connections")
    clear.set_defaults(func=run_clear_throttle)


def run_add(args) -> int:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    engine = engine_from_args(args)
    try:
        with platform_writing(engine) as conn:
            auth.add_user(conn, args.email, args.role, args.lender, password, utcnow())
    except auth.UserError as exc:
        raise CommandError(str(exc)) from None
    how = "" if password is not None else ", single sign-on only"
    print(f"added {auth.normalize_email(args.email)} ({args.role}{how})")
    return 0


def run_list(args) -> int:
    engine = engine_from_args(args)
    with platform_reading(engine) as conn:
        rows = auth.list_users(conn)
    print(f"{'email':40} {'role':13} {'lender':20} {'state':9} last login (UTC)")
    for r in rows:
        last = r.last_login_at.strftime("%Y-%m-%d %H:%M") if r.last_login_at else "-"
        print(f"{r.email:40} {r.role:13} {r.lender_slug or '-':20} {'disabled' if r.disabled else 'active':9} {last}")
    return 0


def run_disable(args, disabled: bool) -> int:
    engine = engine_from_args(args)
    try:
        with platform_writing(engine) as conn:
            auth.set_disabled(conn, args.email, disabled)
    except auth.UserError as exc:
        raise CommandError(str(exc)) from None
    print(f"{'disabled' if disabled else 'enabled'} {auth.normalize_email(args.email)}")
    return 0


def run_clear_throttle(args) -> int:
    email = auth.normalize_email(args.email) if args.email else None
    ip, local = None, False
    if args.ip is not None:
        if args.ip.strip().lower() == "local":
            local = True
        elif (address := parse_address(args.ip)) is None:
            raise CommandError(f"not an IP address: {args.ip!r} (or 'local' for local connections)")
        else:
            ip = str(address)
    if email is None and ip is None and not local:
        raise CommandError("name what to clear: --email, --ip, or both")
    engine = engine_from_args(args)
    with platform_writing(engine) as conn:
        cleared = throttle.clear(conn, email, ip, local=local)
    what = " ".join(part for part in (
        f"for {email}" if email else f"for {cleared.addresses} address{'es' if cleared.addresses != 1 else ''}",
        f"from {ip or 'local connections'}" if ip or local
        else f"from {cleared.ips} IP{'s' if cleared.ips != 1 else ''}",
    ))
    print(f"cleared {cleared.failures} failed sign-in{'s' if cleared.failures != 1 else ''} {what}")
    return 0
