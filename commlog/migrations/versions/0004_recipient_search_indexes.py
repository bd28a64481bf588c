"""recipient search: indexes for "Find emails to..." (commlog.recipient_search)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00

Addresses are compared lower-cased (whatever case the sender stored) and bytewise (PostgreSQL:
COLLATE "C", whatever the database's collation; SQLite's default BINARY already is), so that
"the address starts with x" is an index range. The queries use the very same expressions
(commlog.models.RECIPIENT_EMAIL, RECIPIENT_DOMAIN, ACCOUNT_EMAIL).

- ix_message_lender_recipient (lender_id, lower(recipient_email), sent_at, id): one lender's
  emails to one address across all of its logs, newest first; the addresses that start with a text.
- ix_message_lender_domain_recipient (lender_id, lower(recipient_domain), lower(recipient_email)):
  the addresses on a domain, or on the domains that start with a text ("gmial").
- ix_account_lender_email (lender_id, lower(email)): the lender's account with an address.

The existing message indexes cannot serve these: each starts (lender_id, log_account_id, ...), one
log at a time, and a lender has tens of thousands of borrower logs.
"""
import sqlalchemy as sa
from alembic import op

from commlog.db import is_postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _bytewise(expression: str) -> sa.TextClause:
    if is_postgresql(op.get_bind()):
        return sa.text(f'{expression} COLLATE "C"')
    return sa.text(expression)


def upgrade() -> None:
    op.create_index('ix_message_lender_recipient', 'message',
                    ['lender_id', _bytewise('lower(recipient_email)'), 'sent_at', 'id'])
    op.create_index('ix_message_lender_domain_recipient', 'message',
                    ['lender_id', _bytewise('lower(recipient_domain)'), _bytewise('lower(recipient_email)')])
    op.create_index('ix_account_lender_email', 'account', ['lender_id', sa.text('lower(email)')])


def downgrade() -> None:
    op.drop_index('ix_account_lender_email', table_name='account')
    op.drop_index('ix_message_lender_domain_recipient', table_name='message')
    op.drop_index('ix_message_lender_recipient', table_name='message')
