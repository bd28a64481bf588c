"""row-level security: tenancy enforced by PostgreSQL too

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:00:00

PostgreSQL only (SQLite has no row-level security: a no-op there). Every lender-owned table gets
ENABLE and FORCE ROW LEVEL SECURITY (FORCE: the table's owner is subject to it too; superusers and
BYPASSRLS roles never are) and one policy, `commlog_lender_scope`, for every command:

    a row is visible and writable when the transaction's setting `commlog.lender_id` is empty or
    unset (unscoped: ops, the CLI, migrations, webhooks), or equals the row's lender.

USING and WITH CHECK are the same expression, so a lender-scoped transaction can neither read nor
insert / update / delete another lender's rows, nor move a row to another lender; rows without a
lender (ops users in app_user, "all lenders" audit entries) are outside every lender's scope.
commlog.db sets the setting per transaction (SET LOCAL) from commlog.tenancy's scope.

unmatched_event has no lender (its message is not known yet) and may hold any lender's recipients:
unscoped transactions only (webhooks and ops' sync write it; no lender-admin path touches it).
login_attempt (addresses and times, before anyone is known) and alembic_version hold no lender data
and stay without row-level security.

A new lender-owned table needs its own migration doing the same: tests/db/test_rls.py fails for any
table of the models with a lender_id column that has no policy.
"""
from alembic import op

from commlog.db import is_postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

POLICY = 'commlog_lender_scope'
_SCOPE = "nullif(current_setting('commlog.lender_id', true), '')"

# table -> its lender column (None: the table has no lender: unscoped transactions only)
TABLES = {
    'lender': 'id',
    'account': 'lender_id',
    'app_user': 'lender_id',
    'message': 'lender_id',
    'delivery_event': 'lender_id',
    'audit_entry': 'lender_id',
    'daily_rollup': 'lender_id',
    'lender_day_rollup': 'lender_id',
    'domain_rollup': 'lender_id',
    'unmatched_event': None,
}


def _condition(column):
    if column is None:
        return f"{_SCOPE} IS NULL"
    return f"{_SCOPE} IS NULL OR {column} = {_SCOPE}::bigint"


def upgrade() -> None:
    if not is_postgresql(op.get_bind()):
        return
    for table, column in TABLES.items():
        cond = _condition(column)
        op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY {POLICY} ON {table} FOR ALL USING ({cond}) WITH CHECK ({cond})')


def downgrade() -> None:
    if not is_postgresql(op.get_bind()):
        return
    for table in reversed(list(TABLES)):
        op.execute(f'DROP POLICY IF EXISTS {POLICY} ON {table}')
        op.execute(f'ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE {table} DISABLE ROW LEVEL SECURITY')
