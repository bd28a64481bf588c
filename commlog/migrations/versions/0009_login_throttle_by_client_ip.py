"""login throttling by client IP; the client IP of authentication events

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:30:00

Sign-in throttling (commlog.throttle) counts failures per (address, client IP), per client IP across
addresses and, mildly, per address across IPs: `login_attempt.client_ip` (NULL: the IP is not known,
e.g. a local connection) with an index for the per-IP count, and one on `attempted_at` alone for
pruning rows older than a day (done by commlog.throttle.prune at every sign-in attempt that is
checked). `audit_entry.client_ip` says where an authentication event (sign-in, failure, throttled,
sign-out, refused single sign-on) came from. Rows written before keep NULL.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_ip', sa.String(length=45), nullable=True))
        batch_op.create_index('ix_login_attempt_ip_at', ['client_ip', 'attempted_at'], unique=False)
        batch_op.create_index('ix_login_attempt_at', ['attempted_at'], unique=False)
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_ip', sa.String(length=45), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('client_ip')
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempt_at')
        batch_op.drop_index('ix_login_attempt_ip_at')
        batch_op.drop_column('client_ip')
