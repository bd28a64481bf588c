"""export tokens: the page's downloads served once by the app's own route

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:00:00

The failures CSV used to be Streamlit's deferred download (`/media/<hash>.csv`), a bearer URL that
worked without any cookie while the tab lived. Now a click mints a token (commlog.export_tokens)
and the launcher serves `GET /export/<token>` once (commlog.export_route). This table holds:

- token_sha256: the token's SHA-256 (hex), never the token itself; unique.
- browser_sha256: the SHA-256 of the minting browser's `commlog_browser` cookie.
- user_id, role, principal_lender_id: who minted it, re-checked against app_user before serving.
- spec: JSON of what to export (the log's query, span, options, file name, audit extras).
- created_at, expires_at (at most 60 s later), used_at (set once, atomically, when served).

It holds no lender-owned rows: like login_attempt it stays without row-level security and is read
and written by unscoped (platform) transactions only. Rows older than an hour are deleted when a
new token is minted.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'export_token',
        sa.Column('id', _ID, nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('browser_sha256', sa.String(length=64), nullable=False),
        sa.Column('user_id', _ID, nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('principal_lender_id', _ID, nullable=True),
        sa.Column('spec', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_export_token_user_id_app_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_export_token')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_export_token_token_sha256')),
    )
    op.create_index('ix_export_token_expires_at', 'export_token', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_export_token_expires_at', table_name='export_token')
    op.drop_table('export_token')
