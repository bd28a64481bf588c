"""deliverability rollups: daily_rollup, lender_day_rollup and domain_rollup

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 15:20:00

Empty on upgrade; `python -m commlog rebuild-rollups` (commlog.rollups.rebuild_rollups) fills them
from the message table, and commlog.store keeps them current from then on.
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('daily_rollup',
    sa.Column('lender_id', _ID, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('email_type', sa.String(length=64), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('provider_family', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('deferred', sa.Integer(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('lender_id', 'day', 'email_type', 'audience', 'provider_family', 'outcome', 'deferred',
                            name=op.f('pk_daily_rollup'))
    )
    with op.batch_alter_table('daily_rollup', schema=None) as batch_op:
        batch_op.create_index('ix_daily_rollup_day', ['day'], unique=False)

    op.create_table('lender_day_rollup',
    sa.Column('lender_id', _ID, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('provider_family', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('deferred', sa.Integer(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('lender_id', 'day', 'provider_family', 'outcome', 'deferred', name=op.f('pk_lender_day_rollup'))
    )
    with op.batch_alter_table('lender_day_rollup', schema=None) as batch_op:
        batch_op.create_index('ix_lender_day_rollup_day', ['day'], unique=False)

    op.create_table('domain_rollup',
    sa.Column('lender_id', _ID, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('recipient_domain', sa.String(length=255), nullable=False),
    sa.Column('provider_family', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('smtp_code', sa.String(length=16), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('lender_id', 'day', 'audience', 'recipient_domain', 'provider_family', 'outcome', 'smtp_code',
                            name=op.f('pk_domain_rollup'))
    )
    with op.batch_alter_table('domain_rollup', schema=None) as batch_op:
        batch_op.create_index('ix_domain_rollup_day', ['day'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('domain_rollup', schema=None) as batch_op:
        batch_op.drop_index('ix_domain_rollup_day')
    op.drop_table('domain_rollup')
    with op.batch_alter_table('lender_day_rollup', schema=None) as batch_op:
        batch_op.drop_index('ix_lender_day_rollup_day')
    op.drop_table('lender_day_rollup')
    with op.batch_alter_table('daily_rollup', schema=None) as batch_op:
        batch_op.drop_index('ix_daily_rollup_day')
    op.drop_table('daily_rollup')
