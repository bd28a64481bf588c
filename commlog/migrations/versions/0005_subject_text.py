"""decoded subjects: message.subject_text

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:00:00

A mailer release stored some subjects RFC 2047 encoded (`=?UTF-8?Q?Payment_reminder?=`). The stored
`subject` stays exactly as received; `subject_text` holds the decoded subject (commlog.mime_subject)
when that differs, else NULL, and the log shows, searches and exports coalesce(subject_text, subject)
(commlog.models.SUBJECT_TEXT). New rows get it on insert; this backfills the rows already stored.

Only subjects with an encoded word's opening `=?` can decode to something else, so the backfill walks
those, in id order, a batch at a time (memory and each statement stay small on a big table); the
rest keep NULL, which reads as the subject itself. Same on SQLite and PostgreSQL.
"""
import sqlalchemy as sa
from alembic import op

from commlog.mime_subject import stored_subject_text

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.add_column('message', sa.Column('subject_text', sa.String(length=500), nullable=True))
    backfill(op.get_bind())


def backfill(conn: sa.Connection, batch: int = BATCH) -> int:
    """Fill subject_text for every stored subject that decodes to something else; returns how many."""
    message = sa.table('message', sa.column('id', sa.BigInteger), sa.column('subject', sa.String),
                       sa.column('subject_text', sa.String))
    after, filled = 0, 0
    while True:
        rows = conn.execute(
            sa.select(message.c.id, message.c.subject)
            .where(message.c.id > after, message.c.subject.like('%=?%'))
            .order_by(message.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return filled
        after = rows[-1].id
        updates = [{'b_id': r.id, 'b_text': text} for r in rows if (text := stored_subject_text(r.subject)) is not None]
        if updates:
            conn.execute(
                message.update().where(message.c.id == sa.bindparam('b_id')).values(subject_text=sa.bindparam('b_text')),
                updates,
            )
            filled += len(updates)


def downgrade() -> None:
    op.execute('ALTER TABLE message DROP COLUMN subject_text')  # SQLite 3.35+ and PostgreSQL, no table copy
