"""`python -m commlog <command>`. Each command lives in commlog/commands/<name>.py and exposes
`register(subparsers)`; the parser sets `func(args) -> int` on its namespace.

Errors a user can act on exit non-zero with one line on stderr, never a traceback: 1 for a command
that failed, 2 for a setting that cannot be used (checked before any command runs; the line names
the setting, where it was set and what it takes, never a secret's value) and for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from commlog.settings import SettingsError, settings

COMMAND_MODULES = (
    "commlog.commands.init_db",
    "commlog.commands.users",
    "commlog.commands.seed_demo",
    "commlog.commands.bench",
    "commlog.commands.webhook",
    "commlog.commands.export_failures",
    "commlog.commands.rollups",
    "commlog.commands.check",
    "commlog.commands.sync",
    "commlog.commands.audit",
    "commlog.commands.suppressions",
    "commlog.commands.partitions",
)


class CommandError(Exception):
    """A failure to report in one line (exit 1)."""

    exit_code = 1


class UsageError(CommandError):
    """Arguments that cannot be used (an unknown lender, a user who may not do this): one line, exit 2,
    nothing changed."""

    exit_code = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m commlog", description="commlog: the Communication Log")
    parser.add_argument("--database-url", help="overrides COMMLOG_DATABASE_URL for this command")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings()
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
