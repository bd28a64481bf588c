"""row-level security that fails closed

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:30:00

PostgreSQL only (SQLite has no row-level security: a no-op there). Migration 0003's policies let a
transaction whose `commlog.lender_id` was empty or unset see and write every lender's rows, so a
code path that forgot to declare its scope (a new thread, a connection opened by hand) read all
lenders through the app's role. This replaces them so that a transaction must say what it wants:

    commlog.scope = 'all'         every row: declared only by ops principals' units of work and the
                                  platform's own work (commlog.unit_of_work.platform_*,
                                  tenancy.unscoped, the command line, migrations, seeding, webhooks)
    commlog.lender_id = <its id>  that lender's rows
    neither                       no row at all, for reading and for writing (fails closed)

Every lender is a setting of its own rather than a special lender value: commlog sets
`commlog.lender_id` to '' when it declares every lender, which 0003's policies also read as every
lender, so the migrations before this one (run with every lender declared) and a database migrated
back below this one keep working with the same code.

Policy `commlog_lender_scope` (FOR ALL, USING = WITH CHECK) is replaced on every table that has it,
found in the catalog rather than listed here, so a lender-owned table another migration added is
covered too: `lender` by its `id`, a table with a `lender_id` column by that column, any other
(unmatched_event) by every lender only. The SELECT-only policy `commlog_lender_recipients` on
unmatched_event (migration 0006: a lender reads the kept, still unmatched events for its own
recipients) is replaced with the same meaning and the same reading of `commlog.lender_id`: only
digits are ever cast to a number, so any other value sees nothing instead of failing the query.

Downgrade restores 0003's and 0006's policies exactly.
"""
import sqlalchemy as sa
from alembic import op

from commlog.db import is_postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

POLICY = 'commlog_lender_scope'
RECIPIENTS_POLICY = 'commlog_lender_recipients'

# Each a scalar subquery: PostgreSQL evaluates it once per query (an InitPlan), not once per row,
# and can use the lender's id in an index condition.
_SETTING = "current_setting('commlog.lender_id', true)"
_ALL = "(SELECT coalesce(current_setting('commlog.scope', true), '') = 'all')"
# The lender's id when the setting is one (digits only, so never a failed cast), else NULL: no row.
_LENDER = f"(SELECT CASE WHEN {_SETTING} ~ '^[0-9]{{1,18}}$' THEN {_SETTING}::bigint END)"


def _closed(column: str | None) -> str:
    if column is None:
        return _ALL
    return f"{_ALL} OR {column} = {_LENDER}"


_RECIPIENT_OF_THE_LENDER = (
    f"matched_at IS NULL AND EXISTS ("
    f"SELECT 1 FROM message m WHERE m.lender_id = {_LENDER} "
    "AND lower(m.recipient_email) COLLATE \"C\" = unmatched_event.recipient_email)"
)

# Migration 0003's and 0006's expressions, for the downgrade.
_OPEN_SCOPE = "nullif(current_setting('commlog.lender_id', true), '')"


def _open(column: str | None) -> str:
    if column is None:
        return f"{_OPEN_SCOPE} IS NULL"
    return f"{_OPEN_SCOPE} IS NULL OR {column} = {_OPEN_SCOPE}::bigint"


_OPEN_RECIPIENT_OF_THE_LENDER = (
    f"{_OPEN_SCOPE} IS NOT NULL AND matched_at IS NULL AND EXISTS ("
    f"SELECT 1 FROM message m WHERE m.lender_id = {_OPEN_SCOPE}::bigint "
    "AND lower(m.recipient_email) COLLATE \"C\" = unmatched_event.recipient_email)"
)


def _scoped_tables() -> dict[str, str | None]:
    """Every table of this schema with the lender policy -> the column naming its lender."""
    bind = op.get_bind()
    tables = bind.execute(sa.text(
        "SELECT tablename FROM pg_policies WHERE schemaname = current_schema() AND policyname = :p ORDER BY tablename"
    ), {"p": POLICY}).scalars().all()
    columns = set(bind.execute(sa.text(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'lender_id'"
    )).scalars())
    return {t: 'id' if t == 'lender' else 'lender_id' if t in columns else None for t in tables}


def _replace(table: str, name: str, command: str, condition: str, *, check: bool) -> None:
    op.execute(f'DROP POLICY IF EXISTS {name} ON {table}')
    with_check = f' WITH CHECK ({condition})' if check else ''
    op.execute(f'CREATE POLICY {name} ON {table} FOR {command} USING ({condition}){with_check}')


def upgrade() -> None:
    if not is_postgresql(op.get_bind()):
        return
    for table, column in _scoped_tables().items():
        _replace(table, POLICY, 'ALL', _closed(column), check=True)
    _replace('unmatched_event', RECIPIENTS_POLICY, 'SELECT', _RECIPIENT_OF_THE_LENDER, check=False)


def downgrade() -> None:
    if not is_postgresql(op.get_bind()):
        return
    _replace('unmatched_event', RECIPIENTS_POLICY, 'SELECT', _OPEN_RECIPIENT_OF_THE_LENDER, check=False)
    for table, column in _scoped_tables().items():
        _replace(table, POLICY, 'ALL', _open(column), check=True)
