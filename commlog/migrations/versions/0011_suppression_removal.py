"""suppression removal requests: a lender admin asks, ops approve, the provider is told

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 12:00:00

One row per request to take an address off a provider suppression list (commlog.suppression_removals):
the lender, the address (lower case), which provider and list, the requester's reason and note, its
state (requested, approved, removed, failed, rejected, cancelled), who decided and when, and the
provider's last answer. A partial unique index keeps one open request (requested, approved, failed)
per lender, address and list.

Lender-owned: on PostgreSQL, row-level security like every such table (migration 0010's
fail-closed policy: the lender's rows, or every row for a transaction that declared every lender).
"""
import sqlalchemy as sa
from alembic import op

from commlog.db import is_postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_OPEN = "state IN ('requested', 'approved', 'failed')"
POLICY = 'commlog_lender_scope'
_SETTING = "current_setting('commlog.lender_id', true)"
_ALL = "(SELECT coalesce(current_setting('commlog.scope', true), '') = 'all')"
_LENDER = f"(SELECT CASE WHEN {_SETTING} ~ '^[0-9]{{1,18}}$' THEN {_SETTING}::bigint END)"


def upgrade() -> None:
    op.create_table(
        'suppression_removal',
        sa.Column('id', _ID, nullable=False),
        sa.Column('lender_id', _ID, nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('list_key', sa.String(length=32), nullable=False),
        sa.Column('list_label', sa.String(length=120), nullable=False),
        sa.Column('listed_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('message_id', _ID, nullable=True),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('reason_text', sa.String(length=500), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('requested_by_user_id', _ID, nullable=False),
        sa.Column('requested_by', sa.String(length=320), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('decided_by_user_id', _ID, nullable=True),
        sa.Column('decided_by', sa.String(length=320), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reject_reason', sa.String(length=500), nullable=True),
        sa.Column('provider_answer', sa.String(length=1000), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['lender_id'], ['lender.id'], name=op.f('fk_suppression_removal_lender_id_lender')),
        sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_suppression_removal_message_id_message')),
        sa.ForeignKeyConstraint(['requested_by_user_id'], ['app_user.id'],
                                name=op.f('fk_suppression_removal_requested_by_user_id_app_user')),
        sa.ForeignKeyConstraint(['decided_by_user_id'], ['app_user.id'],
                                name=op.f('fk_suppression_removal_decided_by_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suppression_removal')),
    )
    op.create_index('ix_suppression_removal_lender_state', 'suppression_removal', ['lender_id', 'state', 'requested_at'])
    op.create_index('ix_suppression_removal_state', 'suppression_removal', ['state', 'requested_at'])
    op.create_index('uq_suppression_removal_open', 'suppression_removal', ['lender_id', 'address', 'list_key'],
                    unique=True, sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))
    if is_postgresql(op.get_bind()):
        cond = f"{_ALL} OR lender_id = {_LENDER}"
        op.execute('ALTER TABLE suppression_removal ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE suppression_removal FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY {POLICY} ON suppression_removal FOR ALL USING ({cond}) WITH CHECK ({cond})')


def downgrade() -> None:
    if is_postgresql(op.get_bind()):
        op.execute(f'DROP POLICY IF EXISTS {POLICY} ON suppression_removal')
    op.drop_index('uq_suppression_removal_open', table_name='suppression_removal')
    op.drop_index('ix_suppression_removal_state', table_name='suppression_removal')
    op.drop_index('ix_suppression_removal_lender_state', table_name='suppression_removal')
    op.drop_table('suppression_removal')
